"""Bonus: a sparse autoencoder on the residual stream of chapter 2's shipped model.

The model is loaded through the model store (``circuitlab.models``); the text is the offline
Python-docs corpus, tokenised with the model's own tokenizer.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

import einops
import torch
from jaxtyping import Float, Int
from torch import Tensor

from circuitlab.ch5 import reference as ref
from circuitlab.ch5 import toy

MODEL_NAME = "attn_only_2l"


@dataclass(frozen=True)
class ResidualSAESettings:
    layer: int = 0
    n_sequences: int = 256
    seq_len: int = 32
    d_sae: int = 256
    l1_coeff: float = 0.03
    steps: int = 600
    batch_size: int = 512
    lr: float = 3e-3
    resample_every: int = 200
    window: int = 100
    seed: int = 0


def corpus_tokens(model: Any, n_sequences: int, seq_len: int) -> Int[Tensor, "batch pos"]:
    """Consecutive chunks of the offline corpus, each with the BOS token in front."""
    from circuitlab.data.corpus import python_docs_corpus

    text = python_docs_corpus()
    ids: list[int] = []
    # Tokenise in slices until there is enough text: the whole corpus is not needed.
    for start in range(0, len(text), 50_000):
        ids += model.tokenizer(text[start:start + 50_000])["input_ids"]
        ids = [i for i in ids if i != model.tokenizer.bos_token_id]
        if len(ids) >= n_sequences * seq_len:
            break
    body = torch.tensor(ids[: n_sequences * seq_len]).reshape(n_sequences, seq_len)
    bos = torch.full((n_sequences, 1), model.tokenizer.bos_token_id)
    return torch.cat([bos, body], dim=1)


def residual_activations(model: Any, tokens: Tensor, layer: int) -> Float[Tensor, "batch pos d_model"]:
    """The residual stream after block ``layer``, for every token."""
    from circuitlab.models import act_name

    name = act_name("resid_post", layer)
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=lambda n: n == name)
    return cache[name]


def normalisation(acts: Float[Tensor, "n d_model"]) -> tuple[Float[Tensor, "d_model"], float]:
    """The centre and the scale of ``normaliser``: the mean activation, and the factor that gives each
    centred coordinate unit mean square."""
    mean = acts.mean(0)
    scale = float(acts.shape[-1] ** 0.5 / (acts - mean).norm(dim=-1).pow(2).mean().sqrt())
    return mean, scale


def normaliser(acts: Float[Tensor, "n d_model"]) -> Callable[[Tensor], Tensor]:
    """Centre the activations and scale them so that each coordinate has unit mean square:
    the L1 coefficient then means the same whatever the model's activation scale."""
    mean, scale = normalisation(acts)

    def normalise(x: Tensor) -> Tensor:
        return (x - mean) * scale

    return normalise


def train_residual_sae(
    acts: Float[Tensor, "n d_model"], settings: ResidualSAESettings = ResidualSAESettings(),
    sae_class: type = ref.ToySAE, loss_fn: Callable[..., Tensor] = ref.sae_loss,
    resample_fn: Callable[..., None] = ref.resample_dead, progress: bool = False,
    resample_with_optimizer: bool = False,
) -> tuple[torch.nn.Module, toy.SAERun]:
    """Train a one-instance SAE on (already normalised) activation vectors. With
    ``resample_with_optimizer``, ``resample_fn`` is Bricken et al.'s rule: it is given the optimizer."""
    torch.manual_seed(settings.seed)
    sae = sae_class(1, acts.shape[-1], settings.d_sae)

    def sample(n: int) -> Tensor:
        return acts[torch.randint(0, acts.shape[0], (n,))][:, None, :]

    run_settings = replace(toy.SAESettings(), n_instances=1, n_hidden=acts.shape[-1], d_sae=settings.d_sae,
                           l1_coeff=settings.l1_coeff, steps=settings.steps, batch_size=settings.batch_size,
                           lr=settings.lr, resample_every=settings.resample_every, window=settings.window)
    run = toy.train_sae(sae, sample, run_settings, resample=True, loss_fn=loss_fn, resample_fn=resample_fn,
                        progress=progress, resample_with_optimizer=resample_with_optimizer)
    return sae, run


def sae_quality(sae: torch.nn.Module, acts: Float[Tensor, "n d_model"]) -> dict[str, float]:
    """Fraction of variance explained, mean number of active latents (L0), and live latents."""
    with torch.no_grad():
        latent_acts, recon = sae(acts[:, None, :])
    explained = 1 - ((recon[:, 0] - acts) ** 2).sum() / (acts**2).sum()
    return {"variance_explained": float(explained), "l0": float((latent_acts > 0).float().sum(-1).mean()),
            "live_latents": int((latent_acts > 0).any(0).sum())}


def context(model: Any, tokens: Tensor, sequence: int, position: int, before: int = 8, after: int = 2) -> str:
    """The text around one token, with the token itself in [[brackets]]."""
    row = tokens[sequence]
    left = model.tokenizer.decode(row[max(1, position - before):position].tolist())
    middle = model.tokenizer.decode(row[position:position + 1].tolist())
    right = model.tokenizer.decode(row[position + 1:position + 1 + after].tolist())
    return (left + "[[" + middle + "]]" + right).replace("\n", "⏎")


def latent_activations(sae: torch.nn.Module, acts: Float[Tensor, "batch pos d_model"]) -> Tensor:
    """SAE latents for every token, shape (batch, pos, d_sae)."""
    flat = einops.rearrange(acts, "batch pos d -> (batch pos) 1 d")
    with torch.no_grad():
        latent_acts, _ = sae(flat)
    return einops.rearrange(latent_acts[:, 0], "(batch pos) s -> batch pos s", batch=acts.shape[0])


def spliced_losses(model: Any, tokens: Int[Tensor, "batch pos"], layer: int,
                   replace_fn: Callable[[Tensor], Tensor], mean: Tensor) -> dict[str, float]:
    """The model's next-token loss on ``tokens`` four ways: clean; with the residual stream after block
    ``layer`` replaced by ``replace_fn(resid)`` (the SAE spliced in); with it replaced by the mean
    activation ``mean`` (mean ablation); and with it zeroed. Position 0 (BOS) is never replaced: the SAE
    was not trained on it."""
    from circuitlab.models import act_name

    name = act_name("resid_post", layer)

    def hook_with(new_fn: Callable[[Tensor], Tensor]):
        def hook(resid: Tensor, hook: Any) -> Tensor:
            out = resid.clone()
            out[:, 1:] = new_fn(resid[:, 1:])
            return out
        return hook

    losses = {}
    with torch.no_grad():
        losses["clean"] = float(model(tokens, return_type="loss"))
        for label, fn in [("spliced", replace_fn), ("mean-ablated", lambda r: mean.expand_as(r)),
                          ("zero-ablated", torch.zeros_like)]:
            losses[label] = float(model.run_with_hooks(tokens, return_type="loss", fwd_hooks=[(name, hook_with(fn))]))
    return losses
