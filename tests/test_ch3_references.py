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


def test_path_patch_at_positions_is_path_patch_to_heads_when_only_s2_differs():
    """Cut just past S2, the corrupted prompts differ from the clean ones at S2 only, so a sender's corrupted output
    differs only there and the receivers' inputs can change only there: patching at S2 is patching everywhere."""
    model = model_named("offline")
    settings = dict(n=2, template=1, width=13)  # S2 is position 12, the last one kept (the metric is read there)
    batch, metric = batch_for("offline", **settings), metric_for("offline", **settings)
    s2 = analysis.ioi_positions(batch)["S2"]
    assert s2.tolist() == [12, 12] and bool((batch.tokens[:, :12] == batch.corrupt_tokens[:, :12]).all())
    receivers = [(1, 2), (3, 1)]
    with torch.no_grad():
        _, clean_cache = model.run_with_cache(batch.tokens)
        _, corrupt_cache = model.run_with_cache(batch.corrupt_tokens)
        at_s2 = ch3.path_patch_at_positions(model, batch.tokens, clean_cache, corrupt_cache, metric, receivers, "q", s2, s2)
        everywhere = ch3.path_patch_to_heads(model, batch.tokens, clean_cache, corrupt_cache, metric, receivers, "q")
    model.reset_hooks()
    assert (everywhere - 1).abs().max().item() > 1e-2, "the comparison needs senders that move the metric"
    torch.testing.assert_close(at_s2, everywhere, atol=1e-5, rtol=1e-5)


def _by_hand(model, batch, clean_cache, corrupt_cache, metric, sender, receivers, component, sender_pos, receiver_pos):
    """One entry of path_patch_at_positions, one prompt at a time with plain integer positions."""
    layer, head = sender
    logits = []
    for i in range(len(batch)):
        s, r = int(sender_pos[i]), int(receiver_pos[i])
        pinned = {f"blocks.{l}.attn.hook_z": clean_cache["z", l][i:i + 1].clone() for l in range(model.cfg.n_layers)}
        pinned[f"blocks.{layer}.attn.hook_z"][0, s, head] = corrupt_cache["z", layer][i, s, head]
        recorded = {}
        hooks = [(name, lambda z, hook: pinned[hook.name]) for name in pinned]
        hooks += [(f"blocks.{l}.attn.hook_{component}", lambda act, hook: recorded.__setitem__(hook.name, act.clone()))
                  for l, _ in receivers]
        model.run_with_hooks(batch.tokens[i:i + 1], fwd_hooks=hooks)

        def patch(act, hook, r=r):
            for r_layer, r_head in receivers:
                if f"blocks.{r_layer}." in hook.name:
                    act[0, r, r_head] = recorded[hook.name][0, r, r_head]
            return act

        names = sorted({f"blocks.{l}.attn.hook_{component}" for l, _ in receivers})
        logits.append(model.run_with_hooks(batch.tokens[i:i + 1], fwd_hooks=[(name, patch) for name in names]))
    return metric(torch.cat(logits)).item()


def test_path_patch_at_positions_by_hand():
    """A few entries recomputed prompt by prompt; a sender at another token than the receivers changes nothing."""
    model = model_named("offline")
    settings = dict(n=3, mixed=True)
    batch, metric = batch_for("offline", **settings), metric_for("offline", **settings)
    s2, end = analysis.ioi_positions(batch)["S2"], batch.end_pos
    assert len(set(end.tolist())) > 1, "the prompts must differ in length, so that positions differ between them"
    receivers = [(1, 2), (3, 2), (3, 1)]
    with torch.no_grad():
        clean_logits, clean_cache = model.run_with_cache(batch.tokens)
        _, corrupt_cache = model.run_with_cache(batch.corrupt_tokens)
        clean_metric = metric(clean_logits).item()
        positions = s2 + torch.tensor([2, 3, 1])
        grid = ch3.path_patch_at_positions(model, batch.tokens, clean_cache, corrupt_cache, metric, receivers, "v",
                                           positions, positions)
        for sender in [(0, 1), (0, 3), (2, 3)]:
            want = _by_hand(model, batch, clean_cache, corrupt_cache, metric, sender, receivers, "v", positions, positions)
            assert grid[sender].item() == pytest.approx(want, abs=1e-5), sender
        assert (grid - clean_metric).abs().max().item() > 1e-2, "the comparison needs senders that move the metric"
        # With every other head pinned, nothing carries the sender's output to another token.
        for senders_at, receivers_at in [(s2, end), (end, s2), (s2 + 3, s2 + 2)]:
            off = ch3.path_patch_at_positions(model, batch.tokens, clean_cache, corrupt_cache, metric, receivers, "v",
                                              senders_at, receivers_at)
            torch.testing.assert_close(off, torch.full_like(off, clean_metric), atol=1e-6, rtol=0)
        # A sender at or after the last receiver layer cannot reach any receiver either.
        assert torch.allclose(grid[3], torch.full_like(grid[3], clean_metric), atol=1e-6)
        with pytest.raises(ValueError):  # positions count from each prompt's first token, never from the end
            ch3.path_patch_at_positions(model, batch.tokens, clean_cache, corrupt_cache, metric, receivers, "v",
                                        positions - batch.tokens.shape[1], positions)
    model.reset_hooks()
