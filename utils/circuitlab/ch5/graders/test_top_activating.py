"""Grader for ch5.top_activating (bonus)."""
import pytest
import torch

from circuitlab.grading.testing import expect_close, expect_tensor, fail, reference, run_learner, seeded, submitted


def _acts(batch, pos, d_sae, seed):
    with seeded(seed):
        # A random permutation makes every activation distinct, so the top k is unambiguous.
        values = torch.randperm(batch * pos * d_sae).float() / (batch * pos * d_sae)
    return values.reshape(batch, pos, d_sae) + 0.05


def _pairs(values, order):
    return torch.stack(torch.unravel_index(order, values.shape), -1)


@pytest.mark.parametrize("batch, pos, d_sae, latent, k", [(6, 5, 4, 2, 7), (8, 3, 6, 5, 5)])
def test_matches_reference(batch, pos, d_sae, latent, k):
    """(k, 2) rows of (sequence, position), largest activation of the latent first"""
    acts = _acts(batch, pos, d_sae, seed=d_sae)
    out = run_learner(submitted(), acts, latent, k)
    expected = reference()(acts, latent, k)
    if isinstance(out, torch.Tensor) and tuple(out.shape) == (k,):
        fail("You returned flat indices into batch * pos; return (sequence, position) pairs, shape (k, 2) "
             "(torch.unravel_index converts them).")
    out = expect_tensor(out, shape=(k, 2), what="top_activating output").long()
    values = acts[..., latent]
    mistakes = {"These are the latent's smallest activations; take the largest (topk, or argsort descending).":
                _pairs(values, torch.argsort(values.flatten())[:k])}
    if k <= batch:
        best = values.max(1)
        sequences = torch.argsort(best.values, descending=True)[:k]
        mistakes["You took at most one position per sequence; search all (sequence, position) pairs together, "
                 "so one sequence can appear more than once."] = torch.stack([sequences, best.indices[sequences]], -1)
    if latent < pos:
        wrong = acts[:, latent, :]
        mistakes["You indexed the position axis with the latent; the latent is the last axis: acts[..., latent]."] = \
            _pairs(wrong, torch.argsort(wrong.flatten(), descending=True)[:k])
    same_set = bool((out.sort(0).values == expected.sort(0).values).all())
    if same_set and not torch.equal(out, expected):
        rows_match = {tuple(r) for r in out.tolist()} == {tuple(r) for r in expected.tolist()}
        if rows_match:
            fail("You found the right examples but not in order: the largest activation comes first.")
    expect_close(out, expected, what="top_activating output", mistakes=mistakes,
                 hint=f"Expected the (sequence, position) pairs of the {k} largest values of acts[..., {latent}].")
