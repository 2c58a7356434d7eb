"""The model store: native models, checkpoints that round-trip bit for bit, GPT-2 online only."""
from __future__ import annotations

import pytest
import torch

from circuitlab import models

TINY = dict(d_model=32, d_head=8, n_heads=4, n_layers=2, n_ctx=16, d_vocab=40, act_fn="gelu",
            normalization_type="LN", positional_embedding_type="standard", seed=0, init_mode="gpt2")


@pytest.fixture(scope="module")
def tokenizer():
    from tokenizers import Tokenizer, models as tok_models, pre_tokenizers

    vocab = {"<bos>": 0, "<pad>": 1, "<unk>": 2} | {w: i + 3 for i, w in enumerate("the cat sat on a mat".split())}
    tok = Tokenizer(tok_models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    from tokenizers import processors

    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 0)])
    return models.make_tokenizer(tok, name="tiny-words", bos="<bos>", pad="<pad>", unk="<unk>")


def test_native_model_is_in_eval_mode():
    model = models.native_model(TINY)
    assert not model.training
    assert model.cfg.n_layers == 2 and model.cfg.d_vocab == 40


def test_checkpoint_round_trip_is_bit_identical(tmp_path, tokenizer):
    model = models.native_model(TINY | {"d_vocab": len(tokenizer)}, tokenizer=tokenizer)
    tokens = torch.randint(0, len(tokenizer), (3, 10), generator=torch.Generator().manual_seed(0))
    models.save_checkpoint(model, tmp_path / "ckpt", tokenizer=tokenizer, metadata={"note": "test"})
    loaded = models.load_checkpoint(tmp_path / "ckpt")
    assert torch.equal(model(tokens), loaded(tokens))
    assert models.read_metadata(tmp_path / "ckpt") == {"note": "test"}
    assert loaded.to_str_tokens("the cat sat") == ["<bos>", "the", "cat", "sat"]


def test_half_precision_series_loads_as_float32(tmp_path):
    model = models.native_model(TINY)
    models.save_checkpoint(model, tmp_path / "half", dtype=torch.float16)
    loaded = models.load_checkpoint(tmp_path / "half")
    assert loaded.W_E.dtype == torch.float32
    assert torch.allclose(loaded.W_E, model.W_E, atol=1e-3)


def test_missing_checkpoint_message(tmp_path):
    with pytest.raises(FileNotFoundError, match="No checkpoint"):
        models.load_checkpoint(tmp_path / "nothing")
    with pytest.raises(FileNotFoundError, match="No shipped checkpoint called"):
        models.load_shipped("no-such-model")


@pytest.mark.parametrize("name", models.shipped_checkpoints())
def test_every_shipped_checkpoint_loads(name):
    model = models.load_shipped(name)
    tokens = torch.zeros(1, 3, dtype=torch.long)
    logits = model(tokens)
    assert torch.isfinite(logits).all()


def test_gpt2_offline_names_the_stand_in(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert not models.hub_is_reachable()
    with pytest.raises(models.ModelNeedsNetwork, match="stand-in for this chapter is 'ioi-model'"):
        models.load_gpt2_small(stand_in="ioi-model")


def test_gpt2_architecture_offline_through_the_gpt2_path(tokenizer):
    """The code that loads GPT-2 small, exercised on a tiny random model of the same architecture."""
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=len(tokenizer), n_positions=32, n_embd=32, n_layer=2, n_head=4,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    torch.manual_seed(0)
    hf_model = GPT2LMHeadModel(config).eval()
    bridge = models.load_gpt2_from_hf(hf_model, tokenizer, compatibility_mode=True)
    tokens = bridge.to_tokens("the cat sat on a mat")
    with torch.no_grad():
        expected = hf_model(tokens).logits.log_softmax(-1)
    assert torch.allclose(bridge(tokens).log_softmax(-1), expected, atol=1e-4)


def test_hf_directory_round_trip(tmp_path, tokenizer):
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=len(tokenizer), n_positions=32, n_embd=32, n_layer=1, n_head=4)
    hf_model = GPT2LMHeadModel(config).eval()
    hf_model.save_pretrained(tmp_path / "hf")
    tokenizer.save_pretrained(tmp_path / "hf")
    bridge = models.load_checkpoint(tmp_path / "hf")
    tokens = bridge.to_tokens("the cat")
    with torch.no_grad():
        expected = hf_model(tokens).logits.log_softmax(-1)
    assert torch.allclose(bridge(tokens).log_softmax(-1), expected, atol=1e-4)
