"""Reference solutions for chapter 2 (induction heads).

Conventions used throughout:

- Token sequences start with BOS. A "repeated" sequence is BOS + ``half_len`` random tokens +
  the same tokens again, so it has ``2 * half_len + 1`` positions.
- Attention patterns are indexed ``[..., query_pos, key_pos]``; row ``q`` says where position
  ``q`` looks.
- ``token_log_probs`` index ``j`` is the log-probability the model gave to token ``j + 1``.
- The chapter's models normalise with LayerNorm without learned weights ("LNPre"): every
  LayerNorm centres its input and divides it by its standard deviation, nothing else.
"""
from __future__ import annotations

from functools import partial

import einops
import torch
from jaxtyping import Float, Int
from torch import Tensor

# --------------------------------------------------------------------------- 1. patterns and detectors


def attention_pattern(q: Float[Tensor, "seq head d_head"], k: Float[Tensor, "seq head d_head"]) -> Float[Tensor, "head seq_q seq_k"]:
    """Recompute one layer's attention pattern from its queries and keys (causal, scaled by sqrt(d_head))."""
    ### BEGIN SOLUTION
    d_head = q.shape[-1]
    scores = einops.einsum(q, k, "q_pos head d, k_pos head d -> head q_pos k_pos") / d_head**0.5
    seq = q.shape[0]
    # A query may look at itself and earlier positions only: mask keys strictly after the query.
    future = torch.triu(torch.ones(seq, seq, dtype=torch.bool, device=q.device), diagonal=1)
    return scores.masked_fill(future, float("-inf")).softmax(dim=-1)
    ### END SOLUTION


def current_attn_score(pattern: Float[Tensor, "batch head q k"]) -> Float[Tensor, "head"]:
    """Per head: mean attention from each position to itself, over the batch and every position (0 included)."""
    ### BEGIN SOLUTION
    diagonal = pattern.diagonal(offset=0, dim1=-2, dim2=-1)
    return einops.reduce(diagonal, "batch head pos -> head", "mean")
    ### END SOLUTION


def prev_attn_score(pattern: Float[Tensor, "batch head q k"]) -> Float[Tensor, "head"]:
    """Per head: mean attention from each position (from 1 on) to the position just before it."""
    ### BEGIN SOLUTION
    below_diagonal = pattern.diagonal(offset=-1, dim1=-2, dim2=-1)  # query q, key q - 1, for q >= 1
    return einops.reduce(below_diagonal, "batch head pos -> head", "mean")
    ### END SOLUTION


def first_attn_score(pattern: Float[Tensor, "batch head q k"]) -> Float[Tensor, "head"]:
    """Per head: mean attention from each position to position 0 (the BOS token)."""
    ### BEGIN SOLUTION
    return einops.reduce(pattern[..., 0], "batch head q -> head", "mean")
    ### END SOLUTION


# --------------------------------------------------------------------------- 2. repeated tokens and loss


def repeated_tokens(batch: int, half_len: int, low: int, high: int, bos: int) -> Int[Tensor, "batch seq"]:
    """BOS, then ``half_len`` tokens drawn uniformly from [low, high), then the same tokens again."""
    ### BEGIN SOLUTION
    half = torch.randint(low, high, (batch, half_len))
    bos_column = torch.full((batch, 1), bos, dtype=torch.long)
    return torch.cat([bos_column, half, half], dim=1)
    ### END SOLUTION


def token_log_probs(logits: Float[Tensor, "batch seq vocab"], tokens: Int[Tensor, "batch seq"]) -> Float[Tensor, "batch seq_minus_1"]:
    """Log-probability the model gave to each actual next token: entry j scores token j + 1."""
    ### BEGIN SOLUTION
    log_probs = logits[:, :-1].log_softmax(dim=-1)
    next_tokens = tokens[:, 1:]
    return log_probs.gather(dim=-1, index=next_tokens[..., None])[..., 0]
    ### END SOLUTION


# --------------------------------------------------------------------------- 3. induction score with a hook


def induction_scores(model, tokens: Int[Tensor, "batch seq"], half_len: int) -> Float[Tensor, "layer head"]:
    """Induction score of every head, read from the attention patterns by a forward hook.

    By position: query ``half_len + i`` (i = 1 .. half_len) is scored on key ``i + 1``, whatever other
    occurrences of its token the first half holds.
    """
    scores = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)

    ### BEGIN SOLUTION
    def record(pattern: Float[Tensor, "batch head q k"], hook, layer: int) -> None:
        # Query half_len + i holds the copy of token i; the induction target is i + 1: offset -(half_len - 1).
        stripe = pattern.diagonal(offset=-(half_len - 1), dim1=-2, dim2=-1)
        # The stripe starts at query half_len - 1 (key 0 = BOS) and query half_len (last first-half token).
        second_half = stripe[..., 2:]
        scores[layer] = einops.reduce(second_half, "batch head q -> head", "mean").detach().cpu()

    hooks = [(f"blocks.{layer}.attn.hook_pattern", partial(record, layer=layer)) for layer in range(model.cfg.n_layers)]
    with torch.no_grad():
        model.run_with_hooks(tokens, fwd_hooks=hooks, return_type=None)
    ### END SOLUTION
    return scores


# --------------------------------------------------------------------------- 4. direct logit attribution, logit lens


def logit_attribution(model, cache, tokens: Int[Tensor, "batch seq"]) -> Float[Tensor, "batch seq_minus_1 component"]:
    """Direct contribution of each component to the logit of the correct next token.

    Components: 0 is the direct path (token + positional embedding); ``1 + layer * n_heads + head``
    is head (layer, head). Each is centred and divided by the final LayerNorm's scale (which the
    cache recorded for the full residual stream), then read off by the correct token's unembedding
    column. No bias terms (b_O, b_U): they belong to no component.
    """
    ### BEGIN SOLUTION
    direct = cache["hook_embed"] + cache["hook_pos_embed"]
    # What each head writes into the residual stream: its z times its W_O (the bias b_O belongs to no head).
    heads = [einops.einsum(cache["z", layer], model.W_O[layer], "batch seq head d_head, head d_head d_model -> batch seq head d_model")
             for layer in range(model.cfg.n_layers)]
    stack = torch.cat([direct[:, :, None, :], *heads], dim=2)  # batch seq component d_model
    centred = stack - stack.mean(dim=-1, keepdim=True)
    scale = cache["ln_final.hook_scale"]  # batch seq 1
    normalised = centred / scale[:, :, None, :]
    correct_unembed = model.W_U[:, tokens[:, 1:]]  # d_model batch seq-1
    return einops.einsum(normalised[:, :-1], correct_unembed,
                         "batch seq component d_model, d_model batch seq -> batch seq component")
    ### END SOLUTION


def logit_lens(model, cache, tokens: Int[Tensor, "batch seq"]) -> Float[Tensor, "stage batch seq_minus_1"]:
    """Log-prob of the correct next token read from the residual stream before each layer and at the end.

    Stage ``l`` < n_layers reads ``resid_pre`` of layer ``l``; the last stage reads the final
    ``resid_post``. Each is passed through a fresh LayerNorm (its own mean and scale, with ``model.cfg.eps``)
    and the unembedding ``W_U`` plus ``b_U`` (all zeros in this chapter's models).
    """
    ### BEGIN SOLUTION
    n_layers = model.cfg.n_layers
    stages = [cache[f"blocks.{layer}.hook_resid_pre"] for layer in range(n_layers)]
    stages.append(cache[f"blocks.{n_layers - 1}.hook_resid_post"])
    resid = torch.stack(stages)  # stage batch seq d_model
    centred = resid - resid.mean(dim=-1, keepdim=True)
    normalised = centred / (centred.pow(2).mean(dim=-1, keepdim=True) + model.cfg.eps).sqrt()
    logits = normalised @ model.W_U + model.b_U
    log_probs = logits[:, :, :-1].log_softmax(dim=-1)
    return log_probs.gather(-1, einops.repeat(tokens[:, 1:], "b s -> stage b s 1", stage=len(stages)))[..., 0]
    ### END SOLUTION


# --------------------------------------------------------------------------- 5. ablations


def ablate_head_hook(z: Float[Tensor, "batch seq head d_head"], hook, head: int,
                     replacement: Float[Tensor, "seq d_head"] | None = None) -> Float[Tensor, "batch seq head d_head"]:
    """A hook on ``hook_z`` that replaces one head's output: with zeros, or with ``replacement``."""
    ### BEGIN SOLUTION
    z = z.clone()
    z[:, :, head, :] = 0.0 if replacement is None else replacement
    return z
    ### END SOLUTION


def ablation_scores(model, tokens: Int[Tensor, "batch seq"], half_len: int,
                    mean_ablate: bool = False) -> Float[Tensor, "layer head"]:
    """Increase in the repeated-half loss when each head is ablated (zero or per-position mean)."""
    ### BEGIN SOLUTION

    def repeated_loss(logits: Tensor) -> Tensor:
        # Entries half_len+1 onwards score second-half tokens 2..half_len: those induction can predict.
        return -token_log_probs(logits, tokens)[:, half_len + 1:].mean()

    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    with torch.no_grad():
        logits, cache = model.run_with_cache(tokens, names_filter=lambda name: name.endswith("hook_z"))
        baseline = repeated_loss(logits)
        scores = torch.zeros(n_layers, n_heads)
        for layer in range(n_layers):
            z_name = f"blocks.{layer}.attn.hook_z"
            for head in range(n_heads):
                replacement = cache[z_name][:, :, head].mean(dim=0) if mean_ablate else None
                hook = partial(ablate_head_hook, head=head, replacement=replacement)
                ablated = model.run_with_hooks(tokens, fwd_hooks=[(z_name, hook)])
                scores[layer, head] = repeated_loss(ablated) - baseline
    return scores
    ### END SOLUTION


# --------------------------------------------------------------------------- 6. OV and QK circuits


def full_ov_top1(model, layer: int, head: int) -> float:
    """Fraction of tokens whose own logit is the largest when the head attends to them (W_E OV W_U)."""
    ### BEGIN SOLUTION
    full_ov = model.W_E @ model.OV[layer, head] @ model.W_U  # FactoredMatrix, d_vocab x d_vocab_out
    matrix = full_ov.AB
    sources = torch.arange(matrix.shape[0], device=matrix.device)
    return (matrix.argmax(dim=-1) == sources).float().mean().item()
    ### END SOLUTION


def decompose_keys(model, cache, head: int) -> Float[Tensor, "component batch seq d_head"]:
    """The keys of head (1, ``head``) split by what wrote their input: embed, pos_embed, each layer-0 head.

    Each component is centred and divided by layer 1's LayerNorm scale before W_K, so the
    components plus the bias terms add up to the cached keys.
    """
    ### BEGIN SOLUTION
    layer0_heads = einops.einsum(cache["z", 0], model.W_O[0], "batch seq head d_head, head d_head d_model -> head batch seq d_model")
    inputs = torch.cat([cache["hook_embed"][None], cache["hook_pos_embed"][None], layer0_heads])
    centred = inputs - inputs.mean(dim=-1, keepdim=True)
    normalised = centred / cache["blocks.1.ln1.hook_scale"]
    return einops.einsum(normalised, model.W_K[1, head], "component b s d_model, d_model d_head -> component b s d_head")
    ### END SOLUTION


def composition_score(write, read) -> float:
    """||write @ read||_F / (||write||_F ||read||_F): how much ``read`` reads what ``write`` writes."""
    ### BEGIN SOLUTION
    return ((write @ read).norm() / (write.norm() * read.norm())).item()
    ### END SOLUTION


def k_composition_scores(model) -> Float[Tensor, "head0 head1"]:
    """K-composition of every layer-0 head (rows) into every layer-1 head's keys (columns)."""
    ### BEGIN SOLUTION
    n_heads = model.cfg.n_heads
    scores = torch.zeros(n_heads, n_heads)
    for writer in range(n_heads):
        for reader in range(n_heads):
            scores[writer, reader] = composition_score(model.OV[0, writer], model.QK[1, reader].T)
    return scores
    ### END SOLUTION


# --------------------------------------------------------------------------- 7. FactoredMatrix, QK circuits, all compositions


def copying_score(matrix) -> float:
    """Eigenvalue copying score of a square FactoredMatrix: sum of eigenvalues / sum of their absolute values.

    1 when every (non-zero) eigenvalue is positive (the map sends each direction to a positive multiple of
    itself: copying), -1 when every one is negative. Uses the factors only (``matrix.eigenvalues``).
    """
    ### BEGIN SOLUTION
    eigenvalues = matrix.eigenvalues  # complex, from the small mdim x mdim matrix B @ A
    return (eigenvalues.sum() / eigenvalues.abs().sum()).real.item()
    ### END SOLUTION


def top_singular_share(matrix, k: int) -> float:
    """Share of a FactoredMatrix's squared Frobenius norm carried by its ``k`` largest singular values.

    ``sum(S[:k] ** 2) / sum(S ** 2)`` with ``S = matrix.S`` (from the factors, largest first): 0.0 for
    ``k = 0``, 1.0 once ``k`` reaches the number of singular values. Negative ``k`` and the zero matrix
    raise ValueError.
    """
    ### BEGIN SOLUTION
    if k < 0:
        raise ValueError(f"k must be 0 or more, not {k}")
    squared = matrix.S ** 2  # the SVD of the small factors; ||M||_F^2 is the sum of the squared singular values
    total = squared.sum()
    if total == 0:
        raise ValueError("the zero matrix has no singular directions to share its norm")
    return (squared[:k].sum() / total).item()
    ### END SOLUTION


def positional_pattern(model, layer: int, head: int, ln_scale: float = 1.0) -> Float[Tensor, "query_pos key_pos"]:
    """The attention pattern a head would produce from positional embeddings alone.

    Queries and keys are the rows of ``model.W_pos`` (n_ctx x d_model), each centred over d_model and divided
    by ``ln_scale`` (the LayerNorm in front of the layer centres its input and divides it by its scale; pass
    a typical value of that scale, such as the mean of ``cache["blocks.0.ln1.hook_scale"]``). Scores are
    ``pos_q @ QK[layer, head] @ pos_k^T`` divided by sqrt(d_head), keys after the query masked, softmax over keys.
    """
    ### BEGIN SOLUTION
    positions = (model.W_pos - model.W_pos.mean(dim=-1, keepdim=True)) / ln_scale
    scores = (positions @ model.QK[layer, head] @ positions.T).AB / model.cfg.d_head**0.5
    n_ctx = positions.shape[0]
    future = torch.triu(torch.ones(n_ctx, n_ctx, dtype=torch.bool, device=scores.device), diagonal=1)
    return scores.masked_fill(future, float("-inf")).softmax(dim=-1)
    ### END SOLUTION


def induction_qk_circuit(model, prev_head: int, induction_head: int):
    """The token x token QK circuit of layer-1 head ``induction_head`` through K-composition with
    layer-0 head ``prev_head``, as a FactoredMatrix (d_vocab x d_vocab) that is never materialised.

    Entry [a, b]: the attention score (before scaling and softmax) from a query whose token is ``a`` to a
    key position where head (0, ``prev_head``) has written token ``b``'s embedding through its OV circuit:
    ``W_E @ QK[1, induction_head] @ (W_E @ OV[0, prev_head])^T``. LayerNorms and biases are ignored.
    """
    ### BEGIN SOLUTION
    key_side = model.W_E @ model.OV[0, prev_head]  # FactoredMatrix d_vocab x d_model: what head 0.prev writes
    return model.W_E @ model.QK[1, induction_head] @ key_side.T
    ### END SOLUTION


def composition_scores(model, kind: str) -> Float[Tensor, "head0 head1"]:
    """Q-, K- or V-composition of every layer-0 head (rows) into every layer-1 head (columns), all pairs at once.

    The writer is ``model.OV[0, w]``; the reader is ``model.QK[1, r]`` for "q", ``model.QK[1, r].T`` for "k"
    and ``model.OV[1, r]`` for "v"; the score is ``||writer @ reader||_F / (||writer||_F ||reader||_F)``.
    Any other ``kind`` raises ValueError.
    """
    ### BEGIN SOLUTION
    if kind not in ("q", "k", "v"):
        raise ValueError(f"kind must be 'q', 'k' or 'v', not {kind!r}")
    writers = model.OV[0]  # FactoredMatrix (head, d_model, d_model)
    readers = {"q": model.QK[1], "k": model.QK[1].T, "v": model.OV[1]}[kind]
    # Broadcast writer heads down the rows and reader heads along the columns: (head0, head1, d_model, d_model).
    products = writers[:, None] @ readers[None, :]
    return products.norm() / (writers.norm()[:, None] * readers.norm()[None, :])
    ### END SOLUTION


def induction_scores_ablated(model, tokens: Int[Tensor, "batch seq"], half_len: int,
                             heads: list[int]) -> Float[Tensor, "head"]:
    """Layer-1 induction scores measured while the layer-0 heads in ``heads`` are mean-ablated.

    Mean-ablation replaces a head's ``z`` by its mean over the batch (one row per position) on the same
    tokens. The score is the one of ``induction_scores``: query ``half_len + i`` on key ``i + 1``.
    """
    ### BEGIN SOLUTION
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter="blocks.0.attn.hook_z")
        means = cache["blocks.0.attn.hook_z"].mean(dim=0)  # seq head d_head
        scores = torch.zeros(model.cfg.n_heads)

        def ablate(z: Tensor, hook) -> Tensor:
            z = z.clone()
            z[:, :, heads] = means[:, heads]
            return z

        def record(pattern: Tensor, hook) -> None:
            stripe = pattern.diagonal(offset=-(half_len - 1), dim1=-2, dim2=-1)[..., 2:]
            scores[:] = einops.reduce(stripe, "batch head q -> head", "mean").detach().cpu()

        model.run_with_hooks(tokens, return_type=None,
                             fwd_hooks=[("blocks.0.attn.hook_z", ablate), ("blocks.1.attn.hook_pattern", record)])
    return scores
    ### END SOLUTION
