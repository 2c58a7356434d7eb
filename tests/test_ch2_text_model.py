"""What chapter 2, section 9 says about ``attn_only_2l_text``, measured on the checkpoint with the references.

The notebook sorts the heads with the learner's detectors; these tests sort them with the reference
detectors and the same rule (``circuitlab.ch2.text_model.head_roles``), on the same inputs.
"""
from __future__ import annotations

from functools import lru_cache

import torch

from circuitlab.ch2 import reference as ref
from circuitlab.ch2.models import frozen_shipped
from circuitlab.ch2.text_model import TEXT_MODEL_NAME, head_roles, random_composition_scores
from circuitlab.models import CHECKPOINT_DIR, read_metadata

HALF_LEN = 30  # the chapter's
PROMPT = ("A context manager defines the runtime context of a with statement. The context manager "
          "handles the entry into the runtime context and the exit from the runtime context.")  # section 1's


@lru_cache(maxsize=1)
@torch.no_grad()
def _measured() -> dict:
    model = frozen_shipped(TEXT_MODEL_NAME)
    _, cache = model.run_with_cache(model.to_tokens(PROMPT))
    torch.manual_seed(0)  # as the notebook's section 3, before its repeated tokens
    tokens = ref.repeated_tokens(16, HALF_LEN, 2, model.cfg.d_vocab, model.tokenizer.bos_token_id)
    detectors = {"current token": ref.current_attn_score, "previous token": ref.prev_attn_score,
                 "first token": ref.first_attn_score}
    tables = {name: torch.stack([fn(cache["pattern", layer]) for layer in range(model.cfg.n_layers)])
              for name, fn in detectors.items()}
    tables["induction"] = ref.induction_scores(model, tokens, HALF_LEN)
    return {"model": model, "tokens": tokens, "tables": tables, "roles": head_roles(tables)}


def test_checkpoint_was_trained_on_text_alone_within_the_budget():
    metadata = read_metadata(CHECKPOINT_DIR / TEXT_MODEL_NAME)
    assert metadata["command"].startswith("python -m circuitlab.ch2.train_text")
    assert metadata["recipe"]["corpus"] == "pydocs+source" and metadata["recipe"]["repeat_rich"] < 1
    assert metadata["threads"] <= 2 and metadata["training_seconds"] <= 15 * 60
    for key in ("seed", "corpus_fingerprint", "final_metrics", "training_cpu_seconds"):
        assert key in metadata, key
    model = _measured()["model"]
    assert (model.cfg.n_layers, model.cfg.n_heads, model.cfg.attn_only) == (2, 8, True)


def test_layer_0_has_one_previous_token_head_and_several_current_token_heads():
    roles = _measured()["roles"]
    assert [pair for pair in roles["previous token"] if pair[0] == 0] == [(0, 5)]
    assert len([pair for pair in roles["current token"] if pair[0] == 0]) >= 2


def test_some_but_not_all_layer_1_heads_are_induction_heads_that_park_on_bos_in_text():
    measured = _measured()
    induction = measured["roles"]["induction"]
    assert all(layer == 1 for layer, _ in induction)
    assert 2 <= len(induction) < 8
    tables = measured["tables"]
    assert all(tables["first token"][pair] > tables["previous token"][pair] for pair in induction)
    assert len(measured["roles"]["none of these"]) >= 2


def test_k_composition_from_the_previous_token_head_stands_out():
    measured = _measured()
    model = measured["model"]
    threshold = random_composition_scores(model.cfg.d_model, model.cfg.d_head, 1000).quantile(0.99).item()
    scores = {kind: ref.composition_scores(model, kind) for kind in "qkv"}
    strong = {tuple(pair) for pair in torch.nonzero(scores["k"] > 1.5 * threshold).tolist()}
    readers = {head for _, head in measured["roles"]["induction"]}
    assert strong and {writer for writer, _ in strong} == {5}
    assert readers <= {reader for _, reader in strong}
    assert scores["k"].max() > max(scores["q"].max(), scores["v"].max())
    current = [head for layer, head in measured["roles"]["current token"] if layer == 0]
    q_into_every_reader = [w for w in current if all(scores["q"][w, r] > threshold for r in readers)]
    assert q_into_every_reader
    assert all(scores["q"][w, r] < scores["k"][5, r] for w in q_into_every_reader for r in readers)


def test_only_the_previous_token_head_matters_alone_and_the_current_token_heads_together():
    measured = _measured()
    model, tokens = measured["model"], measured["tokens"]
    readers = sorted(head for _, head in measured["roles"]["induction"])

    def mean_without(heads: list[int]) -> float:
        return ref.induction_scores_ablated(model, tokens, HALF_LEN, heads)[readers].mean().item()

    clean = mean_without([])
    alone = [mean_without([head]) for head in range(model.cfg.n_heads)]
    assert alone[5] < 0.5 * clean
    assert min(value for head, value in enumerate(alone) if head != 5) > 0.5 * clean
    current = [head for layer, head in measured["roles"]["current token"] if layer == 0]
    rest = [head for head in range(model.cfg.n_heads) if head not in current + [5]]
    assert mean_without(current) < 0.5 * clean
    assert mean_without(rest) > 0.9 * clean


def test_the_figures_quoted_in_the_facilitator_guide_and_the_training_docstring():
    """docs/facilitator/ch2.md and circuitlab.ch2.train_text quote these counts and heads of the checkpoint."""
    measured = _measured()
    roles, model = measured["roles"], measured["model"]
    assert len(roles["current token"]) == 4 and len(roles["none of these"]) == 8
    assert roles["induction"] == [(1, 3), (1, 4), (1, 6)]
    k_scores = ref.composition_scores(model, "k")[5, [3, 4, 6]]
    assert 0.185 <= k_scores.min() and k_scores.max() < 0.225
    threshold = random_composition_scores(model.cfg.d_model, model.cfg.d_head, 1000).quantile(0.99).item()
    assert round(threshold, 2) == 0.10

