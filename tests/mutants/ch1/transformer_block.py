"""Mutants and alternatives for ch1.transformer_block."""
from circuitlab.ch1.reference import TransformerBlock
from circuitlab.grading.meta import alternative, mutant


@mutant(hint="residual connection around attention is missing")
class NoAttentionResidual(TransformerBlock):
    def forward(self, x):
        mid = self.attn(self.ln1(x))
        return mid + self.mlp(self.ln2(mid))


@mutant(hint="residual connection around the MLP is missing")
class NoMlpResidual(TransformerBlock):
    def forward(self, x):
        mid = x + self.attn(self.ln1(x))
        return self.mlp(self.ln2(mid))


@mutant(hint="applied after the sublayer instead of before")
class PostNorm(TransformerBlock):
    def forward(self, x):
        mid = self.ln1(x + self.attn(x))
        return self.ln2(mid + self.mlp(mid))


@mutant(hint="reads resid_pre instead of resid_mid")
class Parallel(TransformerBlock):
    def forward(self, x):
        return x + self.attn(self.ln1(x)) + self.mlp(self.ln2(x))


@alternative
class InTwoSteps(TransformerBlock):
    def forward(self, resid_pre):
        attn_out = self.attn(self.ln1(resid_pre))
        resid_mid = resid_pre + attn_out
        mlp_out = self.mlp(self.ln2(resid_mid))
        return resid_mid + mlp_out


@mutant(hint="not to ln1(resid_pre)")
class AddsToTheNormalisedStream(TransformerBlock):
    def forward(self, x):
        normalised = self.ln1(x)
        mid = normalised + self.attn(normalised)
        return mid + self.mlp(self.ln2(mid))


@mutant(hint="gradient")
class DetachedMlpInput(TransformerBlock):
    def forward(self, x):
        mid = x + self.attn(self.ln1(x))
        return mid + self.mlp(self.ln2(mid.detach()))
