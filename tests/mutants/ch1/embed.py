"""Mutants and alternatives for ch1.embed."""
import torch.nn.functional as F

from circuitlab.ch1.reference import Embed
from circuitlab.grading.meta import alternative, mutant


@mutant(hint="pass num_classes=d_vocab")
class OneHotWithoutNumClasses(Embed):
    def forward(self, tokens):
        return F.one_hot(tokens).float() @ self.W_E


@mutant(hint="scaled the embedding")
class Scaled(Embed):
    def forward(self, tokens):
        return self.W_E[tokens] * self.cfg.d_model ** 0.5


@mutant(hint="shape")
class SequenceFirst(Embed):
    def forward(self, tokens):
        return self.W_E[tokens.T]


@alternative
class OneHotMatmul(Embed):
    def forward(self, tokens):
        return F.one_hot(tokens, num_classes=self.cfg.d_vocab).float() @ self.W_E


@alternative
class FunctionalEmbedding(Embed):
    def forward(self, tokens):
        return F.embedding(tokens, self.W_E)


@mutant(hint="shape")
class Squeezed(Embed):
    def forward(self, tokens):
        return self.W_E[tokens].squeeze()


@mutant(hint="not connected to its parameters")
class ThroughData(Embed):
    def forward(self, tokens):
        return self.W_E.data[tokens]
