"""Grader for ch5.jumprelu (bonus)."""
import pytest
import torch

from circuitlab.grading.testing import expect, expect_close, expect_tensor, reference, run_learner, seeded, submitted


def _inputs(shape, d_sae, seed):
    with seeded(seed):
        pre = torch.rand(*shape, d_sae) * 1.5 - 0.5
        threshold = 0.1 + 0.4 * torch.rand(d_sae)
        upstream = torch.randn(*shape, d_sae)
    return pre, threshold, upstream


def _grads(fn, pre, threshold, upstream, bandwidth):
    pre = pre.clone().requires_grad_(True)
    threshold = threshold.clone().requires_grad_(True)
    out = run_learner(fn, pre, threshold, bandwidth, what="your jumprelu")
    out = expect_tensor(out, shape=tuple(pre.shape), dtype="float", what="jumprelu output")
    expect(out.requires_grad, "The output is not connected to autograd.")
    (out * upstream).sum().backward()
    return out.detach(), pre.grad, threshold.grad


@pytest.mark.parametrize("shape, d_sae, bandwidth", [((40,), 6, 0.2), ((8, 3), 5, 0.3)])
def test_forward(shape, d_sae, bandwidth):
    """forward: pre where pre > threshold, else 0"""
    pre, threshold, upstream = _inputs(shape, d_sae, seed=d_sae)
    out, _, _ = _grads(submitted(), pre, threshold, upstream, bandwidth)
    expect_close(out, reference()(pre, threshold, bandwidth).detach(), what="jumprelu output", mistakes={
        "This is a plain ReLU: JumpReLU zeroes everything at or below the threshold, not below 0.": pre.relu(),
        "Above the threshold the output is pre itself, not pre - threshold.": (pre - threshold).relu(),
        "The output is the gate (0 or 1); multiply it by pre.": (pre > threshold).float(),
    })


@pytest.mark.parametrize("shape, d_sae, bandwidth", [((40,), 6, 0.2), ((8, 3), 5, 0.3)])
def test_gradients(shape, d_sae, bandwidth):
    """backward: gradient 1[pre > threshold] for pre and the rectangle pseudo-derivative for threshold"""
    pre, threshold, upstream = _inputs(shape, d_sae, seed=d_sae)
    _, grad_pre, grad_threshold = _grads(submitted(), pre, threshold, upstream, bandwidth)
    _, want_pre, want_threshold = _grads(reference(), pre, threshold, upstream, bandwidth)
    expect(grad_pre is not None, "pre received no gradient.")
    expect_close(grad_pre, want_pre, what="gradient with respect to pre", mistakes={
        "The gradient with respect to pre passes everywhere; it should pass only where the latent is on "
        "(pre > threshold).": upstream,
    })
    expect(grad_threshold is not None and bool(grad_threshold.abs().sum() > 0),
           "The threshold receives no gradient: return the pseudo-derivative "
           "-(threshold / bandwidth) * 1[|pre - threshold| < bandwidth / 2] from backward, summed down to "
           "the threshold's shape.")
    expect_close(grad_threshold, want_threshold, what="gradient with respect to threshold", atol=1e-4, mistakes={
        "The threshold's gradient has the wrong sign: raising the threshold switches latents off, so the "
        "pseudo-derivative is -(threshold / bandwidth) inside the window.": -want_threshold,
        "The window is too wide: the rectangle kernel is 1 where |pre - threshold| < bandwidth / 2 (half the "
        "bandwidth on each side).": _wide_window(pre, threshold, upstream, bandwidth),
    })


def _wide_window(pre, threshold, upstream, bandwidth):
    window = ((pre - threshold).abs() < bandwidth).float()
    return (upstream * (-threshold / bandwidth) * window).sum_to_size(threshold.shape)
