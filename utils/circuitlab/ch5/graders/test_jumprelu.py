"""Grader for ch5.jumprelu (bonus): forward and the custom backward, compared with the reference
on several shapes and on exact ties (pre == threshold, |pre - threshold| == bandwidth / 2)."""
import pytest
import torch

from circuitlab.ch5.grading_support import expect_matches, on_case
from circuitlab.grading.testing import expect, expect_tensor, fail, reference, run_learner, seeded, submitted

SHAPES = {
    # name: (leading shape, d_sae, bandwidth)
    "pre of shape (40, 6), bandwidth 0.2": ((40,), 6, 0.2),
    "pre of shape (8, 3, 5), bandwidth 0.3": ((8, 3), 5, 0.3),
    "pre of shape (4,) (no batch axis), bandwidth 0.5": ((), 4, 0.5),
    "pre of shape (1, 1, 7), bandwidth 0.1": ((1, 1), 7, 0.1),
}


def _inputs(shape, d_sae, seed):
    with seeded(seed):
        pre = torch.rand(*shape, d_sae) * 1.5 - 0.5
        threshold = 0.1 + 0.4 * torch.rand(d_sae)
        upstream = torch.randn(*shape, d_sae)
    return pre, threshold, upstream


def _ties():
    """Exact boundaries, in binary fractions so the subtractions are exact: bandwidth 0.25, thresholds 0.5 and 0.25."""
    threshold = torch.tensor([0.5, 0.25])
    pre = torch.tensor([[0.5, 0.25],      # pre == threshold: off, and inside the window
                        [0.625, 0.375],   # pre - threshold == +bandwidth / 2: on, outside the window
                        [0.375, 0.125],   # pre - threshold == -bandwidth / 2: off, outside the window
                        [0.5625, 0.0],    # inside the window above (on); a full bandwidth below (off)
                        [0.6875, 0.4375]])  # between bandwidth / 2 and bandwidth above: on, outside the window
    upstream = torch.tensor([[1.0, -2.0], [0.5, 1.5], [-1.0, 3.0], [2.0, 1.0], [-0.5, 2.5]])
    return pre, threshold, upstream


def _run(fn, pre, threshold, upstream, bandwidth, who="your jumprelu"):
    pre = pre.clone().requires_grad_(True)
    threshold = threshold.clone().requires_grad_(True)
    out = run_learner(fn, pre, threshold, bandwidth, what=who)
    out = expect_tensor(out, shape=tuple(pre.shape), dtype="float", what="the jumprelu output")
    expect(out.requires_grad, "The output is not connected to autograd: build it from pre (and threshold) "
           "through your autograd.Function's apply.")
    try:
        (out * upstream).sum().backward()
    except Exception as exc:  # the learner's backward is the code running here
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        fail(f"The backward pass raised {type(exc).__name__}: {detail}. backward must return one gradient per "
             "input of forward (pre, threshold, bandwidth), None for the bandwidth.")
    return out.detach(), pre.grad, threshold.grad


def _wide_window(pre, threshold, upstream, bandwidth):
    window = ((pre - threshold).abs() < bandwidth).float()
    return (upstream * (-threshold / bandwidth) * window).sum_to_size(threshold.shape)


def _closed_window(pre, threshold, upstream, bandwidth):
    window = ((pre - threshold).abs() <= bandwidth / 2).float()
    return (upstream * (-threshold / bandwidth) * window).sum_to_size(threshold.shape)


def _check_forward(out, pre, threshold, bandwidth):
    expected = reference()(pre, threshold, bandwidth).detach()
    axes = [f"axis {d}" for d in range(pre.ndim - 1)] + ["latent"]
    expect_matches(out, expected, axes, what="the jumprelu output", mistakes={
        "This is a plain ReLU: JumpReLU zeroes everything at or below the threshold, not below 0.": pre.relu(),
        "Above the threshold the output is pre itself, not pre - threshold.": (pre - threshold).relu(),
        "The output is the gate (0 or 1); multiply it by pre.": (pre > threshold).float(),
        "At pre == threshold exactly the latent is off: the gate is pre > threshold (strict), not >=.":
            pre * (pre >= threshold),
    })


def _check_backward(grads, want, pre, threshold, upstream, bandwidth):
    (grad_pre, grad_threshold), (want_pre, want_threshold) = grads, want
    expect(grad_pre is not None, "pre received no gradient: backward's first return value is the gradient "
           "with respect to pre.")
    axes = [f"axis {d}" for d in range(pre.ndim - 1)] + ["latent"]
    expect_matches(grad_pre, want_pre, axes, what="the gradient with respect to pre", mistakes={
        "The gradient with respect to pre passes everywhere; it should pass only where the latent is on "
        "(pre > threshold).": upstream,
        "At pre == threshold the latent is off, so no gradient reaches pre there: gate with pre > threshold "
        "(strict), not >=.": upstream * (pre >= threshold),
    })
    expect(grad_threshold is not None and bool(grad_threshold.abs().sum() > 0),
           "The threshold receives no gradient: return the pseudo-derivative "
           "-(threshold / bandwidth) * 1[|pre - threshold| < bandwidth / 2] from backward, summed down to "
           "the threshold's shape.")
    mistakes = {
        "The threshold's gradient has the wrong sign: raising the threshold switches latents off, so the "
        "pseudo-derivative is -(threshold / bandwidth) inside the window.": -want_threshold,
        "The window is too wide: the rectangle kernel is 1 where |pre - threshold| < bandwidth / 2 (half the "
        "bandwidth on each side).": _wide_window(pre, threshold, upstream, bandwidth),
        "The window includes its edges: it is 1 where |pre - threshold| < bandwidth / 2 (strict), so an input "
        "exactly bandwidth / 2 away sends no gradient.": _closed_window(pre, threshold, upstream, bandwidth),
    }
    expect_matches(grad_threshold, want_threshold, ["latent"], what="the gradient with respect to threshold",
                   atol=1e-4, mistakes=mistakes)


@pytest.mark.parametrize("case", list(SHAPES))
def test_forward_and_backward(case):
    """forward pre * (pre > threshold); backward 1[pre > threshold] for pre and the rectangle pseudo-derivative
    for threshold, summed to its shape"""
    shape, d_sae, bandwidth = SHAPES[case]
    pre, threshold, upstream = _inputs(shape, d_sae, seed=d_sae + len(shape))
    with on_case(case):
        out, grad_pre, grad_threshold = _run(submitted(), pre, threshold, upstream, bandwidth)
        _check_forward(out, pre, threshold, bandwidth)
        _, want_pre, want_threshold = _run(reference(), pre, threshold, upstream, bandwidth, who="the reference")
        _check_backward((grad_pre, grad_threshold), (want_pre, want_threshold), pre, threshold, upstream, bandwidth)


def test_exact_boundaries():
    """ties: pre == threshold is off (and in the window); |pre - threshold| == bandwidth / 2 is outside the window"""
    pre, threshold, upstream = _ties()
    with on_case(f"pre {pre.tolist()}, threshold {threshold.tolist()}, bandwidth 0.25"):
        out, grad_pre, grad_threshold = _run(submitted(), pre, threshold, upstream, 0.25)
        _check_forward(out, pre, threshold, 0.25)
        _, want_pre, want_threshold = _run(reference(), pre, threshold, upstream, 0.25, who="the reference")
        _check_backward((grad_pre, grad_threshold), (want_pre, want_threshold), pre, threshold, upstream, 0.25)


def test_second_call_is_independent():
    """a second call (another bandwidth) does not reuse anything from the first"""
    pre, threshold, upstream = _inputs((6,), 3, seed=11)
    _run(submitted(), pre, threshold, upstream, 0.2)
    with on_case("a second call with bandwidth 0.4 after one with 0.2"):
        out, grad_pre, grad_threshold = _run(submitted(), pre, threshold, upstream, 0.4)
        _, want_pre, want_threshold = _run(reference(), pre, threshold, upstream, 0.4, who="the reference")
        _check_forward(out, pre, threshold, 0.4)
        _check_backward((grad_pre, grad_threshold), (want_pre, want_threshold), pre, threshold, upstream, 0.4)
