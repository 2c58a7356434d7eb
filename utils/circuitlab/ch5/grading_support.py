"""Helpers shared by chapter 5's graders: building learner models with known weights,
comparing frequencies measured on random batches with what they should be, naming the
input a check failed on, and comparing gradients with the reference's."""
from __future__ import annotations

import contextlib
import math
from typing import Any, Iterator, Mapping, Sequence

import torch
from torch import Tensor, nn

from circuitlab.grading.testing import GradingFailure, expect_close, expect_tensor, fail, run_learner


def learner_model_with(cls: Any, args: tuple, weights: Mapping[str, Tensor], what: str) -> nn.Module:
    """Construct the learner's class and load ``weights`` into it (names fixed by the given __init__)."""
    model = run_learner(cls, *args, what=f"constructing your {what}")
    if not isinstance(model, nn.Module):
        fail(f"Your {what} should be an nn.Module subclass; constructing it gave {type(model).__name__}.")
    try:
        model.load_state_dict({k: v.clone() for k, v in weights.items()}, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise GradingFailure(
            f"Your {what} does not have the parameters the given __init__ creates ({first}). Keep the __init__ "
            "from the stub and write only the forward pass."
        ) from None
    return model


def frequency_band(p: Tensor, n: int, sigmas: float = 6.0) -> Tensor:
    """Half-width of the band a binomial frequency stays inside (``sigmas`` standard errors, plus slack)."""
    return sigmas * torch.sqrt(p * (1 - p) / n) + 2.0 / n


def close_frequency(measured: Tensor, expected: Tensor, n: int) -> bool:
    return bool(((measured - expected).abs() <= frequency_band(expected, n)).all())


def correlation(a: Tensor, b: Tensor) -> float:
    a, b = a.float().flatten(), b.float().flatten()
    a, b = a - a.mean(), b - b.mean()
    denominator = math.sqrt(float((a * a).sum()) * float((b * b).sum()))
    return float((a * b).sum()) / denominator if denominator > 0 else 0.0


# --------------------------------------------------------------------------- naming the failing case


@contextlib.contextmanager
def on_case(case: str) -> Iterator[None]:
    """Prefix every failure inside the block with the input it happened on, so the learner can reproduce it."""
    try:
        yield
    except GradingFailure as exc:
        message = str(exc)
        if message.startswith("On "):
            raise
        raise type(exc)(f"On {case}: {message}") from None


def where_differs(actual: Tensor, expected: Tensor, axes: Sequence[str], *, atol: float = 1e-5,
                  rtol: float = 1e-4) -> str:
    """Which indices of each named axis hold the differing entries, and by how much at most."""
    actual = actual.detach().to(expected.dtype)
    bad = (actual - expected).abs() > atol + rtol * expected.abs()
    if not bool(bad.any()):
        return "no entry differs"
    parts = []
    for dim, name in enumerate(axes):
        others = [d for d in range(bad.ndim) if d != dim]
        hit = bad.any(dim=others) if others else bad
        indices = torch.nonzero(hit).flatten().tolist()
        if len(indices) == bad.shape[dim] and bad.shape[dim] > 1:
            parts.append(f"every {name}")
        else:
            shown = ", ".join(str(i) for i in indices[:8]) + (", ..." if len(indices) > 8 else "")
            parts.append(f"{name} {shown}")
    largest = float((actual - expected).abs().max())
    return (f"{int(bad.sum())} of {bad.numel()} entries differ, at {'; '.join(parts)} "
            f"(largest difference {largest:.3g})")


def expect_matches(actual: Any, expected: Tensor, axes: Sequence[str], *, what: str, atol: float = 1e-5,
                   rtol: float = 1e-4, mistakes: Mapping[str, Any] | None = None, hint: str | None = None) -> None:
    """expect_close, then (if nothing named matched) say along which axes the values differ."""
    try:
        expect_close(actual, expected, atol=atol, rtol=rtol, what=what, mistakes=mistakes, hint=hint)
    except GradingFailure as exc:
        message = str(exc)
        if (isinstance(actual, Tensor) and tuple(actual.shape) == tuple(expected.shape)
                and "differs from the expected values" in message):
            raise GradingFailure(f"{message} Where: {where_differs(actual, expected, axes, atol=atol, rtol=rtol)}.") \
                from None
        raise


# --------------------------------------------------------------------------- types and gradients


def expect_plain_tensor(value: Any, what: str) -> Tensor:
    """A torch.Tensor proper: a Python number, a NumPy value or a tensor subclass (Parameter) is refused."""
    if isinstance(value, (float, int)) or type(value).__module__.startswith("numpy"):
        raise GradingFailure(f"{what} is a {type(value).__name__}; return a torch.Tensor (the training loop "
                             "backpropagates through it, so do not call .item() or float()).")
    if isinstance(value, Tensor) and type(value) is not Tensor:
        raise GradingFailure(f"{what} is a {type(value).__name__}; return a plain torch.Tensor.")
    return expect_tensor(value, what=what)


def gradients(output: Tensor, inputs: Mapping[str, Tensor], upstream: Tensor | None = None) -> dict[str, Tensor | None]:
    """d(sum(output * upstream)) / d input, for each named input (None where it gets no gradient)."""
    upstream = torch.ones_like(output) if upstream is None else upstream
    named = [(name, tensor) for name, tensor in inputs.items()]
    grads = torch.autograd.grad((output * upstream).sum(), [t for _, t in named], allow_unused=True)
    return {name: (None if g is None else g.detach()) for (name, _), g in zip(named, grads)}


def expect_gradients_close(got: Mapping[str, Tensor | None], want: Mapping[str, Tensor | None], *, what: str,
                           atol: float = 1e-5, rtol: float = 1e-4, hint: str | None = None) -> None:
    """Each named gradient equals the reference's; a missing one is named as such."""
    for name, expected in want.items():
        actual = got.get(name)
        if expected is None:
            continue
        if actual is None:
            fail(f"{name} receives no gradient through {what}: something in the computation is detached "
                 "(.detach(), .data, .item(), torch.no_grad() or a new tensor built from values).")
        if not torch.allclose(actual, expected, atol=atol, rtol=rtol):
            ratio = ""
            scale = float((actual * expected).sum() / (expected * expected).sum().clamp_min(1e-30))
            if torch.allclose(actual, scale * expected, atol=atol, rtol=rtol) and abs(scale) > 1e-6:
                ratio = f" Yours is {scale:.4g} times the expected gradient everywhere."
            axes = [f"axis {d}" for d in range(expected.ndim)]
            where = where_differs(actual, expected, axes, atol=atol, rtol=rtol) if expected.ndim else ""
            fail(f"The gradient of {what} with respect to {name} differs from the reference's ({where}).{ratio}"
                 + (f" {hint}" if hint else ""))


# --------------------------------------------------------------------------- statistics of random batches
# Every statistical check runs on a fixed seed with a sample large enough that a correct answer
# stays many standard errors inside the band (the chance of a false failure is below 1e-5 per check),
# while the mistakes it targets land far outside it.

KS_LAMBDA = 2.5  # sqrt(n) * D above this has probability about 7e-6 for a true uniform sample


def ks_uniform(values: Tensor) -> float:
    """Kolmogorov-Smirnov distance between the sample's distribution and uniform on [0, 1)."""
    v = values.detach().double().flatten().sort().values
    n = v.numel()
    if n == 0:
        return 0.0
    ranks = torch.arange(1, n + 1, dtype=torch.float64) / n
    return float(torch.maximum((ranks - v).abs(), (v - (ranks - 1.0 / n)).abs()).max())


def not_uniform(values: Tensor) -> bool:
    n = values.numel()
    return n > 0 and ks_uniform(values) * math.sqrt(n) > KS_LAMBDA


def looks_gaussian(values: Tensor) -> bool:
    """True when the values follow a normal (or half-normal, for |randn|) law better than any uniform one."""
    v = values.detach().double().flatten().sort().values
    n = v.numel()
    if n < 200:
        return False
    ranks = (torch.arange(1, n + 1, dtype=torch.float64) - 0.5) / n
    normal = torch.distributions.Normal(0.0, 1.0)
    std = float(v.std())
    if std <= 0:
        return False
    as_normal = normal.cdf((v - v.mean()) / std)
    if float((as_normal - ranks).abs().max()) < 0.03:
        return True
    if float(v.min()) >= 0:
        scale = float(v.pow(2).mean().sqrt())
        as_half_normal = 2 * normal.cdf(v / scale) - 1
        return float((as_half_normal - ranks).abs().max()) < 0.03
    return False


def correlation_matrix(columns: Tensor) -> Tensor:
    """Pearson correlation between the columns of a (samples, n) tensor; constant columns give 0."""
    x = columns.double()
    x = x - x.mean(0)
    norms = x.norm(dim=0)
    safe = torch.where(norms > 0, norms, torch.ones_like(norms))
    corr = (x.T @ x) / (safe[:, None] * safe[None, :])
    return torch.where((norms[:, None] > 0) & (norms[None, :] > 0), corr, torch.zeros_like(corr))


def joint_magnitude_correlation(values: Tensor) -> tuple[Tensor, Tensor]:
    """For every pair of columns of a (samples, n) tensor whose zeros mean "absent": the correlation of
    their values over the samples where both are present, and how many such samples there are."""
    v = values.detach().double()
    m = (v != 0).double()
    count = m.T @ m
    n = count.clamp_min(1)
    sum_a = v.T @ m  # [a, b]: sum of a's values where both are present
    sum_sq_a = (v * v).T @ m
    sum_ab = v.T @ v
    mean_a, mean_b = sum_a / n, sum_a.T / n
    cov = sum_ab / n - mean_a * mean_b
    var_a = (sum_sq_a / n - mean_a**2).clamp_min(0)
    var_b = (sum_sq_a.T / n - mean_b**2).clamp_min(0)
    denominator = (var_a * var_b).sqrt()
    corr = torch.where(denominator > 0, cov / denominator.clamp_min(1e-30), torch.zeros_like(cov))
    return corr, count


def expect_parameter_gradients(learner: nn.Module, expected: nn.Module, learner_out: Tensor, expected_out: Tensor,
                               upstream: Tensor, what: str) -> None:
    """Backpropagate the same upstream gradient through both models; each parameter's gradient must agree."""
    learner_params, expected_params = dict(learner.named_parameters()), dict(expected.named_parameters())
    expect_gradients_close(gradients(learner_out, learner_params, upstream),
                           gradients(expected_out, expected_params, upstream), what=what)


def expect_parameters_unchanged(model: nn.Module, weights: Mapping[str, Tensor], what: str) -> None:
    """forward must not write into the parameters (normalising W_dec in place, say)."""
    for name, value in model.named_parameters():
        if name in weights and not torch.equal(value.detach(), weights[name]):
            fail(f"Calling {what} changed its parameter {name}: compute with the parameters, do not write into "
                 "them (no in-place operations on self's tensors, no .data assignments).")
