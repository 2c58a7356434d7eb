"""Grader for ch5.matched_cosine."""
from __future__ import annotations

from typing import Iterator, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from circuitlab.ch5.grading_support import on_case
from circuitlab.grading.testing import expect_close, expect_tensor, fail, reference, run_learner, seeded, submitted


class Case(NamedTuple):
    what: str
    learned: Tensor
    true: Tensor


def _random_case(inst: int, d_sae: int, n_feat: int, d_in: int, dtype: torch.dtype = torch.float32) -> Case:
    with seeded(100 * inst + 10 * d_sae + n_feat + d_in):
        learned = torch.randn(inst, d_sae, d_in, dtype=dtype) * 3
        true = torch.randn(inst, n_feat, d_in, dtype=dtype) * 0.5
    size = "more latents than features" if d_sae > n_feat else "fewer latents than features" if d_sae < n_feat \
        else "as many latents as features"
    what = (f"{inst} instance{'s' if inst > 1 else ''}, {d_sae} latent{'s' if d_sae > 1 else ''}, {n_feat} features, "
            f"d_in {d_in}, {str(dtype).replace('torch.', '')} ({size})")
    return Case(what, learned, true)


def _cases() -> Iterator[Case]:
    yield _random_case(3, 6, 5, 2)
    yield _random_case(2, 4, 7, 3)
    yield _random_case(1, 5, 5, 4, torch.float64)
    yield _random_case(2, 1, 3, 3)
    # Instance 0: feature 1 is a zero direction; latent 2 duplicates latent 0 (a tie). Instance 1: latent 1 is a
    # zero direction and every other latent points away from feature 0, so its best cosine is the zero latent's 0;
    # both features' best latent is latent 0 (no one-to-one matching).
    learned = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]],
                            [[-1.0, 0.2, 0.0], [0.0, 0.0, 0.0], [-0.5, -1.0, 0.3]]])
    true = torch.tensor([[[2.0, 0.5, 0.0], [0.0, 0.0, 0.0]],
                         [[1.0, 0.0, 0.0], [-1.0, 0.1, 0.1]]])
    yield Case("2 hand-made instances with zero directions (a true feature and a latent), a duplicated latent, and "
               "two features whose best latent is the same", learned, true)


def _cosines(learned: Tensor, true: Tensor) -> Tensor:
    return torch.einsum("ifd,isd->ifs", F.normalize(true, dim=-1), F.normalize(learned, dim=-1))


def _one_to_one(cosines: Tensor) -> Tensor:
    """Features in turn take their best latent not taken yet (a matching the spec does not ask for)."""
    out = torch.zeros(cosines.shape[:2], dtype=cosines.dtype)
    for inst in range(cosines.shape[0]):
        free = torch.ones(cosines.shape[2], dtype=torch.bool)
        for feat in range(cosines.shape[1]):
            best = cosines[inst, feat].masked_fill(~free, -float("inf")).argmax()
            out[inst, feat] = cosines[inst, feat, best]
            free[best] = False
    return out


def _mistakes(learned: Tensor, true: Tensor) -> dict[str, Tensor]:
    cosines = _cosines(learned, true)
    inst, n_feat, d_sae = cosines.shape
    every_instance = torch.einsum("ifd,jsd->ifjs", F.normalize(true, dim=-1), F.normalize(learned, dim=-1))
    mistakes = {
        "These are raw dot products; normalise both sets of directions to unit length to get cosines.":
            torch.einsum("ifd,isd->ifs", true, learned).max(-1).values,
        "Only the learned directions are normalised; normalise the true ones too.":
            torch.einsum("ifd,isd->ifs", true, F.normalize(learned, dim=-1)).max(-1).values,
        "You took the absolute value of the cosine: a latent pointing the opposite way (negative sign) does not "
        "recover the feature, since latent activations are non-negative.": cosines.abs().max(-1).values,
        "You took the mean over the latents; the match is the best latent, the max.": cosines.mean(-1),
        f"Your output has one value per learned latent, shape ({inst}, {d_sae}); the question is per ground-truth "
        f"feature, shape ({inst}, {n_feat}): take the max over the latents.": cosines.max(1).values,
        "You compared each feature with the latents of every instance; an instance's features are matched with "
        "its own latents only (the instance axis is a batch axis, not summed or flattened).":
            every_instance.flatten(2).max(-1).values,
    }
    dead = learned.norm(dim=-1) == 0
    if bool(dead.any()):
        mistakes["You left out the zero latents: a zero direction has cosine 0 with every feature, so it counts "
                 "(here it is the best match of a feature that every other latent points away from)."] = \
            cosines.masked_fill(dead[:, None, :], -float("inf")).max(-1).values
    if d_sae >= n_feat:
        mistakes["You matched features and latents one to one; each feature takes its best latent, even when "
                 "another feature's best is the same latent."] = _one_to_one(cosines)
    return mistakes


def test_matches_reference():
    """(inst, n_feat): each true direction's highest cosine with a learned direction of the same instance"""
    for case in _cases():
        with on_case(case.what):
            out = run_learner(submitted(), case.learned, case.true, what="your matched_cosine")
            expected = reference()(case.learned, case.true)
            if isinstance(out, torch.Tensor) and out.is_floating_point() and bool(torch.isnan(out).any()):
                nan_at = [tuple(i) for i in torch.nonzero(torch.isnan(out)).tolist()][:3]
                fail(f"The matched cosine is NaN at {nan_at}: a zero direction was divided by its norm, 0. "
                     "Normalise with F.normalize (which guards against dividing by zero) or add a small epsilon; "
                     "a zero direction scores 0.")
            expect_tensor(out, dtype="float", what="the matched cosine")
            mistakes = _mistakes(case.learned, case.true)
            expect_close(out, expected, what="the matched cosine", mistakes=mistakes,
                         axis_names=("instance", "feature"),
                         hint="Normalise both sets of directions (F.normalize guards zero vectors), take all cosines "
                              "within each instance, then the max over the latents.")
