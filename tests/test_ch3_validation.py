"""Chapter 3, section 7: the paper's circuit validation (faithfulness, completeness, minimality).

On the tiny random model (any weights will do): the one-pass mean ablation equals the per-template runs of
``mean_ablate_except``; F(M) / F(M) is 1; completeness at K = {} compares F(C) with F(M), at K = C compares the
all-ablated run with the circuit-ablated model; a circuit that is the whole model is complete for every K; the
greedy worst K is at least as bad as any single head; minimality picks, for each head, the K with the largest
effect among those it tried, and reports F(C \\ K) and F(C \\ (K + v)) as they are.

On the shipped model: the figures the chapter quotes (section 7's prose and claims, section 8's self-repair,
section 10's closing table).
"""
from __future__ import annotations

from functools import lru_cache

import pytest
import torch

from circuitlab.ch3 import analysis, ioi_setup
from circuitlab.data import ioi


@pytest.fixture(autouse=True)
def _no_grad():
    with torch.no_grad():
        yield


@lru_cache(maxsize=1)
def _tiny():
    model = ioi_setup.tiny_random_model()
    batch = ioi_setup.make_batch(model, ioi.ioi_prompts(24, templates=ioi.TRAIN_TEMPLATES[:3], seed=0))
    pool = analysis.name_pool_tokens(model, ioi.NAMES)
    return model, batch, pool, analysis.MeanAblation(model, batch, pool)


def _close(a: analysis.IOIScores, b: analysis.IOIScores, tol: float = 1e-4) -> bool:
    return all(abs(getattr(a, k) - getattr(b, k)) <= tol for k in vars(a))


CIRCUIT = [(0, 1), (1, 0), (1, 2)]  # three of the tiny model's six heads, in both layers


def test_one_pass_ablation_equals_the_per_template_runs():
    model, batch, pool, ablation = _tiny()
    assert len(batch.templates.unique()) == 3  # three templates: the per-prompt means must not mix them
    for keep in ([], CIRCUIT, [(0, 0)], analysis.all_heads(model)):
        assert _close(ablation.keep_only(keep), analysis.ablated_scores(model, batch, keep, pool)), keep


def test_faithfulness_of_the_whole_model_is_one():
    model, batch, pool, ablation = _tiny()
    whole = analysis.faithfulness(ablation, analysis.all_heads(model))
    assert whole.share == pytest.approx(1.0)
    assert _close(whole.model, analysis.score_logits(model(batch.tokens), batch, pool))
    part = analysis.faithfulness(ablation, CIRCUIT)
    assert part.share == pytest.approx(part.circuit.logit_diff / part.model.logit_diff)


def test_completeness_at_the_empty_set_and_at_the_whole_circuit():
    model, _, _, ablation = _tiny()
    pairs = analysis.completeness(ablation, CIRCUIT, {"layer 1": [(1, 0), (1, 2)], "outside": [(0, 0)]}, worst_size=2)
    empty, *classes, whole, worst = pairs
    assert empty.knocked == () and _close(empty.in_circuit, ablation.keep_only(CIRCUIT))
    assert _close(empty.in_model, ablation.keep_only(analysis.all_heads(model)))
    assert [p.label for p in classes] == ["layer 1"]  # a class with no head in the circuit is not a K
    # K = C: nothing of the circuit is left (every head ablated); in M, the rest of the model still runs.
    assert whole.knocked == tuple(sorted(CIRCUIT)) and _close(whole.in_circuit, ablation.keep_only([]))
    assert _close(whole.in_model, ablation.keep_only([h for h in analysis.all_heads(model) if h not in CIRCUIT]))
    assert worst.incompleteness == pytest.approx(abs(worst.in_circuit.logit_diff - worst.in_model.logit_diff))


def test_the_whole_model_as_circuit_is_complete_for_every_k():
    model, _, _, ablation = _tiny()
    heads = analysis.all_heads(model)
    for pair in analysis.completeness(ablation, heads, {"layer 0": heads[:3]}, worst_size=2):
        assert pair.incompleteness == 0.0 and pair.top1_gap == 0.0, pair.label


def test_greedy_worst_k_is_at_least_as_bad_as_any_single_head_and_stays_in_budget():
    model, batch, pool, _ = _tiny()
    ablation = analysis.MeanAblation(model, batch, pool)  # a fresh one, to count its passes
    worst = analysis.worst_knockout(ablation, CIRCUIT, max_size=2)
    singles = [analysis.knockout_pair(ablation, CIRCUIT, [h], "") for h in CIRCUIT]
    assert worst.incompleteness >= max(p.incompleteness for p in singles) - 1e-9
    assert worst.incompleteness >= analysis.knockout_pair(ablation, CIRCUIT, [], "").incompleteness - 1e-9
    assert set(worst.knocked) <= set(CIRCUIT) and 1 <= len(worst.knocked) <= 2
    assert ablation.evaluations <= 2 * len(CIRCUIT) * 2 + 2
    passes = ablation.evaluations
    analysis.worst_knockout(ablation, CIRCUIT, max_size=2)  # every set is remembered: no new pass
    assert ablation.evaluations == passes


def test_minimality_reports_the_largest_effect_among_the_k_it_tried():
    _, _, _, ablation = _tiny()
    results = analysis.minimality(ablation, CIRCUIT, {"layer 1": [(1, 0), (1, 2)]}, search_size=1)
    assert [r.head for r in results] == CIRCUIT
    for r in results:
        assert r.head not in r.knocked and set(r.knocked) <= set(CIRCUIT)
        rest = [h for h in CIRCUIT if h not in r.knocked]
        assert _close(r.before, ablation.keep_only(rest))
        assert _close(r.after, ablation.keep_only([h for h in rest if h != r.head]))
        assert r.drop == pytest.approx(r.before.logit_diff - r.after.logit_diff)
        alone = ablation.keep_only(CIRCUIT).logit_diff - ablation.keep_only([h for h in CIRCUIT if h != r.head]).logit_diff
        assert abs(r.drop) >= abs(alone) - 1e-9  # K = {} is among the sets tried
        for other in CIRCUIT:  # so is every single other head (the search's first step)
            if other != r.head:
                single = [h for h in CIRCUIT if h != other]
                effect = ablation.keep_only(single).logit_diff - ablation.keep_only([h for h in single if h != r.head]).logit_diff
                assert abs(r.drop) >= abs(effect) - 1e-9
    # Without a search and with no class holding the head, K = {}: removing the head alone.
    plain = analysis.minimality(ablation, CIRCUIT, {}, search_size=0)
    assert all(r.knocked == () and r.how == "K = {}" for r in plain)


def test_paper_classes_are_the_26_heads_of_gpt2_small():
    assert len(analysis.PAPER_CIRCUIT) == len(set(analysis.PAPER_CIRCUIT)) == 26
    assert len(analysis.PAPER_CLASSES) == 7
    assert analysis.PAPER_CLASSES["name mover"] == [(9, 9), (10, 0), (9, 6)]
    assert all(0 <= layer < 12 and 0 <= head < 12 for layer, head in analysis.PAPER_CIRCUIT)


# --------------------------------------------------------------------------- the shipped model

shipped = pytest.mark.skipif(not (ioi_setup.OFFLINE_MODEL_DIR / "model.safetensors").exists(),
                             reason="the offline IOI model is not in this checkout")


@lru_cache(maxsize=1)
def _shipped():
    model = ioi_setup.offline_model()
    # The chapter's analysis batch (section 1) and name pool: on the word-level tokenizer every name is one token.
    batch = ioi_setup.make_batch(model, ioi.ioi_prompts(64, templates=ioi.TRAIN_TEMPLATES[:8],
                                                        names=list(ioi.TRAIN_NAMES), seed=1))
    pool = analysis.name_pool_tokens(model, ioi.NAMES)
    circuit = [tuple(h) for h in ioi_setup.offline_metadata()["circuit"]["heads"]]
    return model, batch, pool, circuit, analysis.MeanAblation(model, batch, pool)


@shipped
def test_shipped_circuit_is_faithful_on_logit_diff_and_top1():
    _, _, _, circuit, ablation = _shipped()
    f = analysis.faithfulness(ablation, circuit)
    assert f.share >= 0.9 and f.circuit.top1 >= 0.9 * f.model.top1, f


@shipped
def test_shipped_circuit_worst_k_stays_within_a_tenth_of_the_model():
    _, _, _, circuit, ablation = _shipped()
    full = ablation.keep_only(ablation.heads).logit_diff
    worst = analysis.worst_knockout(ablation, circuit, max_size=3)
    assert worst.incompleteness <= 0.1 * full, worst


@shipped
def test_every_head_of_the_shipped_circuit_matters_for_some_k():
    _, _, _, circuit, ablation = _shipped()
    full = ablation.keep_only(ablation.heads).logit_diff
    results = analysis.minimality(ablation, circuit, {}, search_size=2)
    assert min(abs(r.drop) for r in results) >= 0.1 * full, [(r.head, r.knocked, round(r.drop, 2)) for r in results]


@shipped
def test_shipped_model_shows_no_self_repair_and_no_previous_token_head():
    model, batch, _, _, _ = _shipped()
    before_dla, before = analysis.head_dla_with_ablation(model, batch, [])
    tolerance = 0.05 * abs(before.logit_diff)
    strongest = sorted(analysis.all_heads(model), key=lambda h: -before_dla[h].item())[:3]
    for knocked in strongest:
        after_dla, after = analysis.head_dla_with_ablation(model, batch, [knocked])
        change = after_dla - before_dla
        change[knocked] = 0.0
        assert change.max().item() < tolerance, (knocked, change)  # no backup head
        assert before.logit_diff - after.logit_diff >= before_dla[knocked].item() - tolerance, knocked
    scores = analysis.previous_token_scores(model, analysis.repeated_random_tokens(model, n_prompts=16, half_len=20, seed=0))
    assert scores.max().item() < 0.5, scores
