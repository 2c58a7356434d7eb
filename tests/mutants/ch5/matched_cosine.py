"""Mutants and alternatives for ch5.matched_cosine."""
import torch
import torch.nn.functional as F

from circuitlab.grading.meta import alternative, mutant


@mutant(hint="raw dot products")
def dot_products(learned, true):
    return torch.einsum("ifd,isd->ifs", true, learned).max(-1).values


@mutant(hint="absolute value of the cosine")
def absolute(learned, true):
    cos = torch.einsum("ifd,isd->ifs", F.normalize(true, dim=-1), F.normalize(learned, dim=-1))
    return cos.abs().max(-1).values


@mutant(hint="one value per learned latent")
def per_latent(learned, true):
    cos = torch.einsum("ifd,isd->ifs", F.normalize(true, dim=-1), F.normalize(learned, dim=-1))
    return cos.max(1).values


@mutant(hint="NaN")
def unguarded(learned, true):
    t = true / true.norm(dim=-1, keepdim=True)
    s = learned / learned.norm(dim=-1, keepdim=True)
    return torch.einsum("ifd,isd->ifs", t, s).max(-1).values


@alternative
def with_cosine_similarity(learned, true):
    cos = F.cosine_similarity(true[:, :, None, :], learned[:, None, :, :], dim=-1)
    return cos.amax(-1)
