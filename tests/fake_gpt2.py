"""A stand-in for GPT-2 small, put where a download of GPT-2 small would be: a local Hugging Face cache.

The model has GPT-2's architecture and random weights; the tokenizer is byte-level BPE like GPT-2's
(``<|endoftext|>`` as BOS, EOS and unknown token, no prefix space), trained in a second on a few KB of
the offline corpora. The files sit under ``<hf_home>/hub/models--gpt2/snapshots/<revision>/`` with
``refs/main`` naming the revision, which is how ``huggingface_hub`` lays out a real download, so the
code that loads GPT-2 small finds it with ``HF_HUB_OFFLINE=1`` and no branch of its own.
"""
from __future__ import annotations

import os
from pathlib import Path

REVISION = "0" * 40  # a commit hash in the Hub's format; any 40 hex digits do
VOCAB_SIZE = 1000
SPECIAL = "<|endoftext|>"
# A few KB of each corpus: Python documentation for general English, IOI-corpus sentences for names.
DOCS_CHARACTERS = 6_000
IOI_DOCUMENTS = 200


def _tokenizer_training_text() -> list[str]:
    from circuitlab.data import corpus, ioi

    docs = corpus.python_docs_corpus(include_docstrings=False)[:DOCS_CHARACTERS]
    return [docs, "\n".join(ioi.corpus_documents(IOI_DOCUMENTS, seed=0))]


def train_byte_level_tokenizer():
    """A GPT-2-style byte-level BPE tokenizer (a ``GPT2TokenizerFast``)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2TokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=[SPECIAL], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(_tokenizer_training_text(), trainer=trainer)
    return GPT2TokenizerFast(tokenizer_object=tokenizer, bos_token=SPECIAL, eos_token=SPECIAL, unk_token=SPECIAL)


def write_fake_gpt2(hf_home: Path, *, n_layer: int, n_head: int, n_embd: int, n_inner: int,
                    n_positions: int = 256, seed: int = 0) -> Path:
    """Write the stand-in into the cache rooted at ``hf_home``; returns the snapshot directory."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    repo = Path(hf_home) / "hub" / "models--gpt2"
    snapshot = repo / "snapshots" / REVISION
    snapshot.mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(REVISION)
    tokenizer = train_byte_level_tokenizer()
    tokenizer.save_pretrained(str(snapshot))
    special_id = tokenizer.convert_tokens_to_ids(SPECIAL)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=n_positions, n_embd=n_embd, n_layer=n_layer,
                        n_head=n_head, n_inner=n_inner, bos_token_id=special_id, eos_token_id=special_id)
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    GPT2LMHeadModel(config).save_pretrained(str(snapshot))
    torch.random.set_rng_state(generator_state)
    return snapshot


def offline_cache_environment(hf_home: Path) -> dict[str, str]:
    """Variables that make a fresh Python process read only the cache at ``hf_home``, never the network."""
    return {"HF_HOME": str(hf_home), "HF_HUB_CACHE": str(Path(hf_home) / "hub"),
            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def environment_with(overrides: dict[str, str], drop: tuple[str, ...] = ()) -> dict[str, str]:
    """This process's environment with ``overrides`` set and ``drop`` removed (for a subprocess)."""
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(overrides)
    return env
