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
