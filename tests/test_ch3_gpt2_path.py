"""Chapter 3's choice of model, and the path that loads GPT-2 small, exercised offline.

``CIRCUITLAB_IOI_MODEL=auto`` (the default) must pick GPT-2 small when it can be had and the shipped
model otherwise, and say which and why. The GPT-2 path is run on a random GPT-2-architecture model
with a byte-level BPE tokenizer placed in a temporary Hugging Face cache under the name ``gpt2``
(tests/fake_gpt2.py), through ``chapter_model`` itself, with ``HF_HUB_OFFLINE=1``. Each case runs in a
fresh Python process, as a notebook kernel does: ``huggingface_hub`` fixes its cache location when it
is imported, so only a new process sees the temporary cache.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import pytest

from fake_gpt2 import environment_with, offline_cache_environment, write_fake_gpt2

TINY_LAYOUT = dict(n_layer=2, n_head=4, n_embd=32, n_inner=64)  # GPT-2's layout, a tiny size: the load costs ~1 s


def _run(script: str, env: dict[str, str]) -> tuple[dict, str]:
    """Run ``script`` in a new interpreter; it prints one JSON line last. Returns (that JSON, all stdout)."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stdout


def _env(hf_home, **overrides: str) -> dict[str, str]:
    return environment_with({**offline_cache_environment(hf_home), **overrides},
                            drop=("CIRCUITLAB_IOI_MODEL", "CIRCUITLAB_IOI_DIR"))


@pytest.fixture(scope="module")
def fake_gpt2_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("hf-home")
    snapshot = write_fake_gpt2(home, **TINY_LAYOUT)
    return home, snapshot


CACHED_GPT2 = """
    import json, os
    import torch
    from transformers import GPT2LMHeadModel
    from circuitlab.ch3 import ioi_setup
    from circuitlab.data import ioi

    model, name = ioi_setup.chapter_model()  # CIRCUITLAB_IOI_MODEL unset: auto
    names = [n for n in ioi.NAMES if len(model.tokenizer.encode(" " + n, add_special_tokens=False)) == 1]
    batch = ioi_setup.make_batch(model, ioi.ioi_prompts(6, names=names, seed=0))
    # The same weights read straight from the snapshot by Hugging Face. Compatibility mode centres the
    # unembedding, which moves logits by a constant per position, so log-probabilities are compared.
    hf_model = GPT2LMHeadModel.from_pretrained(os.environ["SNAPSHOT"]).eval()
    with torch.no_grad():
        ours = model(batch.tokens).log_softmax(-1)
        theirs = hf_model(batch.tokens).logits.log_softmax(-1)
    choices = {}
    for request in ("gpt2", "offline"):
        os.environ["CIRCUITLAB_IOI_MODEL"] = request
        choices[request] = ioi_setup.choose_model().name
    print(json.dumps(dict(
        name=name, layers=model.cfg.n_layers, heads=model.cfg.n_heads, d_model=model.cfg.d_model,
        tokenizer=type(model.tokenizer).__name__, first_token=int(batch.tokens[0, 0]),
        bos=model.tokenizer.bos_token_id, single_token_names=len(names),
        max_log_prob_gap=float((ours - theirs).abs().max()), choices=choices,
    )))
"""


def test_auto_loads_cached_gpt2_through_the_gpt2_path(fake_gpt2_home):
    home, snapshot = fake_gpt2_home
    result, stdout = _run(CACHED_GPT2, _env(home, SNAPSHOT=str(snapshot)))
    assert "Chapter 3 model: gpt2, because CIRCUITLAB_IOI_MODEL=auto and GPT-2 small is in the local Hugging Face " \
           "cache." in stdout
    assert result["name"] == "gpt2"
    # The weights in the cache, not the shipped model nor real GPT-2 small, are what was loaded.
    assert (result["layers"], result["heads"], result["d_model"]) == (2, 4, 32)
    assert result["max_log_prob_gap"] < 1e-4
    assert result["tokenizer"].startswith("GPT2Tokenizer")
    assert result["first_token"] == result["bos"]  # BOS prepended, as for GPT-2 small
    # A BPE tokenizer splits some names: single_token_names has something to do here.
    assert 8 <= result["single_token_names"] < 88
    assert result["choices"] == {"gpt2": "gpt2", "offline": "ioi-wordlevel"}


WITHOUT_GPT2 = """
    import json, os
    from circuitlab.ch3 import ioi_setup
    from circuitlab.models import ModelNeedsNetwork

    model, name = ioi_setup.chapter_model()  # auto, nothing cached, Hub off
    outcome = {"auto": [name, model.cfg.n_layers]}
    os.environ["CIRCUITLAB_IOI_MODEL"] = "gpt2"
    try:
        ioi_setup.chapter_model()
        outcome["gpt2"] = "loaded"
    except ModelNeedsNetwork as error:
        outcome["gpt2"] = str(error)
    os.environ["CIRCUITLAB_IOI_MODEL"] = "GPT2-Small"
    outcome["alias"] = ioi_setup.requested_model()
    os.environ["CIRCUITLAB_IOI_MODEL"] = "offline"
    outcome["offline"] = ioi_setup.choose_model().reason
    os.environ["CIRCUITLAB_IOI_MODEL"] = "gtp2"
    try:
        ioi_setup.requested_model()
        outcome["typo"] = "accepted"
    except ValueError as error:
        outcome["typo"] = str(error)
    print(json.dumps(outcome))
"""


def test_without_gpt2_auto_says_why_it_uses_the_shipped_model(tmp_path):
    result, stdout = _run(WITHOUT_GPT2, _env(tmp_path / "empty-hf-home"))
    assert "Chapter 3 model: ioi-wordlevel, because CIRCUITLAB_IOI_MODEL=auto, and GPT-2 small can neither be " \
           "downloaded" in stdout
    assert result["auto"] == ["ioi-wordlevel", 4]
    # Forcing GPT-2 small without a way to get it is an error that names the stand-in, not a quiet substitute.
    assert "not in the local Hugging Face cache" in result["gpt2"] and "'ioi-wordlevel'" in result["gpt2"]
    assert result["alias"] == "gpt2"
    assert result["offline"] == "CIRCUITLAB_IOI_MODEL=offline"
    assert "is not a choice" in result["typo"]


def _model_of_size(n_layers: int, n_heads: int) -> SimpleNamespace:
    """All that chapter_prompt_count reads of a model: its config's layer and head counts."""
    return SimpleNamespace(cfg=SimpleNamespace(n_layers=n_layers, n_heads=n_heads))


def test_gpt2_sized_models_get_a_smaller_batch_on_a_cpu_only(monkeypatch):
    from circuitlab.ch3 import ioi_setup

    monkeypatch.delenv(ioi_setup.PROMPTS_VARIABLE, raising=False)
    gpt2_sized, shipped = _model_of_size(12, 12), _model_of_size(4, 4)
    on_cpu = ioi_setup.chapter_prompt_count(gpt2_sized, device="cpu")
    assert on_cpu.n == 16 and "144 heads" in on_cpu.reason and "CIRCUITLAB_IOI_PROMPTS=64" in on_cpu.reason
    assert ioi_setup.chapter_prompt_count(gpt2_sized, device="cuda").n == 64
    assert ioi_setup.chapter_prompt_count(shipped, device="cpu").n == 64  # the shipped model's figures are unchanged
    monkeypatch.setenv(ioi_setup.PROMPTS_VARIABLE, "32")
    assert ioi_setup.chapter_prompt_count(gpt2_sized, device="cpu") == ioi_setup.PromptCount(32, "CIRCUITLAB_IOI_PROMPTS=32")
    for bad in ("7", "0", "8", "17", "many"):  # too few for every template in both orders, odd, not a number
        monkeypatch.setenv(ioi_setup.PROMPTS_VARIABLE, bad)
        with pytest.raises(ValueError, match="even number of prompts"):
            ioi_setup.chapter_prompt_count(shipped, device="cpu")
