"""Mutants and alternatives for ch1.layer_norm."""
import torch
import torch.nn.functional as F

from circuitlab.ch1.reference import LayerNorm
from circuitlab.grading.meta import alternative, mutant


@mutant(hint="unbiased variance")
class Bessel(LayerNorm):
    def forward(self, x):
        centred = x - x.mean(-1, keepdim=True)
        return centred / (x.var(-1, keepdim=True) + self.cfg.layer_norm_eps).sqrt() * self.w + self.b


@mutant(hint="Epsilon is outside the square root")
class EpsilonOutside(LayerNorm):
    def forward(self, x):
        centred = x - x.mean(-1, keepdim=True)
        return centred / (centred.pow(2).mean(-1, keepdim=True).sqrt() + self.cfg.layer_norm_eps) * self.w + self.b


@mutant(hint="learned scale w and shift b")
class NoAffine(LayerNorm):
    def forward(self, x):
        centred = x - x.mean(-1, keepdim=True)
        return centred / (centred.pow(2).mean(-1, keepdim=True) + self.cfg.layer_norm_eps).sqrt()


@mutant(hint="over d_model only")
class WrongAxis(LayerNorm):
    def forward(self, x):
        centred = x - x.mean(-2, keepdim=True)
        return centred / (centred.pow(2).mean(-2, keepdim=True) + self.cfg.layer_norm_eps).sqrt() * self.w + self.b


@alternative
class WithVarUnbiasedFalse(LayerNorm):
    def forward(self, x):
        mean = x.mean(dim=-1, keepdim=True)
        var = x.var(dim=-1, keepdim=True, unbiased=False)
        return (x - mean) / torch.sqrt(var + self.cfg.layer_norm_eps) * self.w + self.b


@alternative
class WithTorchLayerNorm(LayerNorm):
    def forward(self, x):
        return F.layer_norm(x, (self.cfg.d_model,), self.w, self.b, self.cfg.layer_norm_eps)


@mutant(hint="layer_norm_eps")
class HardCodedEpsilon(LayerNorm):
    def forward(self, x):
        return F.layer_norm(x, (x.shape[-1],), self.w, self.b, 1e-5)


@mutant(hint="not connected to its parameters")
class DetachedStatistics(LayerNorm):
    def forward(self, x):
        with torch.no_grad():
            centred = x - x.mean(-1, keepdim=True)
            out = centred / (centred.pow(2).mean(-1, keepdim=True) + self.cfg.layer_norm_eps).sqrt() * self.w + self.b
        return out


@mutant(hint="gradient")
class ScaleDetached(LayerNorm):
    def forward(self, x):
        centred = x - x.mean(-1, keepdim=True)
        scale = (centred.pow(2).mean(-1, keepdim=True) + self.cfg.layer_norm_eps).sqrt().detach()
        return centred / scale * self.w + self.b


@mutant(hint="shape")
class SqueezesTheBatch(LayerNorm):
    def forward(self, x):
        return F.layer_norm(x, (x.shape[-1],), self.w, self.b, self.cfg.layer_norm_eps).squeeze()


@alternative
class WithRsqrt(LayerNorm):
    def forward(self, x):
        centred = x - x.mean(-1, keepdim=True)
        return centred * torch.rsqrt(centred.square().mean(-1, keepdim=True) + self.cfg.layer_norm_eps) * self.w + self.b
