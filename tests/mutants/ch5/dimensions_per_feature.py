"""Mutants and alternatives for ch5.dimensions_per_feature."""
import torch

from circuitlab.grading.meta import alternative, mutant


@mutant(hint="not the norm itself")
def frobenius_not_squared(W):
    return W.shape[1] / W.flatten(1).norm(dim=-1)


@mutant(hint="not the number of features")
def features_over(W):
    return W.shape[2] / (W**2).sum((1, 2))


@mutant(hint="not its inverse")
def inverted(W):
    return (W**2).sum((1, 2)) / W.shape[1]


@mutant(hint="not their norms")
def sum_of_norms(W):
    return W.shape[1] / W.norm(dim=1).sum(-1)


@mutant(hint="inf")
def epsilon(W):
    return W.shape[1] / ((W**2).sum((1, 2)) + 1e-6)


@mutant(hint="shape")
def squeezed(W):
    return (W.shape[1] / (W**2).sum((1, 2))).squeeze()


@alternative
def with_norms(W):
    return W.shape[1] / W.norm(dim=1).pow(2).sum(-1)


@alternative
def with_einsum(W):
    return W.shape[1] / torch.einsum("ihf,ihf->i", W, W)
