"""Claims about the shortcut-free IOI model (``checkpoints/ioi-shortcut-free``), recomputed from the checkpoint.

The model was trained by ``python -m circuitlab.ch3.train_ioi --corpus shortcut-free ...`` (the exact command,
seed and torch threads are in its metadata) on the shortcut-free template families mixed with the classic
templates. On those families only "the name mentioned once" answers IO, so a model that solves them has to
notice which name is repeated. The head classes are measured by :mod:`circuitlab.ch3.head_classes` on held-out
names in held-out frames (both families and classic templates); each test below holds one class that formed,
with the rule's threshold, or, for a class that did not form, the measurement that says so.
"""
from __future__ import annotations

import json

import pytest
import torch

from circuitlab.ch3 import analysis, head_classes, ioi_setup, train_ioi
from circuitlab.data import ioi
from circuitlab.models import CHECKPOINT_DIR, load_hf_directory

MODEL_DIR = CHECKPOINT_DIR / "ioi-shortcut-free"
PROMPTS_PER_SET = 100

pytestmark = pytest.mark.skipif(not (MODEL_DIR / "model.safetensors").exists(),
                                reason="the shortcut-free IOI model is not in this checkout")


@pytest.fixture(autouse=True)
def _no_grad():
    with torch.no_grad():
        yield


@pytest.fixture(scope="module")
def model():
    return load_hf_directory(MODEL_DIR)


@pytest.fixture(scope="module")
def evidence(model) -> head_classes.HeadClasses:
    with torch.no_grad():
        return head_classes.measure(model, n=PROMPTS_PER_SET)


@pytest.fixture(scope="module")
def metadata() -> dict:
    return json.loads((MODEL_DIR / "config.json").read_text())["circuitlab_metadata"]


def _labels(heads) -> list[str]:
    return [analysis.head_label(tuple(h)) for h in heads]


def test_checkpoint_is_small_and_records_its_recipe(metadata):
    size = sum(p.stat().st_size for p in MODEL_DIR.iterdir() if p.is_file())
    assert size < 3_000_000, f"the shortcut-free IOI model takes {size} bytes"
    recipe, results = metadata["recipe"], metadata["results"]
    assert recipe["corpus"] == "shortcut-free" and "--corpus shortcut-free" in metadata["command"]
    assert results["torch_threads"] >= 1 and results["train_seconds"] > 0 and results["ms_per_step"] > 0
    assert set(metadata["head_classes"]["classes"]) >= {"duplicate-token", "name mover", "S-inhibition", "induction",
                                                         "negative name mover", "backup name mover"}


# Measured on the shipped file (200 prompts per set, the metadata's figures): (logit diff, top-1). The chapter's
# target is a logit difference of at least 3 with top-1 at least 0.9; on held-out *frames* of the families the
# model meets it, on held-out *names* it does not (top-1 0.83-0.87: about one prompt in ten puts a training name
# or a function word such as "the" first), and on held-out names in held-out classic frames it falls well short.
MEASURED = {
    "sf_train_templates": (13.61, 1.0), "sf_held_out_templates": (11.04, 0.99), "sf_held_out_names": (6.40, 0.865),
    "sf_held_out_both": (4.67, 0.755), "train_templates": (12.17, 1.0), "held_out_templates": (6.28, 0.87),
    "held_out_names": (2.95, 0.83), "held_out_both": (1.62, 0.685),
}
MEETS_TARGET = {"sf_train_templates", "sf_held_out_templates", "train_templates"}


@pytest.fixture(scope="module")
def set_scores(model) -> dict[str, analysis.IOIScores]:
    pool = analysis.name_pool_tokens(model, ioi.NAMES)
    scores = {}
    with torch.no_grad():
        for label, prompts in train_ioi.shortcut_free_evaluation_sets(200).items():
            batch = ioi_setup.make_batch(model, prompts)
            scores[label] = analysis.score_logits(model(batch.tokens), batch, pool)
    return scores


@pytest.mark.parametrize("label", sorted(MEASURED))
def test_logit_diff_and_top1_on_held_out_names_and_frames(set_scores, label):
    logit_diff, top1 = MEASURED[label]
    scores = set_scores[label]
    assert scores.logit_diff == pytest.approx(logit_diff, abs=0.05) and scores.top1 == pytest.approx(top1, abs=0.01)
    meets = scores.logit_diff >= 3.0 and scores.top1 >= 0.9
    assert meets == (label in MEETS_TARGET), (label, scores.as_row())


def test_the_classic_shortcuts_cannot_explain_the_families():
    """The families' held-out frames leave every positional shortcut near chance (so solving them needs the rule)."""
    table = ioi.shortcut_table(ioi.family_prompts(500, ioi.SHORTCUT_FREE_HELD_OUT_FAMILIES, names=ioi.HELD_OUT_NAMES))
    assert all(abs(table[label] - 0.5) <= 0.15 for label in ioi.SHORTCUTS), table


# --------------------------------------------------------------------------- the classes that formed


def test_the_classes_found(evidence):
    found = {name: _labels(heads) for name, heads in evidence.classes.items()}
    assert found == {"duplicate-token": [], "name mover": [], "negative name mover": [], "induction": [],
                     "S2 suppressor": ["1.3"], "name copier": ["1.2"], "S-inhibition": [], "backup name mover": []}


def test_s2_suppressor_reads_the_second_s_and_writes_minus_s(evidence):
    h = (1, 3)
    assert evidence.mean("END->S2")[h] >= head_classes.SUPPRESSOR_ATTENTION_MIN  # 0.30 measured
    assert evidence.mean("END->S2")[h] >= evidence.mean("END->IO")[h] + head_classes.MOVER_MARGIN
    assert evidence.negative_copy[h] >= head_classes.COPY_MIN  # 1.00, against 0.14 for the average head
    assert evidence.negative_copy.mean() <= 0.2
    assert evidence.dla[h] >= 0.3 * evidence.logit_diff  # 1.50 of a 3.0 logit difference


def test_the_suppressor_finds_the_repeated_name_not_its_neighbour(model):
    """Where S1 opens the prompt (the S|IO families), 1.3 attends from END to S2 far more than to C, which stands
    right beside S2: it picks the repeated name, not a position. In the IO|S families it barely attends to either."""
    prompts = [p for p in head_classes.measurement_sets(200)["families"] if p.order.startswith("S|IO")]
    batch = ioi_setup.make_batch(model, prompts)
    _, cache = model.run_with_cache(batch.tokens, names_filter="blocks.1.attn.hook_pattern")
    rows = torch.arange(len(batch))
    from_end = cache["pattern", 1][rows, 3, batch.end_pos]
    s2 = analysis.ioi_positions(batch)["S2"]
    c_pos = torch.tensor([int((row == ioi_setup.name_token(model, p.c)).nonzero()[0]) for row, p in zip(batch.tokens, prompts)])
    to_s2, to_c = from_end[rows, s2].mean().item(), from_end[rows, c_pos].mean().item()
    assert to_s2 >= 0.35 and to_s2 >= 4 * to_c, (to_s2, to_c)  # 0.45 and 0.08 measured


def test_name_copier_copies_names_without_attending_to_io(evidence):
    h = (1, 2)
    assert evidence.copy[h] >= head_classes.COPY_MIN and evidence.copy.mean() <= 0.25  # 0.97 against 0.17
    assert evidence.dla[h] >= 0.3 * evidence.logit_diff
    assert evidence.mean("END->IO")[h] < head_classes.MOVER_ATTENTION_MIN  # 0.09: it reads names off other tokens


# --------------------------------------------------------------------------- the classes that did not form


def test_no_duplicate_token_head(evidence):
    assert evidence.mean("S2->S1").max() < 0.2  # 0.10 at most (threshold 0.5)


def test_no_name_mover_and_so_no_negative_name_mover(evidence):
    assert evidence.mean("END->IO").max() < 0.15  # 0.09 at most (threshold 0.3)


def test_no_induction_head(evidence):
    assert evidence.induction.max() < 0.1  # 0.03 at most on repeated random tokens (threshold 0.3)


def test_no_s_inhibition_the_layer_0_feeder_acts_on_values(evidence):
    """Path patching into the answer writers (1.2, 1.3): no sender moves their queries; 0.2 feeds their values."""
    assert evidence.receivers == [(1, 3), (1, 2)]
    assert max(evidence.drops["q"].values()) < head_classes.INHIBITION_DROP_MIN  # 0.04 at most
    assert max(evidence.drops["k"].values()) < head_classes.INHIBITION_DROP_MIN
    assert evidence.drops["v"][(0, 2)] >= 0.6  # 0.83 measured


def test_no_backup_when_the_answer_writers_are_ablated(evidence):
    gain = evidence.backup_gain
    others = [(layer, head) for layer in range(gain.shape[0]) for head in range(gain.shape[1])
              if (layer, head) not in evidence.receivers]
    assert max(gain[h].item() for h in others) < head_classes.BACKUP_GAIN_SHARE * evidence.logit_diff  # 0.08 against 0.15
