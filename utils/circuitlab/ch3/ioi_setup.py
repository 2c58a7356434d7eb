"""Models and batches for chapter 3.

- ``offline_model()``: the shipped IOI model, booted through TransformerLens exactly like GPT-2 small.
- ``chapter_model()``: the model ``CIRCUITLAB_IOI_MODEL`` asks for (``auto``, the default: GPT-2 small when
  it can be downloaded or is cached, else the offline model; ``gpt2``; ``offline``), saying which and why.
- ``chapter_prompt_count(model)``: the main batch's size (smaller for GPT-2 small on a CPU), and why.
- ``tiny_random_model()``: an untrained two-layer GPT-2 with the offline tokenizer, used by the graders
  to check that a solution does not depend on one particular model.
- ``make_batch(model, prompts)``: tokens, corrupted tokens, answer tokens and end positions.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import torch
from jaxtyping import Int
from torch import Tensor

from circuitlab.data import ioi
from circuitlab.data.ioi import IOIPrompt
from circuitlab.models import (CHECKPOINT_DIR, gpt2_source, load_gpt2_from_hf, load_gpt2_small, load_hf_directory,
                               load_tokenizer, make_tokenizer)

SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<unk>")

OFFLINE_MODEL = "ioi-wordlevel"
# CIRCUITLAB_IOI_DIR points the chapter at another trained model (for example a second seed).
OFFLINE_MODEL_DIR: Path = Path(os.environ.get("CIRCUITLAB_IOI_DIR") or CHECKPOINT_DIR / OFFLINE_MODEL)


@lru_cache(maxsize=1)
def offline_model():
    """The project-trained IOI model (4 layers, 4 heads per layer), in eval mode."""
    return load_hf_directory(OFFLINE_MODEL_DIR)


def offline_metadata() -> dict:
    """The training recipe and measured results stored with the shipped model."""
    import json

    return json.loads((OFFLINE_MODEL_DIR / "config.json").read_text()).get("circuitlab_metadata", {})


IOI_MODEL_VARIABLE = "CIRCUITLAB_IOI_MODEL"
IOI_DIR_VARIABLE = "CIRCUITLAB_IOI_DIR"
GPT2_NAME = "gpt2"
# Accepted spellings of CIRCUITLAB_IOI_MODEL; unset or empty means auto.
_MODEL_CHOICES = {"": "auto", "auto": "auto", "gpt2": "gpt2", "gpt2-small": "gpt2", "offline": "offline"}


def requested_model() -> str:
    """``auto``, ``gpt2`` or ``offline``, from ``CIRCUITLAB_IOI_MODEL`` (a typo is an error, not a silent default)."""
    raw = os.environ.get(IOI_MODEL_VARIABLE, "").strip().lower()
    if raw not in _MODEL_CHOICES:
        raise ValueError(f"{IOI_MODEL_VARIABLE}={raw!r} is not a choice: use auto (the default), gpt2 or offline.")
    return _MODEL_CHOICES[raw]


@dataclass(frozen=True)
class ModelChoice:
    """Which model chapter 3 runs on, and the sentence that says why."""

    name: str  # "gpt2", or the offline model directory's name
    reason: str

    @property
    def is_gpt2(self) -> bool:
        return self.name == GPT2_NAME


def choose_model() -> ModelChoice:
    """Decide the chapter's model without loading it (the cache and the Hub are only looked up).

    Under ``auto`` GPT-2 small is chosen wherever it can be had, on any device; on a CPU the chapter then
    runs smaller batches (:func:`chapter_prompt_count`): about 1.2 M tokens of forward passes instead of 4.6 M.
    """
    request = requested_model()
    offline_name = OFFLINE_MODEL_DIR.name  # "ioi-wordlevel" unless CIRCUITLAB_IOI_DIR names another model
    if request == "offline":
        return ModelChoice(offline_name, f"{IOI_MODEL_VARIABLE}=offline")
    if request == "auto" and os.environ.get(IOI_DIR_VARIABLE):
        # Naming a directory is a more specific request than "whatever is available".
        return ModelChoice(offline_name, f"{IOI_DIR_VARIABLE} names it")
    source = gpt2_source()
    if source == "cache":
        return ModelChoice(GPT2_NAME, f"{IOI_MODEL_VARIABLE}={request} and GPT-2 small is in the local Hugging Face cache")
    if source == "hub":
        return ModelChoice(GPT2_NAME, f"{IOI_MODEL_VARIABLE}={request} and the Hugging Face Hub answers "
                                      "(the first run downloads about 550 MB)")
    if request == "gpt2":
        return ModelChoice(GPT2_NAME, f"{IOI_MODEL_VARIABLE}=gpt2, although the Hub is out of reach and nothing is cached")
    return ModelChoice(offline_name, f"{IOI_MODEL_VARIABLE}=auto, and GPT-2 small can neither be downloaded (the Hub is "
                                     "out of reach, or HF_HUB_OFFLINE=1) nor found in the local Hugging Face cache")


PROMPTS_VARIABLE = "CIRCUITLAB_IOI_PROMPTS"
FULL_PROMPTS = 64
# Eight training templates in both orders, each once: the smallest batch in which every template and order
# still stands (section 4 patches one template's prompts together).
CPU_LARGE_MODEL_PROMPTS = 16
# A model with this many heads or more is GPT-2-sized for the chapter's loops over heads (the shipped one has 16).
LARGE_MODEL_HEADS = 100


@dataclass(frozen=True)
class PromptCount:
    """How many prompts the chapter's main batch holds, and the sentence that says why."""

    n: int
    reason: str


def chapter_prompt_count(model, device: str | None = None) -> PromptCount:
    """The main batch's size: 64 prompts, or 16 for a GPT-2-sized model on a CPU; ``CIRCUITLAB_IOI_PROMPTS`` decides.

    Nearly all of the chapter's cost is loops over heads, each a forward pass of the whole batch, so the
    batch sets the time. Counted on a 12 x 12-head stand-in: 11,813 forward passes over 4.6 M tokens with 64
    prompts, 11,801 over 1.16 M with 16; GPT-2 small runs 250-275 tokens a second on one CPU thread, so that
    is 4.5-5 hours against 70-80 minutes (docs/running.md).
    """
    from circuitlab.environment import current_device

    raw = os.environ.get(PROMPTS_VARIABLE, "").strip()
    if raw:
        if not raw.isdigit() or int(raw) < CPU_LARGE_MODEL_PROMPTS or int(raw) % 2:
            raise ValueError(f"{PROMPTS_VARIABLE}={raw!r}: give an even number of prompts, at least "
                             f"{CPU_LARGE_MODEL_PROMPTS} (each of the 8 templates in both orders).")
        return PromptCount(int(raw), f"{PROMPTS_VARIABLE}={raw}")
    device = device or current_device()
    heads = model.cfg.n_layers * model.cfg.n_heads
    if device == "cpu" and heads >= LARGE_MODEL_HEADS:
        return PromptCount(CPU_LARGE_MODEL_PROMPTS,
                           f"this model has {heads} heads and runs on a CPU: {CPU_LARGE_MODEL_PROMPTS} prompts instead "
                           f"of {FULL_PROMPTS} cut the chapter's compute fourfold, to about 1.2 M tokens (on GPT-2 small "
                           f"roughly 70-80 minutes on one core, less on two; set {PROMPTS_VARIABLE}={FULL_PROMPTS} for "
                           "the full batch, or CIRCUITLAB_IOI_MODEL=offline for the shipped model)")
    where = "a GPU" if device != "cpu" else "a CPU"
    return PromptCount(FULL_PROMPTS, f"{heads} heads on {where}")


def chapter_model():
    """The model :func:`choose_model` picks, loaded; prints which and why. Returns (model, name).

    ``CIRCUITLAB_IOI_MODEL=gpt2`` insists: if GPT-2 small cannot be loaded, that is an error. Under ``auto`` a
    failed load (a broken download, say) is reported and the offline model is used instead.
    """
    choice = choose_model()
    print(f"Chapter 3 model: {choice.name}, because {choice.reason}.")
    if choice.is_gpt2:
        try:
            return load_gpt2_small(stand_in=OFFLINE_MODEL), GPT2_NAME
        except Exception as error:
            if requested_model() == "gpt2":
                raise
            print(f"GPT-2 small could not be loaded ({error}); using {OFFLINE_MODEL_DIR.name} instead.")
    return offline_model(), OFFLINE_MODEL_DIR.name


def build_tokenizer(shortcut_free: bool = False, roll_calls: bool = False):
    """The word-level tokenizer: one token per word or punctuation mark, ``<bos>`` prepended.

    ``shortcut_free`` adds the words of the shortcut-free template families (the shortcut-free model's
    tokenizer) and ``roll_calls`` the roll-call words; the default is the shipped model's tokenizer, unchanged.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    words = ioi.vocabulary(shortcut_free=shortcut_free, roll_calls=roll_calls)
    vocab = {token: i for i, token in enumerate(list(SPECIAL_TOKENS) + words)}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    # Split on whitespace, then split punctuation off words, so "store," is "store" + ",".
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A <bos> $B", special_tokens=[("<bos>", vocab["<bos>"])]
    )
    name = "ioi-shortcut-free" if shortcut_free else "ioi-wordlevel"
    return make_tokenizer(tokenizer, name=name, bos="<bos>", eos="<eos>", pad="<pad>", unk="<unk>")


def build_gpt2(vocab_size: int, *, n_layer: int, n_head: int, n_embd: int, n_inner: int, n_positions: int = 64,
               seed: int = 0):
    """An untrained Hugging Face GPT-2 of this shape, seeded (the training script trains one of these)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=vocab_size, n_positions=n_positions, n_embd=n_embd, n_layer=n_layer, n_head=n_head,
        n_inner=n_inner, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=1, eos_token_id=2, pad_token_id=0,
    )
    torch.manual_seed(seed)
    return GPT2LMHeadModel(config)


@lru_cache(maxsize=1)
def tiny_random_model():
    """An untrained 2-layer, 3-head GPT-2 with the offline model's tokenizer (fixed seed)."""
    tokenizer = load_tokenizer(OFFLINE_MODEL_DIR)
    generator_state = torch.random.get_rng_state()  # seeding for this model must not reseed the caller's work
    hf_model = build_gpt2(len(tokenizer), n_layer=2, n_head=3, n_embd=48, n_inner=64, seed=1234).eval()
    torch.random.set_rng_state(generator_state)
    return load_gpt2_from_hf(hf_model, tokenizer)


@dataclass
class IOIBatch:
    """A batch of IOI prompts ready for the model. Prompts are right-padded."""

    prompts: list[IOIPrompt]
    tokens: Int[Tensor, "batch seq"]
    corrupt_tokens: Int[Tensor, "batch seq"]
    io_tokens: Int[Tensor, "batch"]
    s_tokens: Int[Tensor, "batch"]
    end_pos: Int[Tensor, "batch"]
    templates: Int[Tensor, "batch"]

    def __len__(self) -> int:
        return len(self.prompts)

    def subset(self, mask: Tensor | Sequence[bool]) -> "IOIBatch":
        """The prompts where ``mask`` is true (padding is trimmed to the new longest prompt)."""
        mask = torch.as_tensor(mask, dtype=torch.bool)
        keep = mask.nonzero().flatten().tolist()
        width = int(self.end_pos[mask].max()) + 1
        return IOIBatch(
            prompts=[self.prompts[i] for i in keep], tokens=self.tokens[mask, :width],
            corrupt_tokens=self.corrupt_tokens[mask, :width], io_tokens=self.io_tokens[mask],
            s_tokens=self.s_tokens[mask], end_pos=self.end_pos[mask], templates=self.templates[mask],
        )


def name_token(model, name: str) -> int:
    """The single token of ``name`` as it appears inside a sentence (after a space)."""
    ids = model.tokenizer.encode(" " + name, add_special_tokens=False)
    if len(ids) != 1:
        raise ValueError(f"{name!r} is {len(ids)} tokens for this tokenizer; IOI prompts need single-token names.")
    return ids[0]


def _tokenize(model, texts: Sequence[str]) -> tuple[Tensor, Tensor]:
    """Right-padded tokens (with BOS) and the position of each text's last token."""
    rows = [model.to_tokens(text, prepend_bos=True)[0] for text in texts]
    width = max(len(r) for r in rows)
    pad = model.tokenizer.pad_token_id if model.tokenizer.pad_token_id is not None else 0
    tokens = torch.full((len(rows), width), pad, dtype=torch.long)
    for i, row in enumerate(rows):
        tokens[i, : len(row)] = row
    end_pos = torch.tensor([len(r) - 1 for r in rows])
    return tokens, end_pos


def make_batch(model, prompts: Sequence[IOIPrompt]) -> IOIBatch:
    """Tokenise clean and corrupted prompts. Their lengths must match (ABC corruption swaps one name)."""
    tokens, end_pos = _tokenize(model, [p.text for p in prompts])
    corrupt_tokens, corrupt_end = _tokenize(model, [p.corrupt_text for p in prompts])
    if not torch.equal(end_pos, corrupt_end):
        raise ValueError("A corrupted prompt has a different length from its clean prompt; use single-token names.")
    device = next(model.parameters()).device
    return IOIBatch(
        prompts=list(prompts), tokens=tokens.to(device), corrupt_tokens=corrupt_tokens.to(device),
        io_tokens=torch.tensor([name_token(model, p.io) for p in prompts], device=device),
        s_tokens=torch.tensor([name_token(model, p.s) for p in prompts], device=device),
        end_pos=end_pos.to(device), templates=torch.tensor([p.template for p in prompts], device=device),
    )


@torch.no_grad()
def z_means(model, tokens: Int[Tensor, "batch seq"]) -> Tensor:
    """Each head's output (hook_z) averaged over the batch: [layer, seq, head, d_head]."""
    names = [f"blocks.{layer}.attn.hook_z" for layer in range(model.cfg.n_layers)]
    _, cache = model.run_with_cache(tokens, names_filter=lambda name: name in names)
    return torch.stack([cache[name].mean(0) for name in names])
