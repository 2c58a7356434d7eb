"""Grader for ch3.path_patch_at_positions."""
from __future__ import annotations

from functools import lru_cache

import pytest
import torch

from circuitlab.ch3 import analysis, reference as ref
from circuitlab.ch3.grading_support import (MODEL_LABELS, SECOND_CALL, batch_for, batch_label, caches_for,
                                            expect_calls_independent, expect_close_or_diagnose, expect_grid,
                                            metric_for, model_named, path_patch_variant, run_on_model,
                                            second_call_label, where)
from circuitlab.grading.testing import GradingFailure, expect_no_mistake, submitted

MIXED = (("n", 3), ("mixed", True))  # right-padded prompts of two lengths: named positions differ between prompts
ONE_PROMPT = (("n", 1), ("template", 3), ("seed", 5))

# (model, receivers, component, sender positions, receiver positions, batch). A position is named ("S2", "END",
# "S2+2", "0"), for all prompts at once or one name per prompt.
CASES = [
    ("offline", ((1, 2), (3, 2), (3, 1)), "v", ("S2+2", "S2+3", "S2+1"), ("S2+2", "S2+3", "S2+1"), MIXED),
    ("offline", ((1, 2), (3, 1)), "q", "END", "END", MIXED),
    # Prompt 1's sender comes after its receiver; prompt 2 patches the first token.
    ("random", ((1, 0), (1, 2)), "k", ("S2", "END", "0"), ("S2", "S1", "0"), MIXED),
    # A sender at another token than the receivers in every prompt: nothing reaches them.
    ("wide", ((1, 3), (2, 0), (2, 4)), "v", "S2", "END", MIXED),
    ("wide", ((1, 1), (2, 3)), "q", ("END", "S2+1", "0"), ("END", "S2+1", "0"), MIXED),
    ("offline", ((1, 2), (3, 1)), "v", "S2+2", "S2+2", ONE_PROMPT),
]
# Every sender after its receivers, on tokens that matter to both: the grid is the clean metric everywhere.
AFTER = ("offline", ((1, 2), (3, 2), (3, 1)), "v", "S2+3", "S2+2", MIXED)


def _case_id(case) -> str:
    name, receivers, component, senders, receivers_at, batch_items = case
    prompts = dict(batch_items)["n"]
    return (f"{component}, {senders} -> {receivers_at}, {prompts} prompt{'s' if prompts > 1 else ''} on "
            f"{MODEL_LABELS[name].split(' (')[0]}")


def named_positions(batch, names: str | tuple[str, ...]) -> torch.Tensor:
    """One position per prompt from names like "S2", "END", "S2+2" or "0" (one name for all, or one per prompt)."""
    found = analysis.ioi_positions(batch)
    per_prompt = (names,) * len(batch) if isinstance(names, str) else names
    out = []
    for i, label in enumerate(per_prompt):
        base, _, offset = label.partition("+")
        start = int(base) if base.isdigit() else int(found[base][i])
        out.append(start + int(offset or 0))
    return torch.tensor(out, dtype=torch.long)


def _mask(n_prompts: int, seq: int, positions: torch.Tensor, where_: str, other: torch.Tensor) -> torch.Tensor:
    """(batch, seq) True where a variant patches: each prompt's own position ("own"), every position ("all"),
    every listed position in every prompt ("outer", the x[:, positions] mistake), the first prompt's position
    for all ("first") or the other argument's positions ("other")."""
    mask = torch.zeros(n_prompts, seq, dtype=torch.bool)
    rows = torch.arange(n_prompts)
    if where_ == "own":
        mask[rows, positions] = True
    elif where_ == "all":
        mask[:] = True
    elif where_ == "outer":
        mask[:, positions] = True
    elif where_ == "first":
        mask[:, positions[0]] = True
    elif where_ == "other":
        mask[rows, other] = True
    return mask


def variant(model, tokens, clean_cache, corrupt_cache, metric, receivers, component, sender_pos, receiver_pos, *,
            sender_at: str = "own", receiver_at: str = "own", freeze: bool = True,
            rest_from_clean: bool = False) -> torch.Tensor:
    """Position-specific path patching with the sender and receiver positions chosen as ``_mask`` says, and the
    other heads pinned or not: the reference (all defaults) and the mistakes the hints name."""
    n_prompts, seq = tokens.shape
    return path_patch_variant(
        model, tokens, clean_cache, corrupt_cache, metric, receivers, component,
        sender_mask=_mask(n_prompts, seq, sender_pos, sender_at, receiver_pos)[:, :, None],
        receiver_mask=_mask(n_prompts, seq, receiver_pos, receiver_at, sender_pos)[:, :, None],
        freeze=freeze, rest_from_clean=rest_from_clean)


def _inputs(name, batch_items):
    kwargs = dict(batch_items)
    batch = batch_for(name, **kwargs)
    _, clean_cache, _, corrupt_cache = caches_for(name, **kwargs)
    return batch, clean_cache, corrupt_cache, metric_for(name, **kwargs)


@lru_cache(maxsize=None)
def expected_grid(name, receivers, component, senders, receivers_at, batch_items):
    batch, clean_cache, corrupt_cache, metric = _inputs(name, batch_items)
    with torch.no_grad():
        return ref.path_patch_at_positions(model_named(name), batch.tokens, clean_cache, corrupt_cache, metric,
                                           list(receivers), component, named_positions(batch, senders),
                                           named_positions(batch, receivers_at))


@lru_cache(maxsize=None)
def mistake_grid(case, settings: tuple[tuple[str, object], ...]) -> torch.Tensor:
    """The grid of one named mistake on one case, computed once per process: it depends on the case alone, so
    every answer graded in this process (and every mutant of the meta-tests) shares it."""
    name, receivers, component, senders, receivers_at, batch_items = case
    batch, clean_cache, corrupt_cache, metric = _inputs(name, batch_items)
    with torch.no_grad():
        return variant(model_named(name), batch.tokens, clean_cache, corrupt_cache, metric, list(receivers), component,
                       named_positions(batch, senders), named_positions(batch, receivers_at), **dict(settings))


def _call(name, *args, context):
    """The learner's function through ``run_on_model``, and a check that it left the model in eval mode."""
    model = model_named(name)
    try:
        result = run_on_model(submitted(), name, *args, cache_names=("clean_cache", "corrupt_cache"), context=context)
    finally:
        left_training = [key for key, module in model.named_modules() if module.training]
        model.eval()
    if left_training:
        raise GradingFailure(
            f"Your function left {MODEL_LABELS[name]} in train mode ({left_training[0] or 'the model'} has "
            ".training True): patching only reads the model, so never call model.train(); the chapter's "
            "models stay in eval mode.")
    return result


def _check(case, context="", first=None):
    """Run the learner's function on one case and compare it with the reference; returns (result, expected)."""
    name, receivers, component, senders, receivers_at, batch_items = case
    model = model_named(name)
    batch, clean_cache, corrupt_cache, metric = _inputs(name, batch_items)
    sender_pos, receiver_pos = named_positions(batch, senders), named_positions(batch, receivers_at)
    expected = expected_grid(*case)
    shown = f"sender_pos {sender_pos.tolist()} ({senders}), receiver_pos {receiver_pos.tolist()} ({receivers_at})"
    out = _call(name, batch.tokens, clean_cache, corrupt_cache, metric, list(receivers), component,
                sender_pos.clone(), receiver_pos.clone(),
                context=f", receivers {list(receivers)}, component {component!r}, {shown}, {batch_label(batch)}{context}")
    what = (f"your (layer, head) grid for receivers {list(receivers)}, component {component!r}, {shown}, "
            f"{where(name, batch)}{context}")
    out = expect_grid(out, (model.cfg.n_layers, model.cfg.n_heads), what)
    if first is not None:
        expect_calls_independent(first, out, expected, what=what)

    # The mistakes, most common first, each computed only if the ones before it did not match: the first one the
    # answer matches names it. (Corrupting the sender at the receivers' position gives the same grid as
    # corrupting it everywhere, since the receivers read one position only: one hint covers both.)
    mistakes = [
        ("You patched at every position: the sender's corrupted output belongs only at sender_pos[i] of prompt i, "
         "and the receivers' input is replaced only at receiver_pos[i] (patching every position is "
         "path_patch_to_heads).", dict(sender_at="all", receiver_at="all")),
        ("You corrupted the sender away from sender_pos (at every position, or at the receivers' position): it "
         "takes its corrupted output only at sender_pos[i] of prompt i, and its clean output everywhere else.",
         dict(sender_at="all")),
        (f"You replaced the receivers' {component} away from receiver_pos (at every position, at the sender's "
         "position, or with their whole layer taken from the clean cache in the second run); replace only the "
         "receiver heads, only at receiver_pos[i] of prompt i, and leave the rest as the second run computes it.",
         dict(receiver_at="all")),
        ("You patched every prompt at every position listed in the positions tensor: x[:, positions] takes all of "
         "them in each prompt. Pair prompt i with its own position: x[torch.arange(batch), positions].",
         dict(sender_at="outer", receiver_at="outer")),
        ("You used one position for the whole batch (the first prompt's); the prompts are right-padded and of "
         "different lengths, so each prompt i has its own sender_pos[i] and receiver_pos[i].",
         dict(sender_at="first", receiver_at="first")),
        ("Your path patching lets the effect flow through other heads: in the first run, every head except the "
         "sender must be pinned to its clean output, at every position.", dict(freeze=False)),
        (f"You replaced the receivers' {component} at the sender's position (sender_pos), not at receiver_pos[i] of "
         "prompt i.", dict(receiver_at="other")),
        ("You replaced the receivers' input in every prompt at every position listed in receiver_pos "
         "(x[:, receiver_pos]); pair prompt i with its own position: x[torch.arange(batch), receiver_pos].",
         dict(receiver_at="outer")),
        ("You used the first prompt's sender position for the whole batch; each prompt i has its own sender_pos[i] "
         "(the prompts have different lengths).", dict(sender_at="first")),
        ("You used the first prompt's receiver position for the whole batch; each prompt i has its own "
         "receiver_pos[i] (the prompts have different lengths).", dict(receiver_at="first")),
        (f"In the second run you took the receivers' layer from the clean cache; leave hook_{component} as the "
         "second run computes it and replace only the receiver heads at receiver_pos[i].",
         dict(rest_from_clean=True)),
    ]
    tolerance = dict(atol=1e-4, rtol=1e-3)
    # Path patching moves the metric little in places, so a grid can lie within the grading tolerance of two
    # different mistakes: a mistake is named only when the answer matches it much more closely than that.
    same = dict(atol=2e-5, rtol=1e-5)
    if not (out.shape == expected.shape and torch.allclose(out, expected.float(), **tolerance)):
        with torch.no_grad():
            for hint, settings in mistakes:
                expect_no_mistake(out, {f"{what}: {hint}": mistake_grid(case, tuple(sorted(settings.items())))},
                                  expected, **same)
            for other in ("q", "k", "v"):
                if other != component:
                    wrong = expected_grid(name, receivers, other, senders, receivers_at, batch_items)
                    expect_no_mistake(out, {f"{what}: You patched hook_{other}; this call asked for the receivers' "
                                            f"{component} (component is 'q', 'k' or 'v').": wrong}, expected, **same)
    expect_close_or_diagnose(
        out, expected, what=what, mistakes=dict, **tolerance,
        hint="The two runs of path_patch_to_heads, with the sender corrupted only at (i, sender_pos[i]) and the "
             "receivers' input replaced only at (i, receiver_pos[i]).")
    return out, expected


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_matches_reference(case):
    """(sender layer, sender head) grid of the metric when only sender at sender_pos -> receivers at receiver_pos is corrupted"""
    _check(case)


def test_sender_after_receiver_runs_clean():
    """a sender after the receivers in every prompt changes nothing: every entry is the clean metric"""
    out, _ = _check(AFTER)
    name, *_, batch_items = AFTER
    clean_logits, *_ = caches_for(name, **dict(batch_items))
    clean_metric = metric_for(name, **dict(batch_items))(clean_logits).item()
    if not torch.allclose(out, torch.full_like(out, clean_metric), atol=1e-4):
        raise GradingFailure(f"With every sender after the receivers (S2+3 -> S2+2), every entry should be the clean "
                             f"run's metric ({clean_metric:.4f}): attention only looks back.")


def test_second_call():
    """a second call on the same model, with other prompts, owes nothing to the first"""
    first_case = CASES[0]
    first, expected_first = _check(first_case)
    second_case = ("offline", first_case[1], "v", "S2+2", "S2+2", tuple(SECOND_CALL.items()))
    _check(second_case, context=f", {second_call_label()}", first=(first, first.clone(), expected_first))
