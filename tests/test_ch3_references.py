"""Chapter 3: independent checks of the reference added for head-by-position patching and of the
induction score on repeated random tokens that section 6 labels heads with (kept beside
tests/test_references.py, in a file of their own)."""
from __future__ import annotations

import pytest
import torch

from circuitlab.ch3 import analysis
from circuitlab.ch3 import reference as ch3
from circuitlab.ch3.grading_support import batch_for, metric_for, model_named
from circuitlab.threads import using as using_threads


@pytest.fixture(autouse=True)
def one_thread():
    with using_threads(1):
        yield


def test_patch_head_by_position_matches_transformer_lens():
    """TransformerLens's get_act_patch_attn_head_out_by_pos gives the same grid, in (layer, pos, head) order."""
    from transformer_lens import patching

    model = model_named("random")
    settings = dict(n=2, template=1, width=14)  # past S2 (position 12), the token the corruption changes
    batch, metric = batch_for("random", **settings), metric_for("random", **settings)
    with torch.no_grad():
        _, clean_cache = model.run_with_cache(batch.tokens)
        ours = ch3.patch_head_by_position(model, batch.corrupt_tokens, clean_cache, metric)
        theirs = patching.get_act_patch_attn_head_out_by_pos(model, batch.corrupt_tokens, clean_cache, metric)
    model.reset_hooks()
    assert ours.shape == (model.cfg.n_layers, model.cfg.n_heads, batch.tokens.shape[1])
    torch.testing.assert_close(ours, theirs.cpu().float().transpose(1, 2), atol=1e-4, rtol=1e-3)
    # Before S2 clean and corrupted prompts are the same, so no patch there changes the corrupted run's metric.
    with torch.no_grad():
        unpatched = metric(model(batch.corrupt_tokens)).item()
    torch.testing.assert_close(ours[:, :, :12], torch.full_like(ours[:, :, :12], unpatched), atol=1e-4, rtol=1e-4)


def test_induction_scores_by_a_loop():
    """The vectorised score is the mean, over prompts and second-half positions q, of attention[q, q - half + 1]."""
    model = model_named("offline")
    tokens = analysis.repeated_random_tokens(model, n_prompts=3, half_len=7, seed=5)
    half = 7
    assert tokens.shape == (3, 1 + 2 * half)
    torch.testing.assert_close(tokens[:, 1:1 + half], tokens[:, 1 + half:])
    special = set(model.tokenizer.all_special_ids)
    assert not special & set(tokens[:, 1:].flatten().tolist()), "random tokens must not be special tokens"
    scores = analysis.induction_scores(model, tokens)
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens)
    for layer in range(model.cfg.n_layers):
        pattern = cache["pattern", layer]  # [batch, head, query, key]
        for head in range(model.cfg.n_heads):
            values = [pattern[b, head, q, q - half + 1].item() for b in range(3) for q in range(1 + half, 1 + 2 * half)]
            assert scores[layer, head].item() == pytest.approx(sum(values) / len(values), abs=1e-5)


def test_induction_scores_find_chapter_2s_induction_heads():
    """On chapter 2's shipped model (whose layer-1 heads are induction heads) the score separates the layers."""
    from circuitlab.ch2.models import shipped_model

    model = shipped_model()
    scores = analysis.induction_scores(model, analysis.repeated_random_tokens(model, n_prompts=8, half_len=16, seed=0))
    assert scores[1].min().item() > 0.5 and scores[0].max().item() < 0.2, scores


@pytest.mark.parametrize("grader", ["test_patch_residual", "test_patch_head_by_position"])
def test_graders_cut_prompts_keep_the_corrupted_position(grader):
    """A grading batch cut to a few tokens must still differ between its clean and corrupted prompts;
    otherwise every patch is a no-op and the grid the grader compares is constant."""
    import importlib

    from circuitlab.ch3.grading_support import batch_for

    settings = importlib.import_module(f"circuitlab.ch3.graders.{grader}").SETTINGS
    for name, kwargs in settings.items():
        batch = batch_for(name, **kwargs)
        assert bool((batch.tokens != batch.corrupt_tokens).any()), (grader, name, kwargs)
