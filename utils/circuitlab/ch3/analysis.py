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
    "MeanAblation",
    "faithfulness",
    "completeness",
    "worst_knockout",
    "minimality",
    "PAPER_CLASSES",
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


# --------------------------------------------------------------------------- circuit validation (Wang et al., section 4)
#
# F(X) is the mean logit difference IO - S when every head outside X is mean-ablated (per-template ABC means) and
# the heads in X run as usual; M is the whole model, C the circuit. The paper's three tests:
# - faithfulness: F(C) against F(M);
# - completeness: F(C \ K) against F(M \ K) for sets K of circuit heads (by class, and the worst K a greedy search
#   finds); the incompleteness score is |F(C \ K) - F(M \ K)|;
# - minimality: for each head v of C, a K in C \ {v} for which |F(C \ (K + {v})) - F(C \ K)| is large.
# Every result keeps the full IOIScores (top-1 and p(IO) beside IO - S): IO - S alone can be kept by S-suppression.

HeadSet = tuple[Head, ...]


def _sorted_heads(heads: Iterable[Head]) -> HeadSet:
    return tuple(sorted({(int(layer), int(head)) for layer, head in heads}))


class MeanAblation:
    """Scores of the model with any set of heads mean-ablated, one forward pass per set, memoised.

    The means are those of :func:`ablated_scores` (each template's ABC prompts, per position), laid out per prompt
    so that the whole batch runs in one pass instead of one pass per template: on a 144-head model the searches
    below run hundreds of sets, and this is what keeps them affordable. ``evaluations`` counts the passes run.
    """

    def __init__(self, model, batch: IOIBatch, pool: Tensor):
        self.model, self.batch, self.pool = model, batch, pool
        self.heads: list[Head] = all_heads(model)
        self._means = self._per_prompt_means()
        self._memo: dict[HeadSet, IOIScores] = {}
        self.evaluations = 0

    @torch.no_grad()
    def _per_prompt_means(self) -> Float[Tensor, "layer batch seq head d_head"]:
        cfg = self.model.cfg
        means = torch.zeros(cfg.n_layers, len(self.batch), self.batch.tokens.shape[1], cfg.n_heads, cfg.d_head,
                            device=self.batch.tokens.device)
        for template in self.batch.templates.unique().tolist():
            rows = (self.batch.templates == template).nonzero().flatten()
            group = self.batch.subset(self.batch.templates == template)
            group_means = ioi_setup.z_means(self.model, group.corrupt_tokens)  # [layer, seq of the group, head, d_head]
            width = group_means.shape[1]
            means[:, rows, :width] = group_means.unsqueeze(1).to(means.dtype)
        return means

    @torch.no_grad()
    def keep_only(self, keep: Iterable[Head]) -> IOIScores:
        """F(keep): every head outside ``keep`` mean-ablated."""
        key = _sorted_heads(keep)
        if key not in self._memo:
            self._memo[key] = self._run(set(key))
            self.evaluations += 1
        return self._memo[key]

    def without(self, knocked: Iterable[Head]) -> IOIScores:
        """F(M \\ K): the heads in ``knocked`` mean-ablated, the rest of the model as usual."""
        knocked = set(_sorted_heads(knocked))
        return self.keep_only([h for h in self.heads if h not in knocked])

    def _run(self, keep: set[Head]) -> IOIScores:
        n_heads = self.model.cfg.n_heads
        ablated = {layer: [h for h in range(n_heads) if (layer, h) not in keep] for layer in range(self.model.cfg.n_layers)}

        def ablate(z: Tensor, hook) -> Tensor:
            heads = ablated[hook.layer()]
            if heads:
                z[:, :, heads] = self._means[hook.layer()][:, : z.shape[1], heads].to(z.dtype)
            return z

        hooks = [(f"blocks.{layer}.attn.hook_z", ablate) for layer, heads in ablated.items() if heads]
        logits = self.model.run_with_hooks(self.batch.tokens, fwd_hooks=hooks) if hooks else self.model(self.batch.tokens)
        return score_logits(logits, self.batch, self.pool)


@dataclass(frozen=True)
class Faithfulness:
    """F(M) and F(C), with every other metric beside the logit difference."""

    model: IOIScores  # nothing ablated
    circuit: IOIScores  # everything outside the circuit mean-ablated

    @property
    def share(self) -> float:
        """F(C) / F(M), the paper's faithfulness figure (87% for GPT-2 small); NaN when F(M) is about 0."""
        return _ratio(self.circuit.logit_diff, self.model.logit_diff)


def _ratio(part: float, whole: float) -> float:
    return part / whole if abs(whole) > 1e-6 else float("nan")


def faithfulness(ablation: MeanAblation, circuit: Sequence[Head]) -> Faithfulness:
    return Faithfulness(model=ablation.keep_only(ablation.heads), circuit=ablation.keep_only(circuit))


@dataclass(frozen=True)
class KnockoutPair:
    """One completeness point: K knocked out of the circuit and out of the whole model."""

    label: str
    knocked: HeadSet
    in_circuit: IOIScores  # F(C \ K)
    in_model: IOIScores  # F(M \ K)

    @property
    def incompleteness(self) -> float:
        """|F(C \\ K) - F(M \\ K)| on IO - S: 0 for a complete circuit, whatever K is."""
        return abs(self.in_circuit.logit_diff - self.in_model.logit_diff)

    @property
    def top1_gap(self) -> float:
        """The same gap on top-1: a circuit can match IO - S and still differ on whether IO is the answer."""
        return abs(self.in_circuit.top1 - self.in_model.top1)


def knockout_pair(ablation: MeanAblation, circuit: Sequence[Head], knocked: Iterable[Head], label: str) -> KnockoutPair:
    knocked = _sorted_heads(knocked)
    rest = [h for h in circuit if h not in set(knocked)]
    return KnockoutPair(label, knocked, ablation.keep_only(rest), ablation.without(knocked))


def circuit_classes(circuit: Sequence[Head], classes: dict[str, Sequence[Head]]) -> dict[str, HeadSet]:
    """Each class cut down to the heads in the circuit; classes with no circuit head are dropped."""
    inside = set(circuit)
    cut = {name: _sorted_heads(h for h in heads if tuple(h) in inside) for name, heads in classes.items()}
    return {name: heads for name, heads in cut.items() if heads}


def worst_knockout(ablation: MeanAblation, circuit: Sequence[Head], max_size: int,
                   candidates: Sequence[Head] | None = None) -> KnockoutPair:
    """The paper's greedy search for the K that makes the circuit look least complete.

    Start from K = {} and add, one at a time, the candidate head that gives the largest |F(C \\ K) - F(M \\ K)|, up
    to ``max_size`` heads; return the best K met on the way. Each step costs two passes per candidate, so a search
    costs at most 2 * len(candidates) * max_size passes (``candidates`` defaults to the circuit's heads).
    """
    pool = list(candidates if candidates is not None else circuit)
    knocked: list[Head] = []
    best = knockout_pair(ablation, circuit, [], "greedy worst K")
    for _ in range(min(max_size, len(pool))):
        options = [knockout_pair(ablation, circuit, knocked + [h], "greedy worst K") for h in pool if h not in knocked]
        step = max(options, key=lambda pair: pair.incompleteness)
        knocked = list(step.knocked)
        if step.incompleteness > best.incompleteness:
            best = step
    return best


def completeness(ablation: MeanAblation, circuit: Sequence[Head], classes: dict[str, Sequence[Head]],
                 worst_size: int = 3, candidates: Sequence[Head] | None = None) -> list[KnockoutPair]:
    """F(C \\ K) beside F(M \\ K) for K = {}, each class (its heads in the circuit), the whole circuit, and the worst K
    of :func:`worst_knockout` (skipped when ``worst_size`` is 0)."""
    pairs = [knockout_pair(ablation, circuit, [], "K = {} (nothing knocked out)")]
    pairs += [knockout_pair(ablation, circuit, heads, name) for name, heads in circuit_classes(circuit, classes).items()]
    pairs.append(knockout_pair(ablation, circuit, circuit, "K = C (the whole circuit)"))
    if worst_size > 0:
        pairs.append(worst_knockout(ablation, circuit, worst_size, candidates))
    return pairs


@dataclass(frozen=True)
class MinimalityResult:
    """What head ``head`` is worth to the circuit, given that the heads in ``knocked`` (K) are gone already."""

    head: Head
    knocked: HeadSet
    how: str  # how K was chosen: "K = {}", "its class", "greedy search"
    before: IOIScores  # F(C \ K)
    after: IOIScores  # F(C \ (K + {v}))

    @property
    def drop(self) -> float:
        """F(C \\ K) - F(C \\ (K + {v})) on IO - S (signed: negative when removing v helps)."""
        return self.before.logit_diff - self.after.logit_diff

    @property
    def top1_drop(self) -> float:
        return self.before.top1 - self.after.top1


def _minimality_for(ablation: MeanAblation, circuit: Sequence[Head], head: Head, knocked: Iterable[Head],
                    how: str) -> MinimalityResult:
    knocked = _sorted_heads(knocked)
    rest = [h for h in circuit if h not in set(knocked)]
    return MinimalityResult(head, knocked, how, ablation.keep_only(rest), ablation.keep_only([h for h in rest if h != head]))


def minimality(ablation: MeanAblation, circuit: Sequence[Head], classes: dict[str, Sequence[Head]],
               search_size: int = 1, heads: Sequence[Head] | None = None) -> list[MinimalityResult]:
    """For each head v of the circuit, the K (among those tried) with the largest |F(C \\ K) - F(C \\ (K + {v}))|.

    Tried: K = {}; v's class in the circuit, minus v (for each class v belongs to); and a greedy search that adds,
    up to ``search_size`` heads, the circuit head that most enlarges v's effect. The search is what costs: about
    len(circuit)**2 * search_size / 2 passes over all heads (sets are memoised), so pass 0 on a large circuit.
    ``heads`` picks the v to test (default: every head of the circuit).
    """
    results = []
    in_circuit = circuit_classes(circuit, classes)
    for v in (circuit if heads is None else heads):
        tried = [_minimality_for(ablation, circuit, v, [], "K = {}")]
        tried += [_minimality_for(ablation, circuit, v, [h for h in heads if h != v], f"its class ({name})")
                  for name, heads in in_circuit.items() if v in heads and len(heads) > 1]
        knocked: list[Head] = []
        for _ in range(search_size):
            options = [_minimality_for(ablation, circuit, v, knocked + [h], "greedy search")
                       for h in circuit if h != v and h not in knocked]
            if not options:
                break
            step = max(options, key=lambda r: abs(r.drop))
            knocked = list(step.knocked)
            tried.append(step)
        results.append(max(tried, key=lambda r: abs(r.drop)))
    return results


# --------------------------------------------------------------------------- the paper's figures, for the comparison

# Wang et al. (2022): GPT-2 small's 26 circuit heads in 7 classes (layer, head).
PAPER_CLASSES: dict[str, list[Head]] = {
    "name mover": [(9, 9), (10, 0), (9, 6)],
    "backup name mover": [(10, 10), (10, 6), (10, 2), (10, 1), (11, 2), (9, 7), (9, 0), (11, 9)],
    "negative name mover": [(10, 7), (11, 10)],
    "S-inhibition": [(7, 3), (7, 9), (8, 6), (8, 10)],
    "induction": [(5, 5), (5, 8), (5, 9), (6, 9)],
    "duplicate token": [(0, 1), (0, 10), (3, 0)],
    "previous token": [(2, 2), (4, 11)],
}
PAPER_CIRCUIT: list[Head] = [h for heads in PAPER_CLASSES.values() for h in heads]
# The circuit keeps about 87% of the full model's logit difference (F(C) / F(M)); 3.56 and 3.10 are the values
# usually quoted for F(M) and F(C) on the paper's dataset (the logit difference depends on the dataset).
PAPER_FAITHFULNESS = 0.87
PAPER_LOGIT_DIFF = 3.56
PAPER_CIRCUIT_LOGIT_DIFF = 3.10


@torch.no_grad()
def previous_token_scores(model, tokens: Tensor) -> Float[Tensor, "layer head"]:
    """Each head's mean attention from every position after the first to the position just before it."""
    names = [f"blocks.{layer}.attn.hook_pattern" for layer in range(model.cfg.n_layers)]
    _, cache = model.run_with_cache(tokens.to(model.cfg.device), names_filter=lambda name: name in names)
    queries = torch.arange(1, tokens.shape[1])
    return torch.stack([cache[name][:, :, queries, queries - 1].mean((0, 2)).cpu() for name in names])
