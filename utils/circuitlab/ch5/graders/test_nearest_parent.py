"""Grader for ch5.nearest_parent."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from circuitlab.ch5 import reference as ref
from circuitlab.ch5.grading_support import on_case
from circuitlab.grading.testing import expect, expect_close, expect_tensor, fail, run_learner, seeded, submitted


def _cases() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    with seeded(9):
        small = torch.randn(6, 5) * 2
        large = torch.randn(20, 5) * 0.5
        small64 = torch.randn(3, 8, dtype=torch.float64)
        large64 = torch.randn(4, 8, dtype=torch.float64) * 3
    # Ties: small rows 0 and 2 are the same direction (different lengths); row 3 is zero. Large row 1 points
    # away from everything (its best cosine is 0, with the zero row and no other), large row 2 is zero.
    tie_small = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    tie_large = torch.tensor([[3.0, 0.5, 0.0], [-1.0, -1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    return {
        "6 small and 20 large latents in 5 dimensions, rows of different lengths": (small, large),
        "3 small and 4 large latents in 8 dimensions, float64": (small64, large64),
        "one small latent, 7 large ones (every parent is 0)": (torch.randn(1, 4), torch.randn(7, 4)),
        "one large latent, 5 small ones": (torch.randn(5, 3), torch.randn(1, 3)),
        "a duplicated small direction (a tie: the first index), zero rows in both": (tie_small, tie_large),
    }


CASES = _cases()


@pytest.mark.parametrize("case", list(CASES))
def test_matches_reference(case):
    """(parent index as torch.long, cosine) per large latent; the first index on ties; zero rows have cosine 0"""
    small, large = CASES[case]
    with on_case(case):
        out = run_learner(submitted(), small.clone(), large.clone())
        if not isinstance(out, tuple) or len(out) != 2:
            fail(f"Return a tuple (parent, cosine) of two tensors; yours is a {type(out).__name__}.")
        parent, cosine = out
        want_parent, want_cosine = ref.nearest_parent(small, large)
        n_large = large.shape[0]
        parent = expect_tensor(parent, shape=(n_large,), what="the parent indices")
        cosine = expect_tensor(cosine, shape=(n_large,), dtype="float", what="the cosines")
        expect(parent.dtype == torch.long, f"The parent indices should be torch.long; yours have dtype {parent.dtype}.")
        raw = large @ small.T
        cos = F.normalize(large, dim=-1) @ F.normalize(small, dim=-1).T
        mistakes = {
            "Compare directions by cosine similarity: normalise the rows before the product (a plain dot product "
            "prefers long rows).": raw.argmax(-1),
            "The parent is the most similar latent, not the most similar up to sign: do not take abs of the "
            "cosine (an anti-aligned latent is a different feature).": cos.abs().argmax(-1),
            "On ties, return the first index (argmax does).": (cos.shape[-1] - 1 - cos.flip(-1).argmax(-1)),
        }
        mistakes = {k: v for k, v in mistakes.items() if not torch.equal(v, want_parent)}
        expect_close(parent, want_parent, what="the parent indices", mistakes=mistakes)
        expect_close(cosine, want_cosine, what="the cosines", atol=1e-5, mistakes={
            "Return the cosine similarity (between unit vectors), not the dot product of the raw rows.":
                raw.gather(-1, want_parent[:, None])[:, 0],
        })
