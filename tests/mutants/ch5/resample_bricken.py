"""Mutants and alternatives for ch5.resample_bricken."""
import torch
import torch.nn.functional as F

from circuitlab.grading.meta import alternative, mutant


def _resample(sae, h, dead, optimizer, *, power=2.0, scale=0.2, live_only=True, reset=("exp_avg", "exp_avg_sq"),
              clear=False, worst=False, centre=True, draw_fn=None):
    with torch.no_grad():
        _, recon = sae(h)
        loss = ((recon - h) ** 2).sum(-1)
        for i in range(dead.shape[0]):
            latents = torch.nonzero(dead[i]).flatten()
            if latents.numel() == 0:
                continue
            if worst:
                drawn = torch.argsort(loss[:, i], descending=True)[:1].repeat(latents.numel())
            else:
                drawn = torch.multinomial(loss[:, i] ** power, latents.numel(), replacement=True)
            directions = F.normalize(h[drawn, i] - (sae.b_dec[i] if centre else 0), dim=-1)
            norms = sae.W_enc[i].norm(dim=0)
            live = ~dead[i]
            mean_norm = (norms[live].mean() if live.any() else torch.tensor(1.0)) if live_only else norms.mean()
            sae.W_dec[i, latents] = directions
            sae.W_enc[i][:, latents] = directions.T * scale * mean_norm
            sae.b_enc[i, latents] = 0.0
            for param, index in [(sae.W_dec, (i, latents)), (sae.W_enc, (i, slice(None), latents)),
                                 (sae.b_enc, (i, latents))]:
                for key in reset:
                    optimizer.state[param][key][index] = 0.0
    if clear:
        optimizer.state.clear()


@mutant(hint="follows the loss itself")
def proportional_to_loss(sae, h, dead, optimizer):
    _resample(sae, h, dead, optimizer, power=1.0)


@mutant(hint="draws every input equally often")
def uniform_draw(sae, h, dead, optimizer):
    _resample(sae, h, dead, optimizer, power=0.0)


@mutant(hint="the same input, the worst one")
def worst_input_for_all(sae, h, dead, optimizer):
    _resample(sae, h, dead, optimizer, worst=True)


@mutant(hint="left out the 0.2")
def simple_rule_scale(sae, h, dead, optimizer):
    _resample(sae, h, dead, optimizer, scale=1.0)


@mutant(hint="live latents only")
def mean_over_all_latents(sae, h, dead, optimizer):
    _resample(sae, h, dead, optimizer, live_only=False)


@mutant(hint="not the whole state")
def clears_whole_state(sae, h, dead, optimizer):
    _resample(sae, h, dead, optimizer, reset=(), clear=True)


@mutant(hint="was not reset")
def keeps_optimizer_state(sae, h, dead, optimizer):
    _resample(sae, h, dead, optimizer, reset=())


@mutant(hint="exp_avg_sq for")
def resets_only_first_moment(sae, h, dead, optimizer):
    _resample(sae, h, dead, optimizer, reset=("exp_avg",))


@mutant(hint="Subtract b_dec")
def uncentred(sae, h, dead, optimizer):
    _resample(sae, h, dead, optimizer, centre=False)


@mutant(hint="changed W_dec of latents that are alive")
def resamples_everything(sae, h, dead, optimizer):
    _resample(sae, h, dead | True, optimizer)


@mutant(hint="was not resampled")
def does_nothing(sae, h, dead, optimizer):
    return None


@alternative
def categorical_draw_and_mean_squared_error(sae, h, dead, optimizer):
    with torch.no_grad():
        _, recon = sae(h)
        loss = ((recon - h) ** 2).mean(-1)  # a mean instead of a sum: the same draw probabilities
        for i in range(dead.shape[0]):
            idx = dead[i].nonzero().squeeze(-1)
            if len(idx) == 0:
                continue
            probs = loss[:, i] ** 2 / (loss[:, i] ** 2).sum()
            drawn = torch.distributions.Categorical(probs=probs).sample((len(idx),))
            v = h[drawn, i] - sae.b_dec[i]
            u = v / v.norm(dim=-1, keepdim=True)
            alive = ~dead[i]
            norm = sae.W_enc[i][:, alive].norm(dim=0).mean() if alive.any() else 1.0
            sae.W_dec[i, idx] = u
            sae.W_enc[i, :, idx] = 0.2 * norm * u.T
            sae.b_enc[i, idx] = 0.0
            state = optimizer.state
            state[sae.W_dec]["exp_avg"][i, idx] = 0
            state[sae.W_dec]["exp_avg_sq"][i, idx] = 0
            state[sae.W_enc]["exp_avg"][i, :, idx] = 0
            state[sae.W_enc]["exp_avg_sq"][i, :, idx] = 0
            state[sae.b_enc]["exp_avg"][i, idx] = 0
            state[sae.b_enc]["exp_avg_sq"][i, idx] = 0
