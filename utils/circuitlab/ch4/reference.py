"""Reference solutions for chapter 4 (grokking). The master's solution cells hold the same code."""
from __future__ import annotations

import math
from typing import Any, Callable

import einops
import torch
from jaxtyping import Float, Int
from torch import Tensor

# ---------------------------------------------------------------------------- data and loss


def make_dataset(p: int, frac_train: float, seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """All pairs ``a b =`` (row a*p + b), their labels, and a seeded train/test split.

    Returns tokens (p*p, 3) long, labels (p*p,) long, train_indices (int(frac_train*p*p),) long
    and test_indices (the rest) long.
    """
    ### BEGIN SOLUTION
    a = torch.arange(p).repeat_interleave(p)
    b = torch.arange(p).repeat(p)
    tokens = torch.stack([a, b, torch.full_like(a, p)], dim=1)
    labels = (a + b) % p
    order = torch.randperm(p * p, generator=torch.Generator().manual_seed(seed))
    n_train = int(frac_train * p * p)
    return tokens, labels, order[:n_train], order[n_train:]
    ### END SOLUTION


def last_position_loss(logits: Float[Tensor, "batch seq d_vocab_out"], labels: Int[Tensor, "batch"]) -> Tensor:
    """Mean cross-entropy of the prediction at the last position, computed in float64 (0-dim tensor)."""
    ### BEGIN SOLUTION
    log_probs = logits[:, -1].to(torch.float64).log_softmax(dim=-1)
    return -log_probs.gather(-1, labels[:, None]).mean()
    ### END SOLUTION


# ---------------------------------------------------------------------------- training loop


def train_model(model, tokens: Tensor, labels: Tensor, train_indices: Tensor, test_indices: Tensor,
                n_epochs: int, logits_fn: Callable[[Any, Tensor], Tensor], lr: float = 2e-2,
                weight_decay: float = 1.0, warmup_steps: int = 10, eval_every: int = 10,
                stop_at_test_accuracy: float | None = None) -> dict[str, list[float]]:
    """Full-batch AdamW on the training rows; returns the curves recorded every ``eval_every`` epochs."""
    ### BEGIN SOLUTION
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, betas=(0.9, 0.98))
    # Step s (counting from 0) uses lr * min(1, (s + 1) / warmup_steps).
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup_steps))
    history: dict[str, list[float]] = {"epoch": [], "train_loss": [], "test_loss": [], "test_accuracy": [],
                                       "weight_norm": []}
    for epoch in range(1, n_epochs + 1):
        loss = last_position_loss(logits_fn(model, tokens[train_indices]), labels[train_indices])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        if epoch % eval_every == 0:
            with torch.no_grad():
                train_loss = last_position_loss(logits_fn(model, tokens[train_indices]), labels[train_indices])
                test_logits = logits_fn(model, tokens[test_indices])
                test_loss = last_position_loss(test_logits, labels[test_indices])
                test_accuracy = (test_logits[:, -1].argmax(-1) == labels[test_indices]).float().mean()
                norm = torch.cat([p.detach().flatten() for p in model.parameters()]).norm()
            history["epoch"].append(epoch)
            history["train_loss"].append(train_loss.item())
            history["test_loss"].append(test_loss.item())
            history["test_accuracy"].append(test_accuracy.item())
            history["weight_norm"].append(norm.item())
            if stop_at_test_accuracy is not None and history["test_accuracy"][-1] >= stop_at_test_accuracy:
                break
    return history
    ### END SOLUTION


# ---------------------------------------------------------------------------- Fourier basis


def fourier_basis(p: int) -> Float[Tensor, "p p"]:
    """Orthonormal Fourier basis of functions on {0, ..., p-1} (p odd), one basis vector per row.

    Row 0 is the constant; rows 2k-1 and 2k are cos(2πkx/p) and sin(2πkx/p) for k = 1..(p-1)/2.
    """
    ### BEGIN SOLUTION
    x = torch.arange(p, dtype=torch.float32)
    rows = [torch.ones(p)]
    for k in range(1, p // 2 + 1):
        rows += [torch.cos(2 * math.pi * k * x / p), torch.sin(2 * math.pi * k * x / p)]
    basis = torch.stack(rows)
    return basis / basis.norm(dim=1, keepdim=True)
    ### END SOLUTION


def fft1d(x: Float[Tensor, "p ..."], basis: Float[Tensor, "p p"]) -> Float[Tensor, "p ..."]:
    """Coefficients of ``x`` in the Fourier basis, along its first axis (the input value)."""
    ### BEGIN SOLUTION
    return einops.einsum(basis, x, "component input, input ... -> component ...")
    ### END SOLUTION


def fourier_2d_basis_term(i: int, j: int, basis: Float[Tensor, "p p"]) -> Float[Tensor, "p p"]:
    """The 2D basis function f(a, b) = basis[i](a) * basis[j](b), as a (p, p) grid indexed [a, b]."""
    ### BEGIN SOLUTION
    return einops.einsum(basis[i], basis[j], "a, b -> a b")
    ### END SOLUTION


def fft2d(x: Float[Tensor, "p p ..."], basis: Float[Tensor, "p p"]) -> Float[Tensor, "p p ..."]:
    """Coefficients of ``x`` (first two axes: a and b) in the 2D Fourier basis; out[i, j] pairs basis[i] with basis[j]."""
    ### BEGIN SOLUTION
    # One axis at a time: a three-operand einsum would build a p^4 intermediate (torch contracts left to right).
    along_a = einops.einsum(basis, x, "i a, a b ... -> i b ...")
    return einops.einsum(basis, along_a, "j b, i b ... -> i j ...")
    ### END SOLUTION


# ---------------------------------------------------------------------------- key frequencies and neurons


def key_frequencies(W_E: Float[Tensor, "p d_model"], basis: Float[Tensor, "p p"], fraction: float = 0.9) -> Tensor:
    """The fewest frequencies (largest first) whose share of the embedding's squared norm reaches ``fraction``.

    A frequency k's share is the squared norm of its cos and sin coefficients (rows 2k-1, 2k
    of ``fft1d(W_E, basis)``) over the squared norm of all coefficients.
    """
    ### BEGIN SOLUTION
    coefficients = fft1d(W_E, basis).pow(2).sum(-1)  # [component]
    per_frequency = coefficients[1::2] + coefficients[2::2]  # [frequency-1]
    order = per_frequency.argsort(descending=True)
    shares = per_frequency[order].cumsum(0) / coefficients.sum()
    n_needed = int((shares < fraction).sum()) + 1
    return order[:n_needed] + 1
    ### END SOLUTION


def neuron_freq_fve(neuron_acts: Float[Tensor, "p p d_mlp"], basis: Float[Tensor, "p p"]) -> tuple[Tensor, Tensor]:
    """Each neuron's best frequency and the fraction of its variance that frequency explains.

    A frequency k explains the 2D Fourier terms built only from the constant, cos k and sin k
    (8 terms, the constant-constant term excluded); the variance is the sum of squared
    coefficients without the constant-constant term. Returns (freqs (d_mlp,) long, fve (d_mlp,)).
    """
    ### BEGIN SOLUTION
    p = basis.shape[0]
    power = fft2d(neuron_acts, basis).pow(2)  # [i j neuron]
    power[0, 0] = 0.0  # the mean is not variance
    explained = []
    for k in range(1, p // 2 + 1):
        rows = torch.tensor([0, 2 * k - 1, 2 * k])
        explained.append(power[rows][:, rows].sum((0, 1)))
    fve = torch.stack(explained) / power.sum((0, 1))  # [frequency-1 neuron]
    best, index = fve.max(0)
    return index + 1, best
    ### END SOLUTION


# ---------------------------------------------------------------------------- progress measures


def sum_frequency_directions(p: int, freqs: Tensor) -> Float[Tensor, "direction pairs"]:
    """Unit vectors cos(2πk(a+b)/p) and sin(2πk(a+b)/p) over the p² pairs (row a*p + b), for each k."""
    ### BEGIN SOLUTION
    a = torch.arange(p).repeat_interleave(p)
    b = torch.arange(p).repeat(p)
    angles = 2 * math.pi * torch.as_tensor(freqs).reshape(-1, 1).double() * (a + b).double() / p
    directions = torch.cat([torch.cos(angles), torch.sin(angles)])
    return directions / directions.norm(dim=1, keepdim=True)
    ### END SOLUTION


def restricted_loss(logits: Float[Tensor, "pairs p"], labels: Int[Tensor, "pairs"], freqs: Tensor) -> Tensor:
    """Loss on all pairs after keeping only each output's mean and its cos/sin(w_k(a+b)) components, k in ``freqs``."""
    ### BEGIN SOLUTION
    p = logits.shape[-1]
    logits = logits.double()
    directions = sum_frequency_directions(p, freqs)
    kept = logits.mean(0, keepdim=True) + directions.T @ (directions @ logits)
    return -kept.log_softmax(-1).gather(-1, labels[:, None]).mean()
    ### END SOLUTION


def excluded_loss(logits: Float[Tensor, "pairs p"], labels: Int[Tensor, "pairs"], freqs: Tensor,
                  train_indices: Tensor) -> Tensor:
    """Training loss after removing the cos/sin(w_k(a+b)) components of the logits, k in ``freqs``."""
    ### BEGIN SOLUTION
    p = logits.shape[-1]
    logits = logits.double()
    directions = sum_frequency_directions(p, freqs)
    remaining = logits - directions.T @ (directions @ logits)
    train_logits, train_labels = remaining[train_indices], labels[train_indices]
    return -train_logits.log_softmax(-1).gather(-1, train_labels[:, None]).mean()
    ### END SOLUTION


# ---------------------------------------------------------------------------- the neuron-logit map and sparsity


def neuron_logit_fourier(model, basis: Float[Tensor, "p p"]) -> Float[Tensor, "p d_mlp"]:
    """The neuron-logit map W_L = W_out W_U in the Fourier basis over the answers c.

    ``out[i, n] = Σ_c basis[i, c] · W_L[n, c]`` with ``W_L = model.W_out[0] @ model.W_U`` (d_mlp, p):
    column n says which waves in c neuron n writes to the logits.
    """
    ### BEGIN SOLUTION
    W_L = model.W_out[0] @ model.W_U  # [neuron c]
    return einops.einsum(basis, W_L, "component c, neuron c -> component neuron").detach()
    ### END SOLUTION


def gini(x: Float[Tensor, "... n"]) -> Float[Tensor, "..."]:
    """Gini coefficient of each row of a non-negative tensor, along its last axis.

    ``G = Σ_i Σ_j |x_i - x_j| / (2 n Σ_i x_i)``: 0 when all entries are equal (or all zero),
    ``(n - 1) / n`` when one entry holds everything. Returns shape ``x.shape[:-1]``.
    """
    ### BEGIN SOLUTION
    n = x.shape[-1]
    ordered = x.double().sort(dim=-1).values  # ascending
    # With x sorted ascending, Σ_i Σ_j |x_i - x_j| = 2 Σ_i (2i - n - 1) x_(i) for i = 1..n.
    weights = 2 * torch.arange(1, n + 1, dtype=torch.float64) - n - 1
    total = ordered.sum(-1)
    spread = (weights * ordered).sum(-1)
    return torch.where(total > 0, spread / (n * total.clamp(min=1e-300)), torch.zeros_like(total))
    ### END SOLUTION


# ---------------------------------------------------------------------------- neurons as trig terms, ablations


def trig_regression_fve(neuron_acts: Float[Tensor, "p p d_mlp"], freqs: Int[Tensor, "d_mlp"]) -> Float[Tensor, "d_mlp"]:
    """Fraction of each neuron's variance a least-squares fit on degree-2 trig terms of its frequency explains.

    For neuron n with w = 2π·freqs[n]/p the features over the (a, b) grid are 1, cos wa, sin wa,
    cos wb, sin wb and the four products cos wa cos wb, cos wa sin wb, sin wa cos wb, sin wa sin wb.
    Returns 1 - (residual sum of squares) / (sum of squares about the neuron's mean), per neuron.
    """
    ### BEGIN SOLUTION
    p, _, d_mlp = neuron_acts.shape
    x = torch.arange(p, dtype=torch.float64)
    fve = torch.zeros(d_mlp, dtype=torch.float64)
    for n in range(d_mlp):
        angle = 2 * math.pi * int(freqs[n]) * x / p
        waves = [torch.ones(p, dtype=torch.float64), torch.cos(angle), torch.sin(angle)]
        # Every product of (1, cos, sin) in a with (1, cos, sin) in b: the 9 features, flattened over the grid.
        features = torch.stack([(u[:, None] * v[None, :]).flatten() for u in waves for v in waves], dim=1)
        y = neuron_acts[:, :, n].double().flatten()
        solution = torch.linalg.lstsq(features, y[:, None]).solution
        residual = y - (features @ solution)[:, 0]
        variance = (y - y.mean()).pow(2).sum()
        fve[n] = 1 - residual.pow(2).sum() / variance if variance > 0 else 0.0
    return fve
    ### END SOLUTION


def ablate_neurons_loss(model, tokens: Int[Tensor, "batch 3"], labels: Int[Tensor, "batch"],
                        neurons: Tensor) -> Tensor:
    """The last-position float64 loss with the MLP neurons where ``neurons`` (bool, d_mlp) is True set to zero."""
    ### BEGIN SOLUTION
    def zero_neurons(post: Tensor, hook) -> Tensor:
        post[:, :, neurons] = 0.0
        return post

    with torch.no_grad():
        logits = model.run_with_hooks(tokens, fwd_hooks=[("blocks.0.mlp.hook_post", zero_neurons)])
    log_probs = logits[:, -1].double().log_softmax(-1)
    return -log_probs.gather(-1, labels[:, None]).mean()
    ### END SOLUTION


# ---------------------------------------------------------------------------- attention


def attention_to_a(model, tokens: Int[Tensor, "pairs 3"]) -> Float[Tensor, "p p n_heads"]:
    """Each head's attention from the last position ('=') to position 0 (the token a), as a grid [a, b, head].

    ``tokens`` are all p² pairs in row order a·p + b.
    """
    ### BEGIN SOLUTION
    p = model.cfg.d_vocab_out
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter="blocks.0.attn.hook_pattern")
    pattern = cache["blocks.0.attn.hook_pattern"]  # [pair head query key]
    return einops.rearrange(pattern[:, :, -1, 0], "(a b) head -> a b head", a=p)
    ### END SOLUTION


# ---------------------------------------------------------------------------- phases


def phase_boundaries(curves: dict[str, list], restricted_threshold: float = 0.1,
                     norm_tolerance: float = 0.01) -> dict[str, int | None]:
    """The epochs that end each phase, read from the progress measures (None for a phase the run never ends).

    ``curves`` holds equal-length lists "epoch", "train_accuracy", "test_accuracy", "restricted_loss"
    and "weight_norm". Returns {"memorised", "formed", "grokked", "cleaned"}: the first epoch with train
    accuracy >= 0.99; the first with restricted loss < ``restricted_threshold``; the first with test
    accuracy >= 0.99; and the first epoch at or after "grokked" from which on every weight norm stays
    within ``norm_tolerance`` (relative) of the last one.
    """
    ### BEGIN SOLUTION
    epochs = curves["epoch"]

    def first(key: str, holds) -> int | None:
        return next((int(e) for e, v in zip(epochs, curves[key]) if holds(v)), None)

    memorised = first("train_accuracy", lambda v: v >= 0.99)
    formed = first("restricted_loss", lambda v: v < restricted_threshold)
    grokked = first("test_accuracy", lambda v: v >= 0.99)
    cleaned = None
    if grokked is not None:
        last = curves["weight_norm"][-1]
        # Walk back from the end while the norm stays within the tolerance of its last value.
        for e, norm in reversed(list(zip(epochs, curves["weight_norm"]))):
            if e < grokked or abs(norm - last) > norm_tolerance * abs(last):
                break
            cleaned = int(e)
    return {"memorised": memorised, "formed": formed, "grokked": grokked, "cleaned": cleaned}
    ### END SOLUTION
