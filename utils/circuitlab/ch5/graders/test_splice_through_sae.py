"""Grader for ch5.splice_through_sae."""
from __future__ import annotations

import einops
import pytest
import torch

from circuitlab.ch5 import reference as ref
from circuitlab.ch5.grading_support import on_case
from circuitlab.grading.testing import expect_close, expect_tensor, isolated, run_learner, seeded, submitted

CASES = {
    # name: (batch, pos, d_model, d_sae, scale)
    "resid (3, 5, 8), an SAE with 12 latents, scale 2.5": (3, 5, 8, 12, 2.5),
    "resid (1, 1, 4) (one sequence, one position), 3 latents, scale 0.4": (1, 1, 4, 3, 0.4),
    "resid (2, 7, 6), 20 latents, scale 1.0": (2, 7, 6, 20, 1.0),
}


def _setup(case):
    batch, pos, d_model, d_sae, scale = CASES[case]
    with seeded(batch * 100 + d_sae):
        sae = ref.ToySAE(1, d_model, d_sae)
        with torch.no_grad():
            sae.b_dec.copy_(torch.randn(1, d_model) * 0.3)
            sae.b_enc.copy_(torch.randn(1, d_sae) * 0.2)
        mean = torch.randn(d_model) * 2
        resid = torch.randn(batch, pos, d_model) * 3 + mean
    return sae.eval(), resid, mean, scale


def _recon(sae, x):
    with torch.no_grad():
        _, recon = sae(einops.rearrange(x, "b p d -> (b p) 1 d"))
    return einops.rearrange(recon, "(b p) 1 d -> b p d", b=x.shape[0])


@pytest.mark.parametrize("case", list(CASES))
def test_matches_reference(case):
    """(batch, pos, d_model): normalise, reconstruct with the SAE, undo the normalisation"""
    sae, resid, mean, scale = _setup(case)
    with on_case(case):
        with isolated(sae, what="the SAE") as copy:
            out = run_learner(submitted(), resid.clone(), copy, mean.clone(), scale)
        with torch.no_grad():
            expected = ref.splice_through_sae(resid, sae, mean, scale)
        out = expect_tensor(out, shape=tuple(resid.shape), dtype="float", what="the spliced activations")
        normalised = (resid - mean) * scale
        recon = _recon(sae, normalised)
        mistakes = {
            "Undo the normalisation of the reconstruction: recon / scale + mean gives it back in the model's "
            "units (yours is still normalised).": recon,
            "Undo the normalisation in the reverse order: first divide by scale, then add the mean "
            "(normalising was subtract the mean, then multiply by scale).": (recon + mean) / scale,
            "Undo the scale by dividing: normalising multiplied by scale, so divide by it on the way back.":
                recon * scale + mean,
            "Centre before scaling: the SAE was trained on (resid - mean) * scale.": _recon(sae, resid * scale) / scale + mean,
            "The SAE was trained on normalised vectors: normalise resid before running the SAE.": _recon(sae, resid),
        }
        mistakes = {k: v for k, v in mistakes.items() if not torch.allclose(v, expected, atol=1e-5, rtol=1e-4)}
        expect_close(out.detach(), expected, what="the spliced activations", atol=1e-4, rtol=1e-4, mistakes=mistakes)
