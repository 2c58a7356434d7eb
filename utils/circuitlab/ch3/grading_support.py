"""Shared pieces of the chapter 3 graders: the models, small batches, caches and the hook checks.

Every grader runs the learner's function on two models, the shipped IOI model and an
untrained random two-layer GPT-2, and compares it with the reference computed right
then; a solution tuned to one model (or one layer count) fails on the other.
"""
from __future__ import annotations

import functools
from functools import lru_cache
from typing import Any, Callable

import torch

from circuitlab.ch3 import ioi_setup, reference as ref
from circuitlab.data import ioi
from circuitlab.grading.testing import GradingFailure, run_learner

MODEL_NAMES = ("offline", "random")
HOOKS_LEFT_BEHIND = (
    "Your function left hooks attached to the model (hooks piling up): every later run, including the next "
    "patch, is still patched. Use model.run_with_hooks(..., fwd_hooks=[...]), which removes its hooks when it "
    "returns, or call model.reset_hooks() after each run."
)


def model_named(name: str):
    return ioi_setup.offline_model() if name == "offline" else ioi_setup.tiny_random_model()


@lru_cache(maxsize=None)
def batch_for(name: str, n: int = 4, template: int = 0, seed: int = 7, width: int | None = None) -> ioi_setup.IOIBatch:
    """``n`` prompts of one template (so every prompt has the same length), optionally cut to ``width`` tokens."""
    model = model_named(name)
    batch = ioi_setup.make_batch(model, ioi.ioi_prompts(n, templates=ioi.TRAIN_TEMPLATES[template:template + 1], seed=seed))
    if width is not None:
        # A shorter sequence keeps the position-by-position checks fast; the metric is read at the new last token.
        batch = ioi_setup.IOIBatch(
            batch.prompts, batch.tokens[:, :width], batch.corrupt_tokens[:, :width], batch.io_tokens,
            batch.s_tokens, torch.full_like(batch.end_pos, width - 1), batch.templates,
        )
    return batch


@lru_cache(maxsize=None)
def caches_for(name: str, **batch_kwargs: Any):
    """(clean_logits, clean_cache, corrupt_logits, corrupt_cache) for :func:`batch_for`."""
    model = model_named(name)
    batch = batch_for(name, **batch_kwargs)
    with torch.no_grad():
        clean_logits, clean_cache = model.run_with_cache(batch.tokens)
        corrupt_logits, corrupt_cache = model.run_with_cache(batch.corrupt_tokens)
    return clean_logits, clean_cache, corrupt_logits, corrupt_cache


def metric_for(name: str, **batch_kwargs: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    """The normalised logit difference for :func:`batch_for` (0 = corrupted run, 1 = clean run)."""
    batch = batch_for(name, **batch_kwargs)
    clean_logits, _, corrupt_logits, _ = caches_for(name, **batch_kwargs)
    args = (batch.end_pos, batch.io_tokens, batch.s_tokens)
    clean = ref.logit_diff(clean_logits, *args).item()
    corrupt = ref.logit_diff(corrupt_logits, *args).item()
    if abs(clean - corrupt) < 1e-6:  # an untrained model may not care; any non-degenerate scale will do
        corrupt = clean - 1.0
    return functools.partial(ref.normalised_logit_diff, end_pos=batch.end_pos, io_tokens=batch.io_tokens,
                             s_tokens=batch.s_tokens, clean_diff=clean, corrupt_diff=corrupt)


def run_patching(fn: Callable[..., Any], model, *args: Any, time_limit: float = 60.0, **kwargs: Any) -> Any:
    """Call a learner's patching function, then check that it left the model as it found it."""
    probe = args[0] if args and isinstance(args[0], torch.Tensor) else None
    try:
        with torch.no_grad():
            result = run_learner(fn, model, *args, time_limit=time_limit, **kwargs)
    finally:
        left_behind = _has_hooks(model, probe)
        model.reset_hooks()
    if left_behind:
        raise GradingFailure(HOOKS_LEFT_BEHIND)
    return result


def run_gradient_fn(fn: Callable[..., Any], model, *args: Any, time_limit: float = 60.0, **kwargs: Any) -> Any:
    """Like :func:`run_patching`, with gradients allowed (attribution patching needs them)."""
    try:
        result = run_learner(fn, model, *args, time_limit=time_limit, **kwargs)
    finally:
        left_behind = _has_hooks(model, args[0] if args else None)
        model.reset_hooks()
    if left_behind:
        raise GradingFailure(HOOKS_LEFT_BEHIND)
    return result


def _has_hooks(model, tokens: torch.Tensor | None) -> bool:
    """Whether running the model still goes through a hook someone forgot to remove."""
    for hook_point in model.hook_dict.values():
        if getattr(hook_point, "_forward_hooks", None) or getattr(hook_point, "fwd_hooks", None):
            return True
    return False


def to_float_tensor(value: Any, what: str) -> torch.Tensor:
    """Accept a tensor (or nested list / numpy array) of numbers from the learner."""
    if isinstance(value, torch.Tensor):
        return value.detach().float().cpu()
    try:
        return torch.as_tensor(value, dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError):
        raise GradingFailure(f"{what} should be a tensor of numbers, but it is {type(value).__name__}.") from None


WITH_SPACE_SINGLE = ("Mary", "John", "Alice", "Kate", "Tom", "Leo", "Ruth", "Gary")
WITHOUT_SPACE_SINGLE = ("Mary", "Bartholomew", "Sophie", "Quentin")


@lru_cache(maxsize=1)
def small_bpe_tokenizer():
    """A byte-level BPE tokenizer built by hand (no training), in which ' Mary' and 'Mary' are different tokens,
    some names are one token only after a space, others only at the start of a text, the rest several tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    from circuitlab.models import make_tokenizer

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {"<|bos|>": 0}
    for symbol in sorted(alphabet):
        vocab[symbol] = len(vocab)
    merges: list[tuple[str, str]] = []
    words = ["\u0120" + n for n in WITH_SPACE_SINGLE] + list(WITHOUT_SPACE_SINGLE)
    for word in words:
        # Merge left to right: "Ġ"+"M" -> "ĠM", "ĠM"+"a" -> "ĠMa", ... so the whole word becomes one token.
        for end in range(2, len(word) + 1):
            left, right, merged = word[: end - 1], word[end - 1], word[:end]
            if merged not in vocab:
                vocab[merged] = len(vocab)
                merges.append((left, right))
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.TemplateProcessing(single="<|bos|> $A", special_tokens=[("<|bos|>", 0)])
    return make_tokenizer(tokenizer, name="ioi-grading-bpe", bos="<|bos|>")


def expect_close_or_diagnose(actual: torch.Tensor, expected: torch.Tensor, mistakes: Callable[[], dict], **kwargs: Any) -> None:
    """``expect_close``, computing the (expensive) known-mistake outputs only when the answer is wrong."""
    from circuitlab.grading.testing import expect_close

    atol, rtol = kwargs.get("atol", 1e-5), kwargs.get("rtol", 1e-4)
    if not isinstance(actual, torch.Tensor):
        expect_close(actual, expected, **kwargs)
    if actual.shape == expected.shape and torch.allclose(actual.float(), expected.float(), atol=atol, rtol=rtol):
        return
    with torch.no_grad():
        known = mistakes()
    expect_close(actual, expected, mistakes=known, **kwargs)
