"""Training runs and measurements for chapter 5, shared by the notebook, the tests and
the script that produces the shipped checkpoints (``python -m circuitlab.ch5.train``).

Functions that use an exercise's object take it as an argument (``batch_fn``,
``resample_fn``, ...), defaulting to the reference, so the notebook can run the same
experiments on the learner's own code.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import einops
import torch
from jaxtyping import Float
from torch import Tensor, nn

from circuitlab.ch5 import reference as ref
from circuitlab.training_loop import progress_bar

__all__ = [
    "SweepSettings",
    "SAESettings",
    "represented_features",
    "run_sparsity_sweep",
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
) -> SAERun:
    """Train an SAE with Adam on fresh activations from ``sample_h(batch_size)``.

    Every ``resample_every`` steps, a latent that fired on no input during the last
    ``window`` steps counts as dead; with ``resample`` it is given a new direction by
    ``resample_fn`` (and the optimizer's memory of it is cleared).
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
