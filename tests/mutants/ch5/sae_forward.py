"""Mutants and alternatives for ch5.sae_forward."""
import torch
import torch.nn.functional as F

from circuitlab.ch5.reference import ToySAE
from circuitlab.grading.meta import alternative, mutant


def _encode(sae, h, centre=True):
    x = h - sae.b_dec if centre else h
    return F.relu(torch.einsum("bid,ids->bis", x, sae.W_enc) + sae.b_enc)


def _decode(sae, acts, decoder):
    return torch.einsum("bis,isd->bid", acts, decoder) + sae.b_dec


@mutant(hint="decoder is not normalised")
class UnnormalisedDecoder(ToySAE):
    def forward(self, h):
        acts = _encode(self, h)
        return acts, _decode(self, acts, self.W_dec)


@mutant(hint="normalised along the wrong axis")
class NormalisedOverLatents(ToySAE):
    def forward(self, h):
        acts = _encode(self, h)
        return acts, _decode(self, acts, self.W_dec / self.W_dec.norm(dim=1, keepdim=True))


@mutant(hint="Subtract b_dec from the input")
class NoCentring(ToySAE):
    def forward(self, h):
        acts = _encode(self, h, centre=False)
        return acts, _decode(self, acts, F.normalize(self.W_dec, dim=-1))


@mutant(hint="missing their ReLU")
class NoReLU(ToySAE):
    def forward(self, h):
        acts = torch.einsum("bid,ids->bis", h - self.b_dec, self.W_enc) + self.b_enc
        return acts, _decode(self, acts, F.normalize(self.W_dec, dim=-1))


@mutant(hint="no gradient")
class NormalisesWithoutGradient(ToySAE):
    def forward(self, h):
        acts = _encode(self, h)
        return acts, _decode(self, acts, F.normalize(self.W_dec, dim=-1).detach())


@alternative
class WithNormalize(ToySAE):
    def forward(self, h):
        x = (h - self.b_dec).transpose(0, 1)  # (inst, batch, d_in)
        acts = F.relu(x @ self.W_enc + self.b_enc[:, None]).transpose(0, 1)
        decoder = F.normalize(self.W_dec, dim=-1)
        return acts, (acts.transpose(0, 1) @ decoder).transpose(0, 1) + self.b_dec


@mutant(hint="changed its parameter W_dec")
class NormalisesInPlace(ToySAE):
    def forward(self, h):
        with torch.no_grad():
            self.W_dec.div_(self.W_dec.norm(dim=-1, keepdim=True))
        acts = _encode(self, h)
        return acts, _decode(self, acts, self.W_dec)


@mutant(hint="has shape")
class Squeezed(ToySAE):
    def forward(self, h):
        acts = _encode(self, h)
        return acts.squeeze(), _decode(self, acts, F.normalize(self.W_dec, dim=-1)).squeeze()


@mutant(hint="with respect to W_dec")
class NormWithoutGradient(ToySAE):
    def forward(self, h):
        acts = _encode(self, h)
        return acts, _decode(self, acts, self.W_dec / self.W_dec.norm(dim=-1, keepdim=True).detach())


@alternative
class WithRsqrt(ToySAE):
    def forward(self, h):
        import einops

        pre = einops.einsum(h - self.b_dec, self.W_enc, "b i d, i d s -> b i s") + self.b_enc
        acts = torch.clamp(pre, min=0)
        decoder = self.W_dec * torch.rsqrt((self.W_dec**2).sum(-1, keepdim=True))
        return acts, einops.einsum(acts, decoder, "b i s, i s d -> b i d") + self.b_dec
