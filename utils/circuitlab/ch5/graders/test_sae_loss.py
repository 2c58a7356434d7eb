"""Grader for ch5.sae_loss."""
import pytest
import torch

from circuitlab.grading.testing import expect_close, fail, reference, run_learner, seeded, submitted


@pytest.mark.parametrize("batch, inst, d_in, d_sae, l1_coeff", [(8, 3, 2, 5, 0.2), (5, 2, 4, 3, 0.05)])
def test_matches_reference(batch, inst, d_in, d_sae, l1_coeff):
    """(inst,): mean squared error over batch and d_in, plus l1_coeff * mean over batch of sum_latents |acts|"""
    with seeded(d_in):
        h = torch.randn(batch, inst, d_in)
        acts = torch.relu(torch.randn(batch, inst, d_sae))
        recon = h + 0.5 * torch.randn(batch, inst, d_in)
    loss = run_learner(submitted(), h, acts, recon, l1_coeff)
    expected = reference()(h, acts, recon, l1_coeff)
    if isinstance(loss, torch.Tensor) and loss.ndim == 0:
        fail(f"Return one loss per instance, shape ({inst},), not a scalar: the training loop sums them.")
    mse = ((recon - h) ** 2).mean((0, 2))
    l1 = acts.abs().sum(-1).mean(0)
    expect_close(loss, expected, what="SAE loss", mistakes={
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
    })
