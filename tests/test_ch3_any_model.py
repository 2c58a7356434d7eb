"""Chapter 3 tells the truth about whichever model runs: the solution notebook, executed on a model it
has never seen, runs top to bottom, every check passes, and it says when there is nothing to find.

The model stands where a download of GPT-2 small would: GPT-2's architecture and layout (12 layers of
12 heads, so every loop over heads runs at the paper's scale) with a tiny width and random weights,
and a byte-level BPE tokenizer, in a temporary Hugging Face cache under the name ``gpt2``
(tests/fake_gpt2.py). The chapter's default, ``CIRCUITLAB_IOI_MODEL=auto``, finds it with
``HF_HUB_OFFLINE=1`` and loads it by the code that loads GPT-2 small, so this one run covers both the
download path and a model that does not do the task.
"""
from __future__ import annotations

import os
import re

import nbformat
import pytest
from nbclient import NotebookClient

from circuitlab.authoring.build import output_paths
from exercise_sources import ROOT
from fake_gpt2 import VOCAB_SIZE, offline_cache_environment, write_fake_gpt2


def _stdout(notebook) -> list[str]:
    return [output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
            for output in cell.get("outputs", []) if output.get("output_type") == "stream"]


@pytest.mark.notebook
def test_chapter_3_runs_on_an_untrained_gpt2_from_the_cache(tmp_path, monkeypatch):
    write_fake_gpt2(tmp_path / "hf-home", n_layer=12, n_head=12, n_embd=48, n_inner=64)
    # The kernel inherits this process's environment: the temporary cache, offline, the default choice.
    for name, value in offline_cache_environment(tmp_path / "hf-home").items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CIRCUITLAB_IOI_MODEL", raising=False)
    monkeypatch.delenv("CIRCUITLAB_IOI_PROMPTS", raising=False)
    monkeypatch.delenv("CIRCUITLAB_IOI_DIR", raising=False)
    notebook = nbformat.read(output_paths(ROOT, "03_ioi").solution, as_version=4)
    # Count the tokens the stand-in's embedding sees (its vocabulary has VOCAB_SIZE entries, no other model's
    # does): docs/running.md and chapter_prompt_count quote the total, from which GPT-2 small's CPU time follows.
    notebook.cells.insert(0, nbformat.v4.new_code_cell(
        "import torch\n_stand_in_tokens = [0]\n_embed = torch.nn.Embedding.forward\n"
        "def _counting_embed(self, input):\n"
        f"    if self.num_embeddings == {VOCAB_SIZE}:\n"
        "        _stand_in_tokens[0] += input.numel()\n"
        "    return _embed(self, input)\n"
        "torch.nn.Embedding.forward = _counting_embed"))
    notebook.cells.append(nbformat.v4.new_code_cell("print(f'stand-in tokens: {_stand_in_tokens[0]}')"))
    NotebookClient(notebook, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "\n".join(_stdout(notebook))
    assert "Chapter 3 model: gpt2, because CIRCUITLAB_IOI_MODEL=auto and GPT-2 small is in the local" in text
    # On this CPU the 144-head model gets the small batch, and the learner is told why and how to change it.
    assert "The main batch: 16 prompts, because this model has 144 heads and runs on a CPU" in text
    assert "Loaded gpt2: 12 layers x 12 heads, d_model 48" in text
    assert "gpt2 does not do the task" in text
    assert "❌" not in text and "⏳" not in text
    # With 16 prompts the chapter runs about 1.2 M tokens through a 144-head model (4.6 M with 64).
    tokens = int(re.search(r"stand-in tokens: (\d+)", text).group(1))
    assert 1_000_000 < tokens < 1_300_000, tokens
    # No role is claimed for a model that has none.
    assert "name mover              : none found" in text and "duplicate-token         : none found" in text
