"""Mutants and alternatives for ch0.broadcast_positions."""
from einops import repeat

from circuitlab.grading.meta import alternative, mutant


@mutant(hint="batch axis went in the wrong place")
def batch_in_the_middle(pos_embed, batch):
    return repeat(pos_embed, "p d -> p b d", b=batch)


@mutant(hint="tiled the positions")
def tiled_along_positions(pos_embed, batch):
    return repeat(pos_embed, "p d -> (b p) d", b=batch)


@mutant(hint="modified its input in place")
def scales_the_input(pos_embed, batch):
    pos_embed.mul_(1.0001)
    return repeat(pos_embed, "p d -> b p d", b=batch)


@mutant(hint="expected (3, 5, 4)")
def forgets_the_batch(pos_embed, batch):
    return pos_embed.unsqueeze(0)


@alternative
def with_expand_clone(pos_embed, batch):
    return pos_embed.unsqueeze(0).expand(batch, -1, -1).clone()


@alternative
def with_expand_view(pos_embed, batch):
    return pos_embed.expand(batch, *pos_embed.shape)
