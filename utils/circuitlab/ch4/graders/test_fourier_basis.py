"""Grader for ch4.fourier_basis."""
import math

import torch

from circuitlab.grading.testing import expect_close, expect_tensor, reference, run_learner, submitted


def _raw_basis(p, swap=False):
    x = torch.arange(p, dtype=torch.float32)
    rows = [torch.ones(p)]
    for k in range(1, p // 2 + 1):
        cos, sin = torch.cos(2 * math.pi * k * x / p), torch.sin(2 * math.pi * k * x / p)
        rows += [sin, cos] if swap else [cos, sin]
    return torch.stack(rows)


def _normalise(basis):
    return basis / basis.norm(dim=1, keepdim=True)


def test_matches_reference():
    """rows: constant, then cos k and sin k for k = 1..(p-1)/2, each of unit norm"""
    for p in (3, 7, 113):
        out = run_learner(submitted(), p, what=f"your fourier_basis({p})")
        expect_tensor(out, shape=(p, p), dtype="float", what=f"the basis for p={p}")
        mistakes = {
            "Your basis vectors are not normalised: divide each row by its norm, so that the basis is "
            "orthonormal and coefficients are comparable.": _raw_basis(p),
            "You have sin and cos swapped: row 2k-1 is cos(2πkx/p) and row 2k is sin(2πkx/p).":
                _normalise(_raw_basis(p, swap=True)),
            "Your basis vectors are not normalised and have sin and cos swapped.": _raw_basis(p, swap=True),
            "Your rows are the basis's columns: return one basis vector per row (transpose).": reference()(p).T,
        }
        expect_close(out, reference()(p), atol=1e-5, what=f"the basis for p={p}", mistakes=mistakes,
                     hint="Use 2πkx/p with x = 0..p-1 and k = 1..(p-1)/2.")


def test_orthonormal():
    """the rows are orthonormal: basis @ basis.T is the identity"""
    out = run_learner(submitted(), 13)
    expect_tensor(out, shape=(13, 13), dtype="float", what="the basis for p=13")
    expect_close(out.float() @ out.float().T, torch.eye(13), atol=1e-4, what="basis @ basis.T",
                 hint="Each row should have norm 1 and be orthogonal to the others.")
