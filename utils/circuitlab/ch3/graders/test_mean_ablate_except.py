"""Grader for ch3.mean_ablate_except."""
from functools import lru_cache

import pytest
import torch

from circuitlab.ch3 import ioi_setup
from circuitlab.ch3.grading_support import expect_close_or_diagnose, batch_for, model_named, run_patching
from circuitlab.grading.testing import expect_close, reference, submitted

CIRCUITS = {"offline": [(0, 1), (2, 2), (3, 0)], "random": [(1, 2)]}


@lru_cache(maxsize=None)
def _means(name):
    batch = batch_for(name, n=8, seed=21)
    return ioi_setup.z_means(model_named(name), batch.corrupt_tokens)


@pytest.mark.parametrize("name", ["offline", "random"], ids=["IOI model", "random model"])
def test_matches_reference(name):
    """logits with every head outside the circuit replaced by its mean output"""
    model = model_named(name)
    tokens = batch_for(name).tokens
    means = _means(name)
    circuit = CIRCUITS[name]
    out = run_patching(submitted(), model, tokens, list(circuit), means.clone())
    everything = [(l, h) for l in range(model.cfg.n_layers) for h in range(model.cfg.n_heads)]
    outside = [head for head in everything if head not in circuit]
    with torch.no_grad():
        expected = reference()(model, tokens, circuit, means)
        mistakes = lambda: {
            "You ablated the circuit and kept everything else; mean-ablate every head that is NOT in the circuit.":
                reference()(model, tokens, outside, means),
            "You set the ablated heads to zero; replace them with their mean output (zero is far from anything "
            "the model saw in training).": reference()(model, tokens, circuit, torch.zeros_like(means)),
            "Your means were averaged over positions too; each position has its own mean (means[layer] is "
            "(seq, head, d_head)).": reference()(model, tokens, circuit, means.mean(1, keepdim=True).expand_as(means)),
            "Nothing was ablated: the output equals the model's normal logits.": model(tokens),
        }
    expect_close_or_diagnose(out, expected, what="logits of the ablated model", atol=1e-4, rtol=1e-3, mistakes=mistakes)


def test_keeps_everything():
    """keeping every head leaves the model unchanged"""
    model = model_named("random")
    tokens = batch_for("random").tokens
    everything = [(l, h) for l in range(model.cfg.n_layers) for h in range(model.cfg.n_heads)]
    out = run_patching(submitted(), model, tokens, everything, _means("random").clone())
    with torch.no_grad():
        expect_close(out, model(tokens), what="logits with the whole model as the circuit", atol=1e-4, rtol=1e-3)
