"""Train chapter 1's shipped tokenizer and tiny language model: ``python -m circuitlab.ch1.train_lm``.

- The tokenizer: byte-level BPE with 2048 tokens, trained on the offline Python-docs corpus.
- The model: a 2-layer GPT-2-style decoder (d_model 64) trained with the chapter's own
  reference code, then saved as a TransformerLens-native checkpoint (so it loads through
  :mod:`circuitlab.models` like every other shipped model) with the recipe and the
  measured validation loss in its metadata.

``--steps 5 --no-save`` runs the whole pipeline in seconds (used by the tests).
"""
from __future__ import annotations

import argparse
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from circuitlab import threads as thread_policy
from circuitlab.ch1.lm_data import CHECKPOINT_NAME, TOKENIZER_NAME, random_batch, token_splits, tokenizer_dir, windows
from circuitlab.ch1.reference import DemoTransformer, TransformerConfig, next_token_loss
from circuitlab.training_loop import Clock, progress_bar

__all__ = ["Recipe", "NOTEBOOK_CONFIG", "train_tokenizer", "unigram_entropy", "validation_loss", "cosine_schedule",
           "train", "main"]

VOCAB_SIZE = 2048
SHIPPED_THREADS = 1  # the shipped model's thread count (the float reduction order depends on it)
# The model trained in the notebook and shipped: small enough to learn something in a minute of CPU.
NOTEBOOK_CONFIG = TransformerConfig(d_model=64, n_layers=2, n_heads=4, d_head=16, d_mlp=256, d_vocab=VOCAB_SIZE,
                                    n_ctx=128)


@dataclass(frozen=True)
class Recipe:
    steps: int = 3000
    batch_size: int = 16
    seq_len: int = 64
    lr: float = 1e-2
    weight_decay: float = 0.1
    warmup_steps: int = 50
    seed: int = 0
    eval_windows: int = 128


def train_tokenizer(save: bool = True):
    """Train the chapter's BPE tokenizer on the corpus (deterministic) and save it where the chapter loads it."""
    from circuitlab.data.corpus import train_bpe_tokenizer

    tokenizer = train_bpe_tokenizer(vocab_size=VOCAB_SIZE, name=TOKENIZER_NAME)
    if save:
        tokenizer.save_pretrained(str(tokenizer_dir()))
    return tokenizer


def unigram_entropy(stream: torch.Tensor, reference_stream: torch.Tensor, d_vocab: int) -> float:
    """Cross-entropy (nats) on ``stream`` of the best context-free guess: token frequencies in ``reference_stream``.

    A model that ignores context entirely can do no better, so it is the bar a trained model must clear.
    """
    counts = torch.bincount(reference_stream, minlength=d_vocab).double() + 1.0  # add-one: unseen tokens
    log_probs = (counts / counts.sum()).log()
    return -log_probs[stream].mean().item()


@torch.no_grad()
def validation_loss(model: torch.nn.Module, validation_stream: torch.Tensor, seq_len: int, n_windows: int) -> float:
    """Mean next-token loss on the first ``n_windows`` validation windows (a fixed set)."""
    was_training = model.training
    model.eval()
    batch = windows(validation_stream, seq_len)[:n_windows]
    loss = next_token_loss(model(batch), batch).item()
    model.train(was_training)
    return loss


def cosine_schedule(steps: int, warmup_steps: int, floor: float = 0.1):
    """Learning-rate multiplier: linear warm-up, then cosine decay to ``floor``."""

    def multiplier(step: int) -> float:
        warm = min(1.0, (step + 1) / warmup_steps)
        progress = min(step, steps) / steps
        return warm * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))

    return multiplier


def train(recipe: Recipe, cfg: TransformerConfig = NOTEBOOK_CONFIG, progress: bool = True):
    """Train a fresh model with the reference code; returns (model, list of training losses)."""
    splits = token_splits()
    torch.manual_seed(recipe.seed)
    model = DemoTransformer(cfg)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine_schedule(recipe.steps, recipe.warmup_steps))
    generator = torch.Generator().manual_seed(recipe.seed)
    losses = []
    for _ in progress_bar(range(recipe.steps), progress):
        tokens = random_batch(splits.train, recipe.batch_size, recipe.seq_len, generator)
        loss = next_token_loss(model(tokens), tokens)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    return model.eval(), losses


def save_model(model: DemoTransformer, metadata: dict, directory: Path | None = None) -> Path:
    """Save as a TransformerLens-native checkpoint, and check that it reloads to the same logits."""
    from circuitlab.ch1.equivalence import tl_twin, to_tl_state_dict
    from circuitlab.ch1.lm_data import load_ch1_tokenizer
    from circuitlab.models import CHECKPOINT_DIR, load_checkpoint, save_checkpoint

    directory = directory or CHECKPOINT_DIR / CHECKPOINT_NAME
    twin = tl_twin(model.cfg)
    twin.load_state_dict(to_tl_state_dict(model), strict=True)
    save_checkpoint(twin, directory, tokenizer=load_ch1_tokenizer(), metadata=metadata)
    reloaded = load_checkpoint(directory)
    probe = windows(token_splits().validation, 32)[:4]
    gap = (reloaded(probe) - model(probe)).abs().max().item()
    if gap > 1e-4:
        raise RuntimeError(f"The saved checkpoint does not reproduce the trained model (max logit gap {gap:.2e}).")
    return directory


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokenizer-only", action="store_true", help="train and save the tokenizer, then stop")
    parser.add_argument("--retrain-tokenizer", action="store_true", help="retrain the tokenizer even if it exists")
    parser.add_argument("--steps", type=int, default=Recipe.steps)
    parser.add_argument("--threads", type=thread_policy.argument, default=SHIPPED_THREADS, metavar="N|auto",
                        help=f"torch threads (default {SHIPPED_THREADS}, as the shipped model was trained: its exact "
                             "weights depend on it); 'auto': one per free core")
    parser.add_argument("--no-save", action="store_true", help="train and report, but do not write the checkpoint")
    args = parser.parse_args(argv)
    threads = thread_policy.use_policy(args.threads).threads

    if args.tokenizer_only or args.retrain_tokenizer or not tokenizer_dir().exists():
        train_tokenizer(save=True)
        if args.tokenizer_only:
            print(f"tokenizer saved to {tokenizer_dir()}")
            return {}

    from circuitlab.data.corpus import corpus_fingerprint

    recipe = Recipe(steps=args.steps)
    splits = token_splits()
    clock = Clock()
    model, losses = train(recipe)
    seconds = clock.seconds()
    results = {
        "validation_loss": round(validation_loss(model, splits.validation, recipe.seq_len, recipe.eval_windows), 4),
        "unigram_validation_loss": round(unigram_entropy(splits.validation, splits.train, NOTEBOOK_CONFIG.d_vocab), 4),
        "final_training_loss_mean_of_last_50": round(sum(losses[-50:]) / len(losses[-50:]), 4),
        "train_tokens": int(splits.train.numel()),
        "validation_tokens": int(splits.validation.numel()),
        "training_seconds": round(seconds, 1),
        "threads": threads,
    }
    print(results)
    if not args.no_save:
        metadata = {
            "chapter": 1,
            "trained_by": "python -m circuitlab.ch1.train_lm" + (f" --steps {args.steps}" if args.steps != Recipe.steps else ""),
            "recipe": asdict(recipe) | {"optimizer": "AdamW", "schedule": "linear warm-up, cosine to 0.1x"},
            "model": asdict(NOTEBOOK_CONFIG),
            "corpus_fingerprint": corpus_fingerprint(),
            "results": results,
        }
        print(f"saved to {save_model(model, metadata)}")
    return results


if __name__ == "__main__":
    main()
