"""The chapter 3 training script runs end to end on a tiny setting and writes a loadable model."""
import json

import torch

from circuitlab.ch3 import train_ioi
from circuitlab.data import ioi


def test_corpus_has_no_unknown_words():
    tokenizer = train_ioi.build_tokenizer()
    documents = list(ioi.corpus_documents(300, seed=3))
    ids = [i for e in tokenizer._tokenizer.encode_batch(documents) for i in e.ids]
    assert tokenizer.unk_token_id not in ids


def test_every_name_is_one_token():
    tokenizer = train_ioi.build_tokenizer()
    assert all(len(tokenizer.encode(" " + n, add_special_tokens=False)) == 1 for n in ioi.NAMES)


def test_prompts_and_corruptions_have_equal_length():
    tokenizer = train_ioi.build_tokenizer()
    for template_set in (ioi.TEMPLATES, ioi.DISTRACTOR_TEMPLATES):
        for p in ioi.ioi_prompts(40, templates=template_set, seed=1):
            assert len(tokenizer(p.text).input_ids) == len(tokenizer(p.corrupt_text).input_ids)


def test_training_runs_and_saves(tmp_path):
    recipe = train_ioi.Recipe(steps=3, documents=200, batch_size=8, warmup_steps=1)
    model, tokenizer, results = train_ioi.train(recipe, out=tmp_path, log_every=2, progress=False)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["circuitlab_metadata"]["recipe"]["steps"] == 3
    assert (tmp_path / "model.safetensors").exists() and (tmp_path / "tokenizer.json").exists()
    assert set(results) >= {"held_out_names", "held_out_templates", "distractor_after_s2", "distractor_before_s2"}
    assert results["torch_threads"] == torch.get_num_threads()
    from circuitlab.models import load_hf_directory

    bridge = load_hf_directory(tmp_path)
    tokens = bridge.to_tokens("When Mary and John went to the store, John gave a drink to")
    with torch.no_grad():
        hf_logits = model(tokens).logits
        bridge_logits = bridge(tokens)
    # Compatibility mode centres the logits; compare log-probabilities.
    assert torch.allclose(hf_logits.log_softmax(-1), bridge_logits.log_softmax(-1), atol=1e-4)
