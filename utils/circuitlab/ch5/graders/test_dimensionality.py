"""Grader for ch5.dimensionality."""
import pytest
import torch

from circuitlab.grading.testing import expect, expect_close, expect_tensor, reference, run_learner, seeded, submitted


def _W(inst, hidden, feat, seed):
    with seeded(seed):
        return torch.randn(inst, hidden, feat)


@pytest.mark.parametrize("inst, hidden, feat", [(3, 4, 6), (2, 2, 5)])
def test_matches_reference(inst, hidden, feat):
    """(inst, feat): squared norm of W_i over the sum of squared overlaps of its unit vector with every W_j"""
    W = _W(inst, hidden, feat, seed=feat)
    out = run_learner(submitted(), W)
    expected = reference()(W)
    norms = W.norm(dim=1)
    dots = torch.einsum("ihf,ihg->ifg", W, W)
    unit_dots = dots / norms[:, :, None]
    expect_close(out, expected, atol=1e-4, rtol=1e-3, what="dimensionality", mistakes={
        "The overlaps in the denominator use W_i itself, not its unit vector W_i / |W_i|: divide by |W_i| "
        "before dotting with W_j (or equivalently use |W_i|**4 in the numerator).": norms**2 / (dots**2).sum(-1),
        "The numerator should be the squared norm |W_i|**2, not the norm.": norms / (unit_dots**2).sum(-1),
        "Square each overlap in the denominator before summing over j.": norms**2 / unit_dots.abs().sum(-1),
        "The denominator leaves out j = i; the sum runs over all features, including i itself.":
            norms**2 / ((unit_dots**2).sum(-1) - norms**2),
    }, hint="D_i = |W_i|**2 / sum_j (unit(W_i) . W_j)**2, one value per (instance, feature).")


def test_known_geometries():
    """1 for a feature with a dimension of its own, 1/2 in an antipodal pair, 0 for an ignored feature"""
    W = torch.tensor([[[1.0, -1.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0]]])  # (1 inst, 2 hidden, 4 feat)
    out = run_learner(submitted(), W)
    expect(not (isinstance(out, torch.Tensor) and torch.isnan(out).any()),
           "A feature the model ignores (W_i = 0) should have dimensionality 0, not NaN: guard the 0/0.")
    out = expect_tensor(out, shape=(1, 4), what="dimensionality")
    expect(abs(float(out[0, 3])) < 1e-4, "A feature the model ignores (W_i = 0) should have dimensionality 0.")
    expect(torch.allclose(out[0, :3], torch.tensor([0.5, 0.5, 1.0]), atol=1e-4),
           f"For an antipodal pair and a feature on its own axis, expected [0.5, 0.5, 1.0]; got "
           f"{[round(v, 4) for v in out[0, :3].tolist()]}.")
