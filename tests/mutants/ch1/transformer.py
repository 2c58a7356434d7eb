"""Mutants and alternatives for ch1.transformer."""
from circuitlab.ch1.reference import DemoTransformer
from circuitlab.grading.meta import alternative, mutant


@mutant(hint="positional embedding is missing")
class NoPositions(DemoTransformer):
    def forward(self, tokens):
        residual = self.embed(tokens)
        for block in self.blocks:
            residual = block(residual)
        return self.unembed(self.ln_final(residual))


@mutant(hint="ln_final is missing")
class NoFinalLayerNorm(DemoTransformer):
    def forward(self, tokens):
        residual = self.embed(tokens) + self.pos_embed(tokens)
        for block in self.blocks:
            residual = block(residual)
        return self.unembed(residual)


@mutant(hint="blocks are not applied")
class DropsBlockOutputs(DemoTransformer):
    def forward(self, tokens):
        residual = self.embed(tokens) + self.pos_embed(tokens)
        for block in self.blocks:
            block(residual)
        return self.unembed(self.ln_final(residual))


@mutant(hint="returned probabilities")
class Probabilities(DemoTransformer):
    def forward(self, tokens):
        return super().forward(tokens).softmax(-1)


@alternative
class WithSequential(DemoTransformer):
    def forward(self, tokens):
        import torch.nn as nn

        stack = nn.Sequential(*self.blocks, self.ln_final, self.unembed)
        return stack(self.embed(tokens) + self.pos_embed(tokens))


@mutant(hint="shape")
class SqueezedLogits(DemoTransformer):
    def forward(self, tokens):
        return super().forward(tokens).squeeze()


@mutant(hint="second call")
class PositionsAdvanceEveryCall(DemoTransformer):
    """Keeps a counter between calls, as a half-built cache would: the second call reads shifted positions."""

    calls = 0

    def forward(self, tokens):
        shift = min(self.calls, self.cfg.n_ctx - tokens.shape[1])
        self.calls += 1
        residual = self.embed(tokens) + self.pos_embed.W_pos[shift: shift + tokens.shape[1]]
        for block in self.blocks:
            residual = block(residual)
        return self.unembed(self.ln_final(residual))


@mutant(hint="gradient")
class DetachedEmbedding(DemoTransformer):
    def forward(self, tokens):
        residual = self.embed(tokens).detach() + self.pos_embed(tokens)
        for block in self.blocks:
            residual = block(residual)
        return self.unembed(self.ln_final(residual))
