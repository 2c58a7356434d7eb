"""The model store: the only module that loads models through TransformerLens.

Every TransformerLens-specific loading call sits here, so a TransformerLens upgrade
touches this file (and the API smoke test in ``tests/test_tl_api.py``) and nothing else.

- ``native_model(config)`` builds a small TransformerLens-native model (no Hub).
- ``save_checkpoint`` / ``load_checkpoint`` write and read a directory holding
  ``config.json``, ``model.safetensors`` and optionally ``tokenizer/``; logits
  after a round trip are bit-identical.
- ``load_shipped(name)`` loads a checkpoint that ships inside this package.
- ``load_hf_directory(path)`` boots a saved Hugging Face model (GPT-2 architecture)
  through the same TransformerLens path as GPT-2 small.
- ``load_gpt2_small()`` loads the real GPT-2 small when the network allows or a
  previous download sits in the local Hugging Face cache, and otherwise raises
  ``ModelNeedsNetwork`` naming the offline stand-in.
- ``gpt2_source()`` says where GPT-2 small would come from (the cache, the Hub) or
  ``None``, without loading anything.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

import torch

__all__ = [
    "CHECKPOINT_DIR",
    "ModelNeedsNetwork",
    "native_model",
    "save_checkpoint",
    "load_checkpoint",
    "load_shipped",
    "shipped_checkpoints",
    "load_hf_directory",
    "load_gpt2_small",
    "load_tokenizer",
    "make_tokenizer",
    "act_name",
    "hub_is_reachable",
    "GPT2_REPO",
    "gpt2_in_local_cache",
    "gpt2_source",
]

CHECKPOINT_DIR = Path(__file__).parent / "checkpoints"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_DIR = "tokenizer"
# Keys of the TransformerLens config that cannot go through JSON (or describe the machine).
_UNSERIALISED_KEYS = {"dtype", "device", "n_devices"}


class ModelNeedsNetwork(RuntimeError):
    """Raised when a model can only come from the Hugging Face Hub and the Hub is out of reach."""


# --------------------------------------------------------------------------- building


def _bridge():
    # Imported lazily: transformer_lens takes seconds to import, and the grader
    # command line (``circuitlab list``) should not pay for it.
    from transformer_lens.model_bridge import TransformerBridge

    return TransformerBridge


def _config_class():
    from transformer_lens import TransformerBridgeConfig

    return TransformerBridgeConfig


def native_model(config: Mapping[str, Any], tokenizer: Any = None, device: str | None = None):
    """Build a TransformerLens-native model from a plain config dict.

    The model is returned in eval mode: every use in the curriculum except training
    wants eval mode, and TransformerLens's patching functions refuse training mode.
    """
    cfg_dict = {k: v for k, v in dict(config).items() if k not in _UNSERIALISED_KEYS}
    cfg = _config_class().from_dict(cfg_dict)
    if device is not None:
        cfg.device = device
    model = _bridge().boot_native(cfg, tokenizer=tokenizer)
    if device is not None:
        model.to(device)
    return model.eval()


def model_config(model) -> dict[str, Any]:
    """The JSON-serialisable config of a native model, enough to rebuild it exactly."""
    return {
        k: v
        for k, v in model.cfg.to_dict().items()
        if k not in _UNSERIALISED_KEYS and _is_jsonable(v)
    }


def _is_jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


# --------------------------------------------------------------------------- checkpoints


def save_checkpoint(
    model,
    directory: str | os.PathLike,
    tokenizer: Any = None,
    metadata: Mapping[str, Any] | None = None,
    dtype: torch.dtype | None = None,
) -> Path:
    """Save a native model as ``config.json`` + ``model.safetensors`` (+ ``tokenizer/``).

    ``metadata`` (JSON-serialisable) is stored beside the config, for example the
    training recipe and the measured results. ``dtype`` lets a checkpoint series be
    stored in half precision to stay small; loading casts back to float32.
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {
        k: (v.detach().to(dtype) if dtype is not None and v.is_floating_point() else v.detach())
        .cpu()
        .contiguous()
        for k, v in model.state_dict().items()
    }
    save_file(state, str(directory / WEIGHTS_FILE))
    payload = {"format": "circuitlab-native", "config": model_config(model), "metadata": dict(metadata or {})}
    (directory / CONFIG_FILE).write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
    if tokenizer is not None:
        tokenizer.save_pretrained(str(directory / TOKENIZER_DIR))
    return directory


def read_metadata(directory: str | os.PathLike) -> dict[str, Any]:
    """The metadata stored with a checkpoint (recipe, measured results)."""
    return json.loads((Path(directory) / CONFIG_FILE).read_text()).get("metadata", {})


def load_checkpoint(directory: str | os.PathLike, device: str | None = None):
    """Load a checkpoint written by :func:`save_checkpoint` or a Hugging Face directory."""
    from safetensors.torch import load_file

    directory = Path(directory)
    if not (directory / CONFIG_FILE).exists():
        raise FileNotFoundError(f"No checkpoint at {directory} (missing {CONFIG_FILE}).")
    payload = json.loads((directory / CONFIG_FILE).read_text())
    if payload.get("format") != "circuitlab-native":
        # A Hugging Face model directory (for example the offline IOI model).
        return load_hf_directory(directory, device=device)
    tokenizer = load_tokenizer(directory / TOKENIZER_DIR) if (directory / TOKENIZER_DIR).exists() else None
    model = native_model(payload["config"], tokenizer=tokenizer)
    state = load_file(str(directory / WEIGHTS_FILE))
    reference_state = model.state_dict()
    state = {k: v.to(reference_state[k].dtype) if k in reference_state else v for k, v in state.items()}
    model.load_state_dict(state, strict=True)
    if device is not None:
        model.to(device)
    return model.eval()


def shipped_checkpoints() -> list[str]:
    """Names of the checkpoints that ship inside the package."""
    if not CHECKPOINT_DIR.exists():
        return []
    return sorted(p.parent.relative_to(CHECKPOINT_DIR).as_posix() for p in CHECKPOINT_DIR.rglob(CONFIG_FILE))


def load_shipped(name: str, device: str | None = None):
    """Load a checkpoint shipped with Circuit Lab, by name (see :func:`shipped_checkpoints`)."""
    directory = CHECKPOINT_DIR / name
    if not (directory / CONFIG_FILE).exists():
        raise FileNotFoundError(
            f"No shipped checkpoint called {name!r}. Available: {', '.join(shipped_checkpoints()) or 'none'}."
        )
    return load_checkpoint(directory, device=device)


# --------------------------------------------------------------------------- tokenizers


def make_tokenizer(tokenizer_object, *, name: str, bos: str, eos: str | None = None, pad: str | None = None,
                   unk: str | None = None):
    """Wrap a ``tokenizers.Tokenizer`` so TransformerLens accepts it offline.

    TransformerLens needs ``name_or_path`` and ``add_bos_token=True``; without them it
    tries to fetch a tokenizer from the Hub.
    """
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer_object,
        bos_token=bos,
        eos_token=eos or bos,
        pad_token=pad or eos or bos,
        unk_token=unk,
        name_or_path=name,
        add_bos_token=True,
    )


def load_tokenizer(directory: str | os.PathLike):
    """Load a tokenizer saved with ``save_pretrained`` (never touches the network)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
    # ``add_bos_token`` does not survive save/load for fast tokenizers; TransformerLens reads it.
    try:
        tokenizer.add_bos_token = True
    except AttributeError:
        pass
    return tokenizer


# --------------------------------------------------------------------------- Hugging Face models


def load_hf_directory(directory: str | os.PathLike, device: str | None = None, compatibility_mode: bool = True):
    """Boot a saved Hugging Face model directory through TransformerLens, offline.

    With ``compatibility_mode`` (the default) LayerNorm is folded and weights are
    centred, as HookedTransformer did, so numbers match the literature's conventions.
    """
    model = _bridge().boot_transformers(str(directory), device=device or "cpu")
    if compatibility_mode:
        model.enable_compatibility_mode()
    return model.eval()


def hub_is_reachable(timeout: float = 1.5) -> bool:
    """Whether the Hugging Face Hub can be reached. Honours ``HF_HUB_OFFLINE``."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}:
        return False
    import socket

    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False


# The Hub name GPT-2 small is loaded by; a download is cached under ``models--gpt2``.
GPT2_REPO = "gpt2"
# What a usable cached copy must hold: the config and the weights in one of the Hub's formats.
_GPT2_CONFIG_FILE = "config.json"
_GPT2_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def gpt2_in_local_cache() -> bool:
    """Whether GPT-2 small's config and weights sit in the local Hugging Face cache.

    The cache is wherever ``HF_HUB_CACHE`` / ``HF_HOME`` pointed when ``huggingface_hub``
    was imported: the same place the loader will read, so the answer and the load agree.
    """
    from huggingface_hub import try_to_load_from_cache

    def cached(filename: str) -> bool:
        return isinstance(try_to_load_from_cache(GPT2_REPO, filename), str)

    return cached(_GPT2_CONFIG_FILE) and any(cached(name) for name in _GPT2_WEIGHT_FILES)


def gpt2_source() -> str | None:
    """Where GPT-2 small would be loaded from: ``"cache"``, ``"hub"`` or ``None`` (nowhere).

    The cache is asked first: it costs a file lookup, the Hub a network round trip.
    """
    if gpt2_in_local_cache():
        return "cache"
    if hub_is_reachable():
        return "hub"
    return None


def load_gpt2_small(device: str | None = None, stand_in: str | None = None):
    """GPT-2 small through TransformerLens with compatibility mode, when the network or the cache allows.

    Without either, raises :class:`ModelNeedsNetwork` whose message names ``stand_in``
    (the shipped model a chapter uses instead), so the learner knows what to do.
    """
    if gpt2_source() is None:
        where = f" The offline stand-in for this chapter is {stand_in!r}." if stand_in else ""
        raise ModelNeedsNetwork(
            "GPT-2 small has to be downloaded from the Hugging Face Hub, which is out of reach "
            f"(offline, or HF_HUB_OFFLINE=1), and it is not in the local Hugging Face cache.{where}"
        )
    model = _bridge().boot_transformers(GPT2_REPO, device=device or "cpu")
    model.enable_compatibility_mode()
    return model.eval()


def load_gpt2_from_hf(hf_model, tokenizer, device: str | None = None, compatibility_mode: bool = True):
    """Wrap an in-memory ``GPT2LMHeadModel`` (for example a small local one) like GPT-2 small."""
    model = _bridge().boot_transformers("gpt2", hf_model=hf_model, tokenizer=tokenizer, device=device or "cpu")
    if compatibility_mode:
        model.enable_compatibility_mode()
    return model.eval()


def act_name(name: str, layer: int | None = None, layer_type: str | None = None) -> str:
    """The hook name of an activation, e.g. ``act_name("pattern", 1)`` -> ``blocks.1.attn.hook_pattern``."""
    from transformer_lens import utilities

    return utilities.get_act_name(name, layer, layer_type)
