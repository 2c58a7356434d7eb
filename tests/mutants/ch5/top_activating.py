"""Mutants and alternatives for ch5.top_activating."""
import torch

from circuitlab.grading.meta import alternative, mutant


@mutant(hint="smallest activations")
def smallest(acts, latent, k):
    values = acts[..., latent]
    order = torch.topk(values.flatten(), k, largest=False).indices
    return torch.stack(torch.unravel_index(order, values.shape), -1)


@mutant(hint="one position per sequence")
def best_per_sequence(acts, latent, k):
    best = acts[..., latent].max(1)
    sequences = torch.argsort(best.values, descending=True)[:k]
    return torch.stack([sequences, best.indices[sequences]], -1)


@mutant(hint="flat indices")
def flat_indices(acts, latent, k):
    return torch.topk(acts[..., latent].flatten(), k).indices


@mutant(hint="not in order")
def ascending(acts, latent, k):
    values = acts[..., latent]
    order = torch.topk(values.flatten(), k).indices.flip(0)
    return torch.stack(torch.unravel_index(order, values.shape), -1)


@alternative
def with_divmod(acts, latent, k):
    values = acts[:, :, latent]
    order = values.flatten().argsort(descending=True)[:k]
    return torch.stack([order // values.shape[1], order % values.shape[1]], dim=1)
