"""Mutants and alternatives for ch5.variance_explained."""
import torch

from circuitlab.grading.meta import alternative, mutant


@mutant(hint="not around 0")
def uncentred(h, recon):
    return 1 - ((recon - h) ** 2).sum((0, 2)) / (h**2).sum((0, 2))


@mutant(hint="not the fraction left over")
def unexplained(h, recon):
    return ((recon - h) ** 2).sum((0, 2)) / ((h - h.mean(0)) ** 2).sum((0, 2))


@mutant(hint="mean over d_in")
def centred_over_d_in(h, recon):
    return 1 - ((recon - h) ** 2).sum((0, 2)) / ((h - h.mean(-1, keepdim=True)) ** 2).sum((0, 2))


@mutant(hint="not a mean of per-input ratios")
def per_input_ratio(h, recon):
    return 1 - (((recon - h) ** 2).sum(-1) / ((h - h.mean(0)) ** 2).sum(-1).clamp_min(1e-12)).mean(0)


@mutant(hint="has shape")
def summed_over_instances(h, recon):
    return 1 - ((recon - h) ** 2).sum() / ((h - h.mean(0)) ** 2).sum()


@alternative
def with_variance(h, recon):
    n = h.shape[0]
    return 1 - ((recon - h) ** 2).sum((0, 2)) / (h.var(0, unbiased=False).sum(-1) * n)


@alternative
def with_mse(h, recon):
    return 1 - ((recon - h) ** 2).mean((0, 2)) / ((h - h.mean(0)) ** 2).mean((0, 2))
