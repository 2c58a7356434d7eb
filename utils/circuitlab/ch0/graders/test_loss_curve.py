"""Grader for ch0.loss_curve."""
import plotly.graph_objects as go

from circuitlab.grading.testing import expect, run_learner, submitted

LOSSES = [4.0, 2.5, 1.2, 0.8, 0.5]


def _figure():
    fig = run_learner(submitted(), LOSSES)
    expect(isinstance(fig, go.Figure), f"Return a plotly.graph_objects.Figure, not {type(fig).__name__}.")
    return fig


def test_one_line_with_the_losses():
    """one line trace whose y values are the losses, x the step numbers 0, 1, 2, ..."""
    fig = _figure()
    expect(len(fig.data) == 1, f"The figure should have exactly one trace; it has {len(fig.data)}.")
    trace = fig.data[0]
    expect(list(trace.y) == LOSSES, "The trace's y values should be the losses, in order.")
    expect(trace.x is not None and list(trace.x) == list(range(len(LOSSES))),
           "The x values should be the step numbers 0, 1, 2, ... (pass x=list(range(len(losses)))).")


def test_log_scale_and_labels():
    """log-scaled y axis, axes labelled"""
    fig = _figure()
    expect(fig.layout.yaxis.type == "log", "Use a log-scaled y axis (fig.update_yaxes(type='log')): losses "
           "shrink by orders of magnitude, and a linear axis hides the late part of training.")
    expect(bool(fig.layout.xaxis.title.text) and bool(fig.layout.yaxis.title.text),
           "Label both axes (xaxis_title and yaxis_title in fig.update_layout).")
