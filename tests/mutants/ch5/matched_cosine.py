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


@mutant(hint="every instance")
def flattened_instances(learned, true):
    d_in = true.shape[-1]
    cos = F.normalize(true.reshape(-1, d_in), dim=-1) @ F.normalize(learned.reshape(-1, d_in), dim=-1).T
    return cos.max(-1).values.reshape(true.shape[:2])


@mutant(hint="one to one")
def one_to_one(learned, true):
    cos = torch.einsum("ifd,isd->ifs", F.normalize(true, dim=-1), F.normalize(learned, dim=-1))
    out = torch.zeros(cos.shape[:2])
    for inst in range(cos.shape[0]):
        taken = set()
        for feat in range(cos.shape[1]):
            ranked = [int(s) for s in cos[inst, feat].argsort(descending=True) if int(s) not in taken]
            best = ranked[0] if ranked else int(cos[inst, feat].argmax())
            taken.add(best)
            out[inst, feat] = cos[inst, feat, best]
    return out


@mutant(hint="has shape (5), expected (1, 5)")
def bare_squeeze(learned, true):
    cos = torch.einsum("ifd,isd->ifs", F.normalize(true, dim=-1), F.normalize(learned, dim=-1))
    return cos.max(-1).values.squeeze()


@mutant(hint="left out the zero latents")
def zero_latents_skipped(learned, true):
    # Dead (zero) latents masked out: a feature every live latent points away from gets a negative score.
    cos = torch.einsum("ifd,isd->ifs", F.normalize(true, dim=-1), F.normalize(learned, dim=-1))
    dead = learned.norm(dim=-1) == 0
    return cos.masked_fill(dead[:, None, :], -2.0).max(-1).values.clamp(min=-1.0)


@alternative
def with_eps_division(learned, true):
    t = true / (true.norm(dim=-1, keepdim=True) + 1e-12)
    s = learned / (learned.norm(dim=-1, keepdim=True) + 1e-12)
    return (t @ s.transpose(-1, -2)).amax(-1)
