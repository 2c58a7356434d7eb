"""Cached inputs for the chapter-4 graders and notebook: the shipped model, its activations, small test cases."""
from __future__ import annotations

from functools import lru_cache

import math

import einops
import torch
from torch import Tensor

from circuitlab.ch4.training import SERIES_NAME
from circuitlab.data.modular import ModularAdditionData, modular_addition_data

__all__ = ["final_model", "early_model", "shipped_data", "all_pair_logits", "neuron_acts", "key_freqs",
           "synthetic_embedding", "trig_directions", "progress_cases", "mean_cross_entropy", "on_input",
           "grader_models", "all_pairs", "shipped_curves"]


def on_input(case: str, mistakes: dict[str, Tensor]) -> dict[str, Tensor]:
    """The named mistakes with the input they were recognised on in front, so the learner can reproduce it."""
    return {f"On {case}: {hint}": candidate for hint, candidate in mistakes.items()}


@lru_cache(maxsize=None)
def final_model():
    from circuitlab.models import load_shipped

    return load_shipped(f"{SERIES_NAME}/final")


@lru_cache(maxsize=None)
def early_model():
    """A checkpoint from before the model generalises (the second of the series: just memorised)."""
    from circuitlab.ch4.training import series_epochs
    from circuitlab.models import load_shipped

    return load_shipped(f"{SERIES_NAME}/epoch_{series_epochs()[1]:05d}")


@lru_cache(maxsize=None)
def shipped_data() -> ModularAdditionData:
    from circuitlab.models import CHECKPOINT_DIR, read_metadata

    recipe = read_metadata(CHECKPOINT_DIR / SERIES_NAME / "final")["recipe"]
    return modular_addition_data(recipe["p"], recipe["frac_train"], recipe["seed"])


@lru_cache(maxsize=None)
def all_pair_logits(which: str = "final") -> Tensor:
    """Last-position logits on every pair, (p*p, p), row a*p + b."""
    from circuitlab.ch4.model import last_position_logits

    model = final_model() if which == "final" else early_model()
    with torch.no_grad():
        return last_position_logits(model, shipped_data().tokens)[:, -1]


@lru_cache(maxsize=None)
def neuron_acts() -> Tensor:
    """MLP activations at the last position of the final model, as a grid (p, p, d_mlp) indexed [a, b]."""
    from circuitlab.models import act_name

    model = final_model()
    hook = act_name("post", 0)
    with torch.no_grad():
        _, cache = model.run_with_cache(shipped_data().tokens, names_filter=lambda name: name == hook)
    p = model.cfg.d_vocab_out
    return einops.rearrange(cache[hook][:, -1], "(a b) neuron -> a b neuron", a=p)


@lru_cache(maxsize=None)
def key_freqs() -> Tensor:
    from circuitlab.ch4.training import embedding_key_frequencies

    return embedding_key_frequencies(final_model())[0]


def synthetic_embedding(p: int, strengths: dict[int, float], d_model: int = 16, noise: float = 0.05,
                        seed: int = 0) -> Tensor:
    """An embedding (p, d_model) made of a few frequencies with the given strengths, plus a little noise."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.arange(p, dtype=torch.float32)
    W = noise * torch.randn(p, d_model, generator=generator)
    for k, strength in strengths.items():
        angle = 2 * torch.pi * k * x / p
        phase_mix = torch.randn(2, d_model, generator=generator)
        W += strength * (torch.cos(angle)[:, None] * phase_mix[0] + torch.sin(angle)[:, None] * phase_mix[1])
    return W


# ---------------------------------------------------------------------------- restricted/excluded loss cases


def trig_directions(p: int, freqs: Tensor, of: str = "a+b", normalise: bool = True,
                    which: tuple[str, ...] = ("cos", "sin")) -> Tensor:
    """cos/sin(2πk·x/p) over the p² pairs for x = a + b (or a alone), one row per direction; graders build
    the mistakes learners make from its options."""
    a = torch.arange(p).repeat_interleave(p).double()
    b = torch.arange(p).repeat(p).double()
    x = a + b if of == "a+b" else a
    angles = 2 * math.pi * torch.as_tensor(freqs).reshape(-1, 1).double() * x / p
    parts = [torch.cos(angles)] * ("cos" in which) + [torch.sin(angles)] * ("sin" in which)
    d = torch.cat(parts)
    return d / d.norm(dim=1, keepdim=True) if normalise else d


def progress_cases():
    """(what, logits (pairs, p), labels, freqs, train_indices) for the restricted/excluded-loss graders."""
    from circuitlab.grading.testing import seeded

    data = shipped_data()
    yield "the final model", all_pair_logits("final"), data.labels, key_freqs(), data.train_indices
    yield "a memorising checkpoint", all_pair_logits("early"), data.labels, key_freqs(), data.train_indices
    with seeded(0):
        q = 13
        a = torch.arange(q).repeat_interleave(q)
        b = torch.arange(q).repeat(q)
        c = torch.arange(q)
        angle = 2 * math.pi / q
        apb = (a + b)[:, None]
        logits = (3 * torch.cos(angle * 2 * (apb - c)) + 2 * torch.cos(angle * 5 * (apb - c))
                  + torch.randn(q * q, q))
        train = torch.randperm(q * q)[: q * q // 3]
    yield "random logits with a trig signal, p=13", logits.float(), (a + b) % q, torch.tensor([2, 5]), train
    # Confident logits: the restricted loss (keeping 2 and 5) and the excluded loss (removing only 3) are about
    # 1e-9, where only float64 and a relative tolerance tell right from wrong.
    confident = 22.5 * torch.cos(angle * 2 * (apb - c)) + 15 * torch.cos(angle * 5 * (apb - c))
    yield "confident trig logits, p=13 (losses near 1e-9)", confident.double(), (a + b) % q, torch.tensor([2, 5]), train
    yield "confident trig logits, p=13, frequency 3", confident.double(), (a + b) % q, torch.tensor([3]), train


def mean_cross_entropy(logits, labels):
    return -logits.double().log_softmax(-1).gather(-1, labels[:, None]).mean()


# ---------------------------------------------------------------------------- models that differ in every size


@lru_cache(maxsize=None)
def grader_models() -> tuple[tuple[str, object], ...]:
    """(what, model): the shipped model and two random ones that differ from it in p, d_model, n_heads and d_mlp
    (the last with d_mlp = p, so that swapped axes keep the shape, and one head, so that a bare squeeze drops it)."""
    from circuitlab.ch4.model import make_grokking_model

    small = make_grokking_model(p=13, seed=1, d_model=24, n_heads=3, d_mlp=40).eval()
    tiny = make_grokking_model(p=7, seed=2, d_model=10, n_heads=1, d_mlp=7).eval()
    with torch.no_grad():  # non-zero MLP biases, so that the biases' place in the computation matters
        for model, seed in ((small, 3), (tiny, 4)):
            generator = torch.Generator().manual_seed(seed)
            model.blocks[0].mlp.b_in.copy_(0.3 * torch.randn(model.cfg.d_mlp, generator=generator))
            model.blocks[0].mlp.b_out.copy_(0.3 * torch.randn(model.cfg.d_model, generator=generator))
            # One forward pass and one cached run first: the model adds its own hooks on the first ones, and a
            # grader must not mistake those for hooks the learner's code left behind.
            tokens = all_pairs(model.cfg.d_vocab_out)[0][:2]
            model(tokens)
            model.run_with_cache(tokens)
            model.run_with_hooks(tokens, fwd_hooks=[])
    final = final_model().eval()
    with torch.no_grad():
        final(all_pairs(final.cfg.d_vocab_out)[0][:2])
        final.run_with_cache(all_pairs(final.cfg.d_vocab_out)[0][:2])
    return (("the shipped model (p=113, d_model 128, 4 heads, d_mlp 512)", final),
            ("a random model (p=13, d_model 24, 3 heads, d_mlp 40)", small),
            ("a random model (p=7, d_model 10, 1 head, d_mlp 7)", tiny))


@lru_cache(maxsize=None)
def all_pairs(p: int) -> tuple[Tensor, Tensor]:
    """Tokens ``a b =`` for every pair (row a*p + b) and their labels."""
    a = torch.arange(p).repeat_interleave(p)
    b = torch.arange(p).repeat(p)
    return torch.stack([a, b, torch.full_like(a, p)], dim=1), (a + b) % p


@lru_cache(maxsize=None)
def shipped_curves() -> dict[str, list]:
    """The progress measures stored with the shipped series, every 10 epochs."""
    from circuitlab.models import CHECKPOINT_DIR, read_metadata

    return read_metadata(CHECKPOINT_DIR / SERIES_NAME / "final")["curves"]
