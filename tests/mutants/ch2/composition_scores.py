"""Mutants and alternatives for ch2.composition_scores."""
import torch

from circuitlab.grading.meta import alternative, mutant


def _readers(model, kind, layer=1):
    if kind not in ("q", "k", "v"):
        raise ValueError(kind)
    return {"q": model.QK[layer], "k": model.QK[layer].T, "v": model.OV[layer]}[kind]


def _scores(writers, readers):
    return (writers[:, None] @ readers[None, :]).norm() / (writers.norm()[:, None] * readers.norm()[None, :])


@mutant(hint="you computed K-composition")
def q_and_k_swapped(model, kind):
    swapped = {"q": "k", "k": "q"}.get(kind, kind)
    return _scores(model.OV[0], _readers(model, swapped))


@mutant(hint="swapped")
def transposed(model, kind):
    return _scores(model.OV[0], _readers(model, kind)).T


@mutant(hint="did not normalise")
def unnormalised(model, kind):
    return (model.OV[0][:, None] @ _readers(model, kind)[None, :]).norm()


@mutant(hint="the last layer")
def reads_the_last_layer(model, kind):
    return _scores(model.OV[0], _readers(model, kind, layer=model.cfg.n_layers - 1))


@mutant(hint="ValueError")
def unknown_kind_means_v(model, kind):
    readers = model.QK[1] if kind == "q" else model.QK[1].T if kind == "k" else model.OV[1]
    return _scores(model.OV[0], readers)


@alternative
def pair_by_pair(model, kind):
    readers = _readers(model, kind)
    n = model.cfg.n_heads
    grid = torch.zeros(n, n)
    for w in range(n):
        for r in range(n):
            grid[w, r] = (model.OV[0, w] @ readers[r]).norm() / (model.OV[0, w].norm() * readers[r].norm())
    return grid


@alternative
def dense_einsum(model, kind):
    writers = model.OV[0].AB
    readers = _readers(model, kind).AB
    products = torch.einsum("wij,rjk->wrik", writers, readers)
    norm = lambda m: m.pow(2).sum((-2, -1)).sqrt()
    return norm(products) / (norm(writers)[:, None] * norm(readers)[None, :])
