"""Training runs and measurements for chapter 5, shared by the notebook, the tests and
the script that produces the shipped checkpoints (``python -m circuitlab.ch5.train``).

Functions that use an exercise's object take it as an argument (``batch_fn``,
``resample_fn``, ...), defaulting to the reference, so the notebook can run the same
experiments on the learner's own code.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import einops
import torch
from jaxtyping import Float, Int
from torch import Tensor, nn

from circuitlab.ch5 import reference as ref
from circuitlab.training_loop import progress_bar

__all__ = [
    "SweepSettings",
    "SAESettings",
    "represented_features",
    "run_sparsity_sweep",
    "ScaleSettings",
    "run_scale_sweep",
    "PhaseSettings",
    "run_phase_sweep",
    "candidate_phase",
    "AbsSettings",
    "signed_batch",
    "abs_loss",
    "run_abs_experiment",
    "hidden_activations",
    "train_sae",
    "SAERun",
    "recovery_report",
    "save_toy",
    "load_toy",
    "TOY_CHECKPOINTS",
]

TOY_CHECKPOINTS = Path(__file__).resolve().parents[1] / "models" / "checkpoints"
# A toy checkpoint is plain torch: ``model.safetensors`` + ``toy.json`` (class, sizes, recipe,
# measured results). The file is not called config.json, so the TransformerLens model store
# (circuitlab.models) does not list it among the checkpoints it can boot.
TOY_CONFIG_FILE = "toy.json"
WEIGHTS_FILE = "model.safetensors"


# --------------------------------------------------------------------------- the 5 -> 2 sweep


@dataclass(frozen=True)
class SweepSettings:
    """The standard sparsity sweep: 5 features squeezed into 2 dimensions."""

    n_instances: int = 8
    n_features: int = 5
    n_hidden: int = 2
    min_probability: float = 0.02
    importance_decay: float = 0.9
    steps: int = 2000
    batch_size: int = 128
    lr: float = 5e-3
    seed: int = 0


def importance_for(n_features: int, decay: float) -> Float[Tensor, "feat"]:
    """Feature i has importance decay**i: feature 0 matters most."""
    return decay ** torch.arange(n_features, dtype=torch.float32)


def represented_features(W: Float[Tensor, "inst hidden feat"], threshold: float = 0.5) -> Tensor:
    """Per instance, how many features have an embedding of norm above ``threshold``.

    A trained toy model gives a feature it keeps a norm close to 1 and one it drops a
    norm close to 0, so the count does not depend much on the threshold.
    """
    return (W.norm(dim=1) > threshold).sum(-1)


def run_sparsity_sweep(
    settings: SweepSettings = SweepSettings(),
    model_class: type[nn.Module] = ref.ToyModel,
    probability_fn: Callable[..., Tensor] = ref.feature_probability,
    batch_fn: Callable[[Tensor, int], Tensor] = ref.generate_batch,
    loss_fn: Callable[..., Tensor] = ref.importance_weighted_loss,
    train_fn: Callable[..., list[float]] = ref.train_toy_model,
    progress: bool = False,
) -> tuple[nn.Module, Tensor, list[float]]:
    """Train one toy model per feature probability; return (model, probability, losses)."""
    torch.manual_seed(settings.seed)
    cfg = ref.ToyConfig(settings.n_instances, settings.n_features, settings.n_hidden)
    model = model_class(cfg)
    probability = probability_fn(settings.n_instances, settings.n_features, settings.min_probability)
    importance = importance_for(settings.n_features, settings.importance_decay)
    losses = train_fn(model, probability, importance, steps=settings.steps, batch_size=settings.batch_size,
                      lr=settings.lr, batch_fn=batch_fn, loss_fn=loss_fn, progress=progress)
    return model, probability, losses


# --------------------------------------------------------------------------- dimensionality at scale


@dataclass(frozen=True)
class ScaleSettings:
    """Many equally important features in a few dimensions (200 in 20), one instance per probability.

    A short run: Elhage et al. train far longer and on a finer grid of sparsities, which is what it
    takes to see every plateau."""

    n_features: int = 200
    n_hidden: int = 20
    probabilities: tuple[float, ...] = (0.3, 0.2, 0.1)
    steps: int = 2000
    batch_size: int = 256
    lr: float = 1e-2
    seed: int = 0


def run_scale_sweep(
    settings: ScaleSettings = ScaleSettings(),
    model_class: type[nn.Module] = ref.ToyModel,
    batch_fn: Callable[[Tensor, int], Tensor] = ref.generate_batch,
    loss_fn: Callable[..., Tensor] = ref.importance_weighted_loss,
    train_fn: Callable[..., list[float]] = ref.train_toy_model,
    progress: bool = False,
) -> tuple[nn.Module, Tensor, list[float]]:
    """Train one toy model per probability in ``settings.probabilities``; return (model, probability, losses)."""
    torch.manual_seed(settings.seed)
    n = len(settings.probabilities)
    model = model_class(ref.ToyConfig(n, settings.n_features, settings.n_hidden))
    probability = torch.tensor(settings.probabilities)[:, None].expand(n, settings.n_features).clone()
    losses = train_fn(model, probability, torch.ones(settings.n_features), steps=settings.steps,
                      batch_size=settings.batch_size, lr=settings.lr, batch_fn=batch_fn, loss_fn=loss_fn,
                      progress=progress)
    return model, probability, losses


PLATEAUS = {"1": 1.0, "3/4": 3 / 4, "2/3": 2 / 3, "1/2": 1 / 2, "2/5": 2 / 5, "3/8": 3 / 8}


def plateau_counts(dims: Float[Tensor, "feat"], tolerance: float = 0.01) -> dict[str, int]:
    """How many of the given dimensionalities lie within ``tolerance`` of each plateau (1, 3/4, ..., 3/8)."""
    return {name: int(((dims - value).abs() <= tolerance).sum()) for name, value in PLATEAUS.items()}


# --------------------------------------------------------------------------- the 2 -> 1 phase diagram


@dataclass(frozen=True)
class PhaseSettings:
    """Two features in one dimension, on a grid of (importance of feature 1, feature probability).

    Feature 0 has importance 1. Each grid cell trains ``restarts`` models from different
    initialisations and keeps the one with the lowest loss, as Elhage et al. do: a single run
    can settle in a worse arrangement (a feature whose weight reached 0 gets no gradient back).
    """

    n_importance: int = 7
    n_probability: int = 7
    importance_range: tuple[float, float] = (0.1, 10.0)
    probability_range: tuple[float, float] = (0.01, 1.0)
    restarts: int = 3
    steps: int = 2000
    batch_size: int = 256
    lr: float = 1e-2
    eval_batch: int = 20_000
    seed: int = 0


def phase_grid(settings: PhaseSettings) -> tuple[Tensor, Tensor]:
    """The grid's axes: relative importances and feature probabilities, each log-spaced."""
    lo, hi = settings.importance_range
    importance = torch.logspace(math.log10(lo), math.log10(hi), settings.n_importance)
    lo, hi = settings.probability_range
    probability = torch.logspace(math.log10(lo), math.log10(hi), settings.n_probability)
    return importance, probability


def run_phase_sweep(
    settings: PhaseSettings = PhaseSettings(),
    model_class: type[nn.Module] = ref.ToyModel,
    batch_fn: Callable[[Tensor, int], Tensor] = ref.generate_batch,
    loss_fn: Callable[..., Tensor] = ref.importance_weighted_loss,
    train_fn: Callable[..., list[float]] = ref.train_toy_model,
    progress: bool = False,
) -> dict[str, Tensor]:
    """Train the grid; return its axes and, per cell, the kept model's ``W`` (importance, probability, 1, 2)."""
    torch.manual_seed(settings.seed)
    importance_axis, probability_axis = phase_grid(settings)
    R, P = torch.meshgrid(importance_axis, probability_axis, indexing="ij")
    cells, k = R.numel(), settings.restarts
    importance = torch.stack([torch.ones(cells), R.flatten()], -1).repeat(k, 1)  # (k * cells, 2)
    probability = P.flatten()[:, None].expand(cells, 2).repeat(k, 1)
    model = model_class(ref.ToyConfig(k * cells, 2, 1))
    train_fn(model, probability, importance, steps=settings.steps, batch_size=settings.batch_size, lr=settings.lr,
             batch_fn=batch_fn, loss_fn=loss_fn, progress=progress)
    with torch.no_grad():
        features = batch_fn(probability, settings.eval_batch)
        per_instance = (importance * (features - model(features)) ** 2).mean((0, 2)).reshape(k, cells)
    best = per_instance.argmin(0)
    W = model.W.detach().reshape(k, cells, 1, 2)[best, torch.arange(cells)]
    return {"importance": importance_axis, "probability": probability_axis,
            "W": W.reshape(settings.n_importance, settings.n_probability, 1, 2),
            "loss": per_instance.min(0).values.reshape(settings.n_importance, settings.n_probability)}


def candidate_phase(importance: Tensor, probability: Tensor) -> Int[Tensor, "n_importance n_probability"]:
    """The qualitative layout of the paper's phase diagram, from the loss of three candidate solutions.

    With weight 1 on the kept feature(s) and zero bias, per example and feature the expected loss is
    (features uniform in [0, 1), each present with probability p, feature 0 of importance 1 and
    feature 1 of importance r):

    - feature 0 alone (feature 1 ignored): ``r * p / 3`` (feature 1 is never reconstructed);
    - feature 1 alone: ``p / 3``;
    - both, antipodal (``W = [1, -1]``): exact when one feature is present; when both are, each output
      is ``ReLU(x_i - x_j)``, which costs ``E[min(x_0, x_1)**2] = 1/6`` per feature, so ``p**2 (1 + r) / 6``.

    The candidate with the lowest loss names the cell. The paper optimises the weights and bias of
    each candidate; this cruder version keeps the layout (which side of r = 1 wins when dense, a
    superposed region opening up as the features get sparser) but not the exact boundaries.
    """
    r, p = torch.meshgrid(importance, probability, indexing="ij")
    losses = torch.stack([r * p / 3, p / 3, p**2 * (1 + r) / 6])  # IGNORED, ALONE, SUPERPOSED
    return losses.argmin(0)


# --------------------------------------------------------------------------- computation in superposition: |x|


@dataclass(frozen=True)
class AbsSettings:
    """A ReLU-hidden-layer model trained to output ``|x|`` for signed sparse features, dense to sparse."""

    n_instances: int = 4
    n_features: int = 8
    n_hidden: int = 6
    min_probability: float = 0.03
    importance_decay: float = 0.9
    steps: int = 3000
    batch_size: int = 512
    lr: float = 3e-3
    seed: int = 0


def signed_batch(probability: Float[Tensor, "inst feat"], batch_size: int) -> Float[Tensor, "batch inst feat"]:
    """Signed sparse features: present with probability p, then uniform in [-1, 1)."""
    shape = (batch_size, *probability.shape)
    present = torch.rand(shape, device=probability.device) < probability
    return (2 * torch.rand(shape, device=probability.device) - 1) * present


def abs_loss(output: Tensor, features: Tensor, importance: Tensor) -> Tensor:
    """The importance-weighted squared error against the target ``|x|`` (summed over instances)."""
    return (importance * (features.abs() - output) ** 2).mean((0, 2)).sum()


def run_abs_experiment(
    settings: AbsSettings = AbsSettings(),
    model_class: type[nn.Module] = ref.NeuronModel,
    probability_fn: Callable[..., Tensor] = ref.feature_probability,
    train_fn: Callable[..., list[float]] = ref.train_toy_model,
    progress: bool = False,
) -> tuple[nn.Module, Tensor, list[float]]:
    """Train one |x| model per feature probability; return (model, probability, losses)."""
    torch.manual_seed(settings.seed)
    model = model_class(ref.ToyConfig(settings.n_instances, settings.n_features, settings.n_hidden))
    probability = probability_fn(settings.n_instances, settings.n_features, settings.min_probability)
    importance = importance_for(settings.n_features, settings.importance_decay)
    losses = train_fn(model, probability, importance, steps=settings.steps, batch_size=settings.batch_size,
                      lr=settings.lr, batch_fn=signed_batch, loss_fn=abs_loss, progress=progress)
    return model, probability, losses


# --------------------------------------------------------------------------- sparse autoencoders


@dataclass(frozen=True)
class SAESettings:
    """An SAE per toy model, trained on the toy model's hidden activations."""

    n_instances: int = 8
    n_features: int = 5
    n_hidden: int = 2
    probability: float = 0.025
    toy_steps: int = 2000
    toy_batch_size: int = 128
    toy_lr: float = 5e-3
    d_sae: int = 5
    l1_coeff: float = 0.2
    steps: int = 1500
    batch_size: int = 256
    lr: float = 1e-2
    resample_every: int = 300
    window: int = 150
    seed: int = 0


@dataclass
class SAERun:
    """What ``train_sae`` records: losses, the live-latent count over time, and resampling events."""

    losses: list[float] = field(default_factory=list)
    live_history: list[list[int]] = field(default_factory=list)  # per resampling check: live latents per instance
    resampled: int = 0


def hidden_activations(toy: ref.ToyModel, features: Float[Tensor, "batch inst feat"]) -> Float[Tensor, "batch inst hidden"]:
    """The toy model's hidden vector ``h = W x``: what the SAE sees."""
    return einops.einsum(toy.W.detach(), features, "inst hidden feat, batch inst feat -> batch inst hidden")


def train_sae(
    sae: nn.Module,
    sample_h: Callable[[int], Tensor],
    settings: SAESettings = SAESettings(),
    resample: bool = True,
    loss_fn: Callable[..., Tensor] = ref.sae_loss,
    resample_fn: Callable[..., None] = ref.resample_dead,
    progress: bool = False,
    resample_with_optimizer: bool = False,
) -> SAERun:
    """Train an SAE with Adam on fresh activations from ``sample_h(batch_size)``.

    Every ``resample_every`` steps, a latent that fired on no input during the last
    ``window`` steps counts as dead; with ``resample`` it is given a new direction by
    ``resample_fn`` (and the optimizer's memory of it is cleared). With ``resample_with_optimizer``
    the optimizer is passed to ``resample_fn(sae, h, dead, optimizer)``, which resets the state of the
    rows it resamples itself (Bricken et al.'s rule), and the rest of the state is kept.
    """
    optimizer = torch.optim.Adam(sae.parameters(), lr=settings.lr)
    run = SAERun()
    fired = None
    for step in progress_bar(range(settings.steps), progress, "training SAEs", mininterval=0.5):
        h = sample_h(settings.batch_size)
        acts, recon = sae(h)
        loss = loss_fn(h, acts, recon, settings.l1_coeff).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        run.losses.append(loss.item())
        position_in_period = (step + 1) % settings.resample_every or settings.resample_every
        if position_in_period > settings.resample_every - settings.window:
            active_now = (acts.detach() > 0).any(0)
            fired = active_now if fired is None else fired | active_now
        if (step + 1) % settings.resample_every == 0 and fired is not None:
            run.live_history.append(fired.sum(-1).tolist())
            dead = ~fired
            if resample and dead.any() and step + 1 < settings.steps:
                if resample_with_optimizer:
                    resample_fn(sae, sample_h(settings.batch_size), dead, optimizer)
                else:
                    resample_fn(sae, sample_h(settings.batch_size), dead)
                    _forget_optimizer_state(optimizer)
                run.resampled += int(dead.sum())
            fired = None
    return run


def _forget_optimizer_state(optimizer: torch.optim.Optimizer) -> None:
    # A resampled latent should not keep the momentum it had while it was dead; clearing
    # the whole state is the simplest way (the live latents recover their moments quickly).
    optimizer.state.clear()


def recovery_report(
    sae: nn.Module, toy: ref.ToyModel, cosine_threshold: float = 0.9,
    matched_fn: Callable[[Tensor, Tensor], Tensor] = ref.matched_cosine,
) -> dict[str, Any]:
    """How well each SAE recovers its toy model's features (the columns of ``W``)."""
    true = einops.rearrange(toy.W.detach(), "inst hidden feat -> inst feat hidden")
    cosines = matched_fn(sae.W_dec.detach(), true)
    recovered = cosines >= cosine_threshold
    return {
        "matched_cosine": cosines,
        "recovered_fraction": float(recovered.float().mean()),
        "recovered_per_instance": recovered.sum(-1).tolist(),
    }


def count_live(sae: nn.Module, h: Float[Tensor, "batch inst d_in"]) -> list[int]:
    """Per instance, how many latents fire on at least one of the inputs ``h``."""
    with torch.no_grad():
        acts, _ = sae(h)
    return (acts > 0).any(0).sum(-1).tolist()


# --------------------------------------------------------------------------- shipped toy checkpoints


def save_toy(model: nn.Module, name: str, kind: str, sizes: Mapping[str, int],
             metadata: Mapping[str, Any], directory: Path = TOY_CHECKPOINTS) -> Path:
    """Save a toy model as ``<directory>/<name>/model.safetensors`` + ``toy.json``."""
    from safetensors.torch import save_file

    target = directory / name
    target.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(target / WEIGHTS_FILE))
    payload = {"format": "circuitlab-toy", "class": kind, "sizes": dict(sizes), "metadata": dict(metadata)}
    (target / TOY_CONFIG_FILE).write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
    return target


def _build(kind: str, sizes: Mapping[str, int]) -> nn.Module:
    if kind == "ToyModel":
        return ref.ToyModel(ref.ToyConfig(sizes["n_instances"], sizes["n_features"], sizes["n_hidden"]))
    if kind == "NeuronModel":
        return ref.NeuronModel(ref.ToyConfig(sizes["n_instances"], sizes["n_features"], sizes["n_hidden"]))
    if kind == "ToySAE":
        return ref.ToySAE(sizes["n_instances"], sizes["d_in"], sizes["d_sae"])
    raise ValueError(f"Unknown toy model class {kind!r}.")


def load_toy(name: str, directory: Path = TOY_CHECKPOINTS) -> tuple[nn.Module, dict[str, Any]]:
    """Load a shipped toy model by name; return (model, metadata)."""
    from safetensors.torch import load_file

    target = directory / name
    if not (target / TOY_CONFIG_FILE).exists():
        raise FileNotFoundError(f"No toy checkpoint at {target}.")
    payload = json.loads((target / TOY_CONFIG_FILE).read_text())
    model = _build(payload["class"], payload["sizes"])
    model.load_state_dict(load_file(str(target / WEIGHTS_FILE)), strict=True)
    return model.eval(), payload["metadata"]


def settings_dict(settings: Any) -> dict[str, Any]:
    return asdict(settings)


def sae_toy_model(settings: SAESettings = SAESettings(), train_fn: Callable[..., list[float]] = ref.train_toy_model,
                  progress: bool = False) -> tuple[ref.ToyModel, Callable[[int], Tensor]]:
    """Train the toy models that feed the SAEs; return them and a sampler of their hidden vectors."""
    torch.manual_seed(settings.seed)
    model = ref.ToyModel(ref.ToyConfig(settings.n_instances, settings.n_features, settings.n_hidden))
    probability = torch.full((settings.n_instances, settings.n_features), settings.probability)
    train_fn(model, probability, torch.ones(settings.n_features), steps=settings.toy_steps,
             batch_size=settings.toy_batch_size, lr=settings.toy_lr, progress=progress)
    return model, hidden_sampler(model, probability)


def hidden_sampler(model: ref.ToyModel, probability: Tensor,
                   batch_fn: Callable[[Tensor, int], Tensor] = ref.generate_batch) -> Callable[[int], Tensor]:
    """A function giving ``n`` fresh hidden vectors of ``model`` on sparse features."""

    def sample(n: int) -> Tensor:
        return hidden_activations(model, batch_fn(probability, n))

    return sample
