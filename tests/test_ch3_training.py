"""The chapter 3 training script runs end to end on a tiny setting and writes a loadable model."""
import json
import re

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


# --------------------------------------------------------------------------- the shortcut-free corpus and sizes


def test_the_shipped_tokenizer_is_unchanged_and_the_shortcut_free_one_covers_its_corpus():
    from circuitlab.ch3 import ioi_setup
    from circuitlab.models import load_tokenizer

    shipped = load_tokenizer(ioi_setup.CHECKPOINT_DIR / ioi_setup.OFFLINE_MODEL)
    assert train_ioi.build_tokenizer().get_vocab() == shipped.get_vocab()
    tokenizer = train_ioi.build_tokenizer(shortcut_free=True)
    recipe = train_ioi.Recipe(corpus="shortcut-free", documents=400, classic_fraction=0.3)
    ids = [i for e in tokenizer._tokenizer.encode_batch(train_ioi.corpus(recipe)) for i in e.ids]
    assert tokenizer.unk_token_id not in ids
    held_out = [p.text for p in train_ioi.shortcut_free_evaluation_sets(40)["sf_held_out_both"]]
    assert tokenizer.unk_token_id not in [i for e in tokenizer._tokenizer.encode_batch(held_out) for i in e.ids]


def _frame_pattern(template: str) -> "re.Pattern[str]":
    """A template as a regular expression: any single word in each slot."""
    return re.compile(re.sub(r"\\\{\w+\\\}", r"\\w+", re.escape(template)))


def test_the_mixed_corpus_never_writes_a_held_out_frame():
    text = " ".join(ioi.mixed_corpus_documents(3000, seed=0, classic_fraction=0.3))
    for template in ioi.SHORTCUT_FREE_HELD_OUT_TEMPLATES + ioi.HELD_OUT_TEMPLATES:
        assert not _frame_pattern(template).search(text), template
    # ... while the training frames of both kinds are there.
    assert _frame_pattern(ioi.TRAIN_TEMPLATES[0]).search(text)
    assert all(_frame_pattern(t).search(text) for t in ioi.SHORTCUT_FREE_TEMPLATES)
    # The pattern does find a held-out frame once it is written.
    assert _frame_pattern(ioi.SHORTCUT_FREE_HELD_OUT_TEMPLATES[0]).search(
        ioi.family_prompts(1, ioi.SHORTCUT_FREE_HELD_OUT_FAMILIES)[0].text)


def test_shortcut_free_training_of_another_size_records_its_recipe(tmp_path):
    threads = torch.get_num_threads()
    try:
        train_ioi.main(["--corpus", "shortcut-free", "--steps", "3", "--documents", "200", "--batch-size", "8",
                        "--layers", "2", "--heads", "2", "--d-model", "32", "--n-inner", "8", "--warmup-steps", "1",
                        "--classic-fraction", "0.5", "--threads", "1", "--log-every", "2", "--out", str(tmp_path)])
    finally:
        torch.set_num_threads(threads)
    metadata = json.loads((tmp_path / "config.json").read_text())["circuitlab_metadata"]
    recipe = metadata["recipe"]
    assert (recipe["corpus"], recipe["n_layer"], recipe["n_head"], recipe["n_embd"], recipe["n_inner"]) == (
        "shortcut-free", 2, 2, 32, 8)
    assert recipe["classic_fraction"] == 0.5 and recipe["steps"] == 3 and recipe["batch_size"] == 8
    assert "--corpus shortcut-free" in metadata["command"] and "--layers 2" in metadata["command"]
    results = metadata["results"]
    assert {"sf_held_out_names", "sf_held_out_templates", "sf_held_out_both", "held_out_both"} <= set(results)
    assert results["torch_threads"] == 1 and results["train_seconds"] > 0 and results["ms_per_step"] > 0
    assert "circuit" not in metadata  # the classic circuit rule is not run on the shortcut-free model
    vocabulary = json.loads((tmp_path / "tokenizer.json").read_text())["model"]["vocab"]
    assert {"spotted", "already"} <= set(vocabulary)  # the shortcut-free families' words


def test_the_repeat_signal_flags_reach_the_recipe_the_command_and_the_tokenizer(tmp_path):
    threads = torch.get_num_threads()
    try:
        train_ioi.main(["--corpus", "shortcut-free", "--steps", "2", "--documents", "200", "--batch-size", "8",
                        "--layers", "1", "--heads", "2", "--d-model", "16", "--n-inner", "8", "--warmup-steps", "1",
                        "--roll-call-fraction", "0.2", "--again-probability", "0.5", "--maybe-repeated-fraction",
                        "0.5", "--threads", "1", "--log-every", "2", "--out", str(tmp_path)])
    finally:
        torch.set_num_threads(threads)
    metadata = json.loads((tmp_path / "config.json").read_text())["circuitlab_metadata"]
    recipe = metadata["recipe"]
    assert (recipe["roll_call_fraction"], recipe["again_probability"], recipe["maybe_repeated_fraction"]) == (0.2, 0.5, 0.5)
    assert ("--roll-call-fraction 0.2 --again-probability 0.5 --maybe-repeated-fraction 0.5" in metadata["command"])
    vocabulary = json.loads((tmp_path / "tokenizer.json").read_text())["model"]["vocab"]
    assert set(ioi.ROLL_CALL_WORDS) <= set(vocabulary)


def test_the_chapters_explore_further_training_command_runs(tmp_path):
    """Problem 6 of chapter 3 prints a training command; its flags must exist (run here for two tiny steps)."""
    from pathlib import Path

    master = (Path(__file__).resolve().parents[1] / "masters" / "03_ioi.py").read_text()
    problem = master[master.index("# 6. **Can the paper's circuit grow here?**"):]
    command = " ".join(line.lstrip("# ") for line in problem.splitlines()[:4])
    flags = re.search(r"python -m circuitlab\.ch3\.train_ioi (.*?) --out", command).group(1).split()
    assert "--again-probability" in flags and "--maybe-repeated-fraction" in flags
    threads = torch.get_num_threads()
    try:  # argparse keeps the last value of a repeated flag, so the tiny size overrides the chapter's
        train_ioi.main(flags + ["--steps", "2", "--documents", "100", "--batch-size", "4", "--layers", "1", "--heads",
                                "1", "--d-model", "8", "--n-inner", "4", "--warmup-steps", "1", "--threads", "1",
                                "--log-every", "2", "--out", str(tmp_path)])
    finally:
        torch.set_num_threads(threads)
    assert json.loads((tmp_path / "config.json").read_text())["circuitlab_metadata"]["recipe"]["again_probability"] == 0.5
