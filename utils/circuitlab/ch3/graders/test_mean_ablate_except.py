"""Grader for ch3.mean_ablate_except."""
from functools import lru_cache

import pytest
import torch

from circuitlab.ch3 import ioi_setup, reference as ref
from circuitlab.ch3.grading_support import (MODEL_IDS, MODEL_LABELS, MODEL_NAMES, batch_for, expect_calls_independent,
                                            expect_close_or_diagnose, model_named, run_on_model, second_call_label,
                                            spare_batch, where)
from circuitlab.grading.testing import expect_close, submitted

BATCH = dict(n=4, mixed=True, spare=8)  # the spare prompts, of the same width, give the means
CIRCUITS = {"offline": ((0, 1), (2, 2), (3, 0)), "random": ((1, 2),), "wide": ((0, 4), (1, 1), (2, 0), (2, 3))}


@lru_cache(maxsize=None)
def _means(name):
    return ioi_setup.z_means(model_named(name), spare_batch(name, BATCH["n"], BATCH["spare"], mixed=True).corrupt_tokens)


@lru_cache(maxsize=None)
def _expected(name, circuit, rows=(None, None)):
    with torch.no_grad():
        tokens = batch_for(name, **BATCH).tokens[slice(*rows)]
        return ref.mean_ablate_except(model_named(name), tokens, list(circuit), _means(name))


@pytest.mark.parametrize("name", MODEL_NAMES, ids=MODEL_IDS)
def test_matches_reference(name):
    """logits with every head outside the circuit replaced by its mean output"""
    model = model_named(name)
    batch = batch_for(name, **BATCH)
    means = _means(name)
    circuit = CIRCUITS[name]
    expected = _expected(name, circuit)
    out = run_on_model(submitted(), name, batch.tokens, list(circuit), means.clone())
    everything = [(l, h) for l in range(model.cfg.n_layers) for h in range(model.cfg.n_heads)]
    outside = tuple(head for head in everything if head not in circuit)
    tokens = batch.tokens
    mistakes = lambda: {
        "You ablated the circuit and kept everything else; mean-ablate every head that is NOT in the circuit.":
            _expected(name, outside),
        "You set the ablated heads to zero; replace them with their mean output (zero is far from anything "
        "the model saw in training).": ref.mean_ablate_except(model, tokens, list(circuit), torch.zeros_like(means)),
        "Your means were averaged over positions too; each position has its own mean (means[layer] is "
        "(seq, head, d_head)).": ref.mean_ablate_except(model, tokens, list(circuit),
                                                        means.mean(1, keepdim=True).expand_as(means)),
        "Nothing was ablated: the output equals the model's normal logits.": model(tokens),
    }
    expect_close_or_diagnose(out, expected, what=f"logits of the ablated model {where(name, batch)}", atol=1e-4,
                             rtol=1e-3, mistakes=mistakes, grid_axes=None)


def test_keeps_everything():
    """keeping every head leaves the model unchanged"""
    model = model_named("wide")
    tokens = batch_for("wide", **BATCH).tokens
    everything = [(l, h) for l in range(model.cfg.n_layers) for h in range(model.cfg.n_heads)]
    out = run_on_model(submitted(), "wide", tokens, everything, _means("wide").clone())
    with torch.no_grad():
        expect_close(out, model(tokens), what="logits with the whole model as the circuit", atol=1e-4, rtol=1e-3)


def test_empty_circuit():
    """an empty circuit mean-ablates every head"""
    model = model_named("random")
    tokens = batch_for("random", **BATCH).tokens
    everything = tuple((l, h) for l in range(model.cfg.n_layers) for h in range(model.cfg.n_heads))
    out = run_on_model(submitted(), "random", tokens, [], _means("random").clone())
    expect_close(out, _expected("random", ()), what="logits with an empty circuit (every head ablated)",
                 atol=1e-4, rtol=1e-3, mistakes={
                     "With an empty circuit every head must output its mean; yours left the model unchanged.":
                         _expected("random", everything)})


def test_second_call():
    """a second call on the same model, with another prompt and another circuit, owes nothing to the first"""
    name = "wide"
    batch = batch_for(name, **BATCH)
    first_circuit, second_circuit = CIRCUITS[name], ((0, 0), (2, 4))
    first = run_on_model(submitted(), name, batch.tokens, list(first_circuit), _means(name).clone())
    expected_first = _expected(name, first_circuit)
    expect_close(first, expected_first, what=f"logits of the ablated model {where(name, batch)}", atol=1e-4,
                 rtol=1e-3)
    snapshot = first.detach().clone()
    one_prompt = batch.tokens[1:2]
    context = f", circuit {list(second_circuit)}, 1 prompt of {one_prompt.shape[1]} tokens, {second_call_label()}"
    second = run_on_model(submitted(), name, one_prompt, list(second_circuit), _means(name).clone(), context=context)
    expected = _expected(name, second_circuit, (1, 2))
    what = f"logits of the ablated model on {MODEL_LABELS[name]}{context}"
    expect_close(second, expected, what=what, atol=1e-4, rtol=1e-3, mistakes={
        f"{what}: your second call ablated the first call's circuit ({list(first_circuit)}), not the one it was "
        "given: something from the first call was kept (hooks or a head mask built once, a global or "
        "default-argument list).": _expected(name, first_circuit, (1, 2))})
    expect_calls_independent((first.detach(), snapshot, expected_first), second.detach(), expected, what=what)
