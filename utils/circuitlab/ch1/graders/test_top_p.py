"""Grader for ch1.top_p.

Which tokens are kept is defined by the probability mass ranked above each one, so two things are
left open by the spec and accepted either way: the order of tokens with equal probability (a tie
that straddles p may keep either token), and a mass within ROUNDING of p (float sums are not exact).
"""
import pytest
import torch

from circuitlab.grading.testing import expect, expect_tensor, fail, run_learner, seeded, submitted

ROUNDING = 1e-5


def _kept(out):
    return torch.isfinite(out) & (out > -1e9)


def _allowed_counts(probs_row: torch.Tensor, p: float) -> list[int]:
    """The numbers n of most likely tokens a nucleus may hold: mass of the first n - 1 below p, of the first n at least p."""
    masses = torch.cat([torch.zeros(1, dtype=probs_row.dtype), probs_row.sort(descending=True).values.cumsum(0)])
    n_finite = int((probs_row > 0).sum())
    return [n for n in range(1, n_finite + 1) if masses[n - 1] < p + ROUNDING and masses[n] >= p - ROUNDING]


def _is_a_nucleus(kept_row: torch.Tensor, probs_row: torch.Tensor, p: float) -> bool:
    """kept_row holds an allowed number of tokens, and no dropped token is more likely than a kept one."""
    if int(kept_row.sum()) not in _allowed_counts(probs_row, p):
        return False
    dropped = probs_row[~kept_row & (probs_row > 0)]
    return dropped.numel() == 0 or bool(probs_row[kept_row].min() >= dropped.max())


def _variant(logits, p, keep_crossing=True, descending=True, use_probs=True):
    """Kept-token mask of the reference rule with one deliberate change (to name a learner's mistake)."""
    values, order = logits.sort(-1, descending=descending)
    probs = values.softmax(-1) if use_probs else values
    cumulative = probs.cumsum(-1)
    drop = (cumulative - probs >= p) if keep_crossing else (cumulative > p)
    return ~torch.zeros_like(drop).scatter(-1, order, drop) & torch.isfinite(logits)


def _check(logits, p, where):
    out = run_learner(submitted(), logits.clone(), p)
    expect_tensor(out, shape=tuple(logits.shape), what=f"filtered logits ({where})", dtype="float")
    probs = logits.double().softmax(-1)
    got = _kept(out)
    valid = [_is_a_nucleus(got[row], probs[row], p) for row in range(logits.shape[0])]
    if all(valid):
        expect(torch.equal(out[got], logits[got]), f"The kept logits must be unchanged ({where}).")
        return
    bad_rows = [row for row, ok in enumerate(valid) if not ok]
    if torch.equal(got, torch.ones_like(got)) and bool((out[out != logits] == 0).all()):
        fail(f"The dropped tokens are set to 0, which still leaves them probability ({where}). Set them to -inf.")
    mistakes = {
        "You drop the token that crosses the threshold. Keep the smallest set of most likely tokens whose total "
        "reaches p: a token is kept while the mass ranked strictly above it is below p.":
            _variant(logits, p, keep_crossing=False),
        "You sorted the probabilities in ascending order; the nucleus is the most likely tokens, so sort in "
        "descending order.": _variant(logits, p, descending=False),
        "You accumulated logits instead of probabilities: softmax the sorted logits before the cumulative sum.":
            _variant(logits, p, use_probs=False),
    }
    for message, mask in mistakes.items():
        if torch.equal(got, mask):
            fail(f"{message} ({where})")
    row = bad_rows[0]
    allowed = _allowed_counts(probs[row], p)
    n_got = int(got[row].sum())
    if n_got in allowed:
        fail(f"In row {row} ({where}) you keep {n_got} tokens, the right number, but not the most likely ones: "
             "rank by probability, descending, and put the mask back in vocabulary order (scatter, or index with "
             "the inverse of the sort order).")
    fail(f"In row {row} ({where}) you keep {n_got} token(s); the nucleus holds {allowed[0]}"
         f"{'' if len(allowed) == 1 else ' to ' + str(allowed[-1])}: the most likely tokens, each kept while the "
         "probability ranked strictly above it is below p.")


def test_known_distribution():
    """keeps the most likely tokens up to and including the one that crosses p"""
    probs = torch.tensor([[0.05, 0.5, 0.15, 0.3], [0.25, 0.25, 0.4, 0.1]])
    _check(probs.log(), 0.7, "p=0.7, probabilities [[0.05, 0.5, 0.15, 0.3], [0.25, 0.25, 0.4, 0.1]]")


def test_ties_and_exact_boundaries():
    """a tie straddling p keeps one of the tied tokens; a mass equal to p may go either way (rounding)"""
    probs = torch.tensor([[0.4, 0.3, 0.3, 1e-9], [0.5, 0.25, 0.25, 1e-9], [0.25, 0.25, 0.25, 0.25]])
    _check(probs.log(), 0.5, "p=0.5, rows [0.4, 0.3, 0.3, ~0], [0.5, 0.25, 0.25, ~0], [0.25] * 4")
    _check(probs.log(), 0.75, "p=0.75, rows [0.4, 0.3, 0.3, ~0], [0.5, 0.25, 0.25, ~0], [0.25] * 4")


@pytest.mark.parametrize("p, shape", [(0.3, (5, 16)), (0.9, (5, 16)), (0.01, (3, 6)), (1.0, (2, 9)), (0.6, (1, 11))])
def test_random_logits(p, shape):
    """matches the reference nucleus on random rows (a tiny p keeps one token, p = 1 keeps all, batch 1)"""
    with seeded(101):
        logits = 2 * torch.randn(*shape)
    _check(logits, p, f"p={p}, random logits of shape {shape}")


def test_already_filtered_logits():
    """works on logits that already hold -inf (after top-k, say)"""
    logits = torch.tensor([[1.0, float("-inf"), 0.2, 2.0, float("-inf"), -0.5]])
    _check(logits, 0.8, "p=0.8, a row that already holds -inf")
