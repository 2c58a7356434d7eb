"""Grader for ch5.feature_probability."""
import pytest
import torch

from circuitlab.grading.testing import expect_close, reference, run_learner, submitted


@pytest.mark.parametrize("n_instances, n_features, min_probability", [(8, 5, 0.02), (3, 4, 0.1), (1, 3, 0.1), (5, 1, 0.5)])
def test_matches_reference(n_instances, n_features, min_probability):
    """(inst, feat), from probability 1 (instance 0) down geometrically to min_probability"""
    out = run_learner(submitted(), n_instances, n_features, min_probability)
    expected = reference()(n_instances, n_features, min_probability)
    exponents = torch.linspace(0, 1, n_instances)[:, None].expand(n_instances, n_features)
    expect_close(out, expected, what="feature probability", mistakes={
        "The sweep runs the wrong way: instance 0 must be dense (probability 1) and the last instance the "
        "sparsest (min_probability). Your order is inverted.": expected.flip(0),
        "You returned 1 - p, the sparsity, instead of the probability that a feature is present (inverted).":
            1 - expected,
        "Your probabilities exceed 1: the exponent has the wrong sign, so the probability is inverted "
        "(1/p). Use min_probability ** t with t from 0 to 1.": min_probability ** (-exponents),
        "The probabilities are spaced linearly; the sweep spaces them geometrically (a constant ratio between "
        "neighbouring instances): min_probability ** t.": torch.linspace(1, min_probability, n_instances)[:, None]
            .expand(n_instances, n_features),
    })
