"""Independent checks of the reference solutions: each is compared with a computation that does not
share its code (finite differences, a brute-force loop, a closed form), so a wrong reference cannot
hide behind graders that agree with it."""
from __future__ import annotations

import pytest
import torch

from circuitlab.ch3 import reference as ch3
from circuitlab.ch3.grading_support import batch_for, metric_for, model_named


def _directional_derivative(model, batch, metric, layer: int, head: int, eps: float = 1e-2) -> float:
    """d metric / d t at t = 0 for the corrupted run with head (layer, head)'s z moved to
    z_corrupt + t (z_clean - z_corrupt): the quantity attribution patching estimates, by central differences."""
    name = f"blocks.{layer}.attn.hook_z"
    with torch.no_grad():
        _, clean = model.run_with_cache(batch.tokens, names_filter=lambda n: n == name)
        _, corrupt = model.run_with_cache(batch.corrupt_tokens, names_filter=lambda n: n == name)
        delta = clean[name][:, :, head] - corrupt[name][:, :, head]

        def run(t: float) -> float:
            def move(z, hook):
                z = z.clone()
                z[:, :, head] = corrupt[name][:, :, head] + t * delta
                return z
            return metric(model.run_with_hooks(batch.corrupt_tokens, fwd_hooks=[(name, move)])).item()

        return (run(eps) - run(-eps)) / (2 * eps)


@pytest.mark.parametrize("model_name", ["offline", "random"])
def test_attribution_patching_is_the_full_derivative(model_name):
    model = model_named(model_name)
    batch, metric = batch_for(model_name), metric_for(model_name)
    estimate = ch3.attribution_patching(model, batch.tokens, batch.corrupt_tokens, metric)
    # Every head of the first layer: their outputs reach the logits through later heads too.
    for head in range(model.cfg.n_heads):
        numeric = _directional_derivative(model, batch, metric, 0, head)
        assert estimate[0, head].item() == pytest.approx(numeric, rel=0.05, abs=2e-3), (model_name, head)


# --------------------------------------------------------------------------- chapter 5

import math

from circuitlab.ch5 import reference as ch5


def test_ch5_dimensionality_closed_forms():
    """1 for a feature with its own dimension, 1/2 in an antipodal pair, 2/5 in a pentagon, 0 for a zero column."""
    angles = torch.arange(5, dtype=torch.float64) * 2 * math.pi / 5
    pentagon = torch.stack([angles.cos(), angles.sin()]) * 1.7
    own_pair_zero = torch.tensor([[3.0, 0.0, 0.0, 0.0, 0.0],
                                  [0.0, 0.5, -0.5, 0.0, 0.0]], dtype=torch.float64)
    out = ch5.dimensionality(torch.stack([pentagon, own_pair_zero]))
    expected = torch.tensor([[0.4] * 5, [1.0, 0.5, 0.5, 0.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(out, expected, atol=1e-9, rtol=0)


def test_ch5_dimensionality_brute_force():
    """The vectorised formula against a per-feature loop on random W."""
    torch.manual_seed(0)
    W = torch.randn(3, 4, 6, dtype=torch.float64)
    out = ch5.dimensionality(W)
    for i in range(3):
        for f in range(6):
            w = W[i, :, f]
            unit = w / w.norm()
            denominator = sum(float(unit @ W[i, :, g]) ** 2 for g in range(6))
            assert float(out[i, f]) == pytest.approx(float(w @ w) / denominator, rel=1e-9)


def _smoothed_sum(z: torch.Tensor, threshold: float) -> float:
    """sum_z z * H(z - threshold): the quantity whose derivative the pseudo-gradient estimates."""
    return float((z * (z > threshold)).sum())


@pytest.mark.parametrize("threshold", [0.3, 0.55])
def test_ch5_jumprelu_gradient_matches_finite_differences_of_the_expected_output(threshold):
    """Over a dense grid of pre-activations, the threshold's pseudo-gradient sums to the derivative of the
    summed output, which finite differences measure (d/dθ of N * (1 - θ²) / 2 is -N θ)."""
    n, bandwidth, step = 200_001, 0.02, 0.01
    z = torch.linspace(0.0, 1.0, n, dtype=torch.float64)
    theta = torch.tensor([threshold], dtype=torch.float64, requires_grad=True)
    ch5.jumprelu(z[:, None], theta, bandwidth).sum().backward()
    numeric = (_smoothed_sum(z, threshold + step) - _smoothed_sum(z, threshold - step)) / (2 * step)
    assert float(theta.grad) == pytest.approx(numeric, rel=1e-3)
    assert numeric == pytest.approx(-(n - 1) * threshold, rel=1e-3)


def test_ch5_jumprelu_forward_and_pre_gradient():
    pre = torch.tensor([[0.1, 0.5, 0.9]], requires_grad=True)
    threshold = torch.tensor([0.5, 0.5, 0.5], requires_grad=True)
    out = ch5.jumprelu(pre, threshold, 0.1)
    assert out.tolist() == [[0.0, 0.0, pytest.approx(0.9)]]  # pre == threshold is off
    out.sum().backward()
    assert pre.grad.tolist() == [[0.0, 0.0, 1.0]]
    assert threshold.grad.tolist() == [0.0, pytest.approx(-5.0), 0.0]


def test_ch5_generate_batch_statistics():
    """Presence frequency p per entry, magnitudes uniform (mean 1/2, variance 1/12), entries independent."""
    torch.manual_seed(0)
    probability = torch.tensor([[1.0, 0.5, 0.2], [0.0, 0.7, 0.05]])
    n = 40_000
    batch = ch5.generate_batch(probability, n)
    frequency = (batch != 0).double().mean(0)
    assert torch.all((frequency - probability).abs() <= 5 * (probability * (1 - probability) / n).sqrt() + 1e-3)
    present = batch[batch != 0].double()
    assert float(present.mean()) == pytest.approx(0.5, abs=0.01)
    assert float(present.var()) == pytest.approx(1 / 12, abs=0.003)
    flat = (batch != 0).flatten(1).double()[:, [1, 2, 4]]  # the entries with 0 < p < 1 (and p != 0.05 pair)
    corr = torch.corrcoef(flat.T)
    assert float((corr - torch.eye(3, dtype=torch.float64)).abs().max()) < 0.03


def test_ch5_correlated_batch_statistics():
    torch.manual_seed(1)
    probability = torch.tensor([[0.3, 0.1]])
    n = 40_000
    for correlated in (True, False):
        present = ch5.correlated_batch(probability, n, correlated) != 0
        frequency = present.double().mean(0)[0]
        assert torch.allclose(frequency, probability[0].repeat_interleave(2).double(), atol=0.01)
        first, second = present[..., 0::2], present[..., 1::2]
        if correlated:
            assert torch.equal(first, second)
        else:
            assert not bool((first & second).any())


def test_ch5_top_activating_brute_force():
    torch.manual_seed(2)
    acts = torch.rand(5, 7, 3)
    out = ch5.top_activating(acts, 1, 6)
    ranked = sorted(((float(acts[b, p, 1]), b, p) for b in range(5) for p in range(7)), reverse=True)
    assert out.dtype == torch.long
    assert out.tolist() == [[b, p] for _, b, p in ranked[:6]]
