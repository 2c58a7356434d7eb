"""Mutants and alternatives for ch5.toy_model_forward (classes with the given __init__)."""
import torch
import torch.nn.functional as F

from circuitlab.ch5.reference import ToyModel
from circuitlab.grading.meta import alternative, mutant


@mutant(hint="missing its ReLU")
class NoOutputReLU(ToyModel):
    def forward(self, features):
        hidden = torch.einsum("ihf,bif->bih", self.W, features)
        return torch.einsum("ihf,bih->bif", self.W, hidden) + self.b_final


@mutant(hint="added after the ReLU")
class BiasAfterReLU(ToyModel):
    def forward(self, features):
        hidden = torch.einsum("ihf,bif->bih", self.W, features)
        return F.relu(torch.einsum("ihf,bih->bif", self.W, hidden)) + self.b_final


@mutant(hint="Instances are mixed")
class MixedInstances(ToyModel):
    def forward(self, features):
        hidden = torch.einsum("ihf,bjf->bjh", self.W, features)
        return F.relu(torch.einsum("ihf,bih->bif", self.W, hidden) + self.b_final)


@mutant(hint="does not depend on the parameters")
class Detached(ToyModel):
    def forward(self, features):
        W = self.W.detach()
        hidden = torch.einsum("ihf,bif->bih", W, features)
        return F.relu(torch.einsum("ihf,bih->bif", W, hidden) + self.b_final.detach())


@alternative
class WithMatmul(ToyModel):
    def forward(self, features):
        x = features.transpose(0, 1)  # (inst, batch, feat)
        hidden = x @ self.W.transpose(1, 2)  # (inst, batch, hidden)
        out = hidden @ self.W + self.b_final[:, None, :]
        return F.relu(out).transpose(0, 1)


@alternative
class WithGramMatrix(ToyModel):
    def forward(self, features):
        gram = torch.einsum("ihf,ihg->ifg", self.W, self.W)
        return F.relu(torch.einsum("ifg,big->bif", gram, features) + self.b_final)


@mutant(hint="has shape")
class Squeezed(ToyModel):
    def forward(self, features):
        x = features.squeeze()
        hidden = torch.einsum("ihf,...if->...ih", self.W, x) if x.ndim > 1 else None
        if hidden is None:
            hidden = torch.einsum("hf,f->h", self.W[0], x)
            return F.relu(torch.einsum("hf,h->f", self.W[0], hidden) + self.b_final[0])
        return F.relu(torch.einsum("ihf,...ih->...if", self.W, hidden) + self.b_final)


@mutant(hint="gradient of your ToyModel's output with respect to W")
class GradientOnlyThroughOneSide(ToyModel):
    def forward(self, features):
        hidden = torch.einsum("ihf,bif->bih", self.W.detach(), features)
        return F.relu(torch.einsum("ihf,bih->bif", self.W, hidden) + self.b_final)


@mutant(hint="changed its parameter")
class ClampsWeightsInPlace(ToyModel):
    def forward(self, features):
        with torch.no_grad():
            self.W.clamp_(-1.0, 1.0)
        hidden = torch.einsum("ihf,bif->bih", self.W, features)
        return F.relu(torch.einsum("ihf,bih->bif", self.W, hidden) + self.b_final)


@alternative
class WithEinopsAndBmm(ToyModel):
    def forward(self, features):
        import einops

        x = einops.rearrange(features, "b i f -> i b f")
        hidden = torch.bmm(x, self.W.transpose(1, 2))
        out = torch.bmm(hidden, self.W) + self.b_final.unsqueeze(1)
        return einops.rearrange(out.clamp_min(0), "i b f -> b i f")
