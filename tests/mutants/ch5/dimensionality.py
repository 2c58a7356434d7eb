"""Mutants and alternatives for ch5.dimensionality."""
import torch
import torch.nn.functional as F

from circuitlab.grading.meta import alternative, mutant


@mutant(hint="not its unit vector")
def unnormalised_overlaps(W):
    norms = W.norm(dim=1)
    dots = torch.einsum("ihf,ihg->ifg", W, W)
    return torch.nan_to_num(norms**2 / (dots**2).sum(-1))


@mutant(hint="squared norm")
def norm_not_squared(W):
    norms = W.norm(dim=1)
    dots = torch.einsum("ihf,ihg->ifg", W / norms.clamp_min(1e-8)[:, None], W)
    return norms / (dots**2).sum(-1).clamp_min(1e-16)


@mutant(hint="Square each overlap")
def absolute_overlaps(W):
    norms = W.norm(dim=1)
    dots = torch.einsum("ihf,ihg->ifg", W / norms.clamp_min(1e-8)[:, None], W)
    return norms**2 / dots.abs().sum(-1).clamp_min(1e-16)


@mutant(hint="not NaN")
def no_zero_guard(W):
    norms = W.norm(dim=1)
    dots = torch.einsum("ihf,ihg->ifg", W / norms[:, None], W)
    return norms**2 / (dots**2).sum(-1)


@alternative
def fourth_power(W):
    gram = torch.einsum("ihf,ihg->ifg", W, W)
    norms_sq = torch.diagonal(gram, dim1=-2, dim2=-1)
    return norms_sq**2 / ((gram**2).sum(-1) + 1e-12)


@alternative
def with_normalize(W):
    unit = F.normalize(W, dim=1)
    overlaps = torch.einsum("ihf,ihg->ifg", unit, W)
    return W.norm(dim=1) ** 2 / ((overlaps**2).sum(-1) + 1e-12)
