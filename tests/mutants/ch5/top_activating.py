"""Mutants and alternatives for ch5.top_activating."""
import torch

from circuitlab.grading.meta import alternative, mutant


@mutant(hint="smallest activations")
def smallest(acts, latent, k):
    values = acts[..., latent]
    order = torch.topk(values.flatten(), k, largest=False).indices
    return torch.stack(torch.unravel_index(order, values.shape), -1)


@mutant(hint="at most one position per sequence")
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


@mutant(hint="torch.long (int64)")
def int32_indices(acts, latent, k):
    values = acts[..., latent]
    order = torch.topk(values.flatten(), k).indices
    return torch.stack(torch.unravel_index(order, values.shape), -1).int()


@mutant(hint="use // (floor division)")
def true_division(acts, latent, k):
    values = acts[..., latent]
    order = torch.topk(values.flatten(), k).indices
    return torch.stack([torch.div(order, values.shape[1], rounding_mode="floor").float(),
                        (order % values.shape[1]).float()], -1)


@mutant(hint="keep the shape (1, 2)")
def squeezed(acts, latent, k):
    values = acts[..., latent]
    order = torch.topk(values.flatten(), k).indices
    return torch.stack(torch.unravel_index(order, values.shape), -1).squeeze()


@mutant(hint="has shape")
def squeezes_the_batch(acts, latent, k):
    values = acts.squeeze()[..., latent]
    if values.ndim == 1:
        values = values[None]
    order = torch.topk(values.flatten(), k).indices
    return torch.stack(torch.unravel_index(order, (acts.shape[0], acts.shape[1])), -1)[: k - 1] \
        if acts.shape[0] == 1 else torch.stack(torch.unravel_index(order, values.shape), -1)


@alternative
def ties_broken_by_last_index(acts, latent, k):
    # A different (equally valid) choice among tied activations: the later flat index first.
    values = acts[..., latent]
    flat = values.flatten().flip(0)
    order = torch.sort(flat, descending=True, stable=True).indices[:k]
    order = flat.numel() - 1 - order
    return torch.stack(torch.unravel_index(order, values.shape), -1)


@alternative
def python_loops(acts, latent, k):
    entries = [(float(acts[b, p, latent]), b, p) for b in range(acts.shape[0]) for p in range(acts.shape[1])]
    entries.sort(key=lambda e: -e[0])
    return torch.tensor([[b, p] for _, b, p in entries[:k]], dtype=torch.long)
