"""Reference solutions for chapter 5: toy models of superposition and sparse autoencoders.

Every model here holds many independent *instances* along a leading axis, so a whole
sweep (one instance per feature probability, say) trains in one set of matrix products.
Shapes are written jaxtyping-style; ``inst`` is the instance axis.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import einops
import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float, Int
from torch import Tensor, nn
from tqdm.auto import trange

__all__ = [
    "ToyConfig",
    "feature_probability",
    "generate_batch",
    "importance_weighted_loss",
    "ToyModel",
    "train_toy_model",
    "dimensionality",
    "dimensions_per_feature",
    "IGNORED",
    "ALONE",
    "SUPERPOSED",
    "phase_of",
    "correlated_batch",
    "NeuronModel",
    "abs_computed",
    "ToySAE",
    "sae_loss",
    "resample_dead",
    "resample_bricken",
    "feature_density",
    "variance_explained",
    "matched_cosine",
    "jumprelu",
    "top_activating",
    "splice_through_sae",
    "nearest_parent",
]


@dataclass(frozen=True)
class ToyConfig:
    """Sizes of a toy model: ``n_instances`` independent models of ``n_features`` -> ``n_hidden``."""

    n_instances: int
    n_features: int
    n_hidden: int


# --------------------------------------------------------------------------- data


def feature_probability(n_instances: int, n_features: int, min_probability: float) -> Float[Tensor, "inst feat"]:
    """Probability that each feature is present, per instance.

    Instance 0 is dense (probability 1) and the last instance has ``min_probability``;
    in between the probability falls geometrically, so the sweep spends as many
    instances on each factor-of-ten of sparsity.
    """
    ### BEGIN SOLUTION
    exponents = torch.linspace(0.0, 1.0, n_instances)
    per_instance = min_probability**exponents
    return einops.repeat(per_instance, "inst -> inst feat", feat=n_features).clone()
    ### END SOLUTION


def generate_batch(probability: Float[Tensor, "inst feat"], batch_size: int) -> Float[Tensor, "batch inst feat"]:
    """Sparse synthetic features: each one independently present with its probability,
    and when present, of magnitude uniform in [0, 1)."""
    ### BEGIN SOLUTION
    shape = (batch_size, *probability.shape)
    magnitude = torch.rand(shape, device=probability.device)
    present = torch.rand(shape, device=probability.device) < probability
    return magnitude * present
    ### END SOLUTION


def importance_weighted_loss(
    output: Float[Tensor, "batch inst feat"],
    features: Float[Tensor, "batch inst feat"],
    importance: Float[Tensor, "feat"] | Float[Tensor, "inst feat"],
) -> Float[Tensor, ""]:
    """Importance-weighted squared error: per instance, the mean over batch and features
    of ``importance * (features - output) ** 2``; summed over instances.

    Summing (not averaging) over instances keeps each instance's gradient independent of
    how many instances train alongside it.
    """
    ### BEGIN SOLUTION
    weighted_error = importance * (features - output) ** 2
    per_instance = einops.reduce(weighted_error, "batch inst feat -> inst", "mean")
    return per_instance.sum()
    ### END SOLUTION


# --------------------------------------------------------------------------- the toy model


class ToyModel(nn.Module):
    """``n_features`` -> ``n_hidden`` -> ``n_features`` with tied weights and a ReLU on the output:
    ``x' = ReLU(W^T W x + b)``, for every instance at once."""

    def __init__(self, cfg: ToyConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.W = nn.Parameter(nn.init.xavier_normal_(torch.empty(cfg.n_instances, cfg.n_hidden, cfg.n_features)))
        self.b_final = nn.Parameter(torch.zeros(cfg.n_instances, cfg.n_features))

    def forward(self, features: Float[Tensor, "batch inst feat"]) -> Float[Tensor, "batch inst feat"]:
        ### BEGIN SOLUTION
        hidden = einops.einsum(self.W, features, "inst hidden feat, batch inst feat -> batch inst hidden")
        out = einops.einsum(self.W, hidden, "inst hidden feat, batch inst hidden -> batch inst feat")
        return F.relu(out + self.b_final)
        ### END SOLUTION


def train_toy_model(
    model: nn.Module,
    probability: Float[Tensor, "inst feat"],
    importance: Float[Tensor, "feat"] | Float[Tensor, "inst feat"],
    steps: int = 2000,
    batch_size: int = 512,
    lr: float = 3e-3,
    batch_fn: Callable[[Tensor, int], Tensor] = generate_batch,
    loss_fn: Callable[[Tensor, Tensor, Tensor], Tensor] = importance_weighted_loss,
    progress: bool = False,
) -> list[float]:
    """Train ``model`` with Adam on fresh batches from ``batch_fn``; return the loss per step.

    The loss is summed over instances, so the recorded value is the sum too; divide by
    the number of instances for a per-model average.
    """
    ### BEGIN SOLUTION
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses: list[float] = []
    for _ in trange(steps, desc="training toy models", disable=not progress, mininterval=0.5):
        features = batch_fn(probability, batch_size)
        loss = loss_fn(model(features), features, importance)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
    ### END SOLUTION


# --------------------------------------------------------------------------- geometry


def dimensionality(W: Float[Tensor, "inst hidden feat"]) -> Float[Tensor, "inst feat"]:
    """Feature dimensionality ``D_i = ||W_i||^2 / sum_j (W_i_hat . W_j)^2``.

    It is the fraction of a hidden dimension that feature i gets: 1 for a feature with a
    dimension of its own, 1/2 for one of an antipodal pair, 2/5 in a pentagon. A feature
    the model ignores (``W_i = 0``) has dimensionality 0.
    """
    ### BEGIN SOLUTION
    norms = W.norm(dim=1)  # (inst, feat)
    unit = W / norms.clamp_min(1e-8).unsqueeze(1)
    overlaps = einops.einsum(unit, W, "inst hidden i, inst hidden j -> inst i j")
    interference = (overlaps**2).sum(-1)
    return torch.where(norms > 1e-8, norms**2 / interference.clamp_min(1e-16), torch.zeros_like(norms))
    ### END SOLUTION


def dimensions_per_feature(W: Float[Tensor, "inst hidden feat"]) -> Float[Tensor, "inst"]:
    """Elhage et al.'s ``D* = n_hidden / ||W||_F^2``: hidden dimensions per (effectively) represented feature.

    A represented feature has ``|W_i|`` close to 1, so ``||W||_F^2`` counts the represented features and
    ``D*`` is 1 when each has a dimension of its own, 1/2 for antipodal pairs. ``W = 0`` gives ``inf``.
    """
    ### BEGIN SOLUTION
    return W.shape[1] / einops.reduce(W**2, "inst hidden feat -> inst", "sum")
    ### END SOLUTION


# The three outcomes of the 2-features-in-1-dimension phase diagram, for the extra feature (feature 1).
IGNORED, ALONE, SUPERPOSED = 0, 1, 2


def phase_of(W: Float[Tensor, "inst hidden 2"], threshold: float = 0.5) -> Int[Tensor, "inst"]:
    """What each toy model of two features did with the extra feature (feature 1).

    A feature is represented when the norm of its embedding ``W[i, :, f]`` is strictly above
    ``threshold``. ``IGNORED`` (0): feature 1 is not represented; ``ALONE`` (1): feature 1 is
    represented and feature 0 is not (the extra feature took the dimension); ``SUPERPOSED`` (2):
    both are represented.
    """
    ### BEGIN SOLUTION
    represented = W.norm(dim=1) > threshold  # (inst, 2)
    first, extra = represented[:, 0], represented[:, 1]
    both_or_alone = torch.where(first, torch.full_like(first, SUPERPOSED, dtype=torch.long),
                                torch.full_like(first, ALONE, dtype=torch.long))
    return torch.where(extra, both_or_alone, torch.full_like(first, IGNORED, dtype=torch.long))
    ### END SOLUTION


def correlated_batch(
    probability: Float[Tensor, "inst pairs"], batch_size: int, correlated: bool = True
) -> Float[Tensor, "batch inst feat"]:
    """Features in pairs (2k, 2k+1); each feature present with probability ``p`` of its pair.

    - correlated: a pair is present (both features) with probability p, or absent (both);
    - anticorrelated: at most one feature of a pair is present; the pair fires with
      probability 2p and then one of its two features, chosen fairly (needs p <= 1/2).

    Magnitudes are independent and uniform in [0, 1) either way.
    """
    ### BEGIN SOLUTION
    shape = (batch_size, *probability.shape)
    device = probability.device
    magnitude = torch.rand(*shape, 2, device=device)
    if correlated:
        pair_on = torch.rand(shape, device=device) < probability
        present = einops.repeat(pair_on, "batch inst pairs -> batch inst pairs two", two=2)
    else:
        pair_on = torch.rand(shape, device=device) < 2 * probability
        first = torch.rand(shape, device=device) < 0.5
        present = torch.stack([pair_on & first, pair_on & ~first], dim=-1)
    return einops.rearrange(magnitude * present, "batch inst pairs two -> batch inst (pairs two)")
    ### END SOLUTION


class NeuronModel(nn.Module):
    """A toy model whose hidden layer has a ReLU, so its basis is privileged:
    ``h = ReLU(W_in x + b_in)``, ``x' = ReLU(W_out h + b_out)``."""

    def __init__(self, cfg: ToyConfig) -> None:
        super().__init__()
        self.cfg = cfg
        n, f, h = cfg.n_instances, cfg.n_features, cfg.n_hidden
        self.W_in = nn.Parameter(nn.init.xavier_normal_(torch.empty(n, h, f)))
        self.b_in = nn.Parameter(torch.zeros(n, h))
        self.W_out = nn.Parameter(nn.init.xavier_normal_(torch.empty(n, f, h)))
        self.b_out = nn.Parameter(torch.zeros(n, f))

    def forward(self, features: Float[Tensor, "batch inst feat"]) -> Float[Tensor, "batch inst feat"]:
        ### BEGIN SOLUTION
        pre = einops.einsum(self.W_in, features, "inst hidden feat, batch inst feat -> batch inst hidden")
        hidden = F.relu(pre + self.b_in)
        out = einops.einsum(self.W_out, hidden, "inst feat hidden, batch inst hidden -> batch inst feat")
        return F.relu(out + self.b_out)
        ### END SOLUTION


@torch.no_grad()
def abs_computed(model: nn.Module, values: Float[Tensor, "n_values"], tolerance: float = 0.25) -> Bool[Tensor, "inst feat"]:
    """Which features a toy model computes ``|x|`` for, one feature at a time.

    For each instance and feature ``f`` and each value ``v`` in ``values``, the model is run on the input
    whose feature ``f`` is ``v`` and every other feature is 0; feature ``f`` counts as computed when its
    output is within ``tolerance`` of ``|v|`` (``<=``) for every value. Sizes come from ``model.cfg``.
    """
    ### BEGIN SOLUTION
    n_inst, n_feat = model.cfg.n_instances, model.cfg.n_features
    n_values = values.shape[0]
    # One input per (value, feature): feature f set to v, the others 0, the same for every instance.
    inputs = einops.einsum(values, torch.eye(n_feat, dtype=values.dtype), "v, f g -> v f g")
    inputs = einops.repeat(inputs, "v f g -> (v f) inst g", inst=n_inst)
    out = model(inputs)
    out = einops.rearrange(out, "(v f) inst g -> v f inst g", v=n_values)
    own = torch.diagonal(out, dim1=1, dim2=3)  # (v, inst, f): feature f's output when f alone is on
    error = (own - values.abs()[:, None, None]).abs()
    return (error <= tolerance).all(0)
    ### END SOLUTION


# --------------------------------------------------------------------------- sparse autoencoders


class ToySAE(nn.Module):
    """A sparse autoencoder per instance: ``d_in`` -> ``d_sae`` latents -> ``d_in``.

    The decoder's latent directions (rows of ``W_dec``) are normalised to unit length in
    the forward pass, so the L1 penalty cannot be dodged by shrinking the activations
    and growing the decoder.
    """

    def __init__(self, n_instances: int, d_in: int, d_sae: int) -> None:
        super().__init__()
        self.W_enc = nn.Parameter(nn.init.kaiming_uniform_(torch.empty(n_instances, d_in, d_sae)))
        self.b_enc = nn.Parameter(torch.zeros(n_instances, d_sae))
        self.W_dec = nn.Parameter(nn.init.kaiming_uniform_(torch.empty(n_instances, d_sae, d_in)))
        self.b_dec = nn.Parameter(torch.zeros(n_instances, d_in))

    def forward(
        self, h: Float[Tensor, "batch inst d_in"]
    ) -> tuple[Float[Tensor, "batch inst d_sae"], Float[Tensor, "batch inst d_in"]]:
        ### BEGIN SOLUTION
        centred = h - self.b_dec
        pre = einops.einsum(centred, self.W_enc, "batch inst d_in, inst d_in d_sae -> batch inst d_sae")
        acts = F.relu(pre + self.b_enc)
        decoder = self.W_dec / self.W_dec.norm(dim=-1, keepdim=True)
        recon = einops.einsum(acts, decoder, "batch inst d_sae, inst d_sae d_in -> batch inst d_in")
        return acts, recon + self.b_dec
        ### END SOLUTION


def sae_loss(
    h: Float[Tensor, "batch inst d_in"],
    acts: Float[Tensor, "batch inst d_sae"],
    recon: Float[Tensor, "batch inst d_in"],
    l1_coeff: float,
) -> Float[Tensor, "inst"]:
    """Per instance: mean squared reconstruction error (over batch and ``d_in``) plus
    ``l1_coeff`` times the mean over the batch of the latents' L1 norm."""
    ### BEGIN SOLUTION
    reconstruction = einops.reduce((recon - h) ** 2, "batch inst d_in -> inst", "mean")
    l1 = einops.reduce(acts.abs(), "batch inst d_sae -> batch inst", "sum").mean(0)
    return reconstruction + l1_coeff * l1
    ### END SOLUTION


@torch.no_grad()
def resample_dead(sae: ToySAE, h: Float[Tensor, "batch inst d_in"], dead: Bool[Tensor, "inst d_sae"]) -> None:
    """Give every dead latent a new direction: the input its SAE reconstructs worst.

    Per instance, inputs are ranked by squared reconstruction error (worst first) and
    the k-th dead latent (in index order) takes the k-th worst input ``v = h - b_dec``:
    its decoder row becomes ``v / |v|``; its encoder column becomes ``v / |v|`` times the
    mean encoder-column norm of the instance's live latents (1 if none is live); its
    encoder bias becomes 0. Live latents are left exactly as they were.
    """
    ### BEGIN SOLUTION
    _, recon = sae(h)
    error = ((recon - h) ** 2).sum(-1)  # (batch, inst)
    for inst in range(dead.shape[0]):
        dead_latents = torch.nonzero(dead[inst]).flatten()
        if dead_latents.numel() == 0:
            continue
        worst = torch.argsort(error[:, inst], descending=True, stable=True)[: dead_latents.numel()]
        directions = F.normalize(h[worst, inst] - sae.b_dec[inst], dim=-1)  # (n_dead, d_in)
        encoder_norms = sae.W_enc[inst].norm(dim=0)  # (d_sae,)
        live = ~dead[inst]
        scale = encoder_norms[live].mean() if live.any() else torch.tensor(1.0)
        sae.W_dec[inst, dead_latents] = directions
        sae.W_enc[inst][:, dead_latents] = directions.T * scale
        sae.b_enc[inst, dead_latents] = 0.0
    ### END SOLUTION


@torch.no_grad()
def resample_bricken(
    sae: ToySAE, h: Float[Tensor, "batch inst d_in"], dead: Bool[Tensor, "inst d_sae"], optimizer: torch.optim.Adam
) -> None:
    """Resample dead latents as Bricken et al. (2023) describe.

    Per instance, each input's loss is its squared reconstruction error (summed over ``d_in``);
    every dead latent independently draws one input, with probability proportional to the
    *square* of that loss (with replacement). With ``v = h - b_dec`` for the drawn input, the
    latent's decoder row becomes ``v / |v|``, its encoder column ``0.2 * mean_live_norm * v / |v|``
    (the mean encoder-column norm of the instance's live latents, 1 if none is live), its encoder
    bias 0; and Adam's running moments (``exp_avg``, ``exp_avg_sq``) of exactly those entries are
    reset to 0. Live latents, their optimizer state and the step counts are left as they were.
    """
    ### BEGIN SOLUTION
    _, recon = sae(h)
    loss = ((recon - h) ** 2).sum(-1)  # (batch, inst)
    for inst in range(dead.shape[0]):
        latents = torch.nonzero(dead[inst]).flatten()
        if latents.numel() == 0:
            continue
        drawn = torch.multinomial(loss[:, inst] ** 2, latents.numel(), replacement=True)
        directions = F.normalize(h[drawn, inst] - sae.b_dec[inst], dim=-1)  # (n_dead, d_in)
        live = ~dead[inst]
        mean_live_norm = sae.W_enc[inst].norm(dim=0)[live].mean() if live.any() else torch.tensor(1.0)
        sae.W_dec[inst, latents] = directions
        sae.W_enc[inst][:, latents] = directions.T * 0.2 * mean_live_norm
        sae.b_enc[inst, latents] = 0.0
        for param, index in [(sae.W_dec, (inst, latents)), (sae.W_enc, (inst, slice(None), latents)),
                             (sae.b_enc, (inst, latents))]:
            state = optimizer.state.get(param, {})
            for key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
                if key in state:
                    state[key][index] = 0.0
    ### END SOLUTION


def feature_density(acts: Float[Tensor, "batch inst d_sae"]) -> Float[Tensor, "inst d_sae"]:
    """Per instance and latent, the fraction of the inputs on which the latent fires (is > 0)."""
    ### BEGIN SOLUTION
    return (acts > 0).float().mean(0)
    ### END SOLUTION


def variance_explained(h: Float[Tensor, "batch inst d_in"], recon: Float[Tensor, "batch inst d_in"]) -> Float[Tensor, "inst"]:
    """Per instance, ``1 - sum (recon - h)**2 / sum (h - mean h)**2``: the sums run over the batch and
    ``d_in``, and ``mean h`` is the instance's mean input (over the batch)."""
    ### BEGIN SOLUTION
    residual = einops.reduce((recon - h) ** 2, "batch inst d_in -> inst", "sum")
    total = einops.reduce((h - h.mean(0, keepdim=True)) ** 2, "batch inst d_in -> inst", "sum")
    return 1 - residual / total
    ### END SOLUTION


def matched_cosine(
    learned: Float[Tensor, "inst d_sae d_in"], true: Float[Tensor, "inst n_feat d_in"]
) -> Float[Tensor, "inst n_feat"]:
    """For each ground-truth direction, the highest cosine similarity with any learned direction.

    A zero direction (a feature the toy model does not represent) scores 0.
    """
    ### BEGIN SOLUTION
    learned_unit = F.normalize(learned, dim=-1)
    true_unit = F.normalize(true, dim=-1)
    cosines = einops.einsum(true_unit, learned_unit, "inst feat d, inst latent d -> inst feat latent")
    return cosines.max(dim=-1).values
    ### END SOLUTION


# --------------------------------------------------------------------------- bonus: JumpReLU


class JumpReLUFunction(torch.autograd.Function):
    """``z * H(z - theta)`` with the straight-through pseudo-derivative for ``theta``."""

    @staticmethod
    def forward(ctx, pre: Tensor, threshold: Tensor, bandwidth: float) -> Tensor:
        ### BEGIN SOLUTION
        ctx.save_for_backward(pre, threshold)
        ctx.bandwidth = bandwidth
        return pre * (pre > threshold)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        ### BEGIN SOLUTION
        pre, threshold = ctx.saved_tensors
        eps = ctx.bandwidth
        # d/dz: the gate is locally constant, so the gradient passes where the latent is on.
        grad_pre = grad_out * (pre > threshold)
        # d/dtheta: the jump of height theta at z = theta, smoothed by a rectangle of width eps.
        in_window = ((pre - threshold).abs() < eps / 2).to(pre.dtype)
        grad_threshold_full = grad_out * (-threshold / eps) * in_window
        grad_threshold = grad_threshold_full.sum_to_size(threshold.shape)
        return grad_pre, grad_threshold, None
        ### END SOLUTION


def jumprelu(
    pre: Float[Tensor, "... d_sae"], threshold: Float[Tensor, "d_sae"], bandwidth: float = 0.05
) -> Float[Tensor, "... d_sae"]:
    """JumpReLU: ``pre`` where ``pre > threshold``, else 0, trainable in ``threshold``.

    Backward: ``d/d pre = 1[pre > threshold]`` and
    ``d/d threshold = -(threshold / bandwidth) * 1[|pre - threshold| < bandwidth / 2]``.
    """
    return JumpReLUFunction.apply(pre, threshold, bandwidth)


# --------------------------------------------------------------------------- bonus: an SAE on a real residual stream


def top_activating(acts: Float[Tensor, "batch pos d_sae"], latent: int, k: int) -> Int[Tensor, "k 2"]:
    """Where one latent fires hardest: the (sequence, position) pairs of its ``k`` largest
    activations over the whole batch, largest first."""
    ### BEGIN SOLUTION
    values = acts[..., latent]  # (batch, pos)
    flat = einops.rearrange(values, "batch pos -> (batch pos)")
    order = torch.topk(flat, k).indices
    rows, cols = torch.unravel_index(order, values.shape)
    return torch.stack([rows, cols], dim=-1)
    ### END SOLUTION


def splice_through_sae(
    resid: Float[Tensor, "batch pos d_model"], sae: nn.Module, mean: Float[Tensor, "d_model"], scale: float
) -> Float[Tensor, "batch pos d_model"]:
    """The SAE's reconstruction of residual-stream vectors, in the model's own units.

    The SAE (one instance) was trained on normalised vectors ``(resid - mean) * scale``; normalise, run
    the SAE on every (sequence, position), and undo the normalisation of its reconstruction.
    """
    ### BEGIN SOLUTION
    normalised = (resid - mean) * scale
    flat = einops.rearrange(normalised, "batch pos d -> (batch pos) 1 d")
    _, recon = sae(flat)
    recon = einops.rearrange(recon, "(batch pos) 1 d -> batch pos d", batch=resid.shape[0])
    return recon / scale + mean
    ### END SOLUTION


def nearest_parent(
    small: Float[Tensor, "n_small d"], large: Float[Tensor, "n_large d"]
) -> tuple[Int[Tensor, "n_large"], Float[Tensor, "n_large"]]:
    """For each latent of a larger dictionary, its closest latent in a smaller one.

    ``small`` and ``large`` are decoder rows (any norms). Return, per row of ``large``, the index of the
    row of ``small`` with the highest cosine similarity (the first one on ties) and that cosine. A zero
    row has cosine 0 with everything.
    """
    ### BEGIN SOLUTION
    cosines = F.normalize(large, dim=-1) @ F.normalize(small, dim=-1).T  # (n_large, n_small)
    best = cosines.argmax(-1)
    return best, cosines.gather(-1, best[:, None])[:, 0]
    ### END SOLUTION
