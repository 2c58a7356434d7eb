"""Mutants and alternatives for ch5.resample_dead."""
import torch
import torch.nn.functional as F

from circuitlab.grading.meta import alternative, mutant


def _resample(sae, h, dead, *, which=None, worst=True, centre=True, normalise=True, scale_encoder=True):
    which = dead if which is None else which
    with torch.no_grad():
        _, recon = sae(h)
        error = ((recon - h) ** 2).sum(-1)
        for i in range(which.shape[0]):
            latents = torch.nonzero(which[i]).flatten()
            if latents.numel() == 0:
                continue
            order = torch.argsort(error[:, i], descending=worst, stable=True)[: latents.numel()]
            v = h[order, i] - (sae.b_dec[i] if centre else 0)
            directions = F.normalize(v, dim=-1) if normalise else v
            live = ~dead[i]
            scale = sae.W_enc[i].norm(dim=0)[live].mean() if (live.any() and scale_encoder) else 1.0
            sae.W_dec[i, latents] = directions
            sae.W_enc[i][:, latents] = directions.T * scale
            sae.b_enc[i, latents] = 0.0


@mutant(hint="were not resampled")
def never_resamples(sae, h, dead):
    return None


@mutant(hint="changed latents that are alive")
def resamples_live(sae, h, dead):
    _resample(sae, h, dead, which=~dead)


@mutant(hint="changed latents that are alive")
def resamples_everything(sae, h, dead):
    _resample(sae, h, dead, which=torch.ones_like(dead))


@mutant(hint="worst reconstructed inputs")
def best_inputs(sae, h, dead):
    _resample(sae, h, dead, worst=False)


@mutant(hint="Subtract b_dec")
def uncentred(sae, h, dead):
    _resample(sae, h, dead, centre=False)


@mutant(hint="not unit vectors")
def unnormalised(sae, h, dead):
    _resample(sae, h, dead, normalise=False)


@mutant(hint="mean encoder-column norm")
def unit_encoder(sae, h, dead):
    _resample(sae, h, dead, scale_encoder=False)


@alternative
def with_topk_and_data(sae, h, dead):
    _, recon = sae(h)
    error = ((recon - h) ** 2).sum(-1).detach()
    for i in range(dead.shape[0]):
        idx = dead[i].nonzero().squeeze(-1)
        if len(idx) == 0:
            continue
        top = error[:, i].topk(len(idx)).indices
        v = h[top, i] - sae.b_dec.data[i]
        u = v / v.norm(dim=-1, keepdim=True)
        alive = ~dead[i]
        norm = sae.W_enc.data[i][:, alive].norm(dim=0).mean() if alive.any() else 1.0
        sae.W_dec.data[i, idx] = u
        sae.W_enc.data[i, :, idx] = u.T * norm
        sae.b_enc.data[i, idx] = 0


@mutant(hint="replaced the parameter")
def new_parameters(sae, h, dead):
    _resample(sae, h, dead)
    sae.W_dec = torch.nn.Parameter(sae.W_dec.detach().clone())


_first_errors = {}


@mutant(hint="second call")
def ranks_once(sae, h, dead):
    # Keeps the ranking of the first call's inputs: later calls reuse stale inputs.
    if "h" not in _first_errors:
        _first_errors["h"] = h.clone()
    _resample(sae, _first_errors["h"], dead)


@mutant(hint="Gradients are switched off")
def leaves_grad_mode_off(sae, h, dead):
    torch.set_grad_enabled(False)
    _resample(sae, h, dead)
