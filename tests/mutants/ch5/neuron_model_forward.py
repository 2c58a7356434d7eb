"""Mutants and alternatives for ch5.neuron_model_forward."""
import torch
import torch.nn.functional as F

from circuitlab.ch5.reference import NeuronModel
from circuitlab.grading.meta import alternative, mutant


def _up(model, hidden):
    return torch.einsum("ifh,bih->bif", model.W_out, hidden) + model.b_out


@mutant(hint="hidden layer is missing its ReLU")
class NoHiddenReLU(NeuronModel):
    def forward(self, features):
        pre = torch.einsum("ihf,bif->bih", self.W_in, features) + self.b_in
        return F.relu(_up(self, pre))


@mutant(hint="output is missing its ReLU")
class NoOutputReLU(NeuronModel):
    def forward(self, features):
        hidden = F.relu(torch.einsum("ihf,bif->bih", self.W_in, features) + self.b_in)
        return _up(self, hidden)


@mutant(hint="b_in is missing")
class NoHiddenBias(NeuronModel):
    def forward(self, features):
        hidden = F.relu(torch.einsum("ihf,bif->bih", self.W_in, features))
        return F.relu(_up(self, hidden))


@alternative
class WithMatmul(NeuronModel):
    def forward(self, features):
        x = features.transpose(0, 1)  # (inst, batch, feat)
        hidden = F.relu(x @ self.W_in.transpose(1, 2) + self.b_in[:, None])
        out = F.relu(hidden @ self.W_out.transpose(1, 2) + self.b_out[:, None])
        return out.transpose(0, 1)


@mutant(hint="b_out is missing")
class NoOutputBias(NeuronModel):
    def forward(self, features):
        hidden = F.relu(torch.einsum("ihf,bif->bih", self.W_in, features) + self.b_in)
        return F.relu(torch.einsum("ifh,bih->bif", self.W_out, hidden))


@mutant(hint="has shape")
class Squeezed(NeuronModel):
    def forward(self, features):
        hidden = F.relu(torch.einsum("ihf,bif->bih", self.W_in, features) + self.b_in)
        return F.relu(_up(self, hidden)).squeeze()


@mutant(hint="W_in receives no gradient")
class HiddenLayerDetached(NeuronModel):
    def forward(self, features):
        hidden = F.relu(torch.einsum("ihf,bif->bih", self.W_in, features) + self.b_in).detach()
        return F.relu(_up(self, hidden))
