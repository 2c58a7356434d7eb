"""Analysis tools for chapter 3 that are not exercises: scoring a model on IOI, attention
summaries, copying scores, per-template mean ablation and circuit validation.

They are used by the chapter notebook and by the tests that check the claims made about
the shipped model, so the numbers in both come from the same code.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Iterable, Sequence

import einops
import torch
from jaxtyping import Float
from torch import Tensor

from circuitlab.ch3 import ioi_setup
from circuitlab.ch3 import reference as ref
from circuitlab.ch3.ioi_setup import IOIBatch
from circuitlab.ch3.reference import Head, mean_ablate_except
from circuitlab.data import ioi

__all__ = [
    "IOIScores",
    "score_logits",
    "name_pool_tokens",
    "attention_summary",
    "copying_scores",
    "template_groups",
    "ablated_scores",
    "all_heads",
]


@dataclass
class IOIScores:
    """How well a model names the indirect object, by several metrics.

    - ``logit_diff``: mean logit(IO) - logit(S);
    - ``accuracy``: fraction of prompts with logit(IO) > logit(S);
    - ``top1``: fraction whose most likely next token is IO;
    - ``p_io``: mean probability of IO;
    - ``io_vs_names``: mean logit(IO) minus the mean logit of every name in the pool. Pushing
      S down alone barely moves it: it measures whether IO is *promoted*.
    """

    logit_diff: float
    accuracy: float
    top1: float
    p_io: float
    io_vs_names: float

    def as_row(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in vars(self).items()}


def name_pool_tokens(model, names: Iterable[str]) -> Tensor:
    return torch.tensor([ioi_setup.name_token(model, n) for n in names])


def score_logits(logits: Float[Tensor, "batch seq vocab"], batch: IOIBatch, pool: Tensor) -> IOIScores:
    rows = torch.arange(len(batch))
    final = logits[rows, batch.end_pos]
    io, s = final[rows, batch.io_tokens], final[rows, batch.s_tokens]
    return IOIScores(
        logit_diff=(io - s).mean().item(),
        accuracy=(io > s).float().mean().item(),
        top1=(final.argmax(-1) == batch.io_tokens).float().mean().item(),
        p_io=final.softmax(-1)[rows, batch.io_tokens].mean().item(),
        io_vs_names=(io - final[:, pool.to(final.device)].mean(-1)).mean().item(),
    )


def all_heads(model) -> list[Head]:
    return [(layer, head) for layer in range(model.cfg.n_layers) for head in range(model.cfg.n_heads)]


def _gather_positions(pattern: Tensor, queries: Tensor, keys: Tensor) -> Tensor:
    """pattern [batch, head, q, k] -> [batch, head], the attention from queries[i] to keys[i] in prompt i."""
    rows = torch.arange(pattern.shape[0])
    return pattern[rows, :, queries, keys]


def ioi_positions(batch: IOIBatch) -> dict[str, Tensor]:
    """Positions of IO, S1 (first S), S2 (second S) and END in each prompt."""
    io_pos, s1_pos, s2_pos = [], [], []
    for row, io_token, s_token, end in zip(batch.tokens, batch.io_tokens, batch.s_tokens, batch.end_pos):
        row = row[: int(end) + 1]
        io_pos.append(int((row == io_token).nonzero()[0]))
        s_hits = (row == s_token).nonzero().flatten()
        s1_pos.append(int(s_hits[0]))
        s2_pos.append(int(s_hits[-1]))
    return {"IO": torch.tensor(io_pos), "S1": torch.tensor(s1_pos), "S2": torch.tensor(s2_pos), "END": batch.end_pos.cpu()}


@torch.no_grad()
def attention_summary(model, batch: IOIBatch) -> dict[str, Float[Tensor, "layer head"]]:
    """Mean attention of every head along the edges that define the IOI roles.

    END->IO, END->S1, END->S2 (name movers, S-inhibition), S2->S1 (duplicate-token heads),
    S2->S1+1 (induction heads).
    """
    names = [f"blocks.{layer}.attn.hook_pattern" for layer in range(model.cfg.n_layers)]
    _, cache = model.run_with_cache(batch.tokens, names_filter=lambda name: name in names)
    pos = ioi_positions(batch)
    edges = {"END->IO": ("END", "IO", 0), "END->S1": ("END", "S1", 0), "END->S2": ("END", "S2", 0),
             "S2->S1": ("S2", "S1", 0), "S2->S1+1": ("S2", "S1", 1)}
    summary = {}
    for label, (query, key, offset) in edges.items():
        per_layer = [_gather_positions(cache[name].cpu(), pos[query], pos[key] + offset).mean(0) for name in names]
        summary[label] = torch.stack(per_layer)
    return summary


@torch.no_grad()
def copying_scores(model, name_tokens: Tensor) -> Float[Tensor, "layer head"]:
    """How much each head's OV circuit copies a name: the fraction of names whose own token gets the
    highest logit (among the names) when the head attends to that name.

    The name's embedding is passed through the first MLP first, as the model does (the token
    embedding alone is not what later heads read). Negative heads show up in
    ``copying_scores(...)`` of the negated circuit: see ``negative=True``.
    """
    return _copying(model, name_tokens, sign=1.0)


@torch.no_grad()
def negative_copying_scores(model, name_tokens: Tensor) -> Float[Tensor, "layer head"]:
    """Like :func:`copying_scores` for the negated OV circuit: heads that suppress the name they attend to."""
    return _copying(model, name_tokens, sign=-1.0)


def _copying(model, name_tokens: Tensor, sign: float) -> Tensor:
    embedded = model.W_E[name_tokens]  # [names, d_model]
    # Pass the embeddings through MLP0 the way the model does: residual = embed + mlp0(ln2(embed)).
    block0 = model.blocks[0]
    resid = embedded.unsqueeze(0)
    mlp_in = block0.ln2(resid) if hasattr(block0, "ln2") else resid
    resid = resid + block0.mlp(mlp_in)
    resid = resid[0]
    scores = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    unembed = model.W_U[:, name_tokens]  # [d_model, names]
    for layer in range(model.cfg.n_layers):
        normed = resid / resid.pow(2).mean(-1, keepdim=True).sqrt()  # the LayerNorm scale, roughly
        for head in range(model.cfg.n_heads):
            ov = model.W_V[layer, head] @ model.W_O[layer, head]  # [d_model, d_model]
            logits = sign * (normed @ ov @ unembed)  # [names (attended), names (predicted)]
            correct = logits.argmax(-1) == torch.arange(len(name_tokens))
            scores[layer, head] = correct.float().mean()
    return scores


def template_groups(batch: IOIBatch) -> list[IOIBatch]:
    """The batch split by template, so that every group has one length and positions line up."""
    return [batch.subset(batch.templates == t) for t in batch.templates.unique().tolist()]


@torch.no_grad()
def ablated_scores(model, batch: IOIBatch, keep: Sequence[Head], pool: Tensor) -> IOIScores:
    """Scores when every head outside ``keep`` is mean-ablated, with means taken per template over
    the ABC-corrupted prompts (so the ablated heads carry no information about which name is IO)."""
    logits_by_group, groups = [], template_groups(batch)
    for group in groups:
        means = ioi_setup.z_means(model, group.corrupt_tokens)
        logits_by_group.append(mean_ablate_except(model, group.tokens, keep, means))
    return _merged_scores(logits_by_group, groups, pool)


def _merged_scores(logits_by_group: list[Tensor], groups: list[IOIBatch], pool: Tensor) -> IOIScores:
    parts = [score_logits(logits, group, pool) for logits, group in zip(logits_by_group, groups)]
    weights = torch.tensor([len(g) for g in groups], dtype=torch.float)
    weights = weights / weights.sum()
    merged = {key: sum(w.item() * getattr(p, key) for w, p in zip(weights, parts)) for key in vars(parts[0])}
    return IOIScores(**merged)


@torch.no_grad()
def full_scores(model, batch: IOIBatch, pool: Tensor) -> IOIScores:
    """Scores of the intact model (per template group, like :func:`ablated_scores`)."""
    groups = template_groups(batch)
    return _merged_scores([model(group.tokens) for group in groups], groups, pool)


def head_label(head: Head) -> str:
    return f"{head[0]}.{head[1]}"


def per_head_dla(model, cache, batch: IOIBatch, direction: Float[Tensor, "batch d_model"]) -> Float[Tensor, "layer head"]:
    """Each head's direct contribution along ``direction`` at the end position (through the final LN scale)."""
    rows = torch.arange(len(batch))
    results = cache.stack_head_results(layer=-1, return_labels=False)  # [layer*head, batch, pos, d_model]
    at_end = results[:, rows, batch.end_pos]  # [layer*head, batch, d_model]
    scale = cache["ln_final.hook_scale"][rows, batch.end_pos]
    contributions = einops.einsum(at_end / scale, direction, "comp batch d, batch d -> comp batch").mean(-1)
    return einops.rearrange(contributions, "(layer head) -> layer head", layer=model.cfg.n_layers)


@torch.no_grad()
def head_dla_with_ablation(model, batch: IOIBatch, ablate: Sequence[Head]) -> tuple[Tensor, IOIScores]:
    """Per-head direct contribution to IO - S when the heads in ``ablate`` are mean-ablated
    (per-template ABC means), and the scores of that run. With ``ablate=[]``, the intact model."""
    keep = [h for h in all_heads(model) if h not in set(ablate)]
    totals = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    groups = template_groups(batch)
    logits_by_group = []
    for group in groups:
        means = ioi_setup.z_means(model, group.corrupt_tokens)
        names = {f"blocks.{layer}.attn.hook_z" for layer in range(model.cfg.n_layers)}
        dropped = set(ablate)

        def ablate_hook(z: Tensor, hook) -> Tensor:
            layer = hook.layer()
            heads = [h for h in range(model.cfg.n_heads) if (layer, h) in dropped]
            if heads:
                z[:, :, heads] = means[layer][:, heads]
            return z

        with model.hooks(fwd_hooks=[(lambda name: name in names, ablate_hook)]):
            logits, cache = model.run_with_cache(group.tokens)
        direction = model.tokens_to_residual_directions(group.io_tokens) - model.tokens_to_residual_directions(group.s_tokens)
        totals += per_head_dla(model, cache, group, direction) * len(group)
        logits_by_group.append(logits)
    del keep
    return totals / len(batch), _merged_scores(logits_by_group, groups, _pool_placeholder(batch))


def _pool_placeholder(batch: IOIBatch) -> Tensor:
    """The names present in the batch (used for io_vs_names when no pool is given)."""
    return torch.cat([batch.io_tokens, batch.s_tokens]).unique().cpu()


def circuit_prompts() -> list:
    """The analysis prompts of the chapter: 8 per template (4 ABBA, 4 BABA) for 8 training templates."""
    return ioi.ioi_prompts(64, templates=ioi.TRAIN_TEMPLATES[:8], seed=1)


@torch.no_grad()
def find_circuit(model, batch: IOIBatch, pool: Tensor, threshold: float = 0.8, progress: bool = False) -> dict:
    """The chapter's circuit-finding rule, with the reference implementations.

    Evidence per head = (|IO-relative DLA| + |S-relative DLA|) / clean logit diff + |direct-path effect|
    + |head-output patching recovery| + |strongest effect on the receivers' q, k or v| (receivers: the three
    heads outside layer 0 whose direct path matters most). Heads are added in order of evidence until
    mean-ablating everything else keeps ``threshold`` of the logit difference and of the top-1 accuracy.
    """
    args = (batch.end_pos, batch.io_tokens, batch.s_tokens)
    clean_logits, clean_cache = model.run_with_cache(batch.tokens)
    corrupt_logits, corrupt_cache = model.run_with_cache(batch.corrupt_tokens)
    clean_diff = ref.logit_diff(clean_logits, *args).item()
    metric = partial(ref.normalised_logit_diff, end_pos=batch.end_pos, io_tokens=batch.io_tokens, s_tokens=batch.s_tokens,
                     clean_diff=clean_diff, corrupt_diff=ref.logit_diff(corrupt_logits, *args).item())
    io_rel, s_rel = name_relative_dla(model, clean_cache, batch, pool)
    head_out = ref.patch_head_output(model, batch.corrupt_tokens, clean_cache, metric)
    direct = ref.path_patch_to_final(model, batch.tokens, clean_cache, corrupt_cache, metric) - 1.0
    receivers = choose_receivers(model, direct)
    small = batch.subset(torch.arange(len(batch)) % 2 == 0)
    s_args = (small.end_pos, small.io_tokens, small.s_tokens)
    s_clean_logits, s_clean_cache = model.run_with_cache(small.tokens)
    s_corrupt_logits, s_corrupt_cache = model.run_with_cache(small.corrupt_tokens)
    s_metric = partial(ref.normalised_logit_diff, end_pos=small.end_pos, io_tokens=small.io_tokens, s_tokens=small.s_tokens,
                       clean_diff=ref.logit_diff(s_clean_logits, *s_args).item(),
                       corrupt_diff=ref.logit_diff(s_corrupt_logits, *s_args).item())
    to_receivers = torch.stack([ref.path_patch_to_heads(model, small.tokens, s_clean_cache, s_corrupt_cache, s_metric,
                                                        receivers, c) - 1.0 for c in "qkv"]).min(0).values
    evidence = circuit_evidence(model, io_rel, s_rel, clean_diff, direct, head_out, to_receivers)
    full = full_scores(model, batch, pool)
    circuit: list[Head] = []
    kept = None
    for h in sorted(evidence, key=lambda h: -evidence[h]):
        circuit.append(h)
        kept = ablated_scores(model, batch, circuit, pool)
        if progress:
            print(head_label(h), kept.as_row())
        if kept.logit_diff >= threshold * full.logit_diff and kept.top1 >= threshold * full.top1:
            break
    return {"heads": [list(h) for h in circuit], "receivers": [list(h) for h in receivers],
            "full": full.as_row(), "circuit_only": kept.as_row() if kept else None, "threshold": threshold}


def name_logit_dla(model, cache, batch: IOIBatch, tokens: Tensor, pool: Tensor) -> Float[Tensor, "layer head"]:
    """Per-head direct contribution to the logit of ``tokens`` (one per prompt), relative to the mean name logit."""
    average_name = model.tokens_to_residual_directions(pool).mean(0)
    return per_head_dla(model, cache, batch, model.tokens_to_residual_directions(tokens) - average_name)


def name_relative_dla(model, cache, batch: IOIBatch, pool: Tensor) -> tuple[Tensor, Tensor]:
    """Per-head direct contributions to logit(IO) and to logit(S), each relative to the mean name logit."""
    return (name_logit_dla(model, cache, batch, batch.io_tokens, pool),
            name_logit_dla(model, cache, batch, batch.s_tokens, pool))


def choose_receivers(model, direct_effect: Tensor, n: int = 3) -> list[Head]:
    """The ``n`` heads outside layer 0 whose direct path to the logits matters most (most negative effect)."""
    later = [h for h in all_heads(model) if h[0] > 0]
    return sorted(later, key=lambda h: direct_effect[h].item())[:n]


def circuit_evidence(model, io_rel: Tensor, s_rel: Tensor, clean_diff: float, direct: Tensor, head_out: Tensor,
                     to_receivers: Tensor) -> dict[Head, float]:
    """How strongly each head is implicated, summing the chapter's measurements (see :func:`find_circuit`)."""
    return {h: (abs(io_rel[h].item()) + abs(s_rel[h].item())) / abs(clean_diff) + abs(direct[h].item())
            + abs(head_out[h].item()) + abs(to_receivers[h].item()) for h in all_heads(model)}


def most_attended_token(model, cache, batch: IOIBatch, head: Head) -> tuple[str, float]:
    """The token a head attends to most from END (the most frequent argmax over the batch) and the mean attention it gets.

    ``cache`` is a run of the model on ``batch.tokens`` that holds the attention patterns.
    """
    rows = torch.arange(len(batch))
    from_end = cache["pattern", head[0]][rows, head[1], batch.end_pos.to(batch.tokens.device)]  # [batch, key]
    targets = from_end.argmax(-1)
    words = [model.to_str_tokens(batch.tokens[i, int(t)])[0].strip() for i, t in enumerate(targets)]
    word = max(set(words), key=words.count)
    share = from_end.max(-1).values.mean().item()
    return word, share


def io_promoting_heads(heads: Iterable[Head], io_rel: Tensor, clean_diff: float, share: float = 0.1) -> list[Head]:
    """The heads whose direct contribution to IO (relative to the mean name) is at least ``share`` of the logit diff."""
    return [h for h in heads if io_rel[h].item() >= share * clean_diff]


def repeated_random_tokens(model, n_prompts: int = 16, half_len: int = 20, seed: int = 0) -> Tensor:
    """``n_prompts`` rows of BOS, ``half_len`` random ordinary tokens (no special token), then the same tokens again.

    Tokens are drawn uniformly from the vocabulary the model's tokenizer can produce, special tokens left out;
    ``half_len`` is cut so that the rows fit in the model's context.
    """
    half_len = min(half_len, (model.cfg.n_ctx - 1) // 2)
    vocab = len(model.tokenizer) if model.tokenizer is not None else model.cfg.d_vocab
    special = set(model.tokenizer.all_special_ids) if model.tokenizer is not None else set()
    ordinary = torch.tensor([t for t in range(min(vocab, model.cfg.d_vocab)) if t not in special])
    generator = torch.Generator().manual_seed(seed)
    half = ordinary[torch.randint(len(ordinary), (n_prompts, half_len), generator=generator)]
    bos = model.tokenizer.bos_token_id if model.tokenizer is not None and model.tokenizer.bos_token_id is not None else 0
    return torch.cat([torch.full((n_prompts, 1), bos, dtype=torch.long), half, half], dim=1)


@torch.no_grad()
def induction_scores(model, tokens: Tensor) -> Float[Tensor, "layer head"]:
    """Each head's mean attention, from every second-half position of :func:`repeated_random_tokens` rows, to the
    token right after that position's token in the first half (where an induction head looks)."""
    half_len = (tokens.shape[1] - 1) // 2
    names = [f"blocks.{layer}.attn.hook_pattern" for layer in range(model.cfg.n_layers)]
    _, cache = model.run_with_cache(tokens.to(model.cfg.device), names_filter=lambda name: name in names)
    queries = torch.arange(1 + half_len, 1 + 2 * half_len)  # second-half positions
    keys = queries - half_len + 1  # first occurrence (query - half_len), plus one
    scores = [cache[name][:, :, queries, keys].mean((0, 2)).cpu() for name in names]  # [head] per layer
    return torch.stack(scores)
