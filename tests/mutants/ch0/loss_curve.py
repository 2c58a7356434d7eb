"""Mutants and alternatives for ch0.loss_curve."""
import plotly.express as px
import plotly.graph_objects as go

from circuitlab.grading.meta import alternative, mutant


@mutant(hint="log-scaled y axis")
def linear_axis(losses, title="Training loss"):
    fig = go.Figure(go.Scatter(x=list(range(len(losses))), y=losses))
    fig.update_layout(title=title, xaxis_title="step", yaxis_title="loss")
    return fig


@mutant(hint="Label both axes")
def unlabelled(losses, title="Training loss"):
    fig = go.Figure(go.Scatter(x=list(range(len(losses))), y=losses))
    fig.update_yaxes(type="log")
    return fig


@mutant(hint="step numbers 0, 1, 2")
def steps_from_one(losses, title="Training loss"):
    fig = go.Figure(go.Scatter(x=list(range(1, len(losses) + 1)), y=losses))
    fig.update_layout(title=title, xaxis_title="step", yaxis_title="loss", yaxis_type="log")
    return fig


@mutant(hint="Return a plotly.graph_objects.Figure")
def shows_instead_of_returning(losses, title="Training loss"):
    go.Figure(go.Scatter(y=losses))


@alternative
def with_plotly_express(losses, title="Training loss"):
    fig = px.line(x=list(range(len(losses))), y=losses, log_y=True, title=title,
                  labels={"x": "step", "y": "loss"})
    return fig


@mutant(hint="title")
def ignores_the_title(losses, title="Training loss"):
    fig = go.Figure(go.Scatter(x=list(range(len(losses))), y=losses, mode="lines"))
    fig.update_layout(title="Training loss", xaxis_title="step", yaxis_title="loss", yaxis_type="log")
    return fig


@mutant(hint="mode='lines'")
def markers_only(losses, title="Training loss"):
    fig = go.Figure(go.Scatter(x=list(range(len(losses))), y=losses, mode="markers"))
    fig.update_layout(title=title, xaxis_title="step", yaxis_title="loss", yaxis_type="log")
    return fig


@mutant(hint="30 losses")
def first_five_only(losses, title="Training loss"):
    fig = go.Figure(go.Scatter(x=list(range(5)), y=losses[:5], mode="lines"))
    fig.update_layout(title=title, xaxis_title="step", yaxis_title="loss", yaxis_type="log")
    return fig


@alternative
def with_implicit_x(losses, title="Training loss"):
    fig = go.Figure(go.Scatter(y=losses, mode="lines"))
    fig.update_layout(title=title, xaxis_title="step", yaxis_title="loss")
    fig.update_yaxes(type="log")
    return fig
