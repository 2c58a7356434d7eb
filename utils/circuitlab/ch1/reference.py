"""Reference solutions for chapter 1: a GPT-2-style decoder-only transformer, built from parts.

Parameter names follow the convention that interpretability code (TransformerLens
included) uses for GPT-2: ``W_E``, ``W_pos``, ``W_Q`` of shape [n_heads, d_model, d_head],
``W_O`` of shape [n_heads, d_head, d_model], ``W_in``/``W_out`` for the MLP, ``W_U`` for
the unembedding, and ``w``/``b`` for LayerNorm. Keeping those names means a weight
loaded from TransformerLens lands in the parameter of the same name.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import einops
import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor, nn

__all__ = [
    "TransformerConfig",
    "IGNORE",
    "LayerNorm",
    "Embed",
    "PosEmbed",
    "apply_causal_mask",
    "Attention",
    "MLP",
    "gelu_new",
    "TransformerBlock",
    "Unembed",
    "DemoTransformer",
    "next_token_loss",
    "train_step",
    "greedy_decode",
    "sample_categorical",
    "apply_temperature",
    "top_k_filter",
    "top_p_filter",
    "frequency_penalty",
    "beam_search",
    "beam_search_with_eos",
    "generate_with_kv_cache",
]

# The value written into masked attention scores. After the softmax it becomes an exact 0
# (exp(-1e5) underflows), and unlike -inf it can never produce NaN from (-inf) - (-inf).
IGNORE: float = -1e5


@dataclass(frozen=True)
class TransformerConfig:
    """The sizes of a GPT-2-style model. GPT-2 small is (768, 12, 12, 64, 3072, 50257, 1024)."""

    d_model: int = 128
    n_layers: int = 2
    n_heads: int = 4
    d_head: int = 32
    d_mlp: int = 512
    d_vocab: int = 2048
    n_ctx: int = 128
    layer_norm_eps: float = 1e-5
    init_range: float = 0.02


# --------------------------------------------------------------------------- components


class LayerNorm(nn.Module):
    """Normalise each residual vector to mean 0 and variance 1, then scale by ``w`` and shift by ``b``."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.w = nn.Parameter(torch.ones(cfg.d_model))
        self.b = nn.Parameter(torch.zeros(cfg.d_model))

    def forward(self, residual: Float[Tensor, "batch seq d_model"]) -> Float[Tensor, "batch seq d_model"]:
        ### BEGIN SOLUTION
        centred = residual - residual.mean(dim=-1, keepdim=True)
        # The biased variance (divide by n): the statistic of this vector, not an estimate for a population.
        variance = centred.pow(2).mean(dim=-1, keepdim=True)
        scale = (variance + self.cfg.layer_norm_eps).sqrt()
        return centred / scale * self.w + self.b
        ### END SOLUTION


class Embed(nn.Module):
    """Token ids to vectors: row ``t`` of ``W_E`` is the embedding of token ``t``."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.W_E = nn.Parameter(torch.empty(cfg.d_vocab, cfg.d_model))
        nn.init.normal_(self.W_E, std=cfg.init_range)

    def forward(self, tokens: Int[Tensor, "batch seq"]) -> Float[Tensor, "batch seq d_model"]:
        ### BEGIN SOLUTION
        return self.W_E[tokens]
        ### END SOLUTION


class PosEmbed(nn.Module):
    """A learned vector per position, the same for every sequence in the batch."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.W_pos = nn.Parameter(torch.empty(cfg.n_ctx, cfg.d_model))
        nn.init.normal_(self.W_pos, std=cfg.init_range)

    def forward(self, tokens: Int[Tensor, "batch seq"]) -> Float[Tensor, "batch seq d_model"]:
        ### BEGIN SOLUTION
        batch, seq = tokens.shape
        return einops.repeat(self.W_pos[:seq], "seq d_model -> batch seq d_model", batch=batch)
        ### END SOLUTION


def apply_causal_mask(
    attn_scores: Float[Tensor, "batch n_heads query_pos key_pos"],
) -> Float[Tensor, "batch n_heads query_pos key_pos"]:
    """Hide every key that comes after its query by writing ``IGNORE`` into its score."""
    ### BEGIN SOLUTION
    query_pos, key_pos = attn_scores.shape[-2:]
    # True above the diagonal: key index > query index, i.e. the future.
    future = torch.triu(torch.ones(query_pos, key_pos, dtype=torch.bool, device=attn_scores.device), diagonal=1)
    return attn_scores.masked_fill(future, IGNORE)
    ### END SOLUTION


class Attention(nn.Module):
    """Multi-head causal self-attention.

    QK decides where each position looks; OV decides what is moved from there.
    """

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        h, d, dh = cfg.n_heads, cfg.d_model, cfg.d_head
        self.W_Q = nn.Parameter(torch.empty(h, d, dh))
        self.W_K = nn.Parameter(torch.empty(h, d, dh))
        self.W_V = nn.Parameter(torch.empty(h, d, dh))
        self.W_O = nn.Parameter(torch.empty(h, dh, d))
        self.b_Q = nn.Parameter(torch.zeros(h, dh))
        self.b_K = nn.Parameter(torch.zeros(h, dh))
        self.b_V = nn.Parameter(torch.zeros(h, dh))
        self.b_O = nn.Parameter(torch.zeros(d))
        for weight in (self.W_Q, self.W_K, self.W_V, self.W_O):
            nn.init.normal_(weight, std=cfg.init_range)

    def forward(self, normalized_resid_pre: Float[Tensor, "batch seq d_model"]) -> Float[Tensor, "batch seq d_model"]:
        ### BEGIN SOLUTION
        x = normalized_resid_pre
        q = einops.einsum(x, self.W_Q, "b s d, h d dh -> b s h dh") + self.b_Q
        k = einops.einsum(x, self.W_K, "b s d, h d dh -> b s h dh") + self.b_K
        v = einops.einsum(x, self.W_V, "b s d, h d dh -> b s h dh") + self.b_V
        # Dividing by sqrt(d_head) keeps the scores' spread independent of the head size.
        scores = einops.einsum(q, k, "b q h dh, b k h dh -> b h q k") / math.sqrt(self.cfg.d_head)
        pattern = apply_causal_mask(scores).softmax(dim=-1)  # each query's weights over keys sum to 1
        z = einops.einsum(pattern, v, "b h q k, b k h dh -> b q h dh")
        return einops.einsum(z, self.W_O, "b q h dh, h dh d -> b q d") + self.b_O
        ### END SOLUTION


def gelu_new(x: Tensor) -> Tensor:
    """GPT-2's GELU: the tanh approximation of x * Phi(x)."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


class MLP(nn.Module):
    """Per-position two-layer network: d_model -> d_mlp -> GELU -> d_model."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.W_in = nn.Parameter(torch.empty(cfg.d_model, cfg.d_mlp))
        self.W_out = nn.Parameter(torch.empty(cfg.d_mlp, cfg.d_model))
        self.b_in = nn.Parameter(torch.zeros(cfg.d_mlp))
        self.b_out = nn.Parameter(torch.zeros(cfg.d_model))
        nn.init.normal_(self.W_in, std=cfg.init_range)
        nn.init.normal_(self.W_out, std=cfg.init_range)

    def forward(self, normalized_resid_mid: Float[Tensor, "batch seq d_model"]) -> Float[Tensor, "batch seq d_model"]:
        ### BEGIN SOLUTION
        pre = einops.einsum(normalized_resid_mid, self.W_in, "b s d, d m -> b s m") + self.b_in
        return einops.einsum(gelu_new(pre), self.W_out, "b s m, m d -> b s d") + self.b_out
        ### END SOLUTION


class TransformerBlock(nn.Module):
    """Pre-norm residual block: each sublayer reads a normalised copy of the stream and adds to it."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.ln1 = LayerNorm(cfg)
        self.attn = Attention(cfg)
        self.ln2 = LayerNorm(cfg)
        self.mlp = MLP(cfg)

    def forward(self, resid_pre: Float[Tensor, "batch seq d_model"]) -> Float[Tensor, "batch seq d_model"]:
        ### BEGIN SOLUTION
        resid_mid = resid_pre + self.attn(self.ln1(resid_pre))
        return resid_mid + self.mlp(self.ln2(resid_mid))
        ### END SOLUTION


class Unembed(nn.Module):
    """Final residual vectors to logits: one score per vocabulary token."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.W_U = nn.Parameter(torch.empty(cfg.d_model, cfg.d_vocab))
        self.b_U = nn.Parameter(torch.zeros(cfg.d_vocab))
        nn.init.normal_(self.W_U, std=cfg.init_range)

    def forward(self, normalized_resid_final: Float[Tensor, "batch seq d_model"]) -> Float[Tensor, "batch seq d_vocab"]:
        ### BEGIN SOLUTION
        return einops.einsum(normalized_resid_final, self.W_U, "b s d, d v -> b s v") + self.b_U
        ### END SOLUTION


class DemoTransformer(nn.Module):
    """The whole decoder: embed + position, n_layers blocks, final LayerNorm, unembed."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = Embed(cfg)
        self.pos_embed = PosEmbed(cfg)
        self.blocks = nn.ModuleList([TransformerBlock(cfg) for _ in range(cfg.n_layers)])
        self.ln_final = LayerNorm(cfg)
        self.unembed = Unembed(cfg)

    def forward(self, tokens: Int[Tensor, "batch seq"]) -> Float[Tensor, "batch seq d_vocab"]:
        ### BEGIN SOLUTION
        residual = self.embed(tokens) + self.pos_embed(tokens)
        for block in self.blocks:
            residual = block(residual)
        return self.unembed(self.ln_final(residual))
        ### END SOLUTION


# --------------------------------------------------------------------------- training


def next_token_loss(logits: Float[Tensor, "batch seq d_vocab"], tokens: Int[Tensor, "batch seq"]) -> Float[Tensor, ""]:
    """Mean cross-entropy of predicting ``tokens[:, i + 1]`` from ``logits[:, i]``."""
    ### BEGIN SOLUTION
    log_probs = logits[:, :-1].log_softmax(dim=-1)
    targets = tokens[:, 1:]
    correct = log_probs.gather(dim=-1, index=targets.unsqueeze(-1)).squeeze(-1)
    return -correct.mean()
    ### END SOLUTION


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, tokens: Int[Tensor, "batch seq"]) -> float:
    """One optimisation step on one batch; returns the loss before the update."""
    ### BEGIN SOLUTION
    loss = next_token_loss(model(tokens), tokens)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()
    ### END SOLUTION


# --------------------------------------------------------------------------- sampling


@torch.inference_mode()
def greedy_decode(model: nn.Module, tokens: Int[Tensor, "batch seq"], n_new: int) -> Int[Tensor, "batch seq_plus_n_new"]:
    """Append ``n_new`` tokens, each the most likely next token given everything so far."""
    ### BEGIN SOLUTION
    for _ in range(n_new):
        last_logits = model(tokens)[:, -1]
        next_token = last_logits.argmax(dim=-1, keepdim=True)
        tokens = torch.cat([tokens, next_token], dim=-1)
    return tokens
    ### END SOLUTION


def sample_categorical(logits: Float[Tensor, "batch d_vocab"], generator: torch.Generator) -> Int[Tensor, "batch"]:
    """One token per row, drawn from ``softmax(logits[row])`` with ``generator`` as the only source of randomness."""
    ### BEGIN SOLUTION
    probs = logits.softmax(dim=-1)  # exp(-inf) = 0: a -inf logit can never be drawn
    # multinomial returns [batch, 1]; index the column rather than squeeze, so batch 1 stays [1].
    return torch.multinomial(probs, num_samples=1, generator=generator)[:, 0]
    ### END SOLUTION


def apply_temperature(logits: Float[Tensor, "batch d_vocab"], temperature: float) -> Float[Tensor, "batch d_vocab"]:
    """Divide the logits by the temperature: below 1 sharpens the distribution, above 1 flattens it."""
    ### BEGIN SOLUTION
    if temperature <= 0:
        raise ValueError("temperature must be positive; use greedy decoding for temperature 0.")
    return logits / temperature
    ### END SOLUTION


def top_k_filter(logits: Float[Tensor, "batch d_vocab"], k: int) -> Float[Tensor, "batch d_vocab"]:
    """Keep every logit at least as large as the k-th largest in its row; set the rest to -inf.

    Comparing with the k-th value (rather than keeping exactly the k indices topk returns)
    keeps all tokens tied at the boundary, so the result does not depend on tie order.
    """
    ### BEGIN SOLUTION
    kth_largest = logits.topk(k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth_largest, float("-inf"))
    ### END SOLUTION


def top_p_filter(logits: Float[Tensor, "batch d_vocab"], p: float) -> Float[Tensor, "batch d_vocab"]:
    """Nucleus filter: keep the most likely tokens until their probability reaches ``p``; -inf for the rest.

    A token is kept when the probability of the tokens ranked strictly above it is below ``p``,
    so the token that carries the total across ``p`` is kept.
    """
    ### BEGIN SOLUTION
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    sorted_probs = sorted_logits.softmax(dim=-1)
    mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs
    drop_sorted = mass_before >= p
    drop = drop_sorted.scatter(dim=-1, index=order, src=drop_sorted)
    return logits.masked_fill(drop, float("-inf"))
    ### END SOLUTION


def frequency_penalty(logits: Float[Tensor, "batch d_vocab"], tokens: Int[Tensor, "batch seq"],
                      penalty: float) -> Float[Tensor, "batch d_vocab"]:
    """Lower each token's logit by ``penalty`` times the number of times it occurs in its row's context."""
    ### BEGIN SOLUTION
    # counts[b, v]: how often token v occurs in tokens[b]; a new tensor of the logits' dtype, so
    # the result keeps that dtype and the caller's logits are never written to.
    counts = torch.zeros_like(logits).scatter_add(-1, tokens, torch.ones_like(tokens, dtype=logits.dtype))
    return logits - penalty * counts
    ### END SOLUTION


@torch.inference_mode()
def beam_search(
    model: nn.Module, tokens: Int[Tensor, "seq"], n_new: int, beam_width: int
) -> tuple[Int[Tensor, "seq_plus_n_new"], float]:
    """The continuation of ``n_new`` tokens with the highest total log-probability found by beam search.

    Each step extends every kept sequence by every token, then keeps the ``beam_width``
    best by summed log-probability. Returns the best sequence and its summed log-probability
    (of the new tokens only).
    """
    ### BEGIN SOLUTION
    beams = tokens.unsqueeze(0)  # [beam, seq]
    scores = torch.zeros(1, device=tokens.device)
    for _ in range(n_new):
        log_probs = model(beams)[:, -1].log_softmax(dim=-1)  # [beam, vocab]
        candidates = (scores[:, None] + log_probs).flatten()
        scores, flat_index = candidates.topk(min(beam_width, candidates.numel()))
        d_vocab = log_probs.shape[-1]
        parent, new_token = flat_index // d_vocab, flat_index % d_vocab
        beams = torch.cat([beams[parent], new_token[:, None]], dim=-1)
    return beams[0], scores[0].item()
    ### END SOLUTION


@torch.inference_mode()
def beam_search_with_eos(
    model: nn.Module, tokens: Int[Tensor, "seq"], n_new: int, beam_width: int, eos_token: int
) -> tuple[Int[Tensor, "seq_plus_n_generated"], float]:
    """Beam search in which a beam that emits ``eos_token`` is finished: it stops growing and keeps its score.

    Every step, the pool of candidates is the finished beams (unchanged) plus every extension of
    every unfinished beam by every token; the ``beam_width`` best by summed log-probability are kept.
    No length penalty: a score is the plain sum of the new tokens' log-probabilities, the EOS token's
    included. Returns the best beam of the final pool (prompt, new tokens, EOS if it finished) and its score.
    """
    ### BEGIN SOLUTION
    n_prompt = tokens.shape[0]
    beams: list[tuple[float, Tensor]] = [(0.0, tokens)]  # (score, sequence), best first

    def is_finished(sequence: Tensor) -> bool:
        return sequence.shape[0] > n_prompt and int(sequence[-1]) == eos_token

    for _ in range(n_new):
        finished = [beam for beam in beams if is_finished(beam[1])]
        growing = [beam for beam in beams if not is_finished(beam[1])]
        if not growing:
            break  # every kept beam has finished: the pool can no longer change
        sequences = torch.stack([sequence for _, sequence in growing])  # all the same length
        log_probs = model(sequences)[:, -1].log_softmax(dim=-1)  # [beam, vocab]
        scores = torch.tensor([score for score, _ in growing], device=log_probs.device)
        candidates = (scores[:, None] + log_probs).flatten()
        # At most beam_width extensions can survive, so the best beam_width of them are enough.
        top_scores, flat_index = candidates.topk(min(beam_width, candidates.numel()))
        d_vocab = log_probs.shape[-1]
        extensions = [
            (score, torch.cat([growing[index // d_vocab][1], torch.tensor([index % d_vocab], device=tokens.device)]))
            for score, index in zip(top_scores.tolist(), flat_index.tolist())
        ]
        beams = sorted(finished + extensions, key=lambda beam: beam[0], reverse=True)[:beam_width]
    best_score, best_sequence = beams[0]
    return best_sequence, float(best_score)
    ### END SOLUTION


# --------------------------------------------------------------------------- bonus: KV cache


@torch.inference_mode()
def generate_with_kv_cache(model: nn.Module, tokens: Int[Tensor, "batch seq"], n_new: int) -> Int[Tensor, "batch seq_plus_n_new"]:
    """Greedy decoding that runs the prompt once, then feeds one new token per step.

    Gives the same tokens as :func:`greedy_decode`, with one position of work per step
    instead of the whole sequence.
    """
    ### BEGIN SOLUTION
    # Per layer, the keys and values of every position seen so far: [batch, pos, n_heads, d_head].
    keys: list[Tensor | None] = [None] * len(model.blocks)
    values: list[Tensor | None] = [None] * len(model.blocks)

    def attend(attn: nn.Module, x: Tensor, layer: int, n_past: int) -> Tensor:
        """Attention for the new positions only, reading earlier keys and values from the cache."""
        q = einops.einsum(x, attn.W_Q, "b s d, h d dh -> b s h dh") + attn.b_Q
        k = einops.einsum(x, attn.W_K, "b s d, h d dh -> b s h dh") + attn.b_K
        v = einops.einsum(x, attn.W_V, "b s d, h d dh -> b s h dh") + attn.b_V
        if keys[layer] is not None:
            k, v = torch.cat([keys[layer], k], dim=1), torch.cat([values[layer], v], dim=1)
        keys[layer], values[layer] = k, v
        scores = einops.einsum(q, k, "b q h dh, b k h dh -> b h q k") / math.sqrt(attn.cfg.d_head)
        # New query i sits at absolute position n_past + i and may see keys 0 .. n_past + i.
        future = torch.arange(k.shape[1], device=x.device)[None, :] > torch.arange(q.shape[1], device=x.device)[:, None] + n_past
        z = einops.einsum(scores.masked_fill(future, IGNORE).softmax(dim=-1), v, "b h q k, b k h dh -> b q h dh")
        return einops.einsum(z, attn.W_O, "b q h dh, h dh d -> b q d") + attn.b_O

    def forward_new(new_tokens: Tensor, n_past: int) -> Tensor:
        residual = model.embed(new_tokens) + model.pos_embed.W_pos[n_past: n_past + new_tokens.shape[1]]
        for layer, block in enumerate(model.blocks):
            residual = residual + attend(block.attn, block.ln1(residual), layer, n_past)
            residual = residual + block.mlp(block.ln2(residual))
        return model.unembed(model.ln_final(residual))

    logits = forward_new(tokens, 0)
    for _ in range(n_new):
        next_token = logits[:, -1].argmax(dim=-1, keepdim=True)
        n_past = tokens.shape[1]
        tokens = torch.cat([tokens, next_token], dim=-1)
        logits = forward_new(next_token, n_past)
    return tokens
    ### END SOLUTION
