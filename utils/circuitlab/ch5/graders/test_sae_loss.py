"""Grader for ch5.sae_loss."""
import pytest
import torch

from circuitlab.ch5.grading_support import (
    expect_gradients_close, expect_matches, expect_plain_tensor, gradients, on_case,
)
from circuitlab.grading.testing import expect, fail, reference, run_learner, seeded, submitted

CASES = {
    # name: (batch, inst, d_in, d_sae, l1_coeff)
    "batch 8, 3 instances, d_in 2, d_sae 5, l1_coeff 0.2": (8, 3, 2, 5, 0.2),
    "batch 5, 2 instances, d_in 4, d_sae 3, l1_coeff 0.05": (5, 2, 4, 3, 0.05),
    "batch 1, 1 instance, d_in 3, d_sae 6, l1_coeff 1.0": (1, 1, 3, 6, 1.0),
}


def _inputs(batch, inst, d_in, d_sae, seed):
    with seeded(seed):
        h = torch.randn(batch, inst, d_in)
        pre = torch.randn(batch, inst, d_sae)  # acts = ReLU(pre): non-negative, with exact zeros
        recon = h + 0.5 * torch.randn(batch, inst, d_in)
    return h, pre, recon


@pytest.mark.parametrize("case", list(CASES))
def test_matches_reference(case):
    """(inst,): mean squared error over batch and d_in, plus l1_coeff * mean over batch of sum_latents |acts|"""
    batch, inst, d_in, d_sae, l1_coeff = CASES[case]
    h, pre, recon = _inputs(batch, inst, d_in, d_sae, seed=d_in + batch)
    acts = pre.relu()
    with on_case(case):
        loss = expect_plain_tensor(run_learner(submitted(), h, acts, recon, l1_coeff), what="the SAE loss")
        if loss.ndim == 0:
            fail(f"Return one loss per instance, shape ({inst},), not a scalar: the training loop sums them"
                 + (" (with one instance, a .squeeze() drops the instance axis)." if inst == 1 else "."))
        if tuple(loss.shape) != (inst,):
            fail(f"The loss has shape {tuple(loss.shape)}; return one loss per instance, shape ({inst},)"
                 + (" (a .squeeze() drops the instance axis when there is one instance)." if inst == 1 else "."))
        expected = reference()(h, acts, recon, l1_coeff)
        mse = ((recon - h) ** 2).mean((0, 2))
        l1 = acts.abs().sum(-1).mean(0)
        expect_matches(loss, expected, ["instance"], what="the SAE loss", mistakes={
            "The L1 penalty is on the reconstruction; it belongs on the latent activations (acts), which are what "
            "should be sparse.": mse + l1_coeff * recon.abs().sum(-1).mean(0),
            "The L1 penalty is on the input h; it belongs on the latent activations (acts).":
                mse + l1_coeff * h.abs().sum(-1).mean(0),
            "The sparsity term squares the activations (L2); the L1 penalty uses their absolute value.":
                mse + l1_coeff * (acts**2).sum(-1).mean(0),
            "The sparsity term averages over latents; sum |acts| over the latents, then average over the batch.":
                mse + l1_coeff * acts.abs().mean((0, 2)),
            "The reconstruction error is summed over d_in; average it over batch and d_in.":
                ((recon - h) ** 2).sum(-1).mean(0) + l1_coeff * l1,
            "l1_coeff is missing from the sparsity term.": mse + l1,
            "The sparsity term is summed over the batch; average it over the batch.":
                mse + l1_coeff * acts.abs().sum((0, 2)),
        })


@pytest.mark.parametrize("case", list(CASES)[:2])
def test_gradients(case):
    """gradients with respect to the latents' pre-activations and the reconstruction equal the reference's"""
    batch, inst, d_in, d_sae, l1_coeff = CASES[case]
    h, pre, recon = _inputs(batch, inst, d_in, d_sae, seed=d_in + batch + 1)
    with seeded(3):
        upstream = torch.rand(inst) + 0.5
    with on_case(case):
        got_pre, got_recon = pre.clone().requires_grad_(True), recon.clone().requires_grad_(True)
        loss = expect_plain_tensor(run_learner(submitted(), h, got_pre.relu(), got_recon, l1_coeff),
                                   what="the SAE loss")
        expect(loss.requires_grad, "The loss is not connected to acts and recon through autograd: do not call "
               ".item() or .detach(); the SAE trains on it.")
        expect(tuple(loss.shape) == (inst,), f"The loss has shape {tuple(loss.shape)}; expected ({inst},).")
        want_pre, want_recon = pre.clone().requires_grad_(True), recon.clone().requires_grad_(True)
        expected = reference()(h, want_pre.relu(), want_recon, l1_coeff)
        expect_gradients_close(gradients(loss, {"the pre-activations": got_pre, "recon": got_recon}, upstream),
                               gradients(expected, {"the pre-activations": want_pre, "recon": want_recon}, upstream),
                               what="the SAE loss")
