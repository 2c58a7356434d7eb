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
