"""Chapter 4: the training code runs on a tiny setting, and the fast forward pass is exact."""
import pytest
import torch

from circuitlab.ch4.model import full_logits, last_position_logits, make_grokking_model
from circuitlab.ch4.training import FAST, benchmark, progress_measures, train
from circuitlab.data.modular import modular_addition_data
from circuitlab.models import load_checkpoint, save_checkpoint
from circuitlab.threads import using as using_threads


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One thread: these runs are small, and a second thread only adds waiting on a busy machine."""
    with using_threads(1):
        yield


TINY = dict(d_model=32, n_heads=2, d_mlp=64)


def test_last_position_logits_equal_the_transformerlens_forward():
    model = make_grokking_model(p=17, seed=3, **TINY)
    tokens = modular_addition_data(17, 0.3, 0).tokens
    with torch.no_grad():
        torch.testing.assert_close(last_position_logits(model, tokens), full_logits(model, tokens)[:, -1:],
                                   atol=1e-5, rtol=1e-5)


def test_training_runs_and_fits_the_training_set(tmp_path):
    data = modular_addition_data(23, 0.5, 0)
    model = make_grokking_model(p=23, seed=0, **TINY)
    saved = []
    history = train(model, data, 60, FAST, eval_every=20, checkpoint_at=lambda epoch, h: epoch == 40,
                    on_checkpoint=lambda epoch, m, h: saved.append(save_checkpoint(m, tmp_path / f"e{epoch}",
                                                                                   dtype=torch.float16)),
                    progress=False)
    assert history.epoch == [0, 20, 40, 60]
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]
    assert len(saved) == 1
    restored = load_checkpoint(saved[0])
    assert restored.W_E.dtype == torch.float32
    measures = progress_measures(model, data, torch.tensor([1, 2]))
    assert set(measures) >= {"restricted_loss", "excluded_loss", "weight_norm", "test_accuracy"}


def test_benchmark_reports_both_recipes():
    result = benchmark(threads=1, max_epochs=20, paper_epochs=2, p=23, **TINY)
    assert result["fast_recipe"]["lr"] == 2e-2 and result["paper_recipe"]["lr"] == 1e-3
    assert result["paper_recipe"]["ms_per_epoch"] > 0
    assert not result["paper_recipe"]["last_position_only"]
