"""Grader for ch5.matched_cosine."""
import pytest
import torch
import torch.nn.functional as F

from circuitlab.grading.testing import expect, expect_close, fail, reference, run_learner, seeded, submitted


@pytest.mark.parametrize("inst, d_sae, n_feat, d_in", [(3, 6, 5, 2), (2, 4, 7, 3)])
def test_matches_reference(inst, d_sae, n_feat, d_in):
    """(inst, n_feat): for each true direction, its highest cosine similarity with a learned direction"""
    with seeded(d_in):
        learned = torch.randn(inst, d_sae, d_in) * 3
        true = torch.randn(inst, n_feat, d_in) * 0.5
    out = run_learner(submitted(), learned, true)
    expected = reference()(learned, true)
    if isinstance(out, torch.Tensor) and tuple(out.shape) == (inst, d_sae):
        fail(f"Your output has one value per learned latent, shape ({inst}, {d_sae}); the question is per "
             f"ground-truth feature, shape ({inst}, {n_feat}): take the max over the latents.")
    cosines = torch.einsum("ifd,isd->ifs", F.normalize(true, dim=-1), F.normalize(learned, dim=-1))
    expect_close(out, expected, what="matched cosine", mistakes={
        "These are raw dot products; normalise both sets of directions to unit length to get cosines.":
            torch.einsum("ifd,isd->ifs", true, learned).max(-1).values,
        "Only the learned directions are normalised; normalise the true ones too.":
            torch.einsum("ifd,isd->ifs", true, F.normalize(learned, dim=-1)).max(-1).values,
        "You took the absolute value of the cosine: a latent pointing the opposite way (negative sign) does not "
        "recover the feature, since latent activations are non-negative.": cosines.abs().max(-1).values,
        "You took the mean over the latents; the match is the best latent, the max.": cosines.mean(-1),
    })


def test_zero_direction_scores_zero():
    """a feature the toy model does not represent (zero direction) scores 0, not NaN"""
    learned = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    true = torch.tensor([[[2.0, 0.0], [0.0, 0.0]]])
    out = run_learner(submitted(), learned, true)
    expect(isinstance(out, torch.Tensor) and not torch.isnan(out).any(), "A zero true direction gives NaN: "
           "normalise with F.normalize (which guards against dividing by zero) or add a small epsilon.")
    expect(torch.allclose(out, torch.tensor([[1.0, 0.0]]), atol=1e-5),
           f"Expected [[1.0, 0.0]] (a perfect match and an unrepresented feature); got {out.tolist()}.")
