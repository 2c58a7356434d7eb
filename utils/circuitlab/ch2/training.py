"""Train the chapter's 2-layer attention-only model, from scratch in the notebook or for shipping.

Two recipes share one architecture (2 layers, attention only, d_model 64, 4 heads of 16,
LayerNorm without learned weights, learned positions):

- ``train_from_scratch``: random tokens from a small vocabulary, tiled with a period that
  varies per sequence. Induction heads form in well under a minute on a CPU; the notebook
  runs it and plots the phase change.
- ``train_shipped``: the offline Python-docs corpus (BPE tokenizer trained on it) mixed with
  periodic random spans, so text prompts work and induction pays off. ``python -m
  circuitlab.ch2.training`` reproduces the shipped checkpoint ``attn_only_2l``.
"""
from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field
from typing import Any

import einops
import torch
import torch.nn.functional as F
from torch import Tensor

from circuitlab import threads as thread_policy
from circuitlab.data.repeated import corpus_token_stream, mixed_batch, periodic_random, repeated_halves
from circuitlab.training_loop import Clock, Curves, progress_bar

SHIPPED_NAME = "attn_only_2l"


def architecture(d_vocab: int, n_ctx: int, seed: int = 0, d_model: int = 64, n_heads: int = 4,
                 d_head: int = 16, positions: str = "standard") -> dict[str, Any]:
    """The chapter's model config for TransformerLens (2 layers, attention only, LayerNorm without weights)."""
    return dict(
        d_model=d_model, d_head=d_head, n_heads=n_heads, n_layers=2, n_ctx=n_ctx, d_vocab=d_vocab, attn_only=True,
        normalization_type="LNPre", act_fn="gelu", positional_embedding_type=positions,
        seed=seed, init_mode="gpt2",
    )


# --------------------------------------------------------------------------- measurements


def induction_scores(pattern_by_layer: list[Tensor], half_len: int) -> Tensor:
    """Mean attention from each second-half token to the token after its first occurrence.

    ``pattern_by_layer[l]``: ``Float[Tensor, "batch head q k"]`` on BOS + two equal halves.
    Returns ``Float[Tensor, "layer head"]``.
    """
    scores = []
    for pattern in pattern_by_layer:
        stripe = pattern.diagonal(offset=-(half_len - 1), dim1=-2, dim2=-1)  # batch head (2*half_len + 2 - half_len)
        # The stripe's first two entries are queries in the first half (and the BOS key): drop them.
        scores.append(einops.reduce(stripe[..., 2:], "batch head q -> head", "mean"))
    return torch.stack(scores)


def previous_token_scores(pattern_by_layer: list[Tensor]) -> Tensor:
    """Mean attention from each position to the one before it, ``Float[Tensor, "layer head"]``."""
    return torch.stack([
        einops.reduce(p.diagonal(offset=-1, dim1=-2, dim2=-1), "batch head q -> head", "mean")
        for p in pattern_by_layer
    ])


@torch.no_grad()
def evaluate(model, tokens: Tensor, half_len: int) -> dict[str, float]:
    """Losses on each half of BOS + two equal halves, and the best induction / previous-token scores.

    "repeated loss" averages the predictions of tokens 2..half_len of the second half (the
    first token of the second half cannot be predicted from context); "first-half loss" the
    predictions of tokens 2..half_len of the first half.
    """
    names = [f"blocks.{layer}.attn.hook_pattern" for layer in range(model.cfg.n_layers)]
    logits, cache = model.run_with_cache(tokens, names_filter=lambda name: name in names)
    log_probs = logits[:, :-1].log_softmax(-1).gather(-1, tokens[:, 1:, None])[..., 0]
    first_half = -log_probs[:, 1:half_len].mean().item()
    repeated = -log_probs[:, half_len + 1:].mean().item()
    patterns = [cache[name] for name in names]
    return {
        "repeated_loss": repeated,
        "first_half_loss": first_half,
        "induction_score": induction_scores(patterns, half_len)[-1].max().item(),
        "previous_token_score": previous_token_scores(patterns)[0].max().item(),
    }


# --------------------------------------------------------------------------- training loop


@dataclass
class ScratchRecipe:
    """Settings of the from-scratch run (random tokens, periodic repeats)."""

    d_vocab: int = 64
    seq_len: int = 48
    min_period: int = 8
    max_period: int = 24
    batch: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.01
    steps: int = 400
    eval_every: int = 20
    eval_half_len: int = 20
    seed: int = 0
    time_limit: float | None = None  # seconds; stop early if set
    stop_when_formed: bool = False  # stop once repeated loss < 0.1 * ln(d_vocab)
    # Matrices this small gain nothing from several threads, and on a busy machine the extra
    # threads stall each other (several times slower), so training uses one unless told otherwise.
    threads: int | None = 1


@dataclass
class History(Curves):
    steps: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    repeated_loss: list[float] = field(default_factory=list)
    first_half_loss: list[float] = field(default_factory=list)
    induction_score: list[float] = field(default_factory=list)
    previous_token_score: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)

    def record(self, step: int, seconds: float, train_loss: float, metrics: dict[str, float]) -> None:
        self.append(steps=step, seconds=round(seconds, 2), train_loss=train_loss, **metrics)

    def first_step(self, key: str, predicate) -> tuple[int, float] | None:
        """(step, seconds) of the first evaluation where ``predicate(value)`` holds."""
        index = self.first_index(key, predicate)
        return None if index is None else (self.steps[index], self.seconds[index])


@torch.enable_grad()  # the notebook turns gradients off globally for its analysis sections
def _train(model, next_batch, recipe_steps: int, lr: float, weight_decay: float, eval_tokens: Tensor,
           eval_half_len: int, eval_every: int, time_limit: float | None = None, progress: bool = True,
           stop=None, warmup_steps: int = 0) -> History:
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    # A linear warm-up (none by default, as the shipped model was trained), then the constant rate.
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / max(1, warmup_steps)))
    history = History()
    clock = Clock()
    model.eval()  # no dropout in these models; eval mode keeps the TransformerLens hooks usable
    bar = progress_bar(range(recipe_steps + 1), progress)
    running = float("nan")
    for step in bar:
        if step % eval_every == 0 or step == recipe_steps:
            metrics = evaluate(model, eval_tokens, eval_half_len)
            history.record(step, clock.seconds(), running, metrics)
            bar.set_postfix(repeated=f"{metrics['repeated_loss']:.2f}", induction=f"{metrics['induction_score']:.2f}")
            if stop is not None and stop(metrics):
                break
        if step == recipe_steps or clock.past(time_limit):
            break
        tokens = next_batch()
        logits = model(tokens)
        loss = F.cross_entropy(einops.rearrange(logits[:, :-1], "b s v -> (b s) v"),
                               einops.rearrange(tokens[:, 1:], "b s -> (b s)"))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        running = loss.item()
    return history


def train_from_scratch(recipe: ScratchRecipe | None = None, progress: bool = True):
    """Train the chapter's architecture on periodic random tokens. Returns (model, history).

    Token 0 is BOS; the random tokens are drawn from 1..d_vocab-1.
    """
    from circuitlab.models import native_model

    recipe = recipe or ScratchRecipe()
    model = native_model(architecture(recipe.d_vocab, recipe.seq_len, seed=recipe.seed))
    generator = torch.Generator().manual_seed(recipe.seed)
    eval_tokens = repeated_halves(256, recipe.eval_half_len, 1, recipe.d_vocab, 0,
                                  torch.Generator().manual_seed(10_000 + recipe.seed))

    def next_batch() -> Tensor:
        return periodic_random(recipe.batch, recipe.seq_len, 1, recipe.d_vocab, 0, recipe.min_period,
                               recipe.max_period, generator)

    threshold = 0.1 * torch.tensor(float(recipe.d_vocab)).log().item()
    stop = (lambda m: m["repeated_loss"] < threshold) if recipe.stop_when_formed else None
    with thread_policy.using(recipe.threads):
        history = _train(model, next_batch, recipe.steps, recipe.lr, recipe.weight_decay, eval_tokens,
                         recipe.eval_half_len, recipe.eval_every, recipe.time_limit, progress, stop)
    return model, history


@dataclass
class ShippedRecipe:
    """Settings of the shipped model: corpus text mixed with periodic random spans."""

    vocab_size: int = 1024
    seq_len: int = 64
    repeated_fraction: float = 0.75
    min_period: int = 5
    max_period: int = 40
    batch: int = 48
    lr: float = 3e-3
    weight_decay: float = 0.01
    steps: int = 1000
    eval_every: int = 100
    eval_half_len: int = 20
    seed: int = 0


def train_shipped(recipe: ShippedRecipe | None = None, progress: bool = True):
    """Train the shipped model. Returns (model, tokenizer, history)."""
    from circuitlab.data.corpus import train_bpe_tokenizer
    from circuitlab.models import native_model

    recipe = recipe or ShippedRecipe()
    tokenizer = train_bpe_tokenizer(vocab_size=recipe.vocab_size, name=f"circuitlab-bpe-{recipe.vocab_size}")
    d_vocab = len(tokenizer)
    bos = tokenizer.bos_token_id
    first_ordinary = max(tokenizer.bos_token_id, tokenizer.pad_token_id) + 1  # skip the special tokens
    stream = corpus_token_stream(tokenizer)
    model = native_model(architecture(d_vocab, recipe.seq_len, seed=recipe.seed), tokenizer=tokenizer)
    generator = torch.Generator().manual_seed(recipe.seed)
    eval_tokens = repeated_halves(256, recipe.eval_half_len, first_ordinary, d_vocab, bos,
                                  torch.Generator().manual_seed(10_000 + recipe.seed))

    def next_batch() -> Tensor:
        return mixed_batch(stream, recipe.batch, recipe.seq_len, first_ordinary, d_vocab, bos,
                           recipe.repeated_fraction, recipe.min_period, recipe.max_period, generator)

    history = _train(model, next_batch, recipe.steps, recipe.lr, recipe.weight_decay, eval_tokens,
                     recipe.eval_half_len, recipe.eval_every, None, progress)
    held_out = corpus_chunks_loss(model, stream, recipe.seq_len, bos)
    return model, tokenizer, history, {"corpus_tokens": int(len(stream)), "text_loss": held_out}


@torch.no_grad()
def corpus_chunks_loss(model, stream: Tensor, seq_len: int, bos: int, batch: int = 64, seed: int = 123) -> float:
    """Mean next-token loss on random corpus windows (the corpus is small, so this is training text)."""
    from circuitlab.data.repeated import corpus_chunks

    tokens = corpus_chunks(stream, batch, seq_len, bos, torch.Generator().manual_seed(seed))
    return model(tokens, return_type="loss").item()


def final_metrics(history) -> dict[str, float]:
    """The last measurement of each quantity a training run records in its checkpoint's metadata."""
    return {k: getattr(history, k)[-1] for k in ("repeated_loss", "first_half_loss", "induction_score",
                                                "previous_token_score")}


def main(argv: list[str] | None = None) -> None:
    from circuitlab.models import CHECKPOINT_DIR, save_checkpoint
    from circuitlab.data.corpus import corpus_fingerprint

    parser = argparse.ArgumentParser(description="Train the chapter 2 models.")
    parser.add_argument("--scratch", action="store_true", help="only run the from-scratch recipe and report")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--threads", type=thread_policy.argument, default=1, metavar="N|auto",
                        help="torch threads (default 1, as the shipped model was trained); 'auto': one per free core")
    parser.add_argument("--repeated-fraction", type=float, default=None)
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--seq-len", type=int, default=None)
    parser.add_argument("--out", default=str(CHECKPOINT_DIR / SHIPPED_NAME))
    args = parser.parse_args(argv)
    thread_policy.use_policy(args.threads)
    if args.scratch:
        recipe = ScratchRecipe(steps=args.steps or ScratchRecipe.steps)
        _, history = train_from_scratch(recipe)
        print(scratch_report(history, recipe))
        return
    overrides = {"steps": args.steps, "repeated_fraction": args.repeated_fraction, "batch": args.batch,
                 "seq_len": args.seq_len}
    recipe = ShippedRecipe(**{k: v for k, v in overrides.items() if v is not None})
    clock = Clock()
    model, tokenizer, history, extra = train_shipped(recipe)
    seconds = clock.seconds()
    final = final_metrics(history)
    metadata = {
        "description": "2-layer attention-only model (chapter 2), trained on the Python-docs corpus mixed "
                       "with periodic random spans.",
        "recipe": asdict(recipe),
        "command": "python -m circuitlab.ch2.training --threads 1",
        "corpus_fingerprint": corpus_fingerprint(),
        "training_seconds": round(seconds, 1),
        "final_metrics": final,
        **extra,
        "history": asdict(history),
    }
    save_checkpoint(model, args.out, tokenizer=tokenizer, metadata=metadata)
    print(f"saved to {args.out} after {seconds:.0f} s: {final}, text loss {extra['text_loss']:.3f}")


def scratch_report(history: History, recipe: ScratchRecipe) -> str:
    half_ln = 0.5 * history.repeated_loss[0]
    formed = history.first_step("repeated_loss", lambda v: v < half_ln)
    scored = history.first_step("induction_score", lambda v: v >= 0.5)
    return (f"initial repeated loss {history.repeated_loss[0]:.3f}; below half of it at (step, s) {formed}; "
            f"induction score >= 0.5 at {scored}; final repeated loss {history.repeated_loss[-1]:.3f}, "
            f"induction {history.induction_score[-1]:.3f}, {history.seconds[-1]:.1f} s")


if __name__ == "__main__":
    main()
