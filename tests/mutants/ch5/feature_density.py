"""Mutants and alternatives for ch5.feature_density."""
import torch

from circuitlab.grading.meta import alternative, mutant


@mutant(hint="not a count")
def counts(acts):
    return (acts > 0).float().sum(0)


@mutant(hint="strictly positive")
def at_least_zero(acts):
    return (acts >= 0).float().mean(0)


@mutant(hint="not its mean activation")
def mean_activation(acts):
    return acts.mean(0)


@mutant(hint="not acts != 0")
def nonzero(acts):
    return (acts != 0).float().mean(0)


@mutant(hint="float tensor")
def boolean_any(acts):
    return (acts > 0).any(0)


@mutant(hint="Average over the batch axis")
def over_latents(acts):
    return (acts > 0).float().mean(-1, keepdim=True).expand(-1, -1, acts.shape[-1])[0]


@alternative
def count_over_batch(acts):
    return torch.count_nonzero(acts.clamp_min(0), dim=0) / acts.shape[0]


@alternative
def sign_mean(acts):
    return torch.sign(torch.relu(acts)).double().mean(0)
