"""Train a candidate for the chapter's main model, ``attn_only_2l_text``, on natural text only.

A 2-layer attention-only model with 8 heads per layer, trained on the offline Python-docs corpus
(``circuitlab.data.corpus``) and nothing else: no synthetic repeated sequences. The aim (issue 19,
point 1) is a model in which some heads become induction heads while others do other jobs.

Not shipped yet: no run so far formed induction heads. Measured with one thread on a busy 2-core
machine (best layer-1 induction score on repeated random tokens; repeated corpus text gave the same):

- defaults (BPE 1024, seq_len 128, lr 2e-3): stopped at its 870 s limit after 2,540 steps, induction
  0.01; every head spread over the last few positions (no head above 0.16 on any detector) and a
  training-text loss of 2.26 nats;
- ``--positions rotary --lr 5e-3``: 1,500 steps in 497 s, induction 0.01; layer 0 became current-token
  heads (up to 0.59), one layer-1 head a previous-token head (0.45), text loss 2.41;
- ``--vocab-size 320 --seq-len 256 --batch 16 --lr 5e-3``: stopped by hand after 1,130 steps (15 min),
  induction 0.02.

In each the loss on a repeated half of corpus text equalled the loss on its first half: the model
gained nothing from the repeat. The 284k-token corpus, seen tens of times, is memorised before an
induction circuit pays off. The chapter keeps ``attn_only_2l`` (``circuitlab.ch2.training``).

``python -m circuitlab.ch2.train_text --threads 1`` trains and saves (to a directory of your choice with
``--out``); the seed, the thread count and the measured training time go into the checkpoint's metadata.
"""
from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from circuitlab import threads as thread_policy
from circuitlab.ch2.training import _train, architecture, corpus_chunks_loss, final_metrics
from circuitlab.data.repeated import corpus_chunks, corpus_token_stream, repeated_halves
from circuitlab.training_loop import Clock

TEXT_MODEL_NAME = "attn_only_2l_text"


@dataclass
class TextRecipe:
    """Settings of the text-only model."""

    vocab_size: int = 1024
    d_model: int = 128
    n_heads: int = 8
    d_head: int = 16
    positions: str = "standard"  # or "rotary"
    seq_len: int = 128
    batch: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.01
    steps: int = 2000
    eval_every: int = 100
    eval_half_len: int = 30
    seed: int = 0
    time_limit: float | None = None


def train_text(recipe: TextRecipe | None = None, progress: bool = True):
    """Train on corpus windows only. Returns (model, tokenizer, history, extra metadata)."""
    from circuitlab.data.corpus import train_bpe_tokenizer
    from circuitlab.models import native_model

    recipe = recipe or TextRecipe()
    torch.manual_seed(recipe.seed)
    tokenizer = train_bpe_tokenizer(vocab_size=recipe.vocab_size, name=f"circuitlab-bpe-{recipe.vocab_size}")
    d_vocab = len(tokenizer)
    bos = tokenizer.bos_token_id
    first_ordinary = max(tokenizer.bos_token_id, tokenizer.pad_token_id) + 1
    stream = corpus_token_stream(tokenizer)
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
                     eval_half_len, recipe.eval_every, recipe.time_limit, progress)
    extra = {"corpus_tokens": int(len(stream)), "text_loss": corpus_chunks_loss(model, stream, recipe.seq_len, bos)}
    return model, tokenizer, history, extra


def main(argv: list[str] | None = None) -> None:
    from circuitlab.data.corpus import corpus_fingerprint
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
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as the checkpoint was trained)")
    parser.add_argument("--out", default=str(CHECKPOINT_DIR / TEXT_MODEL_NAME),
                        help="where to save (default: the package's checkpoint directory)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    overrides = {"steps": args.steps, "lr": args.lr, "seq_len": args.seq_len, "batch": args.batch,
                 "seed": args.seed, "time_limit": args.time_limit, "eval_every": args.eval_every,
                 "vocab_size": args.vocab_size, "positions": args.positions}
    recipe = TextRecipe(**{k: v for k, v in overrides.items() if v is not None})
    clock = Clock()
    model, tokenizer, history, extra = train_text(recipe)
    seconds = clock.seconds()
    final = final_metrics(history)
    metadata = {
        "description": "2-layer attention-only model (chapter 2), 8 heads per layer, trained on the offline "
                       "Python-docs corpus only (no synthetic sequences).",
        "recipe": asdict(recipe),
        "seed": recipe.seed,
        "threads": torch.get_num_threads(),
        "command": f"python -m circuitlab.ch2.train_text --threads {torch.get_num_threads()}",
        "corpus_fingerprint": corpus_fingerprint(),
        "training_seconds": round(seconds, 1),
        "steps_done": history.steps[-1],
        "final_metrics": final,
        **extra,
        "history": asdict(history),
    }
    save_checkpoint(model, args.out, tokenizer=tokenizer, metadata=metadata)
    print(f"saved to {args.out} after {seconds:.0f} s: {final}, text loss {extra['text_loss']:.3f}")


if __name__ == "__main__":
    main()
