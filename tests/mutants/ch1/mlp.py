"""Mutants and alternatives for ch1.mlp."""
import torch
import torch.nn.functional as F

from circuitlab.ch1.reference import MLP
from circuitlab.grading.meta import alternative, mutant


@mutant(hint="exact (erf) GELU")
class ExactGelu(MLP):
    def forward(self, x):
        return F.gelu(x @ self.W_in + self.b_in) @ self.W_out + self.b_out


@mutant(hint="ReLU")
class Relu(MLP):
    def forward(self, x):
        return F.relu(x @ self.W_in + self.b_in) @ self.W_out + self.b_out


@mutant(hint="A bias is missing")
class NoInputBias(MLP):
    def forward(self, x):
        return F.gelu(x @ self.W_in, approximate="tanh") @ self.W_out + self.b_out


@mutant(hint="without it the MLP is just one linear map")
class Linear(MLP):
    def forward(self, x):
        return (x @ self.W_in + self.b_in) @ self.W_out + self.b_out


@alternative
class WithTorchGeluTanh(MLP):
    def forward(self, x):
        hidden = F.gelu(torch.einsum("bsd,dm->bsm", x, self.W_in) + self.b_in, approximate="tanh")
        return torch.einsum("bsm,md->bsd", hidden, self.W_out) + self.b_out


@alternative
class WithLinear(MLP):
    def forward(self, x):
        hidden = F.gelu(F.linear(x, self.W_in.T, self.b_in), approximate="tanh")
        return F.linear(hidden, self.W_out.T, self.b_out)


@mutant(hint="add b_out after W_out")
class NoOutputBias(MLP):
    def forward(self, x):
        return F.gelu(x @ self.W_in + self.b_in, approximate="tanh") @ self.W_out


@mutant(hint="not connected to its parameters")
class ThroughNumpy(MLP):
    def forward(self, x):
        pre = (x @ self.W_in + self.b_in).detach().numpy()
        post = torch.from_numpy(F.gelu(torch.from_numpy(pre), approximate="tanh").numpy())
        return (post @ self.W_out + self.b_out).detach()


@mutant(hint="shape")
class Squeezed(MLP):
    def forward(self, x):
        return (F.gelu(x @ self.W_in + self.b_in, approximate="tanh") @ self.W_out + self.b_out).squeeze()
