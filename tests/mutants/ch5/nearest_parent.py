"""Mutants and alternatives for ch5.nearest_parent."""
import torch
import torch.nn.functional as F

from circuitlab.grading.meta import alternative, mutant


def _cos(small, large):
    return F.normalize(large, dim=-1) @ F.normalize(small, dim=-1).T


@mutant(hint="plain dot product")
def dot_product(small, large):
    raw = large @ small.T
    best = raw.argmax(-1)
    return best, raw.gather(-1, best[:, None])[:, 0]


@mutant(hint="do not take abs")
def absolute(small, large):
    cos = _cos(small, large)
    best = cos.abs().argmax(-1)
    return best, cos.gather(-1, best[:, None])[:, 0]


@mutant(hint="first index")
def last_on_ties(small, large):
    cos = _cos(small, large)
    best = cos.shape[-1] - 1 - cos.flip(-1).argmax(-1)
    return best, cos.gather(-1, best[:, None])[:, 0]


@mutant(hint="has shape")
def per_small_latent(small, large):
    cos = _cos(small, large)
    values, best = cos.max(0)
    return best, values


@mutant(hint="torch.long")
def float_indices(small, large):
    values, best = _cos(small, large).max(-1)
    return best.float(), values


@mutant(hint="not the dot product of the raw rows")
def cosine_index_raw_value(small, large):
    cos = _cos(small, large)
    best = cos.argmax(-1)
    return best, (large @ small.T).gather(-1, best[:, None])[:, 0]


@mutant(hint="tuple")
def index_only(small, large):
    return _cos(small, large).argmax(-1)


@alternative
def with_loops(small, large):
    parents, cosines = [], []
    for row in large:
        best, best_cos = 0, None
        for j, candidate in enumerate(small):
            norm = float(row.norm() * candidate.norm())
            c = float(row @ candidate) / norm if norm > 0 else 0.0
            if best_cos is None or c > best_cos:
                best, best_cos = j, c
        parents.append(best)
        cosines.append(best_cos)
    return torch.tensor(parents), torch.tensor(cosines, dtype=large.dtype)
