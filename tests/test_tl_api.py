"""TransformerLens API smoke test: every TransformerLens call the curriculum relies on.

When TransformerLens is upgraded, this file shows what broke before any chapter does.
(The pin lives in pyproject.toml; loading calls live in circuitlab.models.)
"""
from __future__ import annotations

import importlib.metadata

import pytest
import torch

from circuitlab import models

ATTN_ONLY = dict(d_model=32, d_head=8, n_heads=4, n_layers=2, n_ctx=24, d_vocab=50, attn_only=True,
                 normalization_type="LN", act_fn="gelu", positional_embedding_type="standard", seed=1,
                 init_mode="gpt2")
WITH_MLP = ATTN_ONLY | dict(attn_only=False, d_mlp=64)
GROKKING_SHAPED = dict(d_model=32, d_head=8, n_heads=4, n_layers=1, n_ctx=3, d_vocab=14, d_vocab_out=13,
                       d_mlp=64, act_fn="relu", normalization_type=None, positional_embedding_type="standard",
                       seed=2, init_mode="gpt2")


def test_pinned_version():
    assert importlib.metadata.version("transformer-lens") == "4.3.0"


@pytest.fixture(scope="module")
def model():
    return models.native_model(WITH_MLP)


@pytest.fixture(scope="module")
def tokens():
    return torch.randint(0, 50, (2, 12), generator=torch.Generator().manual_seed(0))


def test_run_with_cache_names(model, tokens):
    logits, cache = model.run_with_cache(tokens)
    assert logits.shape == (2, 12, 50)
    assert cache["pattern", 0].shape == (2, 4, 12, 12)
    assert cache["attn_scores", 1].shape == (2, 4, 12, 12)
    for name in ("q", "k", "v", "z"):
        assert cache[name, 0].shape == (2, 12, 4, 8)
    for name in ("resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out"):
        assert cache[name, 1].shape == (2, 12, 32)
    assert cache["post", 0].shape == (2, 12, 64)
    assert cache["scale", 0, "ln1"].shape == (2, 12, 1)
    assert cache["blocks.0.attn.hook_pattern"].shape == (2, 4, 12, 12)
    assert "hook_embed" in cache and "hook_pos_embed" in cache


def test_cache_decompositions(model, tokens):
    logits, cache = model.run_with_cache(tokens)
    stack, labels = cache.decompose_resid(layer=-1, return_labels=True)
    assert labels[:2] == ["embed", "pos_embed"]
    assert torch.allclose(stack.sum(0), cache["resid_post", 1], atol=1e-4)
    heads = cache.stack_head_results(layer=-1)
    assert heads.shape == (2 * 4, 2, 12, 32)
    accumulated = cache.accumulated_resid(layer=-1, incl_mid=True)
    assert accumulated.shape[0] == 5
    scaled = cache.apply_ln_to_stack(stack, layer=-1)
    assert scaled.shape == stack.shape
    direction = model.W_U[:, 3] - model.W_U[:, 4]
    attributions = cache.logit_attrs(stack, tokens=torch.tensor([3]), incorrect_tokens=torch.tensor([4]))
    assert attributions.shape[:1] == stack.shape[:1]
    assert direction.shape == (32,)


def test_hooks_edit_the_forward_pass(model, tokens):
    clean = model(tokens)

    def zero_head(z, hook):
        z[:, :, 0] = 0.0
        return z

    def flatten_pattern(pattern, hook):
        return torch.ones_like(pattern) / pattern.shape[-1]

    ablated = model.run_with_hooks(tokens, fwd_hooks=[("blocks.0.attn.hook_z", zero_head)])
    assert not torch.allclose(clean, ablated)
    flat = model.run_with_hooks(tokens, fwd_hooks=[(lambda name: name.endswith("hook_pattern"), flatten_pattern)])
    assert not torch.allclose(clean, flat)
    seen = []
    with model.hooks(fwd_hooks=[("blocks.1.hook_resid_pre", lambda x, hook: seen.append(hook.layer()))]):
        model(tokens)
    assert seen == [1]
    model.add_hook("blocks.0.hook_attn_out", lambda x, hook: x * 0)
    assert not torch.allclose(model(tokens), clean)
    model.reset_hooks()
    assert torch.allclose(model(tokens), clean)


def test_losses_and_act_names(model, tokens):
    loss = model(tokens, return_type="loss")
    per_token = model(tokens, return_type="loss", loss_per_token=True)
    assert loss.ndim == 0 and per_token.shape == (2, 11)
    assert models.act_name("pattern", 1) == "blocks.1.attn.hook_pattern"
    assert models.act_name("resid_pre", 0) == "blocks.0.hook_resid_pre"


def test_weights_and_factored_matrices(model):
    assert model.W_Q.shape == (2, 4, 32, 8) and model.W_O.shape == (2, 4, 8, 32)
    assert model.W_E.shape == (50, 32) and model.W_pos.shape == (24, 32) and model.W_U.shape == (32, 50)
    assert model.W_in.shape == (2, 32, 64) and model.W_out.shape == (2, 64, 32)
    assert model.blocks[0].attn.W_Q.shape == (4, 32, 8)
    ov, qk = model.OV, model.QK
    assert ov.shape == (2, 4, 32, 32) and qk.shape == (2, 4, 32, 32)
    assert ov[1, 0].AB.shape == (32, 32)
    from transformer_lens import FactoredMatrix

    full = FactoredMatrix(model.W_E, model.W_U)
    assert full.shape == (50, 50) and full.norm() > 0
    assert ov[0, 1].eigenvalues.shape == (8,)  # rank d_head: only d_head eigenvalues


def test_factored_matrix_products_broadcasting_and_svd(model):
    """What chapter 2's weights-based exercises lean on: products stay factored (inner size mdim),
    a batch of factored matrices broadcasts against a matrix, and the SVD comes from the factors."""
    from transformer_lens import FactoredMatrix

    qk = model.QK  # (layer, head, d_model, d_model), inner size d_head
    assert qk.mdim == 8
    through_embedding = model.W_E @ qk[0] @ model.W_E.T  # broadcasts over heads, stays factored
    assert isinstance(through_embedding, FactoredMatrix)
    assert through_embedding.shape == (4, 50, 50) and through_embedding.mdim == 8
    dense = model.W_E @ qk[0].AB @ model.W_E.T
    assert torch.allclose(through_embedding.AB, dense, atol=1e-4, rtol=1e-4)
    product = qk[1, 0] @ model.OV[0, 2]  # factored @ factored: still factored, inner size at most d_head
    assert isinstance(product, FactoredMatrix) and product.mdim <= 8
    u, s, vh = qk[1, 0].U, qk[1, 0].S, qk[1, 0].Vh
    assert s.shape == (8,) and bool((s[:-1] >= s[1:]).all())
    assert torch.allclose((u * s) @ vh.T, qk[1, 0].AB, atol=1e-4, rtol=1e-4)
    assert torch.allclose(qk[1, 0].norm(), qk[1, 0].AB.norm(), rtol=1e-4)


def test_composition_scores(model):
    scores = model.all_composition_scores("K")
    assert scores.shape == (2, 4, 2, 4)


def test_attention_only_and_grokking_shapes():
    attn_only = models.native_model(ATTN_ONLY)
    assert attn_only(torch.zeros(1, 4, dtype=torch.long)).shape == (1, 4, 50)
    grok = models.native_model(GROKKING_SHAPED)
    logits = grok(torch.tensor([[1, 2, 13]]))
    assert logits.shape == (1, 3, 13)


def test_training_a_native_model_changes_its_weights():
    model = models.native_model(ATTN_ONLY).train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-2)
    before = model.W_Q.detach().clone()
    tokens = torch.randint(0, 50, (4, 10))
    with torch.enable_grad():
        loss = model(tokens, return_type="loss")
        loss.backward()
    optimiser.step()
    assert not torch.equal(before, model.W_Q.detach())


def test_patching_functions(model, tokens):
    from transformer_lens import patching

    model.eval()
    corrupted = tokens.flip(-1)
    _, clean_cache = model.run_with_cache(tokens)

    def metric(logits):
        return logits[:, -1, 0].mean()

    result = patching.get_act_patch_resid_pre(model, corrupted, clean_cache, metric)
    assert result.shape == (2, 12)


def test_generate_without_tokenizer(model):
    out = model.generate(torch.zeros(1, 3, dtype=torch.long), max_new_tokens=4, stop_at_eos=False,
                         do_sample=False, verbose=False)
    assert out.shape == (1, 7)


def test_gpt2_bridge_features_offline():
    """Per-head results and split inputs exist on the GPT-2 architecture bridge (the IOI chapter's path)."""
    from transformers import GPT2Config, GPT2LMHeadModel
    from tokenizers import Tokenizer, models as tok_models, pre_tokenizers, processors

    words = "when mary and john went to the store gave a drink".split()
    vocab = {"<bos>": 0} | {w: i + 1 for i, w in enumerate(words)}
    tok = Tokenizer(tok_models.WordLevel(vocab, unk_token="<bos>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 0)])
    tokenizer = models.make_tokenizer(tok, name="ioi-smoke", bos="<bos>")
    hf = GPT2LMHeadModel(GPT2Config(vocab_size=len(vocab), n_positions=32, n_embd=32, n_layer=2, n_head=4)).eval()
    bridge = models.load_gpt2_from_hf(hf, tokenizer)
    bridge.set_use_attn_result(True)
    tokens = bridge.to_tokens("when mary and john went to the store john gave a drink to")
    _, cache = bridge.run_with_cache(tokens)
    result = cache["result", 0]
    assert result.shape[-2:] == (4, 32)
    assert torch.allclose(result.sum(-2) + bridge.b_O[0], cache["attn_out", 0], atol=1e-4)
    bridge.set_use_attn_result(False)


def test_gpt2_bridge_patching_and_directions():
    """The calls the IOI chapter makes on the GPT-2-architecture bridge: residual directions and
    TransformerLens's own patching functions (which the chapter compares the learner's against)."""
    from transformers import GPT2Config, GPT2LMHeadModel
    from tokenizers import Tokenizer, models as tok_models, pre_tokenizers, processors
    from transformer_lens import patching

    words = "when mary and john went to the store gave a drink".split()
    vocab = {"<bos>": 0} | {w: i + 1 for i, w in enumerate(words)}
    tok = Tokenizer(tok_models.WordLevel(vocab, unk_token="<bos>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 0)])
    tokenizer = models.make_tokenizer(tok, name="ioi-smoke", bos="<bos>")
    torch.manual_seed(0)
    hf = GPT2LMHeadModel(GPT2Config(vocab_size=len(vocab), n_positions=32, n_embd=32, n_layer=2, n_head=4)).eval()
    bridge = models.load_gpt2_from_hf(hf, tokenizer)
    clean = bridge.to_tokens(["when mary and john went to the store john gave a drink to"])
    corrupt = bridge.to_tokens(["when mary and john went to the store mary gave a drink to"])
    directions = bridge.tokens_to_residual_directions(torch.tensor([2, 4]))
    assert directions.shape == (2, 32)
    _, cache = bridge.run_with_cache(clean)

    def metric(logits):
        return (logits[:, -1, 2] - logits[:, -1, 4]).mean()

    assert patching.get_act_patch_resid_pre(bridge, corrupt, cache, metric).shape == (2, clean.shape[1])
    assert patching.get_act_patch_block_every(bridge, corrupt, cache, metric).shape == (3, 2, clean.shape[1])
    assert patching.get_act_patch_attn_head_out_all_pos(bridge, corrupt, cache, metric).shape == (2, 4)
