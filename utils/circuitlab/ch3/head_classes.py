"""Head classes of an IOI model, measured on held-out prompts (the classes of Wang et al. 2022).

    python -m circuitlab.ch3.head_classes utils/circuitlab/models/checkpoints/ioi-shortcut-free   # print, and store

Every measurement is per head, on held-out names in held-out frames: the shortcut-free families'
held-out frames (:data:`circuitlab.data.ioi.SHORTCUT_FREE_HELD_OUT_FAMILIES`) and the classic held-out
templates in both orders. Each set is measured on its own (per-template means need one length per
template) and the class rules read the mean of the two sets.

- duplicate-token: attention from S2 back to S1;
- name mover: attention from END to IO (more than to either mention of S), an OV circuit that copies names
  (the attended name's own token ranks first among the names), and a positive direct effect on IO - S;
- negative name mover: the same attention, an OV circuit that copies names negatively, a negative direct effect;
- S-inhibition: path patching (ABC corruption) from the head into the name movers' queries lowers the
  metric, and by more than patching into their values does;
- induction: attention from S2 to the token after S1, and the induction score on repeated random tokens;
- backup name mover: a head whose direct effect grows when the name movers are mean-ablated.

Two more classes say what a model does when it does not follow the paper's algorithm:

- S2 suppressor: attention from END to S2 (more than to IO), an OV circuit that copies names negatively, and a
  positive direct effect (it pushes S down by reading its second mention);
- name copier: an OV circuit that copies names and a positive direct effect, without attending to IO
  selectively (it moves names, or a summary of them, from wherever it looks).
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Sequence

import torch
from jaxtyping import Float
from torch import Tensor

from circuitlab.ch3 import analysis, ioi_setup
from circuitlab.ch3 import reference as ref
from circuitlab.ch3.ioi_setup import IOIBatch
from circuitlab.ch3.reference import Head
from circuitlab.data import ioi

# The rules' thresholds, in one place (the tests and the stored summary use these).
DUPLICATE_MIN = 0.5  # mean S2 -> S1 attention
MOVER_ATTENTION_MIN = 0.3  # mean END -> IO attention
MOVER_MARGIN = 0.1  # END -> IO above both END -> S1 and END -> S2 by at least this
COPY_MIN = 0.7  # OV copy score (top-1 among the names)
DLA_SHARE_MIN = 0.05  # |direct effect on IO - S| as a share of the logit difference
INHIBITION_DROP_MIN = 0.1  # drop of the normalised metric when only the path into the movers' queries is corrupted
INDUCTION_MIN = 0.3  # both S2 -> S1+1 on IOI prompts and the repeated-random-token score
BACKUP_GAIN_SHARE = 0.05  # growth of the direct effect, as a share of the logit difference, when the movers are ablated
SUPPRESSOR_ATTENTION_MIN = 0.2  # mean END -> S2 attention of an S2 suppressor


def measurement_sets(n: int = 200, seed: int = 0) -> dict[str, list[ioi.IOIPrompt]]:
    """Held-out names in held-out frames: the shortcut-free families, and the classic templates (ABBA and BABA)."""
    return {
        "families": ioi.family_prompts(n, ioi.SHORTCUT_FREE_HELD_OUT_FAMILIES, names=ioi.HELD_OUT_NAMES, seed=201 + seed),
        "classic": ioi.ioi_prompts(n, templates=ioi.HELD_OUT_TEMPLATES, names=ioi.HELD_OUT_NAMES, seed=202 + seed),
    }


@torch.no_grad()
def ov_copy_scores(model, name_tokens: Tensor, k: int = 1, sign: float = 1.0) -> Float[Tensor, "layer head"]:
    """Per head, the fraction of names whose own token is among the ``k`` highest of the names' logits when the
    head's OV circuit reads that name: rows of W_E[name] (through MLP0, as the model reads it) W_V W_O W_U.

    ``sign=-1`` scores the negated circuit (a head that suppresses the name it attends to).
    """
    resid = model.W_E[name_tokens].unsqueeze(0)
    block0 = model.blocks[0]
    resid = (resid + block0.mlp(block0.ln2(resid) if hasattr(block0, "ln2") else resid))[0]
    normed = resid / resid.pow(2).mean(-1, keepdim=True).sqrt()  # what a LayerNorm hands the head, up to its gain
    unembed = model.W_U[:, name_tokens]
    own = torch.arange(len(name_tokens))
    scores = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    for layer, head in analysis.all_heads(model):
        logits = sign * (normed @ model.W_V[layer, head] @ model.W_O[layer, head] @ unembed)  # [read, predicted]
        top = logits.topk(k, dim=-1).indices
        scores[layer, head] = (top == own[:, None]).any(-1).float().mean()
    return scores


@torch.no_grad()
def io_minus_s_dla(model, batch: IOIBatch) -> Float[Tensor, "layer head"]:
    """Each head's direct contribution to logit(IO) - logit(S) at END."""
    _, cache = model.run_with_cache(batch.tokens)
    direction = model.tokens_to_residual_directions(batch.io_tokens) - model.tokens_to_residual_directions(batch.s_tokens)
    return analysis.per_head_dla(model, cache, batch, direction)


@torch.no_grad()
def path_patch_drops(model, batch: IOIBatch, senders: Sequence[Head], receivers: Sequence[Head]) -> dict[str, dict[Head, float]]:
    """For each sender and each receiver input (q, k, v): how much the normalised logit difference drops
    (1 = all the way to the ABC-corrupted run) when only the path sender -> that input of the receivers
    carries the corrupted signal. Every other head is pinned to its clean output while the inputs are recorded.
    """
    args = (batch.end_pos, batch.io_tokens, batch.s_tokens)
    z_names = {f"blocks.{layer}.attn.hook_z" for layer in range(model.cfg.n_layers)}
    clean_logits, clean_cache = model.run_with_cache(batch.tokens, names_filter=lambda name: name in z_names)
    corrupt_logits, corrupt_cache = model.run_with_cache(batch.corrupt_tokens, names_filter=lambda name: name in z_names)
    metric = partial(ref.normalised_logit_diff, end_pos=batch.end_pos, io_tokens=batch.io_tokens, s_tokens=batch.s_tokens,
                     clean_diff=ref.logit_diff(clean_logits, *args).item(),
                     corrupt_diff=ref.logit_diff(corrupt_logits, *args).item())
    layers = sorted({layer for layer, _ in receivers})
    inputs = {f"blocks.{layer}.attn.hook_{c}" for layer in layers for c in "qkv"}
    drops: dict[str, dict[Head, float]] = {c: {} for c in "qkv"}
    for sender in senders:
        recorded: dict[str, Tensor] = {}

        def record(act: Tensor, hook) -> None:
            recorded[hook.name] = act.clone()

        freeze = ref.freeze_heads_except(clean_cache, corrupt_cache, sender)
        model.run_with_hooks(batch.tokens, fwd_hooks=[(lambda name: name in z_names, freeze),
                                                      (lambda name: name in inputs, record)])
        for component in "qkv":
            def patch(act: Tensor, hook, component=component) -> Tensor:
                if hook.name.endswith(f"hook_{component}"):
                    for r_layer, r_head in receivers:
                        if r_layer == hook.layer():
                            act[:, :, r_head] = recorded[hook.name][:, :, r_head]
                return act

            logits = model.run_with_hooks(batch.tokens, fwd_hooks=[(lambda name: name in inputs, patch)])
            drops[component][sender] = 1.0 - metric(logits).item()
    return drops


@dataclass
class SetEvidence:
    """The per-head measurements on one prompt set ([layer, head] tensors) and the set's logit difference."""

    logit_diff: float
    top1: float
    attention: dict[str, Tensor]
    dla: Tensor
    dla_movers_ablated: Tensor | None = None


@torch.no_grad()
def set_evidence(model, prompts: Sequence[ioi.IOIPrompt]) -> SetEvidence:
    batch = ioi_setup.make_batch(model, prompts)
    logits = model(batch.tokens)
    scores = analysis.score_logits(logits, batch, analysis.name_pool_tokens(model, ioi.NAMES))
    return SetEvidence(scores.logit_diff, scores.top1, analysis.attention_summary(model, batch), io_minus_s_dla(model, batch))


@dataclass
class HeadClasses:
    """The evidence for every head (the mean over the measurement sets) and the classes it supports."""

    per_set: dict[str, SetEvidence]
    copy: Tensor
    copy_top5: Tensor
    negative_copy: Tensor
    induction: Tensor
    drops: dict[str, dict[Head, float]] = field(default_factory=dict)  # path patching into the receivers' q, k, v
    classes: dict[str, list[Head]] = field(default_factory=dict)
    receivers: list[Head] = field(default_factory=list)

    def mean(self, key: str) -> Tensor:
        return torch.stack([e.attention[key] for e in self.per_set.values()]).mean(0)

    @property
    def logit_diff(self) -> float:
        return sum(e.logit_diff for e in self.per_set.values()) / len(self.per_set)

    @property
    def dla(self) -> Tensor:
        return torch.stack([e.dla for e in self.per_set.values()]).mean(0)

    @property
    def backup_gain(self) -> Tensor | None:
        if any(e.dla_movers_ablated is None for e in self.per_set.values()):
            return None
        return torch.stack([e.dla_movers_ablated - e.dla for e in self.per_set.values()]).mean(0)


def _selective_io(evidence: HeadClasses, head: Head) -> bool:
    io, s1, s2 = (evidence.mean(k)[head].item() for k in ("END->IO", "END->S1", "END->S2"))
    return io >= MOVER_ATTENTION_MIN and io >= max(s1, s2) + MOVER_MARGIN


def name_movers(evidence: HeadClasses, model) -> list[Head]:
    floor = DLA_SHARE_MIN * evidence.logit_diff
    return [h for h in analysis.all_heads(model) if _selective_io(evidence, h) and evidence.copy[h] >= COPY_MIN
            and evidence.dla[h].item() >= floor]


def s2_suppressors(evidence: HeadClasses, model) -> list[Head]:
    floor = DLA_SHARE_MIN * evidence.logit_diff
    io, s2 = evidence.mean("END->IO"), evidence.mean("END->S2")
    return [h for h in analysis.all_heads(model) if s2[h].item() >= SUPPRESSOR_ATTENTION_MIN
            and s2[h].item() >= io[h].item() + MOVER_MARGIN and evidence.negative_copy[h] >= COPY_MIN
            and evidence.dla[h].item() >= floor]


def name_copiers(evidence: HeadClasses, model) -> list[Head]:
    floor = DLA_SHARE_MIN * evidence.logit_diff
    return [h for h in analysis.all_heads(model) if not _selective_io(evidence, h) and evidence.copy[h] >= COPY_MIN
            and evidence.dla[h].item() >= floor]


def negative_name_movers(evidence: HeadClasses, model) -> list[Head]:
    floor = DLA_SHARE_MIN * evidence.logit_diff
    return [h for h in analysis.all_heads(model) if _selective_io(evidence, h)
            and evidence.negative_copy[h] >= COPY_MIN and evidence.dla[h].item() <= -floor]


@torch.no_grad()
def measure(model, n: int = 200, seed: int = 0, progress: bool = False) -> HeadClasses:
    """Every measurement and every class on ``n`` prompts per set (see the module docstring for the rules)."""
    sets = measurement_sets(n, seed)
    pool = analysis.name_pool_tokens(model, ioi.NAMES)
    evidence = HeadClasses(
        per_set={name: set_evidence(model, prompts) for name, prompts in sets.items()},
        copy=ov_copy_scores(model, pool), copy_top5=ov_copy_scores(model, pool, k=5),
        negative_copy=ov_copy_scores(model, pool, sign=-1.0),
        induction=analysis.induction_scores(model, analysis.repeated_random_tokens(model, n_prompts=16, half_len=20, seed=0)),
    )
    movers = name_movers(evidence, model)
    classes: dict[str, list[Head]] = {
        "duplicate-token": [h for h in analysis.all_heads(model) if evidence.mean("S2->S1")[h].item() >= DUPLICATE_MIN],
        "name mover": movers,
        "negative name mover": negative_name_movers(evidence, model),
        "induction": [h for h in analysis.all_heads(model) if evidence.mean("S2->S1+1")[h].item() >= INDUCTION_MIN
                      and evidence.induction[h].item() >= INDUCTION_MIN],
        "S2 suppressor": s2_suppressors(evidence, model),
        "name copier": name_copiers(evidence, model),
    }
    # The receivers of the path patching and of the backup test: the name movers, or, where none formed, the heads
    # that write the answer instead (so the measurements still say which input of theirs carries the signal).
    receivers = movers or classes["S2 suppressor"] + classes["name copier"]
    evidence.receivers = receivers
    if progress:
        print("receivers:", [analysis.head_label(h) for h in receivers], flush=True)
    classes["S-inhibition"], classes["backup name mover"] = [], []
    if receivers:
        senders = [h for h in analysis.all_heads(model) if h[0] < max(layer for layer, _ in receivers) and h not in receivers]
        per_set = {name: path_patch_drops(model, ioi_setup.make_batch(model, prompts[: max(1, n // 2)]), senders, receivers)
                   for name, prompts in sets.items()}
        evidence.drops = {c: {h: sum(d[c][h] for d in per_set.values()) / len(per_set) for h in senders} for c in "qkv"}
        for name, prompts in sets.items():
            evidence.per_set[name].dla_movers_ablated, _ = analysis.head_dla_with_ablation(
                model, ioi_setup.make_batch(model, prompts), receivers)
    if movers:
        classes["S-inhibition"] = [h for h in evidence.drops["q"] if evidence.drops["q"][h] >= INHIBITION_DROP_MIN
                                   and evidence.drops["q"][h] > evidence.drops["v"][h]]
        gain = evidence.backup_gain
        classes["backup name mover"] = [h for h in analysis.all_heads(model) if h not in movers
                                        and gain[h].item() >= BACKUP_GAIN_SHARE * evidence.logit_diff]
    evidence.classes = classes
    return evidence


def head_row(evidence: HeadClasses, head: Head) -> dict[str, float]:
    """Every number measured for ``head`` (means over the sets), rounded."""
    row = {key: evidence.mean(key)[head].item() for key in ("S2->S1", "S2->S1+1", "END->IO", "END->S1", "END->S2")}
    row |= {"copy": evidence.copy[head].item(), "copy_top5": evidence.copy_top5[head].item(),
            "negative_copy": evidence.negative_copy[head].item(), "dla": evidence.dla[head].item(),
            "induction": evidence.induction[head].item()}
    for component, drops in evidence.drops.items():
        if head in drops:
            row[f"drop_{component}"] = drops[head]
    gain = evidence.backup_gain
    if gain is not None:
        row["backup_gain"] = gain[head].item()
    return {k: round(v, 3) for k, v in row.items()}


def summary(evidence: HeadClasses, model) -> dict:
    """What is stored in the checkpoint's metadata: the classes, each member's numbers, the averages and the rules."""
    heads = analysis.all_heads(model)
    average = {"copy": evidence.copy.mean().item(), "copy_top5": evidence.copy_top5.mean().item(),
               "negative_copy": evidence.negative_copy.mean().item(), "S2->S1": evidence.mean("S2->S1").mean().item(),
               "induction": evidence.induction.mean().item()}
    strongest = {  # for a class that did not form: the best any head does on its defining number
        "S2->S1": max(heads, key=lambda h: evidence.mean("S2->S1")[h].item()),
        "induction": max(heads, key=lambda h: min(evidence.induction[h].item(), evidence.mean("S2->S1+1")[h].item())),
        "negative_copy": max(heads, key=lambda h: evidence.negative_copy[h].item()),
        "END->IO": max(heads, key=lambda h: evidence.mean("END->IO")[h].item()),
    }
    return {
        "sets": {name: {"logit_diff": round(e.logit_diff, 3), "top1": round(e.top1, 3)} for name, e in evidence.per_set.items()},
        "classes": {name: [list(h) for h in members] for name, members in evidence.classes.items()},
        "heads": {analysis.head_label(h): head_row(evidence, h) for h in heads
                  if any(h in members for members in evidence.classes.values()) or h in strongest.values()
                  or h in evidence.receivers},
        "average_head": {k: round(v, 3) for k, v in average.items()},
        "strongest": {k: list(h) for k, h in strongest.items()},
        "receivers": [list(h) for h in evidence.receivers],
        "strongest_path": {c: [list(h), round(d[h], 3)] for c, d in evidence.drops.items() if d
                           for h in [max(d, key=d.get)]},
        "thresholds": {"duplicate_min": DUPLICATE_MIN, "mover_attention_min": MOVER_ATTENTION_MIN,
                       "mover_margin": MOVER_MARGIN, "copy_min": COPY_MIN, "dla_share_min": DLA_SHARE_MIN,
                       "inhibition_drop_min": INHIBITION_DROP_MIN, "induction_min": INDUCTION_MIN,
                       "backup_gain_share": BACKUP_GAIN_SHARE, "suppressor_attention_min": SUPPRESSOR_ATTENTION_MIN},
    }


def table(evidence: HeadClasses, model) -> str:
    """The classes found and their numbers, one line per member head (and the average head's scores)."""
    lines = [f"{'class':20s} {'head':5s} {'S2>S1':>6s} {'S2>S1+1':>8s} {'END>IO':>7s} {'END>S1':>7s} {'END>S2':>7s} "
             f"{'copy':>5s} {'-copy':>6s} {'DLA':>6s} {'ind':>5s} {'q drop':>7s} {'v drop':>7s} {'backup':>7s}"]
    for name, members in evidence.classes.items():
        if not members:
            lines.append(f"{name:20s} none")
        for h in members:
            r = head_row(evidence, h)
            lines.append(f"{name:20s} {analysis.head_label(h):5s} {r['S2->S1']:6.2f} {r['S2->S1+1']:8.2f} {r['END->IO']:7.2f} "
                         f"{r['END->S1']:7.2f} {r['END->S2']:7.2f} {r['copy']:5.2f} {r['negative_copy']:6.2f} "
                         f"{r['dla']:6.2f} {r['induction']:5.2f} {r.get('drop_q', float('nan')):7.2f} "
                         f"{r.get('drop_v', float('nan')):7.2f} {r.get('backup_gain', float('nan')):7.2f}")
    if evidence.receivers:
        lines.append(f"receivers (path patching, backup test): {', '.join(analysis.head_label(h) for h in evidence.receivers)}")
        for component, drops in evidence.drops.items():
            if drops:
                top = sorted(drops, key=drops.get, reverse=True)[:3]
                lines.append(f"  strongest senders into their {component}: "
                             + ", ".join(f"{analysis.head_label(h)} ({drops[h]:+.2f})" for h in top))
    lines.append(f"average head: copy {evidence.copy.mean().item():.2f}, -copy {evidence.negative_copy.mean().item():.2f}, "
                 f"S2>S1 {evidence.mean('S2->S1').mean().item():.2f}, induction {evidence.induction.mean().item():.2f}; "
                 + ", ".join(f"{k}: logit diff {e.logit_diff:.2f}, top-1 {e.top1:.2f}" for k, e in evidence.per_set.items()))
    return "\n".join(lines)


def record_head_classes(directory: Path, n: int = 200) -> dict:
    """Measure a saved model's head classes and store the summary in its metadata (``head_classes``)."""
    model = _load(directory)
    evidence = measure(model, n=n)
    print(table(evidence, model))
    result = summary(evidence, model) | {"prompts_per_set": n}
    config_path = Path(directory) / "config.json"
    config = json.loads(config_path.read_text())
    config["circuitlab_metadata"]["head_classes"] = result
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return result


def _load(directory: Path):
    from circuitlab.models import load_hf_directory

    return load_hf_directory(directory)


def main(argv: Sequence[str] | None = None) -> None:
    from circuitlab import threads as thread_policy

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--prompts", type=int, default=200, help="prompts per measurement set")
    parser.add_argument("--threads", type=thread_policy.argument, default=1, metavar="N|auto")
    parser.add_argument("--no-store", action="store_true", help="print the table only")
    args = parser.parse_args(argv)
    thread_policy.use_policy(args.threads)
    if args.no_store:
        model = _load(args.directory)
        print(table(measure(model, n=args.prompts, progress=True), model))
    else:
        record_head_classes(args.directory, n=args.prompts)


if __name__ == "__main__":
    main()
