"""Claims about the shipped IOI model (chapter 3), recomputed from the checkpoint.

The numbers quoted in the model's metadata and in the chapter must hold for the file that ships:
- logit difference >= 3 on held-out templates (7.4 measured at training time);
- on held-out names (names never used in an IOI sentence of the corpus) the model generalises only
  partly: logit difference about 1.7 and accuracy (IO > S) about 0.8, but IO is rarely the top token.
  The target of 3 was not reached by the shipped recipe; the test pins what is true;
- the stored circuit, with every other head mean-ablated, keeps >= 80% of the logit difference and of
  the top-1 accuracy; ablating the circuit instead removes most of the logit difference.
"""
from functools import lru_cache

import pytest
import torch

from circuitlab.ch3 import analysis, ioi_setup, train_ioi
from circuitlab.data import ioi

pytestmark = pytest.mark.skipif(not (ioi_setup.OFFLINE_MODEL_DIR / "model.safetensors").exists(),
                                reason="the offline IOI model is not in this checkout")


@pytest.fixture(autouse=True)
def _no_grad():
    with torch.no_grad():
        yield


@lru_cache(maxsize=1)
def _model():
    return ioi_setup.offline_model()


def _scores(prompts):
    model = _model()
    batch = ioi_setup.make_batch(model, prompts)
    pool = analysis.name_pool_tokens(model, ioi.NAMES)
    return analysis.score_logits(model(batch.tokens), batch, pool)


def test_checkpoint_is_small():
    size = sum(p.stat().st_size for p in ioi_setup.OFFLINE_MODEL_DIR.iterdir() if p.is_file())
    assert size < 3_000_000, f"the shipped IOI model takes {size} bytes"


def test_metadata_records_recipe_and_results():
    meta = ioi_setup.offline_metadata()
    assert meta["recipe"]["n_layer"] == 4 and meta["recipe"]["n_inner"] == 16
    assert "held_out_names" in meta["results"] and "circuit" in meta


@pytest.mark.parametrize("label", ["train_templates", "held_out_templates", "distractor"])
def test_logit_diff_on_new_templates_and_distractors(label):
    scores = _scores(train_ioi.evaluation_sets(200)[label])
    assert scores.logit_diff >= 3.0 and scores.top1 >= 0.9, f"{label}: {scores}"


def test_held_out_names_generalise_partly():
    scores = _scores(train_ioi.evaluation_sets(200)["held_out_names"])
    assert scores.logit_diff >= 1.0 and scores.accuracy >= 0.75, scores


def test_circuit_is_faithful_and_complete():
    model = _model()
    meta = ioi_setup.offline_metadata()
    circuit = [tuple(h) for h in meta["circuit"]["heads"]]
    batch = ioi_setup.make_batch(model, analysis.circuit_prompts())
    pool = analysis.name_pool_tokens(model, ioi.NAMES)
    full = analysis.full_scores(model, batch, pool)
    kept = analysis.ablated_scores(model, batch, circuit, pool)
    removed = analysis.ablated_scores(model, batch, [h for h in analysis.all_heads(model) if h not in circuit], pool)
    assert kept.logit_diff >= 0.8 * full.logit_diff, (kept, full)
    assert kept.top1 >= 0.8 * full.top1, (kept, full)
    assert removed.logit_diff <= 0.3 * full.logit_diff, (removed, full)
