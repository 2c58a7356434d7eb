"""The chapter-2 training code runs end to end on a tiny setting, and its data generators are right."""
from __future__ import annotations

import pytest
import torch

from circuitlab.ch2.training import ScratchRecipe, ShippedRecipe, evaluate, train_from_scratch, train_shipped
from circuitlab.data.repeated import periodic_random, repeated_halves


def test_periodic_random_repeats_with_its_period():
    tokens = periodic_random(16, 40, 2, 50, 0, 5, 9, torch.Generator().manual_seed(0))
    assert tokens.shape == (16, 40) and (tokens[:, 0] == 0).all()
    body = tokens[:, 1:]
    for row in body:
        period = next(p for p in range(5, 10) if torch.equal(row[p:], row[:-p]))
        assert 5 <= period <= 9
    assert int(body.min()) >= 2 and int(body.max()) < 50


def test_repeated_halves():
    tokens = repeated_halves(3, 6, 1, 20, 0, torch.Generator().manual_seed(0))
    assert tokens.shape == (3, 13)
    assert torch.equal(tokens[:, 1:7], tokens[:, 7:])


def test_train_from_scratch_tiny():
    model, history = train_from_scratch(ScratchRecipe(d_vocab=16, seq_len=20, min_period=3, max_period=6, batch=4,
                                                      steps=3, eval_every=1, eval_half_len=6), progress=False)
    assert history.steps == [0, 1, 2, 3]
    metrics = evaluate(model, repeated_halves(4, 6, 1, 16, 0), 6)
    assert set(metrics) == {"repeated_loss", "first_half_loss", "induction_score", "previous_token_score"}


def test_train_shipped_tiny():
    model, tokenizer, history, extra = train_shipped(
        ShippedRecipe(vocab_size=300, seq_len=16, batch=4, steps=2, eval_every=1, eval_half_len=5, min_period=2,
                      max_period=6), progress=False)
    assert model.cfg.d_vocab == len(tokenizer)
    assert len(history.steps) == 3 and extra["corpus_tokens"] > 10_000
    assert model.to_tokens("def f(x): return x")[0, 0].item() == tokenizer.bos_token_id


def test_train_text_records_seed_threads_and_text_only(tmp_path):
    from circuitlab.ch2.train_text import main
    from circuitlab.models import load_checkpoint, read_metadata

    threads = torch.get_num_threads()
    try:  # main() sets torch's thread count, as a training run should; give the test process its own back
        main(["--steps", "2", "--eval-every", "1", "--batch", "2", "--seq-len", "16", "--vocab-size", "300",
              "--corpus", "pydocs", "--repeat-rich", "1", "--out", str(tmp_path / "text")])
    finally:
        torch.set_num_threads(threads)
    metadata = read_metadata(tmp_path / "text")
    assert metadata["seed"] == 0 and metadata["threads"] >= 1 and metadata["steps_done"] == 2
    assert "corpus 'pydocs'" in metadata["description"] and "only" in metadata["description"]
    assert metadata["corpus"] == "pydocs" and metadata["corpus_characters"] > 500_000
    assert metadata["training_cpu_seconds"] > 0
    assert metadata["command"].startswith("python -m circuitlab.ch2.train_text --steps 2")
    model = load_checkpoint(tmp_path / "text")
    assert model.cfg.n_heads == 8 and model.cfg.n_layers == 2 and model.cfg.attn_only


def test_named_corpora_keep_the_default_and_add_the_source_text():
    from circuitlab.data.corpus import (CORPORA, corpus_documents, corpus_fingerprint, named_corpus_documents,
                                        named_corpus_fingerprint, source_documents)

    # The default corpus (and so the shipped models' fingerprints) is untouched by the named corpora.
    assert named_corpus_documents("pydocs") == corpus_documents()
    assert named_corpus_fingerprint("pydocs") == corpus_fingerprint()
    assert set(CORPORA) == {"pydocs", "pydocs+source"}
    sources = source_documents(["json", "textwrap"])  # a package (json/*.py) and a single module
    assert len(sources) >= 3 and any("class TextWrapper" in text for text in sources)
    assert source_documents(["itertools"]) == []  # built into the interpreter: no source text
    larger = named_corpus_documents("pydocs+source")
    assert larger[:len(corpus_documents())] == corpus_documents() and len(larger) > len(corpus_documents())
    assert named_corpus_fingerprint("pydocs+source") != corpus_fingerprint()


def test_source_files_leave_test_suites_out():
    from circuitlab.data.corpus import _module_source_files

    files = _module_source_files("email")
    assert len(files) > 10 and all(path.suffix == ".py" for path in files)
    root = files[0].parent
    assert all({"test", "tests"}.isdisjoint(path.relative_to(root).parts[:-1]) for path in files)
    assert len(_module_source_files("textwrap")) == 1


def test_warmup_ramps_the_learning_rate():
    from circuitlab.ch2.training import _train, architecture
    from circuitlab.models import native_model

    model = native_model(architecture(16, 12, d_model=16, n_heads=2, d_head=8))
    seen: list[float] = []
    original_step = torch.optim.AdamW.step

    def recording_step(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return original_step(self, *args, **kwargs)

    torch.optim.AdamW.step = recording_step
    try:
        _train(model, lambda: torch.randint(0, 16, (2, 12)), 6, 1e-2, 0.0, repeated_halves(2, 4, 1, 16, 0), 4, 100,
               progress=False, warmup_steps=4)
    finally:
        torch.optim.AdamW.step = original_step
    assert seen == pytest.approx([2.5e-3, 5e-3, 7.5e-3, 1e-2, 1e-2, 1e-2])


def test_repeat_rich_windows_are_those_with_the_most_repeated_bigrams():
    from circuitlab.data.repeated import repeat_rich_starts, repeated_bigram_share

    # Bigrams (1,2) (2,1) (1,2) (2,1): the last two repeat earlier ones; the second row repeats none.
    assert repeated_bigram_share(torch.tensor([[1, 2, 1, 2, 1], [1, 2, 3, 4, 5]]), 6).tolist() == [0.5, 0.0]
    stream = torch.cat([torch.arange(2, 34), torch.tensor([7, 8] * 16)])  # 32 distinct tokens, then "7 8" 16 times
    assert repeat_rich_starts(stream, seq_len=17, d_vocab=40, keep=0.25, stride=16).tolist() == [32]
    assert repeat_rich_starts(stream, seq_len=17, d_vocab=40, keep=1.0, stride=16).tolist() == [0, 16, 32]
    with pytest.raises(ValueError, match="keep"):
        repeat_rich_starts(stream, seq_len=17, d_vocab=40, keep=0.0)
