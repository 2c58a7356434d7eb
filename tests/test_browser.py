"""JupyterLab in a real browser: open a solution notebook, run every cell, and see a plotly figure and
a circuitsvis attention view render with the network cut off.

JupyterLab runs headless on 127.0.0.1 with a token; Debian's chromium, driven by Playwright, may
reach nothing but that address: every other request is refused and recorded. The kernel is kept
offline too (its proxy points at a closed loopback port), so circuitsvis must use the JavaScript
inside its package. Screenshots go to bench/screenshots/ (git-ignored).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
NOTEBOOK = REPO / "solutions" / "00_tools.ipynb"
SCREENSHOTS = REPO / "bench" / "screenshots"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
# Generous limits that only stop a hung run; nothing here asserts how fast anything is.
SERVER_START_LIMIT = 240.0
RUN_ALL_LIMIT = 900.0

pytestmark = [pytest.mark.slow, pytest.mark.notebook]


def _requirements_missing() -> str | None:
    if not CHROMIUM.exists():
        return "Debian's chromium is not installed (apt-get install chromium; .ci/run does it)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (it is in the dev extra)"
    if not NOTEBOOK.exists():
        return f"{NOTEBOOK.relative_to(REPO)} has not been generated"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _closed_port() -> int:
    """A loopback port nobody listens on: a proxy there makes every outgoing HTTP request fail at once."""
    return _free_port()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    missing = _requirements_missing()
    if missing:
        pytest.skip(missing)
    home = tmp_path_factory.mktemp("lab")
    root = home / "root"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)  # the repository's file is never opened for writing
    settings = home / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    # Render every cell, not only those scrolled into view, so each output can be inspected.
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    # No "get Jupyter news?" prompt over the screenshots (and no news fetched).
    notifications = home / "settings" / "@jupyterlab" / "apputils-extension"
    notifications.mkdir(parents=True)
    (notifications / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    port, token = _free_port(), secrets.token_hex(16)
    dead_proxy = f"http://127.0.0.1:{_closed_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    env.update(
        HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", CIRCUITLAB_THREADS="1",
        http_proxy=dead_proxy, https_proxy=dead_proxy, HTTP_PROXY=dead_proxy, HTTPS_PROXY=dead_proxy,
        no_proxy="127.0.0.1,localhost", NO_PROXY="127.0.0.1,localhost",
        JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
    )
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0", "--ServerApp.allow_root=True", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        f"--LabApp.user_settings_dir={home / 'settings'}", "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    log = open(home / "server.log", "w")
    server = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for_server(base, token, server, home / "server.log")
        yield {"base": base, "token": token, "root": root}
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _wait_for_server(base: str, token: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_LIMIT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(1)
    pytest.fail(f"JupyterLab did not answer within {SERVER_START_LIMIT:.0f} s:\n{log.read_text()[-3000:]}")


# Reads the open notebook's model: for each code cell, its execution count and output types.
CELL_STATES = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.content.model) return null;
  const cells = [];
  for (const cell of panel.content.model.cells) {
    if (cell.type !== 'code') continue;
    const outputs = cell.outputs.toJSON();
    cells.push({count: cell.executionCount, outputs: outputs.map(o => o.output_type),
                errors: outputs.filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue),
                html: outputs.map(o => (o.data && o.data['text/html']) ? [].concat(o.data['text/html']).join('') : '')
                             .join('')});
  }
  return cells;
}"""


def _run_all_cells(page) -> list[dict]:
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                           " && window.jupyterapp.shell.currentWidget.sessionContext"
                           " && window.jupyterapp.shell.currentWidget.sessionContext.session"
                           " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel",
                           timeout=SERVER_START_LIMIT * 1000)
    page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.ready")
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    # Done when every code cell has an execution count and the kernel is idle again.
    page.wait_for_function(
        "() => { const p = window.jupyterapp.shell.currentWidget;"
        " const cells = [...p.content.model.cells].filter(c => c.type === 'code');"
        " return cells.length > 0 && cells.every(c => c.executionCount !== null)"
        " && p.sessionContext.session.kernel.status === 'idle'; }",
        timeout=RUN_ALL_LIMIT * 1000, polling=1000,
    )
    return page.evaluate(CELL_STATES)


def test_solution_notebook_renders_plotly_and_circuitsvis_offline(lab):
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    refused: list[str] = []

    def only_loopback(route):
        host = urlparse(route.request.url).hostname or ""
        if host in ("127.0.0.1", "localhost") or route.request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.route("**/*", only_loopback)
            page.goto(f"{lab['base']}/lab/tree/{NOTEBOOK.name}?reset&token={lab['token']}")
            cells = _run_all_cells(page)

            errors = [e for cell in cells for e in cell["errors"]]
            assert not errors, f"cells raised errors in the browser: {errors}"

            # plotly: the figure drawn by JupyterLab's plotly renderer (an SVG inside .js-plotly-plot).
            figure = page.locator(".js-plotly-plot").last
            figure.wait_for(state="attached", timeout=60_000)
            figure.scroll_into_view_if_needed()
            assert page.locator(".js-plotly-plot svg.main-svg").count() >= 1, "no plotly figure was drawn"
            assert page.locator(".js-plotly-plot .scatterlayer .trace").count() >= 1, "the plotly figure has no trace"
            figure.screenshot(path=str(SCREENSHOTS / "browser_plotly.png"))

            # circuitsvis: its output embeds the library's JavaScript (no script from a CDN) and draws the view.
            views = [cell["html"] for cell in cells if "circuits-vis" in cell["html"]]
            assert views, "no circuitsvis output was produced"
            assert "unpkg.com" not in views[0] and "<script" in views[0], "circuitsvis should inline its JavaScript"
            view = page.locator("div[id^='circuits-vis-']").first
            view.scroll_into_view_if_needed()
            page.wait_for_function(
                "() => [...document.querySelectorAll(\"div[id^='circuits-vis-']\")].some(d => d.childElementCount > 0"
                " && d.getBoundingClientRect().height > 50)", timeout=60_000)
            assert view.locator("text=previous token").count() >= 1, "the attention view does not show the head names"
            view.screenshot(path=str(SCREENSHOTS / "browser_circuitsvis.png"))
            page.screenshot(path=str(SCREENSHOTS / "browser_notebook.png"), full_page=True)
        finally:
            browser.close()
    # The "Open in Colab" badge is an image from Colab: offline its alt text shows instead, and nothing
    # else depends on it. Any other request means something needs the network.
    needed = [url for url in refused if url != COLAB_BADGE]
    assert not needed, f"the page tried to reach the network: {needed}"
    assert (SCREENSHOTS / "browser_plotly.png").stat().st_size > 0
