"""Grader for ch0.loss_curve.

The spec: one line trace (a scatter trace drawn with lines), y the losses in order, x the steps
0, 1, ..., len(losses) - 1 (given explicitly, or left out: plotly then uses exactly those), a log y
axis, both axes labelled, and the figure's title is the ``title`` argument.
"""
import plotly.graph_objects as go
import pytest

from circuitlab.grading.testing import expect, run_learner, submitted

SHORT = [4.0, 2.5, 1.2, 0.8, 0.5]
LONG = [3.0 * 0.9 ** i + 0.01 for i in range(30)]


def _figure(losses, **kwargs):
    fig = run_learner(submitted(), list(losses), **kwargs)
    expect(isinstance(fig, go.Figure), f"Return a plotly.graph_objects.Figure, not {type(fig).__name__}.")
    return fig


def _x_values(trace, n):
    """The x values plotly draws: the given ones, or x0 + dx * i when x is left out."""
    if trace.x is not None:
        return list(trace.x)
    x0 = 0 if trace.x0 is None else trace.x0
    dx = 1 if trace.dx is None else trace.dx
    return [x0 + dx * i for i in range(n)]


@pytest.mark.parametrize("losses", [SHORT, LONG], ids=["5 losses", "30 losses"])
def test_one_line_with_the_losses(losses):
    """one line trace whose y values are the losses, x the step numbers 0, 1, 2, ..."""
    fig = _figure(losses)
    expect(len(fig.data) == 1, f"The figure should have exactly one trace; it has {len(fig.data)}.")
    trace = fig.data[0]
    expect(trace.type == "scatter", f"Draw a line (go.Scatter, or px.line); your trace is a {trace.type!r} trace.")
    expect(trace.mode is None or "lines" in trace.mode,
           f"The trace is drawn with mode={trace.mode!r}: a loss curve is a line (mode='lines').")
    expect(trace.y is not None and [float(y) for y in trace.y] == [float(v) for v in losses],
           f"The trace's y values should be the {len(losses)} losses, in order.")
    expect(_x_values(trace, len(losses)) == list(range(len(losses))),
           f"The x values should be the step numbers 0, 1, ..., {len(losses) - 1} (pass x=list(range(len(losses))), "
           "or leave x out).")


def test_log_scale_and_labels():
    """log-scaled y axis, axes labelled"""
    fig = _figure(SHORT)
    expect(fig.layout.yaxis.type == "log", "Use a log-scaled y axis (fig.update_yaxes(type='log')): losses "
           "shrink by orders of magnitude, and a linear axis hides the late part of training.")
    expect(bool(fig.layout.xaxis.title.text) and bool(fig.layout.yaxis.title.text),
           "Label both axes (xaxis_title and yaxis_title in fig.update_layout).")


@pytest.mark.parametrize("title", [None, "Loss of run 7"])
def test_title(title):
    """the figure's title is the title argument ("Training loss" by default)"""
    fig = _figure(SHORT) if title is None else _figure(SHORT, title=title)
    want = "Training loss" if title is None else title
    got = fig.layout.title.text
    expect(got == want, f"The figure's title is {got!r}; with {'no title argument' if title is None else f'title={title!r}'} "
                        f"it should be {want!r}: pass title=title to fig.update_layout.")
