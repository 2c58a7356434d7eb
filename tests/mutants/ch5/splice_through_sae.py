"""Mutants and alternatives for ch5.splice_through_sae."""
import einops
import torch

from circuitlab.grading.meta import alternative, mutant


def _recon(sae, x):
    _, recon = sae(einops.rearrange(x, "b p d -> (b p) 1 d"))
    return einops.rearrange(recon, "(b p) 1 d -> b p d", b=x.shape[0])


@mutant(hint="yours is still normalised")
def stays_normalised(resid, sae, mean, scale):
    return _recon(sae, (resid - mean) * scale)


@mutant(hint="reverse order")
def wrong_order(resid, sae, mean, scale):
    return (_recon(sae, (resid - mean) * scale) + mean) / scale


@mutant(hint="divide by it on the way back")
def multiplies_back(resid, sae, mean, scale):
    return _recon(sae, (resid - mean) * scale) * scale + mean


@mutant(hint="Centre before scaling")
def scale_then_centre(resid, sae, mean, scale):
    return _recon(sae, resid * scale) / scale + mean


@mutant(hint="normalise resid before running the SAE")
def raw_input(resid, sae, mean, scale):
    return _recon(sae, resid)


@mutant(hint="shape")
def flat_output(resid, sae, mean, scale):
    return einops.rearrange(_recon(sae, (resid - mean) * scale) / scale + mean, "b p d -> (b p) d")


@alternative
def per_sequence(resid, sae, mean, scale):
    rows = []
    with torch.no_grad():
        for seq in resid:
            _, recon = sae(((seq - mean) * scale)[:, None, :])
            rows.append(recon[:, 0] / scale + mean)
    return torch.stack(rows)
