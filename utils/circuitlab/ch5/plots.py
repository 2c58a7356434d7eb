"""Plotly figures for chapter 5: feature vectors, Gram matrices, sweeps and SAE matches."""
from __future__ import annotations

from typing import Sequence

import plotly.graph_objects as go
import torch
from jaxtyping import Float
from plotly.subplots import make_subplots
from torch import Tensor

__all__ = ["feature_vectors", "gram_matrices", "sweep_bars", "dimensionality_scatter", "sae_directions"]

_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
            "#bcbd22", "#17becf"]


def _colour(i: int) -> str:
    return _COLOURS[i % len(_COLOURS)]


def feature_vectors(W: Float[Tensor, "inst 2 feat"], titles: Sequence[str], columns: int = 4,
                    title: str = "Feature embeddings W_i in the 2-d hidden space") -> go.Figure:
    """One panel per instance: each feature's embedding drawn as an arrow from the origin."""
    W = W.detach().cpu()
    n_inst, n_feat = W.shape[0], W.shape[2]
    rows = -(-n_inst // columns)
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=list(titles), horizontal_spacing=0.03,
                        vertical_spacing=0.12)
    for inst in range(n_inst):
        row, col = inst // columns + 1, inst % columns + 1
        for f in range(n_feat):
            x, y = W[inst, 0, f].item(), W[inst, 1, f].item()
            fig.add_trace(go.Scatter(x=[0, x], y=[0, y], mode="lines+markers", line=dict(color=_colour(f)),
                                     marker=dict(size=[0, 7]), name=f"feature {f}", legendgroup=str(f),
                                     showlegend=inst == 0), row=row, col=col)
        fig.update_xaxes(range=[-1.5, 1.5], showticklabels=False, row=row, col=col)
        fig.update_yaxes(range=[-1.5, 1.5], showticklabels=False, scaleanchor=f"x{inst + 1 if inst else ''}",
                         row=row, col=col)
    fig.update_layout(title=title, height=260 * rows + 60, width=230 * columns + 120)
    return fig


def gram_matrices(W: Float[Tensor, "inst hidden feat"], titles: Sequence[str], columns: int = 4) -> go.Figure:
    """WᵀW per instance: the diagonal says how strongly each feature is represented, the off-diagonal
    entries how much features interfere."""
    W = W.detach().cpu()
    gram = torch.einsum("ihf,ihg->ifg", W, W)
    n_inst = W.shape[0]
    rows = -(-n_inst // columns)
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=list(titles), horizontal_spacing=0.03,
                        vertical_spacing=0.12)
    for inst in range(n_inst):
        fig.add_trace(go.Heatmap(z=gram[inst].numpy(), zmin=-1.3, zmax=1.3, colorscale="RdBu", reversescale=True,
                                 showscale=inst == 0), row=inst // columns + 1, col=inst % columns + 1)
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title="WᵀW per instance (red positive, blue negative)", height=230 * rows + 60,
                      width=220 * columns + 140)
    return fig


def sweep_bars(probability: Sequence[float], represented: Sequence[int], n_hidden: int) -> go.Figure:
    """How many features each instance represents, against its feature probability."""
    labels = [f"{p:.3g}" for p in probability]
    fig = go.Figure(go.Bar(x=labels, y=list(represented), text=list(represented), textposition="outside"))
    fig.add_hline(y=n_hidden, line_dash="dot", annotation_text=f"{n_hidden} hidden dimensions")
    fig.update_layout(title="Represented features (|W_i| > 0.5) as features get sparser",
                      xaxis_title="feature probability (dense → sparse)", yaxis_title="features represented",
                      yaxis_range=[0, max(represented) + 1], height=380, width=650)
    return fig


def dimensionality_scatter(probability: Float[Tensor, "inst"], dims: Float[Tensor, "inst feat"],
                           fractions: Sequence[float] = (1.0, 1 / 2, 2 / 5, 1 / 3),
                           names: Sequence[str] = ("1", "1/2", "2/5", "1/3"), title: str = "Feature dimensionality",
                           extra: tuple[str, Sequence[float]] | None = None) -> go.Figure:
    """Each feature's dimensionality, per instance, with the fractions of special geometries marked."""
    n_inst, n_feat = dims.shape
    xs = [1 / probability[i].item() for i in range(n_inst) for _ in range(n_feat)]
    jitter = torch.linspace(0.97, 1.03, n_feat).tolist() * n_inst
    fig = go.Figure(go.Scatter(x=[x * j for x, j in zip(xs, jitter)], y=dims.flatten().tolist(), mode="markers",
                               marker=dict(size=6, opacity=0.6)))
    for fraction, name in zip(fractions, names):
        fig.add_hline(y=fraction, line_dash="dot", annotation_text=name, line_color="grey")
    if extra is not None:
        label, values = extra
        fig.add_trace(go.Scatter(x=[1 / probability[i].item() for i in range(n_inst)], y=list(values),
                                 mode="lines+markers", name=label, line=dict(color="black")))
    fig.update_xaxes(type="log", title="1 / feature probability (sparser →)")
    fig.update_layout(title=title, yaxis_title="dimensionality D_i", height=420, width=700,
                      showlegend=extra is not None)
    return fig


def sae_directions(true: Float[Tensor, "inst feat 2"], learned: Float[Tensor, "inst latent 2"],
                   live: Float[Tensor, "inst latent"], titles: Sequence[str], columns: int = 4,
                   title: str = "Toy features (solid) and SAE decoder directions (dashed; grey = dead)") -> go.Figure:
    """Ground-truth feature directions against the SAE's decoder rows, one panel per instance."""
    true, learned = true.detach().cpu(), learned.detach().cpu()
    learned = learned / learned.norm(dim=-1, keepdim=True)
    n_inst = true.shape[0]
    rows = -(-n_inst // columns)
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=list(titles), horizontal_spacing=0.03,
                        vertical_spacing=0.12)
    for inst in range(n_inst):
        row, col = inst // columns + 1, inst % columns + 1
        for f in range(true.shape[1]):
            x, y = true[inst, f].tolist()
            fig.add_trace(go.Scatter(x=[0, x], y=[0, y], mode="lines", line=dict(color=_colour(f), width=3),
                                     showlegend=False), row=row, col=col)
        for latent in range(learned.shape[1]):
            x, y = learned[inst, latent].tolist()
            colour = "black" if bool(live[inst, latent]) else "lightgrey"
            fig.add_trace(go.Scatter(x=[0, x], y=[0, y], mode="lines", line=dict(color=colour, dash="dash"),
                                     showlegend=False), row=row, col=col)
        fig.update_xaxes(range=[-1.4, 1.4], showticklabels=False, row=row, col=col)
        fig.update_yaxes(range=[-1.4, 1.4], showticklabels=False, row=row, col=col)
    fig.update_layout(title=title, height=250 * rows + 60, width=230 * columns + 80)
    return fig


PHASE_NAMES = ["feature 1 ignored", "feature 1 alone", "superposed"]
PHASE_COLOURS = ["#d9d9d9", "#1f77b4", "#d62728"]


def phase_diagrams(panels: Sequence[tuple[str, Tensor]], importance: Tensor, probability: Tensor) -> go.Figure:
    """Side-by-side phase diagrams: each panel an (importance, probability) grid of phase codes 0/1/2."""
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[name for name, _ in panels],
                        horizontal_spacing=0.12)
    x = [f"{p:.2g}" for p in probability.tolist()]
    y = [f"{r:.2g}" for r in importance.tolist()]
    colourscale = []
    for code, colour in enumerate(PHASE_COLOURS):
        colourscale += [[code / 3, colour], [(code + 1) / 3, colour]]
    for col, (_, grid) in enumerate(panels, start=1):
        codes = grid.detach().cpu().float()
        text = [[PHASE_NAMES[int(c)].split()[-1] for c in row] for row in codes.tolist()]
        fig.add_trace(go.Heatmap(z=codes.numpy(), x=x, y=y, zmin=-0.5, zmax=2.5, colorscale=colourscale,
                                 text=text, texttemplate="%{text}", showscale=False), row=1, col=col)
        fig.update_xaxes(title="feature probability (sparse ← → dense)", row=1, col=col)
        fig.update_yaxes(title="importance of feature 1 (feature 0: 1)", row=1, col=col)
    fig.update_layout(title="Two features in one dimension: what happens to the extra feature",
                      height=450, width=520 * len(panels))
    return fig
