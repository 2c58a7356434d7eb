"""Grader for ch5.sae_forward."""
import pytest
import torch
import torch.nn.functional as F

from circuitlab.ch5 import reference as ref
from circuitlab.ch5.grading_support import (
    expect_gradients_close, expect_matches, expect_parameters_unchanged, gradients, learner_model_with, on_case,
)
from circuitlab.grading.testing import expect, expect_tensor, fail, run_learner, seeded, submitted

CONFIGS = {
    # name: (inst, d_in, d_sae, batch)
    "3 instances, d_in 2, d_sae 5, batch 9": (3, 2, 5, 9),
    "2 instances, d_in 4, d_sae 3, batch 1": (2, 4, 3, 1),
    "1 instance, d_in 3, d_sae 1, batch 6": (1, 3, 1, 6),
}


def _weights(inst, d_in, d_sae, seed):
    with seeded(seed):
        return {"W_enc": torch.randn(inst, d_in, d_sae), "b_enc": torch.randn(inst, d_sae) * 0.3,
                "W_dec": torch.randn(inst, d_sae, d_in) * 2.0, "b_dec": torch.randn(inst, d_in) * 0.5}


def _run(case):
    inst, d_in, d_sae, batch = CONFIGS[case]
    weights = _weights(inst, d_in, d_sae, seed=d_in + d_sae)
    sae = learner_model_with(submitted(), (inst, d_in, d_sae), weights, "ToySAE")
    with seeded(d_in + 1):
        h = torch.randn(batch, inst, d_in)
    out = run_learner(sae, h, what="your ToySAE.forward")
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        fail(f"forward should return a pair (acts, reconstruction); yours returned {type(out).__name__}.")
    expect_parameters_unchanged(sae, weights, "your ToySAE.forward")
    acts = expect_tensor(out[0], shape=(batch, inst, d_sae), dtype="float", what="acts")
    recon = expect_tensor(out[1], shape=(batch, inst, d_in), dtype="float", what="the reconstruction")
    expected_sae = ref.ToySAE(inst, d_in, d_sae)
    expected_sae.load_state_dict(weights)
    return weights, h, sae, (acts, recon), expected_sae


def _name(case):
    inst, d_in, d_sae, batch = CONFIGS[case]
    return f"ToySAE({inst}, {d_in}, {d_sae}), h of shape ({batch}, {inst}, {d_in})"


@pytest.mark.parametrize("case", list(CONFIGS))
def test_latent_activations(case):
    """acts = ReLU((h - b_dec) W_enc + b_enc), shape (batch, inst, d_sae)"""
    with on_case(_name(case)):
        weights, h, _, (acts, _), expected_sae = _run(case)
        with torch.no_grad():
            expected, _ = expected_sae(h)
        W_enc, b_enc, b_dec = weights["W_enc"], weights["b_enc"], weights["b_dec"]
        pre_centred = torch.einsum("bid,ids->bis", h - b_dec, W_enc) + b_enc
        expect_matches(acts, expected, ["batch", "instance", "latent"], what="the latent activations", mistakes={
            "The activations are missing their ReLU: latents must be non-negative.": pre_centred,
            "Subtract b_dec from the input before encoding: acts = ReLU((h - b_dec) W_enc + b_enc).":
                F.relu(torch.einsum("bid,ids->bis", h, W_enc) + b_enc),
            "The encoder bias b_enc is missing.": F.relu(pre_centred - b_enc),
        })


@pytest.mark.parametrize("case", list(CONFIGS))
def test_reconstruction(case):
    """reconstruction = acts times the decoder with unit-norm latent rows, plus b_dec"""
    with on_case(_name(case)):
        weights, h, _, (_, recon), expected_sae = _run(case)
        with torch.no_grad():
            acts, expected = expected_sae(h)
        W_dec, b_dec = weights["W_dec"], weights["b_dec"]
        mistakes = {
            "The decoder is not normalised: divide each latent's decoder row by its norm, "
            "W_dec / W_dec.norm(dim=-1, keepdim=True), so the L1 penalty cannot be dodged by shrinking activations.":
                torch.einsum("bis,isd->bid", acts, W_dec) + b_dec,
            "The decoder is normalised along the wrong axis: each latent's row W_dec[i, latent, :] must have unit "
            "norm (norm over d_in, the last axis).":
                torch.einsum("bis,isd->bid", acts, W_dec / W_dec.norm(dim=-2, keepdim=True)) + b_dec,
            "Add b_dec back to the decoded vector.": expected - b_dec,
        }
        expect_matches(recon, expected, ["batch", "instance", "d_in"], what="the reconstruction", mistakes=mistakes)


@pytest.mark.parametrize("case", list(CONFIGS))
def test_gradients(case):
    """gradients of every parameter (through the decoder's normalisation) and of h equal the reference's"""
    with on_case(_name(case)):
        inst, d_in, d_sae, batch = CONFIGS[case]
        weights, h, _, _, expected_sae = _run(case)
        sae = learner_model_with(submitted(), (inst, d_in, d_sae), weights, "ToySAE")
        with seeded(9):
            up_acts, up_recon = torch.randn(batch, inst, d_sae), torch.randn(batch, inst, d_in)
        learner_h, reference_h = h.clone().requires_grad_(True), h.clone().requires_grad_(True)
        acts, recon = run_learner(sae, learner_h, what="your ToySAE.forward")
        expect(getattr(recon, "requires_grad", False), "The reconstruction does not depend on the parameters "
               "through autograd: do not detach anything in forward.")
        want_acts, want_recon = expected_sae(reference_h)
        got = gradients((acts * up_acts).sum() + (recon * up_recon).sum(),
                        {**dict(sae.named_parameters()), "h": learner_h})
        want = gradients((want_acts * up_acts).sum() + (want_recon * up_recon).sum(),
                         {**dict(expected_sae.named_parameters()), "h": reference_h})
        expect_gradients_close(got, want, what="your ToySAE's outputs",
                               hint="Normalise the decoder inside forward with differentiable operations "
                                    "(no .detach() or .data), so W_dec's gradient includes the normalisation.")
