"""Grader for ch4.key_frequencies.

The answer is judged by what the spec asks for, not by one sort order: the right number of frequencies, whose
shares (in the order given) are the largest shares, largest first. So frequencies with equal shares may come in
either order, and when the cut falls between equal shares either may be taken. Some cases use the identity as the
basis: its "coefficients" are the embedding itself, so the shares are exact fractions and the boundary
(a cumulative share exactly equal to the fraction) is tested without rounding.
"""
from __future__ import annotations

from typing import Iterator, NamedTuple

import torch
from torch import Tensor

from circuitlab.ch4.fixtures import final_model, synthetic_embedding
from circuitlab.ch4.reference import fourier_basis
from circuitlab.grading.testing import expect, expect_tensor, fail, reference, run_learner, submitted


class Case(NamedTuple):
    what: str
    W_E: Tensor
    basis: Tensor
    fraction: float
    boundary: bool = False  # the cumulative share reaches the fraction exactly


def _planted(p: int, rows: dict[int, list[float]], basis: Tensor) -> Tensor:
    """The embedding whose coefficients in ``basis`` are ``rows`` (basis row -> d_model values), zero elsewhere."""
    d_model = len(next(iter(rows.values())))
    coefficients = torch.zeros(p, d_model, dtype=basis.dtype)
    for row, values in rows.items():
        coefficients[row] = torch.tensor(values, dtype=basis.dtype)
    return basis.T @ coefficients


def _cases() -> Iterator[Case]:
    p = final_model().cfg.d_vocab_out
    yield Case(f"the shipped model's embedding (p={p}, float32)", final_model().W_E[:p].detach(), fourier_basis(p), 0.9)
    planted = synthetic_embedding(13, {2: 3.0, 5: 2.0, 3: 1.0})
    yield Case("an embedding with frequencies 2, 5, 3 planted (p=13)", planted, fourier_basis(13), 0.9)
    yield Case("the same embedding at fraction 0.5 (one frequency is enough)", planted, fourier_basis(13), 0.5)
    basis7 = fourier_basis(7).double()
    # The constant row carries half the squared norm: the total must include it.
    constant_heavy = _planted(7, {0: [3.0, 1.0], 1: [2.0, 1.0], 4: [1.0, 1.4142135623730951], 5: [1.0, 1.0]}, basis7)
    yield Case("a float64 embedding (p=7) whose constant row carries half the squared norm, fraction 0.45",
               constant_heavy, basis7, 0.45)
    yield Case("a (5, 1) embedding (p=5, d_model 1)", _planted(5, {0: [0.5], 2: [1.0], 3: [3.0]}, fourier_basis(5)),
               fourier_basis(5), 0.9)
    identity = torch.eye(7, dtype=torch.float64)
    # Squared norms: frequency 1 (row 1) 4, frequency 2 (row 3) 5, frequency 3 (row 6) 1; shares 0.4, 0.5, 0.1.
    exact = _planted(7, {1: [2.0, 0.0], 3: [1.0, 2.0], 6: [0.0, 1.0]}, identity)
    yield Case("an embedding with exact shares 0.5, 0.4, 0.1 for frequencies 2, 1, 3 (the identity as the basis, "
               "p=7): at fraction 0.9, frequencies 2 and 1 reach it exactly", exact, identity, 0.9, boundary=True)
    # Frequencies 1 and 3 tie (4 each), frequency 2 has 1 and the constant 1: shares 0.4, 0.1, 0.4.
    tied = _planted(7, {0: [1.0], 1: [2.0], 4: [1.0], 5: [2.0]}, identity)
    yield Case("an embedding whose frequencies 1 and 3 tie at 0.4 each (the identity as the basis, p=7), fraction 0.5",
               tied, identity, 0.5)
    yield Case("an embedding whose frequencies 1 and 3 tie at 0.4 each (the identity as the basis, p=7), fraction 0.3: "
               "either tied frequency is right", tied, identity, 0.3)


def _power(W_E: Tensor, basis: Tensor) -> Tensor:
    return (basis.double() @ W_E.double()).pow(2).sum(-1)


def _shares(W_E: Tensor, basis: Tensor) -> Tensor:
    """Frequency k's share of the squared norm, at index k - 1 (float64)."""
    power = _power(W_E, basis)
    return (power[1::2] + power[2::2]) / power.sum()


def _variant(W_E: Tensor, basis: Tensor, fraction: float, *, cos_only: bool = False, without_constant: bool = False,
             extra: int = 0, smallest_first: bool = False) -> list[int]:
    """The frequencies a common mistake returns."""
    power = _power(W_E, basis)
    per_frequency = power[1::2] if cos_only else power[1::2] + power[2::2]
    total = power[1:].sum() if without_constant else power.sum()
    order = per_frequency.argsort(descending=not smallest_first, stable=True)
    shares = per_frequency[order].cumsum(0) / total
    return (order[: int((shares < fraction).sum()) + 1 + extra] + 1).tolist()


def _acceptable(got: list[int], want: list[int], shares: Tensor) -> bool:
    """Same length, distinct valid frequencies, and share by share the same as the expected list (ties free)."""
    n_frequencies = shares.shape[0]
    if len(got) != len(want) or len(set(got)) != len(got) or not all(1 <= k <= n_frequencies for k in got):
        return False
    return torch.allclose(shares[torch.tensor(got) - 1], shares[torch.tensor(want) - 1], rtol=1e-6, atol=1e-9)


def _judge(out, case: Case) -> None:
    what = f"the key frequencies of {case.what}"
    if isinstance(out, torch.Tensor) and out.ndim == 0:
        fail(f"{what} is a 0-dim tensor; return a 1D tensor even when one frequency is enough (a bare .squeeze() "
             "or [0] drops the axis).")
    out = expect_tensor(out, shape=(None,), dtype=torch.long, what=what)
    shares = _shares(case.W_E, case.basis)
    want = reference()(case.W_E, case.basis, case.fraction).tolist()
    got = out.tolist()
    if _acceptable(got, want, shares):
        return
    args = (case.W_E, case.basis, case.fraction)
    shown = f"(expected {want}, got {got})"
    expect(got != [2 * k - 1 for k in want] and got != [2 * k for k in want],
           f"For {case.what}: you returned basis row indices; return frequencies k (rows 2k-1 and 2k hold cos k "
           f"and sin k) {shown}.")
    expect(got != [k - 1 for k in want], f"For {case.what}: your frequencies are off by one: the frequency of "
           f"rows 2k-1 and 2k is k, which starts at 1 {shown}.")
    expect(not _acceptable(got, _variant(*args, cos_only=True), shares),
           f"For {case.what}: you counted only the cos coefficients; a frequency's share is its cos and sin "
           f"terms together {shown}.")
    expect(not _acceptable(got, _variant(*args, without_constant=True), shares),
           f"For {case.what}: you divided by the squared norm of the frequencies only; the total is the squared "
           f"norm of all the coefficients, the constant row 0 included {shown}.")
    expect(not _acceptable(got, _variant(*args, smallest_first=True), shares),
           f"For {case.what}: you took the smallest shares first; take the largest first (sort descending) {shown}.")
    if sorted(got) == sorted(want):
        fail(f"For {case.what}: right frequencies, wrong order: list them largest share first {shown}.")
    if len(want) > 1 and _acceptable(got, want[:-1], shares):
        fail(f"For {case.what}: you stopped one frequency short: keep adding frequencies until their share reaches "
             f"the fraction (at least {case.fraction}), so the last one counts {shown}.")
    if _acceptable(got, _variant(*args, extra=1), shares):
        if case.boundary:
            fail(f"For {case.what}: you kept one frequency too many. The first {len(want)} already carry exactly "
                 f"{case.fraction} of the squared norm, and 'at least the fraction' includes equality: stop at the "
                 f"first frequency whose cumulative share is >= the fraction {shown}.")
        fail(f"For {case.what}: you kept one frequency too many: stop at the first frequency whose cumulative share "
             f"reaches the fraction {shown}.")
    got_shares = [round(float(shares[k - 1]), 4) if 1 <= k <= shares.shape[0] else None for k in got]
    at = "" if "fraction" in case.what else f" at fraction {case.fraction}"
    fail(f"For {case.what}{at}: expected {want} (shares "
         f"{[round(float(shares[k - 1]), 4) for k in want]}), got {got} (shares {got_shares}). A frequency k's share "
         "is (squared norm of rows 2k-1 and 2k of fft1d(W_E)) / (squared norm of all coefficients).")


def test_matches_reference():
    """the fewest frequencies, largest share first, reaching the fraction (a long tensor; boundary and ties included)"""
    for case in _cases():
        out = run_learner(submitted(), case.W_E, case.basis, case.fraction,
                          what=f"your key_frequencies on {case.what}")
        _judge(out, case)


def test_default_fraction():
    """the fraction defaults to 0.9"""
    case = next(c for c in _cases() if c.boundary)
    out = run_learner(submitted(), case.W_E, case.basis, what=f"your key_frequencies on {case.what}, without a fraction")
    _judge(out, case)
