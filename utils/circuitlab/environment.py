"""The setup cell's logic: where the notebook runs, which device, whether the Hub is reachable."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import torch

_DEVICE: str = "cpu"


def in_colab() -> bool:
    return "google.colab" in sys.modules


def pick_device(preferred: str | None = None) -> str:
    """``preferred`` if given, else CUDA, else Apple's MPS, else CPU."""
    if preferred:
        return preferred
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def current_device() -> str:
    """The device chosen by ``setup()`` (CPU until setup is called)."""
    return _DEVICE


@dataclass(frozen=True)
class Environment:
    where: str  # "colab", "binder" or "local"
    device: str
    online: bool
    threads: int
    version: str

    def line(self) -> str:
        network = "online: GPT-2 small available" if self.online else "offline: shipped models stand in for hub models"
        return f"Circuit Lab {self.version} · {self.where} · device {self.device} · {self.threads} threads · {network}"


def setup(device: str | None = None, threads: int | None = None, check_network: bool = True,
          quiet: bool = False) -> Environment:
    """Detect the environment, choose the device once for the whole notebook, and say so in one line."""
    global _DEVICE
    from circuitlab import __version__
    from circuitlab.models import hub_is_reachable

    _DEVICE = pick_device(device or os.environ.get("CIRCUITLAB_DEVICE"))
    if threads is None and os.environ.get("CIRCUITLAB_THREADS"):
        threads = int(os.environ["CIRCUITLAB_THREADS"])
    if threads:
        torch.set_num_threads(threads)
    where = "colab" if in_colab() else "binder" if os.environ.get("BINDER_SERVICE_HOST") else "local"
    env = Environment(
        where=where,
        device=_DEVICE,
        online=hub_is_reachable() if check_network else False,
        threads=torch.get_num_threads(),
        version=__version__,
    )
    if not quiet:
        print(env.line())
    return env
