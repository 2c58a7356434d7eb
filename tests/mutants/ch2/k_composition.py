"""Mutants and alternatives for ch2.k_composition."""
import torch

from circuitlab.grading.meta import alternative, mutant


def _score(write, read):
    return ((write @ read).norm() / (write.norm() * read.norm())).item()


def _grid(model, read_of):
    n = model.cfg.n_heads
    return torch.tensor([[_score(model.OV[0, w], read_of(model, r)) for r in range(n)] for w in range(n)])


@mutant(hint="Q-composition")
def q_composition(model):
    return _grid(model, lambda m, r: m.QK[1, r])


@mutant(hint="V-composition")
def v_composition(model):
    return _grid(model, lambda m, r: m.OV[1, r])


@mutant(hint="swapped")
def transposed(model):
    return _grid(model, lambda m, r: m.QK[1, r].T).T


@alternative
def with_all_pairs_at_once(model):
    product = model.OV[0][:, None] @ model.QK[1][None, :].T  # FactoredMatrix (writer, reader, d, d)
    return product.norm() / (model.OV[0].norm()[:, None] * model.QK[1].norm()[None, :])


@mutant(hint="3 heads")  # the report names the model it failed on
def four_heads_hard_coded(model):
    return torch.tensor([[_score(model.OV[0, w], model.QK[1, r].T) for r in range(4)] for w in range(4)])


@mutant(hint="the last layer")
def reads_the_last_layer(model):
    # Layer 1 is the layer after layer 0; on a 3-layer model the last layer is another one.
    last = model.cfg.n_layers - 1
    n = model.cfg.n_heads
    scores = torch.tensor([[_score(model.OV[0, w], model.QK[last, r].T) for r in range(n)] for w in range(n)])
    return scores
