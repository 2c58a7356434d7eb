"""Grader for ch4.ablate_neurons_loss: the loss with some MLP neurons zeroed, recomputed here from the weights."""
from __future__ import annotations

from functools import lru_cache
from typing import Iterator

import torch
from torch import Tensor

from circuitlab.ch4.fixtures import all_pairs, grader_models, neuron_acts, on_input, shipped_data
from circuitlab.ch4.reference import fourier_basis, neuron_freq_fve
from circuitlab.grading.testing import expect_close, expect_tensor, fail, isolated, run_learner, seeded, submitted


def _loss(model, tokens: Tensor, labels: Tensor, neurons: Tensor, *, how: str = "zero",
          dtype: torch.dtype = torch.float64) -> Tensor:
    """The last-position loss with ``neurons`` zeroed (or mean-ablated, or the others zeroed), through the
    model's own forward pass, so that the float32 logits are the ones the learner's hook produces."""
    def edit(post, hook):
        if how == "zero":
            post[:, :, neurons] = 0.0
        elif how == "complement":
            post[:, :, ~neurons] = 0.0
        elif how == "mean":
            post[:, :, neurons] = post[:, :, neurons].mean(0, keepdim=True)
        return post

    with torch.no_grad():
        logits = model.run_with_hooks(tokens, fwd_hooks=[("blocks.0.mlp.hook_post", edit)])[:, -1]
    return -logits.to(dtype).log_softmax(-1).gather(-1, labels[:, None]).mean().double()


def _all_positions_loss(model, tokens: Tensor, labels: Tensor, neurons: Tensor) -> Tensor:
    """The mistake of averaging the loss over every position (the label repeated)."""
    def zero(post, hook):
        post[:, :, neurons] = 0.0
        return post

    with torch.no_grad():
        logits = model.run_with_hooks(tokens, fwd_hooks=[("blocks.0.mlp.hook_post", zero)]).double()
    log_probs = logits.log_softmax(-1)
    return -log_probs.gather(-1, labels[:, None, None].expand(-1, logits.shape[1], 1)).mean()


@lru_cache(maxsize=None)
def _shipped_cluster() -> Tensor:
    freqs, _ = neuron_freq_fve(neuron_acts(), fourier_basis(neuron_acts().shape[0]))
    return freqs == int(torch.bincount(freqs).argmax())  # the largest frequency cluster


@lru_cache(maxsize=None)
def _cases() -> tuple[tuple[str, object, Tensor, Tensor, Tensor], ...]:
    return tuple(_build_cases())


@lru_cache(maxsize=None)
def _expectations(index: int) -> tuple[Tensor, dict[str, Tensor]]:
    """The right loss and the mistakes' for case ``index``, computed once per process."""
    what, model, tokens, labels, neurons = _cases()[index]
    mistakes = {
        "You zeroed the other neurons (the complement of the mask); set to zero exactly the neurons where "
        "`neurons` is True.": _loss(model, tokens, labels, neurons, how="complement"),
        "You replaced the neurons by their mean over the batch; this exercise zero-ablates them (set to 0).":
            _loss(model, tokens, labels, neurons, how="mean"),
        "You averaged the loss over every position; only the last position ('=') predicts the answer.":
            _all_positions_loss(model, tokens, labels, neurons),
        "You computed the cross-entropy in float32; convert the logits to float64 first.":
            _loss(model, tokens, labels, neurons, dtype=torch.float32),
    }
    if bool(neurons.any()):
        mistakes["Your loss is the model's loss without any ablation: did your hook run, and did it write the "
                 "zeros into the activation it returns?"] = _loss(model, tokens, labels, neurons & False)
    return _loss(model, tokens, labels, neurons), mistakes


def _build_cases() -> Iterator[tuple[str, object, Tensor, Tensor, Tensor]]:
    (shipped_what, shipped), (small_what, small), (tiny_what, tiny) = grader_models()
    data = shipped_data()
    rows = data.train_indices[:1500]
    yield (f"{shipped_what}, its largest frequency cluster ablated, on 1500 training pairs", shipped,
           data.tokens[rows], data.labels[rows], _shipped_cluster())
    yield (f"{shipped_what}, no neuron ablated, on 1500 training pairs (a loss near 1e-7, where float64 matters)",
           shipped, data.tokens[rows], data.labels[rows], torch.zeros(shipped.cfg.d_mlp, dtype=torch.bool))
    tokens, labels = all_pairs(13)
    with seeded(0):
        half = torch.rand(40) < 0.5
    yield f"{small_what}, about half the neurons ablated, on every pair", small, tokens, labels, half
    tokens, labels = all_pairs(7)
    yield f"{tiny_what}, no neuron ablated (the plain loss)", tiny, tokens, labels, torch.zeros(7, dtype=torch.bool)
    yield f"{tiny_what}, every neuron ablated", tiny, tokens, labels, torch.ones(7, dtype=torch.bool)
    single = torch.zeros(7, dtype=torch.bool)
    single[3] = True
    yield f"{tiny_what}, neuron 3 alone ablated", tiny, tokens, labels, single


def test_matches_reference():
    """the float64 last-position loss with the chosen neurons set to zero (0-dim tensor; no hooks left behind)"""
    for index, (what, model, tokens, labels, neurons) in enumerate(_cases()):
        with isolated(model, what=what) as learner_model:
            out = run_learner(submitted(), learner_model, tokens, labels, neurons.clone(),
                              what=f"your ablate_neurons_loss on {what}")
        if isinstance(out, float):
            fail(f"Your loss on {what} is a Python float; return a 0-dim float64 tensor (no .item()).")
        expect_tensor(out, shape=(), dtype="float", what=f"the loss on {what}")
        right, mistakes = _expectations(index)
        expect_close(out.detach(), right, atol=1e-12, rtol=1e-5,
                     what=f"the loss on {what}", mistakes=on_input(what, mistakes),
                     hint="Zero blocks.0.mlp.hook_post[:, :, neurons], then the float64 cross-entropy of "
                          "logits[:, -1].")
