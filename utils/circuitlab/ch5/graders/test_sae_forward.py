"""Grader for ch5.sae_forward."""
import pytest
import torch
import torch.nn.functional as F

from circuitlab.ch5 import reference as ref
from circuitlab.ch5.grading_support import learner_model_with
from circuitlab.grading.testing import expect, expect_close, fail, run_learner, seeded, submitted


def _weights(inst, d_in, d_sae, seed):
    with seeded(seed):
        return {"W_enc": torch.randn(inst, d_in, d_sae), "b_enc": torch.randn(inst, d_sae) * 0.3,
                "W_dec": torch.randn(inst, d_sae, d_in) * 2.0, "b_dec": torch.randn(inst, d_in) * 0.5}


def _run(inst, d_in, d_sae, seed):
    weights = _weights(inst, d_in, d_sae, seed)
    sae = learner_model_with(submitted(), (inst, d_in, d_sae), weights, "ToySAE")
    with seeded(seed + 1):
        h = torch.randn(9, inst, d_in)
    out = run_learner(sae, h, what="your ToySAE.forward")
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        fail(f"forward should return a pair (acts, reconstruction); yours returned {type(out).__name__}.")
    expected_sae = ref.ToySAE(inst, d_in, d_sae)
    expected_sae.load_state_dict(weights)
    with torch.no_grad():
        expected = expected_sae(h)
    return weights, h, out, expected


@pytest.mark.parametrize("inst, d_in, d_sae", [(3, 2, 5), (2, 4, 3)])
def test_latent_activations(inst, d_in, d_sae):
    """acts = ReLU((h - b_dec) W_enc + b_enc), shape (batch, inst, d_sae)"""
    weights, h, (acts, _), (expected, _) = _run(inst, d_in, d_sae, seed=d_in)
    W_enc, b_enc, b_dec = weights["W_enc"], weights["b_enc"], weights["b_dec"]
    pre_centred = torch.einsum("bid,ids->bis", h - b_dec, W_enc) + b_enc
    expect_close(acts, expected, what="latent activations", mistakes={
        "The activations are missing their ReLU: latents must be non-negative.": pre_centred,
        "Subtract b_dec from the input before encoding: acts = ReLU((h - b_dec) W_enc + b_enc).":
            F.relu(torch.einsum("bid,ids->bis", h, W_enc) + b_enc),
        "The encoder bias b_enc is missing.": F.relu(pre_centred - b_enc),
    })


@pytest.mark.parametrize("inst, d_in, d_sae", [(3, 2, 5), (2, 4, 3)])
def test_reconstruction(inst, d_in, d_sae):
    """reconstruction = acts times the decoder with unit-norm latent rows, plus b_dec"""
    weights, h, (_, recon), (acts, expected) = _run(inst, d_in, d_sae, seed=d_in)
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
    expect_close(recon, expected, what="reconstruction", mistakes=mistakes)


def test_gradients_reach_the_decoder():
    """the normalisation is part of the forward pass, so gradients reach W_dec and every other parameter"""
    weights = _weights(2, 3, 4, seed=7)
    sae = learner_model_with(submitted(), (2, 3, 4), weights, "ToySAE")
    with seeded(8):
        h = torch.randn(16, 2, 3)
    acts, recon = run_learner(sae, h, what="your ToySAE.forward")
    expect(getattr(recon, "requires_grad", False), "The reconstruction does not depend on the parameters through "
           "autograd: do not detach anything in forward.")
    (recon.sum() + acts.sum()).backward()
    missing = [name for name, p in sae.named_parameters() if p.grad is None]
    expect(not missing, f"These parameters got no gradient: {missing}.")
