"""Train the offline IOI model: a small GPT-2 on a generated corpus of IOI and other sentences.

    python -m circuitlab.ch3.train_ioi                      # the shipped model (about 8 minutes on 2 idle cores)
    python -m circuitlab.ch3.train_ioi --steps 50 --documents 2000 --out /tmp/ioi-tiny   # a smoke test
    python -m circuitlab.ch3.train_ioi --corpus shortcut-free --out .../ioi-shortcut-free  # the shortcut-free model

The result is a Hugging Face ``GPT2LMHeadModel`` directory (``config.json``,
``model.safetensors`` and the word-level tokenizer), which TransformerLens boots exactly as
it boots GPT-2 small. The recipe and the measured results are stored under
``circuitlab_metadata`` in ``config.json``.

Design choices, and why:
- a word-level tokenizer, so every name is one token and the vocabulary is tiny;
- 4 layers, d_model 128, 4 heads and an MLP of width 16: with a full-width MLP the model
  solves IOI mostly in its MLPs, which hides the attention-head circuit the chapter studies;
- 40% of the IOI sentences are *distractor* sentences, in which a third name stands right
  after or right before the repeated subject, so the name to suppress is neither always the
  most recent one nor always the first one of the second clause.

``--corpus shortcut-free`` trains on :func:`circuitlab.data.ioi.mixed_corpus_documents` instead: the
shortcut-free template families (on which only "the name mentioned once" answers IO), with
``--classic-fraction`` of the IOI sentences from the classic templates, and a tokenizer that knows the
families' words. Its held-out evaluation adds held-out names and held-out frames of every family
(:data:`circuitlab.data.ioi.SHORTCUT_FREE_HELD_OUT_FAMILIES`). Its size is set by ``--layers``, ``--heads``,
``--d-model``, ``--n-inner``, ``--steps`` and ``--batch-size``; the default corpus and size are the shipped
model's. The shortcut-free checkpoint (``ioi-shortcut-free``) is the first run below; its command is in its
metadata, and ``python -m circuitlab.ch3.head_classes DIR`` measures and stores its head classes.

Shortcut-free runs so far (1 torch thread on a shared 2-core machine, load 4-9; on 2 idle threads the 4 x 4
size runs at about 76 ms/step, so these times are upper bounds). Held-out figures are logit diff / top-1 on
held-out names in held-out frames (families; classic templates):
- 4 layers x 4 heads, d_model 128, n_inner 16, classic share 0.3, 3000 steps, seed 0: 601 ms/step, 1847 s.
  IOI appears between steps 750 and 1250. Held-out frames of the families 11.0 / 0.99, held-out names 6.4 /
  0.87, both 4.7 / 0.76; classic both 1.6 / 0.69. Heads: an S2 suppressor (1.3) and a name copier (1.2), no
  duplicate-token head (S2 -> S1 at most 0.10), no name mover (END -> IO at most 0.17 on any set).
- 6 layers x 8 heads, d_model 128: 1130 ms/step; no IOI at all by step 750 (logit diff about 0); stopped.
- 4 layers x 8 heads, d_model 128, 5000 steps: 450 ms/step, 2313 s. Larger held-out logit diffs (families both
  7.5, classic both 6.2) but lower top-1 (0.67, 0.55); no head meets any class rule (S2 -> S1 at most 0.26).
- 4 x 4 as the first, seed 1: 351 ms/step, 1081 s. Held-out names better (families 7.9 / 0.96, classic 6.7 /
  0.96), held-out frames worse (families 6.2 / 0.77); one name copier (1.0), S2 -> S1 at most 0.12.
- 4 x 4 as the first, classic share 0 (families only): 356 ms/step, 1098 s. Families both 7.3 / 0.96, but the
  classic prompts are not solved (held-out both 0.2 / 0.30, training templates 0.0 / 0.25); S2 -> S1 at most 0.13.
No run formed a duplicate-token head, a name mover that attends to IO, or an S-inhibition head.

Why the families do not force one: in every IOI sentence the repeated name is the subject of the last clause
(the giver), so a model can find S2 by its place and push that name down, and C, its co-subject, is never a
candidate. So the next runs add a reason to detect repeats, as GPT-2's training text gives one everywhere
(all 4 x 4, classic share 0.3, 6000 steps, seed 0, 1 thread with another job on the second core, 98-117 ms/step,
590-715 s; held-out figures as above, measured on the saved model; "S2 -> S1" is the largest of any head):
- ``--roll-call-fraction 0.5`` (:func:`circuitlab.data.ioi.roll_call` lists of training names: "names Mary new ,
  John new , Mary again ."; "names Mary , John , Mary , once John ."): families both 6.5 / 0.90, classic both
  5.0 / 0.80. The lists are learnt, and heads 1.0 and 1.3 attend from a repeated name to its first mention in them
  (0.46, 0.40), but in IOI sentences S2 -> S1 is at most 0.23: the skill stays with the lists. (With held-out names
  in the lists too, held-out names broke: families both -0.9 / 0.16; at 0.25 of the documents and 3000 steps the
  lists were not learnt at all.)
- ``--again-probability 0.5`` (:func:`circuitlab.data.ioi.mark_repeats`: a later mention of a name is followed by
  "again" half the time, in every sentence): the best held-out figures of any run (families both 6.6 / 1.00, new
  names 9.6 / 1.00; classic both 4.1 / 0.81), and p("again") is 0.50 after a repeated name against 0.02 after a
  first mention. Yet no head attends from a repeated name to its earlier mention (at most 0.06 on the corpus, 0.17
  S2 -> S1), zeroing any one head moves that gap by 0.04 at most, and no head meets any class rule: in this
  corpus a name's place says whether it repeats, so "again" is predicted from syntax.
- the same plus ``--maybe-repeated-fraction 0.6`` (filler whose last name is an earlier one or a new one,
  :func:`circuitlab.data.ioi.maybe_repeated_sentence`, so only the names before it say whether it repeats):
  families both 4.6 / 0.82, classic both 5.8 / 0.59; p("again") after a repeated last name 0.31 against 0.32 after
  a new one, so duplicate detection inside a sentence was not learnt; S2 -> S1 at most 0.11.
- ``--again-probability 0.5`` at 6 layers x 8 heads, 6000 steps, 203 ms/step, 1229 s: families both 4.9 / 0.92,
  classic both 0.4 / 0.57; p("again") 0.51 against 0.01, S2 -> S1 at most 0.26, END -> IO at most 0.11; no class.
So on this corpus and budget a small model detects repeats where a sentence frame or a list format gives them
away and nowhere else, and none of these runs grows the paper's duplicate-token, name-mover or S-inhibition heads.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Sequence

import torch

from circuitlab import threads as thread_policy
from circuitlab.ch3 import analysis, ioi_setup
from circuitlab.ch3.ioi_setup import build_tokenizer
from circuitlab.data import ioi
from circuitlab.models import load_hf_directory
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "models" / "checkpoints" / "ioi-wordlevel"
SHORTCUT_FREE_OUT = DEFAULT_OUT.parent / "ioi-shortcut-free"
CORPORA = ("classic", "shortcut-free")


@dataclass
class Recipe:
    """Everything that determines the trained model."""

    documents: int = 200_000
    steps: int = 4000
    batch_size: int = 64
    lr: float = 2e-3
    betas: tuple[float, float] = (0.9, 0.98)
    weight_decay: float = 0.1
    warmup_steps: int = 200
    final_lr_fraction: float = 0.1
    grad_clip: float = 1.0
    n_layer: int = 4
    n_embd: int = 128
    n_head: int = 4
    n_inner: int = 16
    n_positions: int = 64
    distractor_fraction: float = 0.4
    seed: int = 0
    corpus: str = "classic"  # or "shortcut-free"
    classic_fraction: float = 0.3  # shortcut-free corpus only: the share of IOI sentences from the classic templates
    roll_call_fraction: float = 0.0  # shortcut-free corpus only: the share of documents that are roll calls
    again_probability: float = 0.0  # shortcut-free corpus only: how often a repeated name is followed by "again"
    maybe_repeated_fraction: float = 0.0  # shortcut-free corpus only: share of filler whose last name may repeat

    @property
    def marks_repeats(self) -> bool:
        """Whether the corpus writes the roll-call words (its tokenizer needs them)."""
        return any(value > 0 for value in _repeat_signal_flags(self).values())

    @property
    def shortcut_free(self) -> bool:
        if self.corpus not in CORPORA:
            raise ValueError(f"corpus must be one of {CORPORA}, not {self.corpus!r}")
        return self.corpus == "shortcut-free"


def corpus(recipe: Recipe) -> list[str]:
    """The training documents of ``recipe``."""
    if recipe.shortcut_free:
        return list(ioi.mixed_corpus_documents(recipe.documents, seed=recipe.seed,
                                               classic_fraction=recipe.classic_fraction,
                                               distractor_fraction=recipe.distractor_fraction,
                                               roll_call_fraction=recipe.roll_call_fraction,
                                               again_probability=recipe.again_probability,
                                               maybe_repeated_fraction=recipe.maybe_repeated_fraction))
    return list(ioi.corpus_documents(recipe.documents, seed=recipe.seed, distractor_fraction=recipe.distractor_fraction))


def build_model(recipe: Recipe, vocab_size: int):
    """The untrained GPT-2 of ``recipe``'s shape (seeded by ``recipe.seed``)."""
    return ioi_setup.build_gpt2(vocab_size, n_layer=recipe.n_layer, n_head=recipe.n_head, n_embd=recipe.n_embd,
                                n_inner=recipe.n_inner, n_positions=recipe.n_positions, seed=recipe.seed)


def _batches(token_ids: Sequence[list[int]], batch_size: int, pad_id: int, seed: int) -> Iterator[torch.Tensor]:
    """Shuffled batches, each padded to its own longest document (padding is wasted compute)."""
    generator = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(len(token_ids), generator=generator).tolist()
        for start in range(0, len(order) - batch_size + 1, batch_size):
            docs = [token_ids[i] for i in order[start:start + batch_size]]
            width = max(len(d) for d in docs)
            yield torch.tensor([d + [pad_id] * (width - len(d)) for d in docs])


def _lr_at(step: int, recipe: Recipe) -> float:
    """Linear warm-up, then cosine decay to ``final_lr_fraction`` of the peak."""
    if step < recipe.warmup_steps:
        return recipe.lr * (step + 1) / recipe.warmup_steps
    progress = (step - recipe.warmup_steps) / max(1, recipe.steps - recipe.warmup_steps)
    floor = recipe.final_lr_fraction
    return recipe.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def _optimizer(model, recipe: Recipe) -> torch.optim.Optimizer:
    # Weight decay on matrices only: decaying LayerNorm gains and biases only hurts.
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=recipe.lr, betas=recipe.betas)


@torch.no_grad()
def evaluate_hf(model, tokenizer, prompts: Sequence[ioi.IOIPrompt]) -> dict[str, float]:
    """IO-S logit difference, accuracy (IO > S), top-1 = IO and p(IO), at each prompt's last token."""
    model.eval()
    encoded = tokenizer([p.text for p in prompts], padding=True, return_tensors="pt")
    logits = model(input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"]).logits
    end = encoded["attention_mask"].sum(1) - 1
    final = logits[torch.arange(len(prompts)), end]
    io = torch.tensor([tokenizer.convert_tokens_to_ids(p.io) for p in prompts])
    s = torch.tensor([tokenizer.convert_tokens_to_ids(p.s) for p in prompts])
    rows = torch.arange(len(prompts))
    diff = final[rows, io] - final[rows, s]
    probs = final.softmax(-1)
    model.train()
    return {
        "logit_diff": round(diff.mean().item(), 3),
        "accuracy": round((diff > 0).float().mean().item(), 3),
        "top1": round((final.argmax(-1) == io).float().mean().item(), 3),
        "p_io": round(probs[rows, io].mean().item(), 3),
    }


def evaluation_sets(n: int = 200) -> dict[str, list[ioi.IOIPrompt]]:
    """The held-out measurements: new names, new templates, both, and the distractor templates."""
    return {
        "train_templates": ioi.ioi_prompts(n, seed=101),
        "held_out_names": ioi.ioi_prompts(n, names=ioi.HELD_OUT_NAMES, seed=102),
        "held_out_templates": ioi.ioi_prompts(n, templates=ioi.HELD_OUT_TEMPLATES, seed=103),
        "held_out_both": ioi.ioi_prompts(n, templates=ioi.HELD_OUT_TEMPLATES, names=ioi.HELD_OUT_NAMES, seed=104),
        "distractor_after_s2": ioi.ioi_prompts(n, templates=ioi.NAME_AFTER_S2_TEMPLATES, seed=105),
        "distractor_before_s2": ioi.ioi_prompts(n, templates=ioi.NAME_BEFORE_S2_TEMPLATES, seed=106),
    }


def shortcut_free_evaluation_sets(n: int = 200) -> dict[str, list[ioi.IOIPrompt]]:
    """The classic sets, and the shortcut-free families (equal shares) with new names, new frames, both."""
    held_out = ioi.SHORTCUT_FREE_HELD_OUT_FAMILIES
    return {
        **evaluation_sets(n),
        "sf_train_templates": ioi.family_prompts(n, seed=111),
        "sf_held_out_names": ioi.family_prompts(n, names=ioi.HELD_OUT_NAMES, seed=112),
        "sf_held_out_templates": ioi.family_prompts(n, held_out, seed=113),
        "sf_held_out_both": ioi.family_prompts(n, held_out, names=ioi.HELD_OUT_NAMES, seed=114),
    }


def recipe_evaluation_sets(recipe: Recipe, n: int = 200) -> dict[str, list[ioi.IOIPrompt]]:
    return shortcut_free_evaluation_sets(n) if recipe.shortcut_free else evaluation_sets(n)


@torch.enable_grad()
def _train_step(model, optimizer: torch.optim.Optimizer, tokens: torch.Tensor, pad_id: int, recipe: Recipe,
                step: int) -> float:
    """One optimiser step of next-token prediction; padding is never a target."""
    for group in optimizer.param_groups:
        group["lr"] = _lr_at(step, recipe)
    mask = tokens != pad_id
    logits = model(input_ids=tokens, attention_mask=mask.long()).logits
    targets = tokens[:, 1:].masked_fill(~mask[:, 1:], -100)
    loss = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), targets.flatten(), ignore_index=-100)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
    optimizer.step()
    return loss.item()


def train(recipe: Recipe, out: Path | None = None, log_every: int = 250, threads: int | None = 1,
          progress: bool = True, find_circuit: bool = False) -> tuple[object, object, dict]:
    """Train per ``recipe``; save to ``out`` (if given); return (hf_model, tokenizer, results)."""
    thread_policy.use_policy(threads)
    started = time.time()
    tokenizer = build_tokenizer(shortcut_free=recipe.shortcut_free, roll_calls=recipe.marks_repeats)
    documents = corpus(recipe)
    token_ids = [e.ids for e in tokenizer._tokenizer.encode_batch(documents)]
    n_tokens = sum(len(t) for t in token_ids)
    model = build_model(recipe, vocab_size=len(tokenizer))
    model.train()
    optimizer = _optimizer(model, recipe)
    pad_id = tokenizer.pad_token_id
    eval_sets = recipe_evaluation_sets(recipe, 100)
    train_started = time.time()
    history = []
    batches = _batches(token_ids, recipe.batch_size, pad_id, recipe.seed)
    for step in range(recipe.steps):
        loss = _train_step(model, optimizer, next(batches), pad_id, recipe, step)
        if (step + 1) % log_every == 0 or step + 1 == recipe.steps:
            row = {"step": step + 1, "loss": round(loss, 4), "seconds": round(time.time() - started, 1),
                   **{f"{k}_{m}": v for k, r in ((k, evaluate_hf(model, tokenizer, p)) for k, p in eval_sets.items())
                      for m, v in r.items() if m in ("logit_diff", "top1")}}
            history.append(row)
            if progress:
                print(json.dumps(row), flush=True)
    model.eval()
    results = {name: evaluate_hf(model, tokenizer, prompts) for name, prompts in recipe_evaluation_sets(recipe).items()}
    results["train_seconds"] = round(time.time() - started, 1)
    # The optimiser loop alone (with its periodic evaluations), per step: the figure to compare machines by.
    results["ms_per_step"] = round(1000 * (time.time() - train_started) / max(1, recipe.steps), 1)
    results["corpus_tokens"] = n_tokens
    results["torch_threads"] = torch.get_num_threads()  # the float reduction order, hence the exact weights, depends on it
    model.train(False)
    if out is not None:
        save(model, tokenizer, Path(out), recipe, results, history)
        if find_circuit:
            record_circuit(Path(out))
    return model, tokenizer, results


def record_circuit(directory: Path) -> dict:
    """Find the circuit of a saved model with the chapter's rule and store it in its metadata."""
    with torch.no_grad():
        bridge = load_hf_directory(directory)
        batch = ioi_setup.make_batch(bridge, analysis.circuit_prompts())
        pool = analysis.name_pool_tokens(bridge, ioi.NAMES)
        circuit = analysis.find_circuit(bridge, batch, pool)
        everything_else = [h for h in analysis.all_heads(bridge) if list(h) not in circuit["heads"]]
        circuit["circuit_ablated"] = analysis.ablated_scores(bridge, batch, everything_else, pool).as_row()
    config_path = directory / "config.json"
    config = json.loads(config_path.read_text())
    config["circuitlab_metadata"]["circuit"] = circuit
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return circuit


def save(model, tokenizer, out: Path, recipe: Recipe, results: dict, history: list[dict]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    model.config.circuitlab_metadata = {
        "recipe": asdict(recipe),
        "results": results,
        "history": history,
        "command": "python -m circuitlab.ch3.train_ioi" + ("" if recipe.corpus == "classic" else _size_flags(recipe)),
        "notes": "IO-S logit difference, accuracy (IO>S), top-1=IO and p(IO) at the final token of 200 prompts "
                 "per set; see circuitlab.ch3.train_ioi.evaluation_sets.",
    }
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))


def _size_flags(recipe: Recipe) -> str:
    """The command-line flags that reproduce a non-default recipe (threads are recorded in the results)."""
    return (f" --corpus {recipe.corpus} --classic-fraction {recipe.classic_fraction} --layers {recipe.n_layer}"
            f" --heads {recipe.n_head} --d-model {recipe.n_embd} --n-inner {recipe.n_inner} --steps {recipe.steps}"
            f" --batch-size {recipe.batch_size} --documents {recipe.documents} --seed {recipe.seed}"
            f" --lr {recipe.lr} --warmup-steps {recipe.warmup_steps}"
            + "".join(f" {flag} {value}" for flag, value in _repeat_signal_flags(recipe).items() if value))


def _repeat_signal_flags(recipe: Recipe) -> dict[str, float]:
    """The opt-in repeat signals' flags and values (written into a command only where they are on)."""
    return {"--roll-call-fraction": recipe.roll_call_fraction, "--again-probability": recipe.again_probability,
            "--maybe-repeated-fraction": recipe.maybe_repeated_fraction}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=Recipe.steps)
    parser.add_argument("--documents", type=int, default=Recipe.documents)
    parser.add_argument("--seed", type=int, default=Recipe.seed)
    parser.add_argument("--distractor-fraction", type=float, default=Recipe.distractor_fraction)
    parser.add_argument("--corpus", choices=CORPORA, default=Recipe.corpus,
                        help="classic (the shipped model) or shortcut-free (the families, with classic sentences mixed in)")
    parser.add_argument("--classic-fraction", type=float, default=Recipe.classic_fraction,
                        help="shortcut-free corpus: share of IOI sentences from the classic templates")
    parser.add_argument("--roll-call-fraction", type=float, default=Recipe.roll_call_fraction,
                        help="shortcut-free corpus: share of documents that are roll calls (ioi.roll_call), which "
                             "reward detecting a repeated name without any sentence frame")
    parser.add_argument("--again-probability", type=float, default=Recipe.again_probability,
                        help="shortcut-free corpus: how often a later mention of a name is followed by 'again' "
                             "(ioi.mark_repeats), which rewards detecting a repeated name inside sentences")
    parser.add_argument("--maybe-repeated-fraction", type=float, default=Recipe.maybe_repeated_fraction,
                        help="shortcut-free corpus: share of filler sentences whose last name is an earlier one or a "
                             "new one (ioi.maybe_repeated_sentence)")
    parser.add_argument("--layers", type=int, default=Recipe.n_layer)
    parser.add_argument("--heads", type=int, default=Recipe.n_head)
    parser.add_argument("--d-model", type=int, default=Recipe.n_embd)
    parser.add_argument("--n-inner", type=int, default=Recipe.n_inner)
    parser.add_argument("--batch-size", type=int, default=Recipe.batch_size)
    parser.add_argument("--lr", type=float, default=Recipe.lr)
    parser.add_argument("--warmup-steps", type=int, default=Recipe.warmup_steps)
    parser.add_argument("--log-every", type=int, default=250)
    parser.add_argument("--threads", type=thread_policy.argument, default=2, metavar="N|auto",
                        help="torch threads (default 2, as the shipped model was trained); 'auto': one per free core")
    parser.add_argument("--out", type=Path, default=None,
                        help="default: the shipped checkpoint of the corpus (ioi-wordlevel or ioi-shortcut-free)")
    parser.add_argument("--circuit-only", action="store_true",
                        help="skip training; find the circuit of the model in --out and store it in its metadata")
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = SHORTCUT_FREE_OUT if args.corpus == "shortcut-free" else DEFAULT_OUT
    if args.circuit_only:
        thread_policy.use_policy(args.threads)
        print(json.dumps(record_circuit(args.out), indent=1))
        return
    recipe = Recipe(steps=args.steps, documents=args.documents, seed=args.seed,
                    distractor_fraction=args.distractor_fraction, corpus=args.corpus,
                    classic_fraction=args.classic_fraction, n_layer=args.layers, n_head=args.heads,
                    n_embd=args.d_model, n_inner=args.n_inner, batch_size=args.batch_size, lr=args.lr,
                    warmup_steps=args.warmup_steps, roll_call_fraction=args.roll_call_fraction,
                    again_probability=args.again_probability,
                    maybe_repeated_fraction=args.maybe_repeated_fraction)
    # The classic model's circuit is found by the chapter's rule; the shortcut-free model's head classes are
    # measured by circuitlab.ch3.head_classes (python -m circuitlab.ch3.head_classes DIR).
    _, _, results = train(recipe, out=args.out, threads=args.threads, find_circuit=not recipe.shortcut_free,
                          log_every=args.log_every)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
