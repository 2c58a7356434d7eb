"""Grader for ch0.broadcast_positions."""
import pytest
import torch

from circuitlab.grading.testing import expect_close, reference, run_learner, seeded, submitted


@pytest.mark.parametrize("pos, d_model, batch", [(5, 4, 3), (2, 6, 1), (1, 3, 2)])
def test_matches_reference(pos, d_model, batch):
    """returns (batch, pos, d_model) with the same embedding in every sequence"""
    with seeded(2):
        pos_embed = torch.randn(pos, d_model)
    out = run_learner(submitted(), pos_embed, batch)
    expect_close(out, reference()(pos_embed, batch),
                 what=f"broadcast_positions output (pos_embed {tuple(pos_embed.shape)}, batch={batch})",
                 axis_names=("batch", "position", "d_model"), mistakes={
        "The new batch axis went in the wrong place: it belongs on the left, (batch, pos, d_model).":
            pos_embed.unsqueeze(1).expand(pos, batch, d_model),
        "You tiled the positions along the sequence axis: (batch pos) d. Make batch a new axis of its own.":
            pos_embed.repeat(batch, 1),
    })
