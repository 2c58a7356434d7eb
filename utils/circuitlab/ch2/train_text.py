"""Train a candidate for the chapter's main model, ``attn_only_2l_text``, on natural text only.

A 2-layer attention-only model with 8 heads per layer, trained on an offline corpus
(``circuitlab.data.corpus``) and nothing else: no synthetic repeated sequences. The aim is a model
in which some heads become induction heads while others do other jobs, for the learner to tell apart.

Not shipped yet: no run so far formed induction heads. Measured with one thread on a busy 2-core
machine (best layer-1 induction score on repeated random tokens; repeated corpus text gave the same).

On the default corpus, ``pydocs`` (the language reference's topics and the docstrings, 284k tokens
at BPE 1024):

- defaults (BPE 1024, seq_len 128, lr 2e-3): stopped at its 870 s limit after 2,540 steps, induction
  0.01; every head spread over the last few positions (no head above 0.16 on any detector) and a
  training-text loss of 2.26 nats;
- ``--positions rotary --lr 5e-3``: 1,500 steps in 497 s, induction 0.01; layer 0 became current-token
  heads (up to 0.59), one layer-1 head a previous-token head (0.45), text loss 2.41;
- ``--vocab-size 320 --seq-len 256 --batch 16 --lr 5e-3``: stopped by hand after 1,130 steps (15 min),
  induction 0.02.

In each the loss on a repeated half of corpus text equalled the loss on its first half: the model
gained nothing from the repeat. The 284k-token corpus, seen tens of times, is learnt by its
frequencies before an induction circuit pays off.

Hence ``--corpus pydocs+source``: the same text followed by the standard library's own source files
(the modules of ``STDLIB_MODULES``, test suites left out), where identifiers repeat within a few lines.
On Python 3.11.7: 953 documents, 4,577,828 characters, fingerprint ``035686901df2``; 2,522,921 tokens
at BPE 512 and 2,002,322 at BPE 1024 (seven to nine times the default corpus). A model records the
corpus name, fingerprint and size in its metadata, and the CPU time of its run next to the wall time.

Cost per training step, one thread, CPU time (``time.process_time``) on the busy machine (wall time
was twice that); ``(vocab, seq_len, batch, d_model, d_head)``:

- (1024, 256, 32, 128, 16): 1.42 s; (512, 256, 32, 128, 16): 1.35 s; (512, 256, 16, 64, 8): 0.48 s;
- (512, 128, 32, 128, 16): 0.28 s; (512, 128, 32, 64, 8): 0.15 s.

A context of 256 costs five times one of 128 at the same batch (the attention patterns dominate), so
15 minutes of one core buy about 3,200 steps at (512, 128, 32, 128, 16), or 6,000 at d_model 64.

Runs on ``pydocs+source`` (BPE 512, seq_len 128, lr 5e-3 after 200 warm-up steps): one of 2,000 steps at
d_model 128 and batch 32, one of 4,000 steps at d_model 64 and batch 16, both started at ``nice -n 15``
while six to eight processes of higher priority held both cores. They got 1.5-2% of a core each, made
26 and 62 steps in 21 minutes and were stopped. Then, with batch 16 and 100 warm-up steps, the rest as
before (``--d-model 128``): 3,000 steps in 1,901 s of wall time but 370 s of CPU time (the machine
emptied towards the end, where it ran at 10 steps a second). Best layer-1 induction score 0.05 (0.02
until step 1,600, then creeping up), repeated half 11.13 nats against 11.09 on the first half, text
loss 2.67. Layer 0 became current-token heads (0.40-0.59 on a code-and-prose prompt, 5 of 8 at 0.4 or
more), its best previous-token score 0.20, no head above 0.31 on BOS. The same recipe with ``--steps 7000
--time-limit 840`` on the nearly idle machine: 6,974 steps in 850 s of wall time (835 s of CPU time, one
thread), about 8 steps a second. Induction 0.08 at the end (0.02 until step 1,750, then a slow climb,
no jump), repeated half 11.90 nats against 11.86 on the first half, text loss 2.41; layer 0 current-token
heads up to 0.69, previous-token at most 0.29. So the larger corpus moves the induction score, but
15 minutes of one core end before any phase change; what remains to try is a higher rate, a smaller
model (d_model 64: twice the steps), or a corpus with still more repeats within a window. A 100-step
trial (BPE 1024, seq_len 256, batch 32, lr 3e-3, 100 warm-up steps) took 268 s: induction 0.02, as expected that early. The
7,000-step run, which stays within 15 minutes of one idle core::

    python -m circuitlab.ch2.train_text --threads 1 --corpus pydocs+source --vocab-size 512 --seq-len 128 \\
        --batch 16 --lr 5e-3 --warmup-steps 100 --steps 7000 --eval-every 250 --time-limit 840 --out DIR

The chapter keeps ``attn_only_2l`` (``circuitlab.ch2.training``). ``python -m circuitlab.ch2.train_text
--threads 1`` trains and saves (to a directory of your choice with ``--out``); the seed, the thread
count, the command line and the measured training time go into the checkpoint's metadata.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from circuitlab import threads as thread_policy
from circuitlab.ch2.training import _train, architecture, corpus_chunks_loss, final_metrics
from circuitlab.data.repeated import corpus_chunks, repeated_halves
from circuitlab.training_loop import Clock

TEXT_MODEL_NAME = "attn_only_2l_text"


@dataclass
class TextRecipe:
    """Settings of the text-only model."""

    corpus: str = "pydocs"  # a name from circuitlab.data.corpus.CORPORA
    vocab_size: int = 1024
    d_model: int = 128
    n_heads: int = 8
    d_head: int = 16
    positions: str = "standard"  # or "rotary"
    seq_len: int = 128
    batch: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup_steps: int = 0
    steps: int = 2000
    eval_every: int = 100
    eval_half_len: int = 30
    seed: int = 0
    time_limit: float | None = None


def text_stream(tokenizer, corpus: str) -> Tensor:
    """A named corpus tokenised into one long 1-D tensor (documents joined, no BOS)."""
    from circuitlab.data.corpus import named_corpus_documents

    encoded = tokenizer(list(named_corpus_documents(corpus)), add_special_tokens=False)["input_ids"]
    return torch.tensor([token for document in encoded for token in document], dtype=torch.long)


def train_text(recipe: TextRecipe | None = None, progress: bool = True):
    """Train on corpus windows only. Returns (model, tokenizer, history, extra metadata)."""
    from circuitlab.data.corpus import train_bpe_tokenizer
    from circuitlab.models import native_model

    recipe = recipe or TextRecipe()
    torch.manual_seed(recipe.seed)
    tokenizer = train_bpe_tokenizer(vocab_size=recipe.vocab_size, corpus=recipe.corpus,
                                    name=f"circuitlab-bpe-{recipe.corpus}-{recipe.vocab_size}")
    d_vocab = len(tokenizer)
    bos = tokenizer.bos_token_id
    first_ordinary = max(tokenizer.bos_token_id, tokenizer.pad_token_id) + 1
    stream = text_stream(tokenizer, recipe.corpus)
    config = architecture(d_vocab, recipe.seq_len, seed=recipe.seed, d_model=recipe.d_model,
                          n_heads=recipe.n_heads, d_head=recipe.d_head, positions=recipe.positions)
    model = native_model(config, tokenizer=tokenizer)
    generator = torch.Generator().manual_seed(recipe.seed)
    # Evaluation only (never trained on): repeated random tokens, the probe for induction.
    eval_half_len = min(recipe.eval_half_len, (recipe.seq_len - 1) // 2)  # BOS + two halves fit the context
    eval_tokens = repeated_halves(64, eval_half_len, first_ordinary, d_vocab, bos,
                                  torch.Generator().manual_seed(10_000 + recipe.seed))

    def next_batch() -> Tensor:
        return corpus_chunks(stream, recipe.batch, recipe.seq_len, bos, generator)

    history = _train(model, next_batch, recipe.steps, recipe.lr, recipe.weight_decay, eval_tokens,
                     eval_half_len, recipe.eval_every, recipe.time_limit, progress,
                     warmup_steps=recipe.warmup_steps)
    extra = {"corpus_tokens": int(len(stream)), "text_loss": corpus_chunks_loss(model, stream, recipe.seq_len, bos)}
    return model, tokenizer, history, extra


def main(argv: list[str] | None = None) -> None:
    from circuitlab.data.corpus import CORPORA, named_corpus_documents, named_corpus_fingerprint
    from circuitlab.models import CHECKPOINT_DIR, save_checkpoint

    parser = argparse.ArgumentParser(description="Train chapter 2's text-only model.")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--seq-len", type=int, default=None)
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--time-limit", type=float, default=None)
    parser.add_argument("--eval-every", type=int, default=None)
    parser.add_argument("--vocab-size", type=int, default=None)
    parser.add_argument("--positions", choices=["standard", "rotary"], default=None)
    parser.add_argument("--corpus", choices=sorted(CORPORA), default=None)
    parser.add_argument("--warmup-steps", type=int, default=None)
    parser.add_argument("--d-model", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as the checkpoint was trained)")
    parser.add_argument("--out", default=str(CHECKPOINT_DIR / TEXT_MODEL_NAME),
                        help="where to save (default: the package's checkpoint directory)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    overrides = {"steps": args.steps, "lr": args.lr, "seq_len": args.seq_len, "batch": args.batch,
                 "seed": args.seed, "time_limit": args.time_limit, "eval_every": args.eval_every,
                 "vocab_size": args.vocab_size, "positions": args.positions, "corpus": args.corpus,
                 "warmup_steps": args.warmup_steps, "d_model": args.d_model}
    recipe = TextRecipe(**{k: v for k, v in overrides.items() if v is not None})
    clock = Clock()
    cpu_start = time.process_time()
    model, tokenizer, history, extra = train_text(recipe)
    seconds = clock.seconds()
    # CPU time of this (single-threaded) process: on a busy machine the wall time overstates the work.
    cpu_seconds = time.process_time() - cpu_start
    final = final_metrics(history)
    metadata = {
        "description": f"2-layer attention-only model (chapter 2), {recipe.n_heads} heads per layer, trained on the "
                       f"offline corpus '{recipe.corpus}' ({CORPORA[recipe.corpus]}) only (no synthetic sequences).",
        "recipe": asdict(recipe),
        "seed": recipe.seed,
        "threads": torch.get_num_threads(),
        "command": " ".join(["python -m circuitlab.ch2.train_text", *(sys.argv[1:] if argv is None else argv)]),
        "corpus": recipe.corpus,
        "corpus_fingerprint": named_corpus_fingerprint(recipe.corpus),
        "corpus_characters": sum(len(d) for d in named_corpus_documents(recipe.corpus)),
        "training_seconds": round(seconds, 1),
        "training_cpu_seconds": round(cpu_seconds, 1),
        "steps_done": history.steps[-1],
        "final_metrics": final,
        **extra,
        "history": asdict(history),
    }
    save_checkpoint(model, args.out, tokenizer=tokenizer, metadata=metadata)
    print(f"saved to {args.out} after {seconds:.0f} s: {final}, text loss {extra['text_loss']:.3f}")


if __name__ == "__main__":
    main()
