"""Mutants and alternatives for ch1.unembed."""
import torch

from circuitlab.ch1.reference import Unembed
from circuitlab.grading.meta import alternative, mutant


@mutant(hint="returned probabilities")
class Softmaxed(Unembed):
    def forward(self, x):
        return (x @ self.W_U + self.b_U).softmax(-1)


@mutant(hint="log-probabilities")
class LogSoftmaxed(Unembed):
    def forward(self, x):
        return (x @ self.W_U + self.b_U).log_softmax(-1)


@mutant(hint="b_U is missing")
class NoBias(Unembed):
    def forward(self, x):
        return x @ self.W_U


@alternative
class WithEinsum(Unembed):
    def forward(self, x):
        return torch.einsum("bsd,dv->bsv", x, self.W_U) + self.b_U


@mutant(hint="shape")
class Squeezed(Unembed):
    def forward(self, x):
        return (x @ self.W_U + self.b_U).squeeze()


@mutant(hint="gradient")
class BiasThroughData(Unembed):
    def forward(self, x):
        return x @ self.W_U + self.b_U.data
