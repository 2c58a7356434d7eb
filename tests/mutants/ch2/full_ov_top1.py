"""Mutants and alternatives for ch2.full_ov_top1."""
import torch

from circuitlab.grading.meta import alternative, mutant


@mutant(hint="wrong axis")
def argmax_over_sources(model, layer, head):
    matrix = (model.W_E @ model.OV[layer, head] @ model.W_U).AB
    return (matrix.argmax(dim=0) == torch.arange(matrix.shape[0])).float().mean().item()


@mutant(hint="QK circuit")
def qk_instead_of_ov(model, layer, head):
    matrix = (model.W_E @ model.QK[layer, head] @ model.W_E.T).AB
    return (matrix.argmax(dim=-1) == torch.arange(matrix.shape[0])).float().mean().item()


@mutant(hint="Python float")
def returns_per_token_hits(model, layer, head):
    matrix = (model.W_E @ model.OV[layer, head] @ model.W_U).AB
    return (matrix.argmax(dim=-1) == torch.arange(matrix.shape[0])).float()


@mutant(hint="top 5")
def top5(model, layer, head):
    matrix = (model.W_E @ model.OV[layer, head] @ model.W_U).AB
    top = matrix.topk(5, dim=-1).indices
    return (top == torch.arange(matrix.shape[0])[:, None]).any(-1).float().mean().item()


@alternative
def with_plain_matrices(model, layer, head):
    w_ov = model.W_V[layer, head] @ model.W_O[layer, head]
    full = model.W_E @ w_ov @ model.W_U
    return (full.argmax(-1) == torch.arange(full.shape[0])).sum().item() / full.shape[0]


@alternative
def in_chunks(model, layer, head):
    full = model.W_E @ model.OV[layer, head] @ model.W_U
    hits = 0
    for start in range(0, full.shape[0], 100):
        rows = full[start:start + 100].AB
        hits += (rows.argmax(-1) == torch.arange(start, start + rows.shape[0])).sum().item()
    return hits / full.shape[0]


@mutant(hint="Python float")
def returns_a_0_dim_tensor(model, layer, head):
    matrix = (model.W_E @ model.OV[layer, head] @ model.W_U).AB
    return (matrix.argmax(dim=-1) == torch.arange(matrix.shape[0])).float().mean()


@mutant(hint="fraction")
def counts_hits(model, layer, head):
    matrix = (model.W_E @ model.OV[layer, head] @ model.W_U).AB
    return float((matrix.argmax(dim=-1) == torch.arange(matrix.shape[0])).sum().item())


@alternative
def diagonal_against_row_max(model, layer, head):
    full = (model.W_E @ model.OV[layer, head] @ model.W_U).AB
    # Ties between the diagonal and another entry do not occur with float weights; argmax picks the first.
    return float((full.diagonal() >= full.max(dim=-1).values).float().mean())
