"""Grader for ch5.top_activating (bonus).

With ties the top k is not unique, so the answer is checked by what it must satisfy: k distinct,
valid (sequence, position) pairs whose activations are the k largest, in non-increasing order.
Without ties that is exactly the reference's answer.
"""
import pytest
import torch

from circuitlab.ch5.grading_support import on_case
from circuitlab.grading.testing import expect, expect_close, fail, reference, run_learner, seeded, submitted


def _distinct(batch, pos, d_sae, seed):
    with seeded(seed):
        # A random permutation makes every activation distinct, so the top k is unambiguous.
        values = torch.randperm(batch * pos * d_sae).float() / (batch * pos * d_sae)
    return values.reshape(batch, pos, d_sae) + 0.05


def _tied(batch, pos, d_sae, seed):
    with seeded(seed):
        # Few distinct values and many exact zeros, as for a latent that rarely fires.
        values = torch.randint(0, 4, (batch, pos, d_sae)).float() * 0.5
    return values


CASES = {
    # name: (acts builder, batch, pos, d_sae, latent, k)
    "distinct activations, acts (6, 5, 4), latent 2, k 7": (_distinct, 6, 5, 4, 2, 7),
    "distinct activations, acts (8, 3, 6), latent 5, k 5": (_distinct, 8, 3, 6, 5, 5),
    "distinct activations, acts (1, 9, 3) (batch 1), latent 0, k 4": (_distinct, 1, 9, 3, 0, 4),
    "distinct activations, acts (5, 4, 3), latent 1, k 1": (_distinct, 5, 4, 3, 1, 1),
    "tied activations (values 0, 0.5, 1, 1.5), acts (7, 6, 3), latent 1, k 9": (_tied, 7, 6, 3, 1, 9),
    "a latent that never fires (all zeros), acts (4, 3, 2), latent 0, k 3": (None, 4, 3, 2, 0, 3),
}


def _acts(case):
    build, batch, pos, d_sae, latent, k = CASES[case]
    acts = torch.zeros(batch, pos, d_sae) if build is None else build(batch, pos, d_sae, seed=batch + pos)
    return acts, latent, k


def _pairs(values, order):
    return torch.stack(torch.unravel_index(order, values.shape), -1)


def _check_types(out, k, n_sequences):
    if not isinstance(out, torch.Tensor):
        fail(f"top_activating should return a torch.Tensor of shape ({k}, 2); got {type(out).__name__}.")
    if tuple(out.shape) == (k,):
        fail("You returned flat indices into batch * pos; return (sequence, position) pairs, shape (k, 2) "
             "(torch.unravel_index converts them).")
    if k == 1 and tuple(out.shape) == (2,):
        fail("For k = 1 the output has shape (2,); keep the shape (1, 2), one row per example (no .squeeze()).")
    if out.ndim == 2 and out.shape[1] == 2 and out.shape[0] == n_sequences < k \
            and out[:, 0].unique().numel() == n_sequences:
        fail(f"You returned one row per sequence ({n_sequences} rows for k = {k}): you took at most one position "
             "per sequence; search all (sequence, position) pairs together, so one sequence can appear more "
             "than once.")
    if tuple(out.shape) != (k, 2):
        fail(f"The output has shape {tuple(out.shape)}; expected ({k}, 2), one (sequence, position) row per "
             "example.")
    if out.is_floating_point():
        fail(f"The output has dtype {out.dtype}; indices must be integers, torch.long. Use // (floor division) "
             "rather than /, or torch.unravel_index.")
    if out.dtype != torch.long:
        fail(f"The output has dtype {out.dtype}; return torch.long (int64), the dtype topk and unravel_index give "
             "(and the one tensors are indexed with).")


@pytest.mark.parametrize("case", list(CASES))
def test_top_k_pairs(case):
    """(k, 2) torch.long rows of (sequence, position) of the k largest activations of the latent, largest first"""
    acts, latent, k = _acts(case)
    values = acts[..., latent]
    with on_case(case):
        out = run_learner(submitted(), acts.clone(), latent, k)
        _check_types(out, k, acts.shape[0])
        rows, cols = out[:, 0], out[:, 1]
        expect(bool(((rows >= 0) & (rows < values.shape[0]) & (cols >= 0) & (cols < values.shape[1])).all()),
               f"Some rows are not valid (sequence, position) pairs for acts of shape {tuple(acts.shape)}: "
               f"{out.tolist()}.")
        flat = rows * values.shape[1] + cols
        expect(flat.unique().numel() == k, f"The same (sequence, position) pair appears twice: {out.tolist()}.")
        got = values[rows, cols]
        want = torch.sort(values.flatten(), descending=True).values[:k]
        if torch.equal(got, want):
            return
        mistakes = {"These are the latent's smallest activations; take the largest (topk, or argsort "
                    "descending).": _pairs(values, torch.argsort(values.flatten())[:k])}
        if len(set(values.flatten().tolist())) == values.numel():  # named mistakes only where the answer is unique
            if k <= values.shape[0]:
                best = values.max(1)
                sequences = torch.argsort(best.values, descending=True)[:k]
                mistakes["You took at most one position per sequence; search all (sequence, position) pairs "
                         "together, so one sequence can appear more than once."] = \
                    torch.stack([sequences, best.indices[sequences]], -1)
            if latent < acts.shape[1]:
                wrong = acts[:, latent, :]
                mistakes["You indexed the position axis with the latent; the latent is the last axis: "
                         "acts[..., latent]."] = _pairs(wrong, torch.argsort(wrong.flatten(), descending=True)[:k])
            if torch.equal(got.sort().values, want.sort().values):
                fail("You found the right examples but not in order: the largest activation comes first.")
        expected = reference()(acts, latent, k)
        for message, candidate in mistakes.items():
            if torch.equal(out, candidate) and not torch.equal(out, expected):
                fail(message)
        if torch.equal(got.sort().values, want.sort().values):
            fail(f"Your pairs hold the {k} largest activations but not largest first: their activations are "
                 f"{[round(v, 4) for v in got.tolist()]}.")
        fail(f"The activations at your pairs are {[round(v, 4) for v in got.tolist()]}; the {k} largest values of "
             f"acts[..., {latent}] are {[round(v, 4) for v in want.tolist()]}.")


def test_matches_reference_without_ties():
    """without ties the answer is unique and equals the reference's"""
    acts, latent, k = _acts("distinct activations, acts (6, 5, 4), latent 2, k 7")
    out = run_learner(submitted(), acts.clone(), latent, k)
    _check_types(out, k, acts.shape[0])
    expect_close(out, reference()(acts, latent, k), what="top_activating output")
