"""Mutants and alternatives for ch1.pos_embed."""
import einops

from circuitlab.ch1.reference import PosEmbed
from circuitlab.grading.meta import alternative, mutant


@mutant(hint="slice W_pos to the sequence length")
class NotSliced(PosEmbed):
    def forward(self, tokens):
        return einops.repeat(self.W_pos, "p d -> b p d", b=tokens.shape[0])


@mutant(hint="indexed W_pos with the token ids")
class IndexedByToken(PosEmbed):
    def forward(self, tokens):
        return self.W_pos[tokens]


@mutant(hint="no batch axis")
class NoBatchAxis(PosEmbed):
    def forward(self, tokens):
        return self.W_pos[: tokens.shape[1]]


@alternative
class WithExpand(PosEmbed):
    def forward(self, tokens):
        batch, seq = tokens.shape
        return self.W_pos[:seq].unsqueeze(0).expand(batch, -1, -1)


@mutant(hint="shape")
class SqueezedBatch(PosEmbed):
    def forward(self, tokens):
        return einops.repeat(self.W_pos[: tokens.shape[1]], "p d -> b p d", b=tokens.shape[0]).squeeze()


@mutant(hint="not connected to its parameters")
class DetachedRows(PosEmbed):
    def forward(self, tokens):
        return self.W_pos[: tokens.shape[1]].detach().expand(tokens.shape[0], -1, -1)


@alternative
class WithIndexingByArange(PosEmbed):
    def forward(self, tokens):
        import torch

        positions = torch.arange(tokens.shape[1])
        return self.W_pos[positions].unsqueeze(0).repeat(tokens.shape[0], 1, 1)
