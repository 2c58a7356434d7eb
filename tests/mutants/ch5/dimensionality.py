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


@mutant(hint="2/5 for each corner")
def nan_to_one(W):
    # Guards the 0/0 but gives an ignored feature the value of a feature with its own dimension.
    norms = W.norm(dim=1)
    dots = torch.einsum("ihf,ihg->ifg", W / norms[:, None], W)
    return torch.nan_to_num(norms**2 / (dots**2).sum(-1), nan=1.0)


@mutant(hint="has shape")
def squeezed(W):
    unit = F.normalize(W, dim=1)
    overlaps = torch.einsum("ihf,ihg->ifg", unit, W)
    return (W.norm(dim=1) ** 2 / ((overlaps**2).sum(-1) + 1e-12)).squeeze()


@mutant(hint="differs from the expected values")
def norms_over_features(W):
    norms = W.norm(dim=2, keepdim=True).expand(-1, -1, W.shape[2])[:, 0]
    unit = W / W.norm(dim=2, keepdim=True).clamp_min(1e-8)
    overlaps = torch.einsum("ihf,ihg->ifg", unit, W)
    return torch.nan_to_num(norms**2 / (overlaps**2).sum(-1))


@alternative
def explicit_loops(W):
    inst, _, feat = W.shape
    out = torch.zeros(inst, feat)
    for i in range(inst):
        for f in range(feat):
            w = W[i, :, f]
            n = w.norm()
            if n == 0:
                continue
            out[i, f] = n**2 / ((W[i].T @ (w / n)) ** 2).sum()
    return out
