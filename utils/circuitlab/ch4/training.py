"""Training the grokking model, the shipped checkpoint series, and the speed benchmark.

    python -m circuitlab.ch4.training            # retrain and rewrite the shipped checkpoint series (4 min on 2 cores)
    python -m circuitlab.ch4.training --bench    # time to grok (fast recipe) and the paper recipe's epoch cost

Two recipes share one loop (full batch AdamW, weight decay 1, betas (0.9, 0.98),
linear warmup over 10 steps, float64 cross-entropy on the last position):

- the fast recipe: lr 2e-2 and logits computed only at the last position
  (:func:`circuitlab.ch4.model.last_position_logits`); groks in a few hundred epochs;
- the paper's recipe: lr 1e-3 and the full three-position forward pass; groks after
  about ten thousand epochs, so here it is only timed per epoch.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from jaxtyping import Float, Int
from torch import Tensor

from circuitlab import threads as thread_policy
from circuitlab.ch4.model import full_logits, last_position_logits, make_grokking_model
from circuitlab.data.modular import ModularAdditionData, modular_addition_data
from circuitlab.training_loop import Clock, Curves, progress_bar

__all__ = ["bf16_is_fast", "bf16_logits_fn", "Recipe", "FAST", "PAPER", "last_position_loss", "weight_norm", "evaluate", "train", "benchmark",
           "SERIES_NAME", "series_epochs", "load_series", "train_shipped_series", "CLEANUP", "CLEANUP_EPOCHS",
           "CLEANUP_MAX_EPOCHS", "cleanup_looks_over"]

LogitsFn = Callable[[Any, Tensor], Tensor]
SERIES_NAME = "grokking_p113"


@dataclass(frozen=True)
class Recipe:
    lr: float = 2e-2
    weight_decay: float = 1.0
    betas: tuple[float, float] = (0.9, 0.98)
    warmup_steps: int = 10
    last_position_only: bool = True  # compute logits only where the loss reads them
    bf16: bool = False  # bfloat16 autocast for the matrix products (only helps on CPUs with AVX512-BF16/AMX)
    eps: float = 1e-8  # Adam's epsilon (torch's default)
    # After warmup: "constant", or "cosine"/"linear" decay to 0 at the run's last epoch. AdamW's decay per
    # step is lr x weight decay, so a decaying lr also slows the weight decay down.
    schedule: str = "constant"

    def logits_fn(self) -> LogitsFn:
        return last_position_logits if self.last_position_only else full_logits

    def lr_factor(self, step: int, n_steps: int) -> float:
        """The multiple of ``lr`` used at optimiser step ``step`` (from 0) of a run of ``n_steps``."""
        warmup = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps > 0 else 1.0
        progress = step / max(1, n_steps)
        decay = {"constant": 1.0, "linear": 1.0 - progress,
                 "cosine": 0.5 * (1.0 + math.cos(math.pi * progress))}[self.schedule]
        return warmup * decay


FAST = Recipe()
PAPER = Recipe(lr=1e-3, last_position_only=False)


def last_position_loss(logits: Float[Tensor, "batch seq d_vocab_out"], labels: Int[Tensor, "batch"]) -> Tensor:
    """Mean cross-entropy of the last position's prediction, in float64 (a 0-dim tensor)."""
    log_probs = logits[:, -1].to(torch.float64).log_softmax(dim=-1)
    return -log_probs.gather(-1, labels[:, None]).mean()


def weight_norm(model) -> float:
    """The L2 norm of all trainable parameters together."""
    return math.sqrt(sum(float(p.detach().pow(2).sum()) for p in model.parameters() if p.requires_grad))


@torch.no_grad()
def evaluate(model, tokens: Tensor, labels: Tensor, logits_fn: LogitsFn = last_position_logits) -> tuple[float, float]:
    """(loss, accuracy) on the given examples."""
    logits = logits_fn(model, tokens)
    loss = float(last_position_loss(logits, labels))
    accuracy = float((logits[:, -1].argmax(-1) == labels).float().mean())
    return loss, accuracy


@dataclass
class History(Curves):
    """Curves recorded during training, one entry per evaluation."""

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    weight_norm: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)  # wall time since the start of training


def bf16_is_fast() -> bool:
    """Whether this CPU multiplies bfloat16 matrices natively (AVX512-BF16 or AMX); elsewhere bf16 can be slower."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)


def bf16_logits_fn(logits_fn: LogitsFn = last_position_logits) -> LogitsFn:
    """``logits_fn`` with its matrix products in bfloat16 (weights stay float32; the loss stays float64)."""

    def run(model, tokens: Tensor) -> Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return logits_fn(model, tokens).float()

    return run


def _autocast(enabled: bool):
    return torch.autocast("cpu", dtype=torch.bfloat16) if enabled else contextlib.nullcontext()


def train(model, data: ModularAdditionData, n_epochs: int, recipe: Recipe = FAST, eval_every: int = 10,
          stop_at_test_accuracy: float | None = None, checkpoint_at: Callable[[int, History], bool] | None = None,
          on_checkpoint: Callable[[int, Any, History], None] | None = None, progress: bool = True,
          stop_when: Callable[[int, History], bool] | None = None) -> History:
    """Full-batch AdamW on the training pairs; returns the recorded curves.

    Evaluates every ``eval_every`` epochs (and at epoch 0). ``checkpoint_at(epoch, history)``
    decides, after each evaluation, whether ``on_checkpoint(epoch, model, history)`` is called;
    ``stop_when(epoch, history)``, asked after that, ends training early when it returns true
    (``n_epochs`` is then a cap).
    """
    logits_fn = recipe.logits_fn()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay, betas=recipe.betas,
                                  eps=recipe.eps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: recipe.lr_factor(step, n_epochs))
    train_tokens, train_labels = data.train_tokens, data.train_labels
    history = History()
    clock = Clock()

    def record(epoch: int) -> None:
        model.eval()
        with _autocast(recipe.bf16):
            train_loss, train_acc = evaluate(model, train_tokens, train_labels, logits_fn)
            test_loss, test_acc = evaluate(model, data.test_tokens, data.test_labels, logits_fn)
        model.train()
        history.append(epoch=epoch, train_loss=train_loss, test_loss=test_loss, train_accuracy=train_acc,
                       test_accuracy=test_acc, weight_norm=weight_norm(model), seconds=clock.seconds())
        if checkpoint_at is not None and on_checkpoint is not None and checkpoint_at(epoch, history):
            on_checkpoint(epoch, model, history)

    model.train()
    record(0)
    bar = progress_bar(range(1, n_epochs + 1), progress, mininterval=1.0)
    for epoch in bar:
        with _autocast(recipe.bf16):
            loss = last_position_loss(logits_fn(model, train_tokens), train_labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if epoch % eval_every == 0 or epoch == n_epochs:
            record(epoch)
            bar.set_postfix(train_loss=f"{history.train_loss[-1]:.2e}", test_acc=f"{history.test_accuracy[-1]:.3f}")
            if stop_at_test_accuracy is not None and history.test_accuracy[-1] >= stop_at_test_accuracy:
                break
            if stop_when is not None and stop_when(epoch, history):
                break
    model.eval()
    return history


# ---------------------------------------------------------------------------- progress measures


@torch.no_grad()
def all_pair_logits(model, data: ModularAdditionData) -> Float[Tensor, "pairs p"]:
    """The last-position logits on every pair, row a*p + b."""
    return last_position_logits(model, data.tokens)[:, -1]


@torch.no_grad()
def progress_measures(model, data: ModularAdditionData, freqs: Tensor) -> dict[str, float]:
    """Train/test loss and accuracy, restricted and excluded loss (for ``freqs``) and the weight norm."""
    from circuitlab.ch4.reference import excluded_loss, restricted_loss

    logits = all_pair_logits(model, data)
    correct = (logits.argmax(-1) == data.labels).float()
    log_probs = logits.double().log_softmax(-1).gather(-1, data.labels[:, None])[:, 0]
    return {
        "train_loss": float(-log_probs[data.train_indices].mean()),
        "test_loss": float(-log_probs[data.test_indices].mean()),
        "train_accuracy": float(correct[data.train_indices].mean()),
        "test_accuracy": float(correct[data.test_indices].mean()),
        "restricted_loss": float(restricted_loss(logits, data.labels, freqs)),
        "excluded_loss": float(excluded_loss(logits, data.labels, freqs, data.train_indices)),
        "weight_norm": weight_norm(model),
    }


def embedding_key_frequencies(model, fraction: float = 0.9) -> tuple[Tensor, float]:
    """Key frequencies of the number tokens' embedding, and the share of its squared norm they carry."""
    from circuitlab.ch4.reference import fft1d, fourier_basis, key_frequencies

    p = model.cfg.d_vocab_out
    W_E = model.W_E[:p].detach()
    basis = fourier_basis(p)
    freqs = key_frequencies(W_E, basis, fraction)
    power = fft1d(W_E, basis).pow(2).sum(-1)
    share = float((power[2 * freqs - 1] + power[2 * freqs]).sum() / power.sum())
    return freqs, share


# ---------------------------------------------------------------------------- the shipped series


def series_epochs(name: str = SERIES_NAME) -> list[int]:
    """Epochs of the shipped checkpoints, in training order (the last one is the final model)."""
    from circuitlab.models import CHECKPOINT_DIR, read_metadata

    return list(read_metadata(CHECKPOINT_DIR / name / "final")["series_epochs"])


def load_series(name: str = SERIES_NAME) -> list[tuple[int, Any]]:
    """(epoch, model) for every shipped checkpoint of the run, the final model last."""
    from circuitlab.models import load_shipped

    epochs = series_epochs(name)
    return [(epoch, load_shipped(f"{name}/epoch_{epoch:05d}" if epoch != epochs[-1] else f"{name}/final"))
            for epoch in epochs]


def _first_epoch(history: History, key: str, threshold: float) -> int | None:
    index = history.first_index(key, lambda value: value >= threshold)
    return None if index is None else history.epoch[index]


def _choose_series(history: History, n_between: int = 4) -> list[int]:
    """Epochs to ship: start, memorised, evenly spaced circuit formation, grokked (50% and 99%), final."""
    memorised = _first_epoch(history, "train_accuracy", 0.99)
    half = _first_epoch(history, "test_accuracy", 0.5)
    grokked = _first_epoch(history, "test_accuracy", 0.99)
    if memorised is None or half is None or grokked is None:
        raise RuntimeError("The run did not memorise and grok; no series to ship.")
    step = max(10, (half - memorised) // (n_between + 1) // 10 * 10)
    between = list(range(memorised + step, half, step))[:n_between]
    chosen = {0, memorised, *between, half, grokked, history.epoch[-1]}
    return sorted(chosen)


# The shipped run uses half the fast recipe's learning rate: it takes about twice as many epochs,
# but it has no loss spikes, so its phases are easy to see in the progress measures. It goes on long
# after grokking so that weight decay finishes the clean-up: at epoch 1000 eight frequencies carried
# 90% of the embedding, at epoch 3000 five carry 97%.
SERIES_RECIPE = Recipe(lr=1e-2)
SERIES_EPOCHS = 3000
# Chapter 4, section 8: the learner's model, stopped by the fast recipe at 99% test accuracy (epoch 270 on
# seed 0), trained on through clean-up with a fresh optimiser. CLEANUP_NOTES records what was measured.
CLEANUP = SERIES_RECIPE
# The continuation runs at least CLEANUP_EPOCHS and stops at the first multiple of 100 epochs after that where
# cleanup_looks_over, or at CLEANUP_MAX_EPOCHS: how long clean-up takes depends on the path the run took (the
# thread count alone changes it; one such run was still consolidating frequencies at epoch 1600).
CLEANUP_EPOCHS = 1600
CLEANUP_MAX_EPOCHS = 2800
SETTLED_EPOCHS = 200
SETTLED_TOLERANCE = 0.01  # the weight norm within 1% of its current value, and each Gini coefficient within 0.01


def cleanup_looks_over(epoch: int, history: History, sparsity_rows: Sequence[tuple[int, float, float, int]]) -> bool:
    """Whether a continuation may stop at ``epoch``: it has run CLEANUP_EPOCHS, ``epoch`` is a multiple of 100,
    the weight norm has stayed within SETTLED_TOLERANCE (relative) of its current value for SETTLED_EPOCHS, and
    the last two ``sparsity_rows`` (``(epoch, gini_embedding, gini_map, n_frequencies)``, 100 epochs apart) differ
    by less than SETTLED_TOLERANCE in each Gini coefficient."""
    if epoch < CLEANUP_EPOCHS or epoch % 100 or len(sparsity_rows) < 2:
        return False
    now = history.weight_norm[-1]
    recent = [w for e, w in zip(history.epoch, history.weight_norm) if e >= epoch - SETTLED_EPOCHS]
    ginis_level = all(abs(a - b) < SETTLED_TOLERANCE for a, b in zip(sparsity_rows[-1][1:3], sparsity_rows[-2][1:3]))
    return max(abs(w - now) for w in recent) < SETTLED_TOLERANCE * now and ginis_level
CLEANUP_NOTES = """Continuations of seed 0 from epoch 270 (1 thread; weights kept every 20 epochs, measured at the
key frequencies each run ends with; 'settled' = epochs from phase_boundaries' "cleaned" to the end):

- lr 2e-2 (the fast recipe), 1000 epochs: slingshots from epoch ~750 (train loss up to 15 at 930, test
  accuracy down to 0.11, weight norm 41 -> 58 -> 31); the same with Adam eps 1e-6 (spike at ~770). An earlier
  1,700-epoch continuation at 2e-2 spiked near epoch 1,570 (weight norm 31.5 -> 47.2).
- lr 2e-2 with a cosine decay to 0 over 1000 epochs: no spike, but the decay per step decays too, so the weight
  norm froze near 40 (from 32.5 at epoch 270) with test accuracy drifting down to 0.995: clean-up never ended.
- lr 5e-3, weight decay 4 (the fast recipe's decay per step), 1000 epochs: spike at ~930.
- lr 1e-2, weight decay 2 (same decay per step), 1000 epochs: no spike, but the weight norm still falling at
  the end (31.6 -> 31.1 over the last 40 epochs).
- lr 1e-2, weight decay 1 (SERIES_RECIPE, the shipped run's), 1600 epochs: no spike (largest train loss after
  epoch 400: 2e-3, at 410); the weight norm rises to 40.9 (epoch 570) as the fresh optimiser sharpens the logits,
  plateaus, falls from ~1000 and settles: within 1% of its final 29.95 from epoch 1610, 260 epochs before the
  end; restricted loss 5.4e-8 -> 6.4e-8 over those epochs (it stopped falling), excluded loss 9.3, Gini of W_E
  / W_L 0.711/0.805 -> 0.717/0.804 over the last 100 epochs. Cut at 1500 epochs it had settled for only 180.
  Cost: 106 ms of CPU per epoch on one thread of a loaded 2-core machine (the fast recipe's cost per epoch).
"""
# The shipped series was trained on 2 threads; the exact weights depend on the float reduction
# order, hence on the thread count, so a retrain uses the same count unless told otherwise.
SERIES_THREADS = 2


def train_shipped_series(out_dir: Path | None = None, recipe: Recipe = SERIES_RECIPE, seed: int = 0, p: int = 113,
                         frac_train: float = 0.3, n_epochs: int = SERIES_EPOCHS, threads: int | None = SERIES_THREADS) -> dict[str, Any]:
    """Train one run and save its checkpoint series (float16 on the way, float32 final) with the curves."""
    from circuitlab.models import CHECKPOINT_DIR, save_checkpoint

    if threads:
        torch.set_num_threads(threads)
    out_dir = Path(out_dir) if out_dir is not None else CHECKPOINT_DIR / SERIES_NAME
    data = modular_addition_data(p, frac_train, seed)
    model = make_grokking_model(p=p, seed=seed)
    snapshots: dict[int, dict[str, Tensor]] = {}

    def keep(epoch: int, model, history: History) -> None:
        snapshots[epoch] = {k: v.detach().clone() for k, v in model.state_dict().items()}

    history = train(model, data, n_epochs, recipe, eval_every=10, checkpoint_at=lambda e, h: True,
                    on_checkpoint=keep)
    freqs, share = embedding_key_frequencies(model)
    curves: dict[str, list[float]] = {"epoch": []}
    probe = make_grokking_model(p=p, seed=seed)
    for epoch, state in sorted(snapshots.items()):
        probe.load_state_dict(state)
        curves["epoch"].append(epoch)
        for key, value in progress_measures(probe.eval(), data, freqs).items():
            curves.setdefault(key, []).append(value)
    chosen = _choose_series(history)
    final = progress_measures(model, data, freqs)
    metadata = {
        "recipe": {**asdict(recipe), "seed": seed, "p": p, "frac_train": frac_train, "n_epochs": n_epochs,
                   "optimizer": "AdamW, full batch", "loss": "float64 cross-entropy on the last position",
                   "init": "normal(0, 1/fan_in), attention and unembedding biases frozen at zero",
                   "command": "python -m circuitlab.ch4.training"},
        "measured": {**final, "key_frequencies": freqs.tolist(), "key_frequency_share": share,
                     "epoch_memorised": _first_epoch(history, "train_accuracy", 0.99),
                     "epoch_test_accuracy_99": _first_epoch(history, "test_accuracy", 0.99),
                     "train_seconds": history.seconds[-1], "torch_threads": torch.get_num_threads()},
        "series_epochs": chosen,
        "curves": {k: [round(v, 6) if isinstance(v, float) else v for v in values] for k, values in curves.items()},
    }
    for epoch in chosen[:-1]:
        probe.load_state_dict(snapshots[epoch])
        save_checkpoint(probe, out_dir / f"epoch_{epoch:05d}", dtype=torch.float16,
                        metadata={"epoch": epoch, "run": SERIES_NAME, "dtype": "float16"})
    save_checkpoint(model, out_dir / "final", metadata={"epoch": history.epoch[-1], **metadata})
    return metadata


# ---------------------------------------------------------------------------- benchmark


def benchmark(threads: int | None = None, max_epochs: int = 1500, paper_epochs: int = 20, seed: int = 0,
              bf16: bool = False, progress: bool = False, p: int = 113, **sizes: int) -> dict[str, Any]:
    """Time from scratch to >= 99% test accuracy with the fast recipe, and the paper recipe's cost per epoch.

    Both are measured in this process, one after the other, with the same thread count: ``threads``,
    or without it the thread policy's choice (:mod:`circuitlab.threads`). The caller's count is
    restored afterwards.
    """
    choice = thread_policy.choose_threads(threads)
    with thread_policy.using(choice.threads):
        return {**_benchmark(max_epochs, paper_epochs, seed, bf16, progress, p, **sizes),
                "threads": torch.get_num_threads(), "threads_reason": choice.reason}


def _benchmark(max_epochs: int, paper_epochs: int, seed: int, bf16: bool, progress: bool, p: int,
               **sizes: int) -> dict[str, Any]:
    data = modular_addition_data(p, 0.3, seed)
    fast = Recipe(bf16=bf16)
    model = make_grokking_model(p=p, seed=seed, **sizes)
    clock = Clock()
    history = train(model, data, max_epochs, fast, eval_every=10, stop_at_test_accuracy=0.99, progress=progress)
    fast_seconds = clock.seconds()
    grokked = history.test_accuracy[-1] >= 0.99

    paper_model = make_grokking_model(p=p, seed=seed, **sizes)
    clock = Clock()
    train(paper_model, data, paper_epochs, PAPER, eval_every=paper_epochs, progress=False)
    paper_epoch_ms = 1000 * clock.seconds() / paper_epochs
    return {
        "fast_recipe": {**asdict(fast), "grokked": grokked, "epochs_to_99pct_test": history.epoch[-1] if grokked else None,
                        "seconds_to_99pct_test": fast_seconds if grokked else None,
                        "ms_per_epoch": 1000 * fast_seconds / max(history.epoch[-1], 1)},
        "paper_recipe": {**asdict(PAPER), "ms_per_epoch": paper_epoch_ms,
                         "extrapolated_minutes_for_10k_epochs": paper_epoch_ms * 10_000 / 60_000},
    }


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bench", action="store_true", help="measure instead of training the shipped series")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast (benchmark only)")
    parser.add_argument("--threads", type=thread_policy.argument, default=None, metavar="N|auto",
                        help="torch threads; 'auto': one per free core (default for --bench; a retrain of the "
                             f"shipped series defaults to the {SERIES_THREADS} it was trained with)")
    parser.add_argument("--paper-epochs", type=int, default=20, help="epochs of the paper recipe timed (--bench)")
    parser.add_argument("--max-epochs", type=int, default=1500, help="give up grokking after this many epochs (--bench)")
    parser.add_argument("--epochs", type=int, default=SERIES_EPOCHS)
    parser.add_argument("--lr", type=float, default=SERIES_RECIPE.lr)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.bench:
        print(json.dumps(benchmark(threads=args.threads, bf16=args.bf16, progress=True,
                                   paper_epochs=args.paper_epochs, max_epochs=args.max_epochs), indent=1))
        return
    recipe = Recipe(**{**asdict(SERIES_RECIPE), "lr": args.lr})
    threads = args.threads if args.threads is not None else SERIES_THREADS
    metadata = train_shipped_series(out_dir=args.out, recipe=recipe, n_epochs=args.epochs, threads=threads)
    print(json.dumps({k: metadata[k] for k in ("measured", "series_epochs")}, indent=1))


if __name__ == "__main__":
    _main()
