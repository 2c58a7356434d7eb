"""Shared pieces of the chapter 3 graders: the models, small batches, caches and the isolation checks.

Every grader runs the learner's function on three models and compares it with the reference:

- ``offline``: the shipped IOI model (4 layers x 4 heads, trained);
- ``random``: an untrained two-layer GPT-2 (3 heads of 16, d_model 48);
- ``wide``: an untrained three-layer model whose heads do not tile the residual stream
  (5 heads of d_head 6 in d_model 40), with a vocabulary larger than the tokenizer's, a
  LayerNorm eps of 1e-4 and non-zero biases everywhere.

A solution tuned to one model (its layer count, head count, head size or vocabulary) fails on
another. The learner always gets copies of the caches; a write into one, a weight changed or a
hook left behind is reported, and the expectations are computed on the grader's own copies.
"""
from __future__ import annotations

import copy
import functools
from functools import lru_cache
from typing import Any, Callable, Sequence

import torch

from circuitlab.ch3 import ioi_setup, reference as ref
from circuitlab.data import ioi
from circuitlab.grading.testing import GradingFailure, run_learner

MODEL_NAMES = ("offline", "random", "wide")
MODEL_LABELS = {
    "offline": "the IOI model (4 layers x 4 heads)",
    "random": "a random 2-layer GPT-2 (3 heads of d_head 16)",
    "wide": "a random 3-layer model (5 heads of d_head 6, d_model 40, vocabulary 240)",
}
MODEL_IDS = ["IOI model", "random GPT-2", "3-layer 5-head model"]
HOOKS_LEFT_BEHIND = (
    "Your function left hooks attached to the model (hooks piling up): every later run, including the next "
    "patch, is still patched. Use model.run_with_hooks(..., fwd_hooks=[...]), which removes its hooks when it "
    "returns, or call model.reset_hooks() after each run."
)


# --------------------------------------------------------------------------- models


def model_named(name: str):
    if name == "offline":
        return ioi_setup.offline_model()
    if name == "random":
        return ioi_setup.tiny_random_model()
    if name == "wide":
        return wide_random_model()
    raise KeyError(name)


@lru_cache(maxsize=1)
def wide_random_model():
    """An untrained 3-layer model with 5 heads of size 6 in a 40-wide residual stream (5 * 6 != 40),
    240 output tokens for a 231-token tokenizer, eps 1e-4, random biases and LayerNorm weights,
    then put in compatibility mode like the chapter's models (LayerNorms folded, writes centred)."""
    from circuitlab.models import load_tokenizer, native_model

    tokenizer = load_tokenizer(ioi_setup.OFFLINE_MODEL_DIR)
    config = dict(n_layers=3, d_model=40, n_heads=5, d_head=6, d_mlp=56, n_ctx=48, d_vocab=len(tokenizer) + 9,
                  act_fn="gelu_new", normalization_type="LN", positional_embedding_type="standard", eps=1e-4, seed=31)
    generator_state = torch.random.get_rng_state()  # building this model must not reseed the caller's work
    try:
        model = native_model(config, tokenizer=tokenizer)
        generator = torch.Generator().manual_seed(32)
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if parameter.ndim == 1:  # biases and LayerNorm weights: zero or one by default, so say nothing
                    parameter.add_(0.2 * torch.randn(parameter.shape, generator=generator))
    finally:
        torch.random.set_rng_state(generator_state)
    model.enable_compatibility_mode()
    return model.eval()


@lru_cache(maxsize=None)
def _pristine_parameters(name: str) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in model_named(name).state_dict().items()}


# --------------------------------------------------------------------------- batches


# Templates of different lengths: a batch of them is right-padded and its end positions differ.
MIXED_TEMPLATES = tuple(ioi.TRAIN_TEMPLATES[i] for i in (0, 1, 4, 8))


def _cut(batch: ioi_setup.IOIBatch, rows: slice) -> ioi_setup.IOIBatch:
    """Some rows of a batch, keeping its width (so caches and means of two parts line up)."""
    return ioi_setup.IOIBatch(batch.prompts[rows], batch.tokens[rows], batch.corrupt_tokens[rows],
                              batch.io_tokens[rows], batch.s_tokens[rows], batch.end_pos[rows], batch.templates[rows])


@lru_cache(maxsize=None)
def batch_for(name: str, n: int = 4, template: int = 0, seed: int = 7, width: int | None = None,
              mixed: bool = False, spare: int = 0) -> ioi_setup.IOIBatch:
    """``n`` prompts for model ``name``.

    One template (every prompt the same length) unless ``mixed``: then several templates of different
    lengths, right-padded, so ``end_pos`` differs between prompts. ``width`` cuts one-template prompts to
    that many tokens (the metric is then read at the new last token). ``spare`` extra prompts are drawn
    and dropped, so that :func:`spare_batch` can give prompts of the same width for means.
    """
    model = model_named(name)
    templates = MIXED_TEMPLATES if mixed else ioi.TRAIN_TEMPLATES[template:template + 1]
    batch = ioi_setup.make_batch(model, ioi.ioi_prompts(n + spare, templates=templates, seed=seed))
    if mixed:
        assert len(set(batch.end_pos[:n].tolist())) > 1, "a mixed batch needs prompts of different lengths"
    batch = _cut(batch, slice(0, n))
    if width is not None:
        # A shorter sequence keeps the position-by-position checks fast; the metric is read at the new last token.
        batch = ioi_setup.IOIBatch(
            batch.prompts, batch.tokens[:, :width], batch.corrupt_tokens[:, :width], batch.io_tokens,
            batch.s_tokens, torch.full_like(batch.end_pos, width - 1), batch.templates,
        )
    return batch


@lru_cache(maxsize=None)
def spare_batch(name: str, n: int, spare: int, **batch_kwargs: Any) -> ioi_setup.IOIBatch:
    """The ``spare`` prompts drawn with :func:`batch_for` (name, n, spare=spare): other prompts, same width."""
    model = model_named(name)
    templates = MIXED_TEMPLATES if batch_kwargs.get("mixed") else ioi.TRAIN_TEMPLATES[batch_kwargs.get("template", 0):][:1]
    batch = ioi_setup.make_batch(model, ioi.ioi_prompts(n + spare, templates=templates, seed=batch_kwargs.get("seed", 7)))
    return _cut(batch, slice(n, n + spare))


def batch_label(batch: ioi_setup.IOIBatch) -> str:
    lengths = sorted(set((batch.end_pos + 1).tolist()))
    shape = f"{len(batch)} prompt{'s' if len(batch) != 1 else ''} of {batch.tokens.shape[1]} tokens"
    if len(lengths) > 1:
        return f"{shape}, right-padded (lengths {', '.join(map(str, lengths))})"
    return shape


def where(name: str, batch: ioi_setup.IOIBatch) -> str:
    """'on <model>, <batch>': what a failure message says to let the learner reproduce it."""
    return f"on {MODEL_LABELS[name]}, {batch_label(batch)}"


@lru_cache(maxsize=None)
def caches_for(name: str, **batch_kwargs: Any):
    """(clean_logits, clean_cache, corrupt_logits, corrupt_cache) for :func:`batch_for`; the grader's own copies:
    hand the learner :func:`copy_cache` of them."""
    model = model_named(name)
    batch = batch_for(name, **batch_kwargs)
    with torch.no_grad():
        clean_logits, clean_cache = model.run_with_cache(batch.tokens)
        corrupt_logits, corrupt_cache = model.run_with_cache(batch.corrupt_tokens)
    return clean_logits, clean_cache, corrupt_logits, corrupt_cache


@lru_cache(maxsize=None)
def diffs_for(name: str, **batch_kwargs: Any) -> tuple[float, float]:
    """The clean and corrupted logit differences of :func:`batch_for` (kept apart when the model does not care)."""
    batch = batch_for(name, **batch_kwargs)
    clean_logits, _, corrupt_logits, _ = caches_for(name, **batch_kwargs)
    args = (batch.end_pos, batch.io_tokens, batch.s_tokens)
    clean = ref.logit_diff(clean_logits, *args).item()
    corrupt = ref.logit_diff(corrupt_logits, *args).item()
    if abs(clean - corrupt) < 0.05:
        # An untrained model barely tells the runs apart; dividing by a tiny difference would turn float32
        # rounding into visible errors, and any well-conditioned scale grades the same thing.
        corrupt = clean - 1.0
    return clean, corrupt


def metric_for(name: str, **batch_kwargs: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    """The normalised logit difference for :func:`batch_for` (0 = corrupted run, 1 = clean run)."""
    batch = batch_for(name, **batch_kwargs)
    clean, corrupt = diffs_for(name, **batch_kwargs)
    return functools.partial(ref.normalised_logit_diff, end_pos=batch.end_pos, io_tokens=batch.io_tokens,
                             s_tokens=batch.s_tokens, clean_diff=clean, corrupt_diff=corrupt)


# --------------------------------------------------------------------------- calling the learner


def copy_cache(cache):
    """A copy of an ActivationCache whose tensors the learner may do anything to."""
    copied = copy.copy(cache)
    copied.cache_dict = {key: value.clone() for key, value in cache.cache_dict.items()}
    return copied


def _changed_entry(copied, original) -> str | None:
    for key, value in original.cache_dict.items():
        now = copied.cache_dict.get(key)
        if now is None or now.shape != value.shape or not torch.equal(now, value):
            return key
    return None


def _changed_weight(name: str) -> str | None:
    state = model_named(name).state_dict()
    for key, value in _pristine_parameters(name).items():
        if not torch.equal(state[key], value):
            return key
    return None


def _restore(name: str) -> None:
    model_named(name).load_state_dict(_pristine_parameters(name))


def run_on_model(fn: Callable[..., Any], name: str, *args: Any, cache_names: Sequence[str] = (),
                 gradients: bool = False, time_limit: float = 60.0, context: str = "", **kwargs: Any) -> Any:
    """Call ``fn(model, *args)`` on model ``name`` and check that it left everything as it found it.

    ``context`` (", 1 prompt of 16 tokens") follows the model's name in messages about the call.

    Each ActivationCache in ``args`` is replaced by a copy (named by ``cache_names``, in order); a write
    into one is reported. So are hooks left on the model and changed weights (both are undone).
    The call runs with gradients off, as in the notebook (``torch.set_grad_enabled(False)`` at the top): a
    function that needs them (``gradients``: attribution patching) switches them on itself with
    ``torch.enable_grad()``. Gradient mode switched on for good, or gradients left in the parameters' .grad,
    are reported (and cleared).
    """
    model = model_named(name)
    model.reset_hooks()
    model.zero_grad(set_to_none=True)
    originals = [a for a in args if hasattr(a, "cache_dict")]
    copies = {id(a): copy_cache(a) for a in originals}
    learner_args = [copies.get(id(a), a) for a in args]
    what = f"your {getattr(fn, '__name__', 'function')} on {MODEL_LABELS[name]}{context}"
    grad_mode_left_on = False
    try:
        with torch.no_grad():
            result = run_learner(fn, model, *learner_args, what=what, time_limit=time_limit, **kwargs)
            grad_mode_left_on = torch.is_grad_enabled()
    finally:
        left_behind = _has_hooks(model)
        gradient_left = next((key for key, parameter in model.named_parameters()
                              if parameter.grad is not None and bool(parameter.grad.any())), None)
        model.reset_hooks()
        model.zero_grad(set_to_none=True)
        changed = _changed_weight(name)
        if changed is not None:
            _restore(name)
    if left_behind:
        raise GradingFailure(HOOKS_LEFT_BEHIND)
    if grad_mode_left_on:
        raise GradingFailure(
            "Your function switched gradients on and left them on (torch.set_grad_enabled(True) or "
            "torch.autograd.set_grad_enabled): the notebook turns them off on purpose, and every later cell would "
            "build an autograd graph. Use `with torch.enable_grad():` around the part that needs them.")
    if gradient_left is not None:
        raise GradingFailure(
            f"Your function left gradients in the model's parameters ({gradient_left}.grad is not zero): backward() "
            "fills every parameter's .grad. Take the gradients you need with torch.autograd.grad, or call "
            "model.zero_grad(set_to_none=True) before returning, so that nothing carries over into the next call.")
    if changed is not None:
        raise GradingFailure(
            f"Your function changed the model's weights ({changed}): patching edits activations in hooks, "
            "never the parameters, or every later run (and the rest of the notebook) uses a different model.")
    for i, original in enumerate(originals):
        entry = _changed_entry(copies[id(original)], original)
        if entry is not None:
            label = cache_names[i] if i < len(cache_names) else "a cache you were given"
            raise GradingFailure(
                f"Your function wrote into {label} (its entry {entry!r} changed). The cache is the record of a "
                "run that every later patch reads again: copy what you take from it (.clone()) before editing "
                "it, and edit the activation your hook receives instead.")
    return result


def run_patching(fn: Callable[..., Any], model_or_name, *args: Any, time_limit: float = 60.0, **kwargs: Any) -> Any:
    """Backwards-compatible entry point: :func:`run_on_model` without gradients."""
    name = model_or_name if isinstance(model_or_name, str) else _name_of(model_or_name)
    return run_on_model(fn, name, *args, time_limit=time_limit, **kwargs)


def run_gradient_fn(fn: Callable[..., Any], model_or_name, *args: Any, time_limit: float = 60.0, **kwargs: Any) -> Any:
    """Like :func:`run_patching`, with gradients allowed (attribution patching needs them)."""
    name = model_or_name if isinstance(model_or_name, str) else _name_of(model_or_name)
    return run_on_model(fn, name, *args, gradients=True, time_limit=time_limit, **kwargs)


def _name_of(model) -> str:
    for name in MODEL_NAMES:
        if model_named(name) is model:
            return name
    raise KeyError("not a grading model")


def _has_hooks(model) -> bool:
    """Whether running the model still goes through a hook someone forgot to remove."""
    for hook_point in model.hook_dict.values():
        for attribute in ("_forward_hooks", "fwd_hooks", "_backward_hooks", "bwd_hooks", "_forward_pre_hooks"):
            if getattr(hook_point, attribute, None):
                return True
    return False


# --------------------------------------------------------------------------- checking results


def expect_grid(value: Any, shape: Sequence[int], what: str) -> torch.Tensor:
    """The learner's result as the specs say: a plain floating-point torch.Tensor of ``shape`` (float32 or float64;
    a list, a NumPy array or an integer tensor fails). Returned detached, as float32 on the CPU."""
    import numpy as np

    from circuitlab.grading.testing import expect_tensor

    if isinstance(value, (list, tuple, np.ndarray)):
        raise GradingFailure(
            f"{what} should be a torch.Tensor, but it is a {type(value).__name__}: fill a tensor made with "
            "torch.zeros(...) (or turn your values into one with torch.tensor(...)).")
    expect_tensor(value, what=what)
    if not value.is_floating_point():
        raise GradingFailure(f"{what} has dtype {value.dtype}; the metric values are floats: make the grid with "
                             "torch.zeros(...), whose default dtype is float32.")
    expect_tensor(value, shape=tuple(shape), what=what)
    return value.detach().float().cpu()


# The second call of a function on the same model, on other prompts: one prompt of another template.
SECOND_CALL = dict(n=1, template=2, seed=11)


def second_call_label(first_right: bool = True) -> str:
    return ("on a second call on the same model, with other prompts" +
            (" (the first call was right)" if first_right else ""))


def expect_calls_independent(first: tuple[torch.Tensor, torch.Tensor, torch.Tensor], second: torch.Tensor,
                             expected_second: torch.Tensor, *, what: str, atol: float = 1e-4,
                             rtol: float = 1e-3) -> None:
    """After two calls on one model: the first result is unchanged, and the second is not the first one again.

    ``first`` is (the first call's result, a copy taken before the second call, its expected value).
    """
    first, first_snapshot, expected_first = first
    if not torch.equal(first, first_snapshot):
        raise GradingFailure(
            "The result of your first call changed when your function was called again: both calls fill the same "
            "tensor (one made outside the function, or a default argument). Make the result inside the function.")
    if second.shape == expected_first.shape and torch.allclose(second, expected_first.float(), atol=atol, rtol=rtol) \
            and not torch.allclose(second, expected_second.float(), atol=atol, rtol=rtol):
        raise GradingFailure(
            f"{what}: your second call returned the first call's values again, for other prompts. Something from "
            "the first call was kept and reused (a global or default-argument dict or list, a result cached by "
            "the model): compute everything from the arguments of each call.")


def grid_difference(actual: torch.Tensor, expected: torch.Tensor, axes: tuple[str, str] = ("layer", "head"),
                    atol: float = 1e-4, rtol: float = 1e-3) -> str:
    """Which rows/columns of a 2D grid differ, and the worst entry: a sentence for a failure message."""
    if actual.shape != expected.shape or actual.ndim != 2:
        return ""
    bad = (actual.float() - expected.float()).abs() > atol + rtol * expected.float().abs()
    if not bad.any():
        return ""
    rows = sorted(set(bad.nonzero()[:, 0].tolist()))
    columns = sorted(set(bad.nonzero()[:, 1].tolist()))
    worst = (actual.float() - expected.float()).abs().masked_fill(~bad, -1).argmax()
    r, c = divmod(int(worst), expected.shape[1])
    text = (f"{int(bad.sum())} of {bad.numel()} entries differ, in {axes[0]}s {rows} and {axes[1]}s {columns}; "
            f"the largest at ({axes[0]} {r}, {axes[1]} {c}): yours {actual[r, c].item():.4g}, "
            f"expected {expected[r, c].item():.4g}.")
    if rows == list(range(expected.shape[0])) and len(columns) == expected.shape[1]:
        return text
    if rows and rows[0] > 0:
        text += f" {axes[0].capitalize()}s before {rows[0]} are right."
    return text


WITH_SPACE_SINGLE = ("Mary", "John", "Alice", "Kate", "Tom", "Leo", "Ruth", "Gary", "Ann", "Anna", "Dan")
WITHOUT_SPACE_SINGLE = ("Mary", "Bartholomew", "Sophie", "Quentin", "Annabel")


@lru_cache(maxsize=1)
def small_bpe_tokenizer():
    """A byte-level BPE tokenizer built by hand (no training), in which ' Mary' and 'Mary' are different tokens,
    some names are one token only after a space, others only at the start of a text, the rest several tokens.
    It has no unknown token: every text encodes to byte-level pieces."""
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


def expect_close_or_diagnose(actual: torch.Tensor, expected: torch.Tensor, mistakes: Callable[[], dict],
                             grid_axes: tuple[str, str] | None = ("layer", "head"), **kwargs: Any) -> None:
    """``expect_close``, computing the (expensive) known-mistake outputs only when the answer is wrong; when no
    known mistake matches, the message says which rows and columns of the grid differ."""
    from circuitlab.grading.testing import expect_close

    atol, rtol = kwargs.get("atol", 1e-5), kwargs.get("rtol", 1e-4)
    if not isinstance(actual, torch.Tensor):
        expect_close(actual, expected, **kwargs)
    if actual.shape == expected.shape and torch.allclose(actual.float(), expected.float(), atol=atol, rtol=rtol):
        return
    with torch.no_grad():
        known = mistakes()
    if grid_axes is not None and actual.shape == expected.shape and actual.ndim == 2:
        detail = grid_difference(actual, expected, grid_axes, atol=atol, rtol=rtol)
        if detail:
            kwargs["hint"] = detail + (" " + kwargs["hint"] if kwargs.get("hint") else "")
    expect_close(actual, expected, mistakes=known, **kwargs)


# --------------------------------------------------------------------------- activation-patching graders


@lru_cache(maxsize=None)
def patching_expectation(reference_name: str, name: str, batch_items: tuple) -> torch.Tensor:
    """The reference's grid for an activation-patching exercise (corrupted run, clean activations patched in),
    computed once per model and batch on the grader's own caches."""
    kwargs = dict(batch_items)
    batch, (_, clean_cache, _, _) = batch_for(name, **kwargs), caches_for(name, **kwargs)
    with torch.no_grad():
        return getattr(ref, reference_name)(model_named(name), batch.corrupt_tokens, clean_cache, metric_for(name, **kwargs))


def run_patching_exercise(reference_name: str, name: str, kwargs: dict, *, columns: str, context: str = "",
                          first: tuple | None = None) -> dict[str, Any]:
    """Run the learner's activation-patching function on ``batch_for(name, **kwargs)``, check the grid's type and
    shape ((layer, head), (layer, position) or (layer, head, position): ``columns`` is "head", "position" or
    "head x position") and, for a second call, that
    it owes nothing to the first. Returns what each grader needs to name its mistakes."""
    from circuitlab.grading.testing import submitted

    model = model_named(name)
    batch = batch_for(name, **kwargs)
    _, clean_cache, _, corrupt_cache = caches_for(name, **kwargs)
    metric = metric_for(name, **kwargs)
    expected = patching_expectation(reference_name, name, tuple(kwargs.items()))
    out = run_on_model(submitted(), name, batch.corrupt_tokens, clean_cache, metric, cache_names=("clean_cache",),
                       context=f", {batch_label(batch)}{context}")
    seq = batch.tokens.shape[1]
    if columns == "head x position":
        shape: tuple[int, ...] = (model.cfg.n_layers, model.cfg.n_heads, seq)
        what = f"your (layer, head, position) grid {where(name, batch)}{context}"
        if isinstance(out, torch.Tensor) and tuple(out.shape) == (model.cfg.n_layers, seq, model.cfg.n_heads) \
                and seq != model.cfg.n_heads:
            raise GradingFailure(
                f"{what} has shape {tuple(out.shape)}, which is (layer, position, head), the order of TransformerLens's "
                f"get_act_patch_attn_head_out_by_pos; this exercise asks for (layer, head, position), {shape}.")
    else:
        shape = (model.cfg.n_layers, model.cfg.n_heads if columns == "head" else seq)
        what = f"your (layer, {columns}) grid {where(name, batch)}{context}"
    out = expect_grid(out, shape, what)
    if first is not None:
        expect_calls_independent(first, out, expected, what=what)
    return dict(model=model, batch=batch, clean_cache=clean_cache, corrupt_cache=corrupt_cache, metric=metric,
                expected=expected, out=out, what=what)


def path_patch_variant(model, tokens: torch.Tensor, clean_cache, corrupt_cache, metric, receivers, component: str, *,
                       sender_mask: torch.Tensor | None = None, receiver_mask: torch.Tensor | None = None,
                       freeze: bool = True, whole_layer: bool = False, freeze_second: bool = False,
                       rest_from_clean: bool = False) -> torch.Tensor:
    """Two-step path patching with switches for the mistakes the path-patching graders name.

    With the defaults it is path patching from each sender head to the receivers' ``component`` (q, k or v) at
    every position. ``sender_mask`` / ``receiver_mask``, bool (batch, seq, 1), restrict where the sender's corrupted
    output and the receivers' recorded input are written (position-specific patching). ``freeze=False`` lets the
    first run's other heads run freely; ``whole_layer`` writes every head of a receiver layer;
    ``freeze_second`` pins the heads again in the second run; ``rest_from_clean`` resets the receivers' other
    entries to the clean run before patching.
    """
    names = {f"blocks.{layer}.attn.hook_{component}" for layer, _ in receivers}
    z_names = {f"blocks.{layer}.attn.hook_z" for layer in range(model.cfg.n_layers)}

    def where_(mask, new, old):
        return new if mask is None else torch.where(mask, new, old)

    out = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    for layer in range(model.cfg.n_layers):
        for head in range(model.cfg.n_heads):
            seen = {}

            def sender(z, hook, layer=layer, head=head):
                new = clean_cache[hook.name].clone() if freeze else z
                if hook.layer() == layer:
                    new[:, :, head] = where_(sender_mask, corrupt_cache[hook.name][:, :, head], new[:, :, head])
                return new

            def record(act, hook):
                seen[hook.name] = act.detach().clone()

            model.run_with_hooks(tokens, fwd_hooks=[(lambda n: n in z_names, sender), (lambda n: n in names, record)])

            def patch(act, hook):
                if rest_from_clean:
                    act = clean_cache[hook.name].clone()
                for r_layer, r_head in receivers:
                    if r_layer == hook.layer():
                        if whole_layer:
                            act[:] = seen[hook.name]
                        else:
                            act[:, :, r_head] = where_(receiver_mask, seen[hook.name][:, :, r_head],
                                                       act[:, :, r_head])
                return act

            hooks = [(lambda n: n in names, patch)]
            if freeze_second:
                hooks.append((lambda n: n in z_names, lambda z, hook: clean_cache[hook.name].clone()))
            out[layer, head] = metric(model.run_with_hooks(tokens, fwd_hooks=hooks)).item()
    return out
