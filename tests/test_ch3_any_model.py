"""Chapter 3 tells the truth about whichever model runs: the solution notebook, executed on a model it
has never seen, runs top to bottom, every check passes, and it says when there is nothing to find.

The model has GPT-2 small's layout (12 layers of 12 heads, so every loop over heads runs at the
paper's scale) with a tiny width and random weights, saved as a Hugging Face directory and loaded
through ``CIRCUITLAB_IOI_DIR``, the same path a learner uses for a second trained seed.
"""
from __future__ import annotations

import os

import nbformat
import pytest
from nbclient import NotebookClient

from circuitlab.authoring.build import output_paths
from exercise_sources import ROOT


def _random_gpt2_layout_model(directory) -> None:
    from circuitlab.ch3 import train_ioi

    tokenizer = train_ioi.build_tokenizer()
    layout = train_ioi.Recipe(n_layer=12, n_head=12, n_embd=48, n_inner=64, seed=0)
    train_ioi.build_model(layout, vocab_size=len(tokenizer)).save_pretrained(str(directory))
    tokenizer.save_pretrained(str(directory))


def _stdout(notebook) -> list[str]:
    return [output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
            for output in cell.get("outputs", []) if output.get("output_type") == "stream"]


@pytest.mark.notebook
def test_chapter_3_runs_on_an_untrained_gpt2_layout_model(tmp_path, monkeypatch):
    model_dir = tmp_path / "untrained-12x12"
    _random_gpt2_layout_model(model_dir)
    monkeypatch.setenv("CIRCUITLAB_IOI_DIR", str(model_dir))  # the kernel inherits this process's environment
    notebook = nbformat.read(output_paths(ROOT, "03_ioi").solution, as_version=4)
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    NotebookClient(notebook, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "\n".join(_stdout(notebook))
    assert "Loaded untrained-12x12: 12 layers x 12 heads" in text
    assert "untrained-12x12 does not do the task" in text
    assert "❌" not in text and "⏳" not in text
    # No role is claimed for a model that has none.
    assert "name mover              : none found" in text and "duplicate-token         : none found" in text
