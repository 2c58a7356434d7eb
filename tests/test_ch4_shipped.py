"""Chapter 4: the measured claims about the shipped grokking run hold when recomputed from its checkpoints."""
from functools import lru_cache

import pytest
import torch

from circuitlab.ch4.model import full_logits, last_position_logits
from circuitlab.ch4.training import SERIES_NAME, embedding_key_frequencies, load_series, progress_measures
from circuitlab.data.modular import modular_addition_data
from circuitlab.models import CHECKPOINT_DIR, read_metadata
from circuitlab.threads import using as using_threads


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One thread: these runs are small, and a second thread only adds waiting on a busy machine."""
    with using_threads(1):
        yield


RUN_DIR = CHECKPOINT_DIR / SERIES_NAME


@lru_cache(maxsize=None)
def _data():
    recipe = read_metadata(RUN_DIR / "final")["recipe"]
    return modular_addition_data(recipe["p"], recipe["frac_train"], recipe["seed"])


@lru_cache(maxsize=None)
def _series():
    return load_series()


@lru_cache(maxsize=None)
def _measures():
    final_model = _series()[-1][1]
    freqs, _ = embedding_key_frequencies(final_model)
    return [(epoch, progress_measures(model, _data(), freqs)) for epoch, model in _series()]


def test_series_is_small_and_complete():
    total = sum(f.stat().st_size for f in RUN_DIR.rglob("*") if f.is_file())
    assert total < 6_000_000, f"the checkpoint series takes {total / 1e6:.1f} MB"
    metadata = read_metadata(RUN_DIR / "final")
    assert metadata["recipe"]["command"].startswith("python -m circuitlab.ch4.training")
    assert [epoch for epoch, _ in _series()] == metadata["series_epochs"]
    assert len(metadata["series_epochs"]) >= 6


def test_final_model_generalises():
    """>= 99% test accuracy, recomputed."""
    final = _measures()[-1][1]
    assert final["test_accuracy"] >= 0.99
    assert final["train_accuracy"] == 1.0


def test_a_handful_of_key_frequencies_carry_90_percent_of_the_embedding():
    freqs, share = embedding_key_frequencies(_series()[-1][1], fraction=0.9)
    assert share >= 0.9
    assert len(freqs) <= 10, f"{len(freqs)} frequencies are needed, not a handful"
    assert freqs.tolist() == read_metadata(RUN_DIR / "final")["measured"]["key_frequencies"]


def test_restricting_to_the_key_frequencies_keeps_performance():
    final = _measures()[-1][1]
    full_loss = 0.3 * final["train_loss"] + 0.7 * final["test_loss"]  # all pairs
    assert final["restricted_loss"] <= 1.5 * full_loss
    assert final["excluded_loss"] > 1.0


def test_excluded_loss_rises_while_restricted_loss_falls_before_the_test_loss_drops():
    measures = _measures()
    memorised = next(i for i, (_, m) in enumerate(measures) if m["train_accuracy"] >= 0.99)
    dropped = next(i for i, (_, m) in enumerate(measures) if m["test_accuracy"] >= 0.5)
    window = measures[memorised:dropped]
    assert len(window) >= 3, "too few checkpoints between memorisation and the drop in test loss"
    first, last = window[0][1], window[-1][1]
    assert last["excluded_loss"] > 2 * first["excluded_loss"]
    assert last["restricted_loss"] < 0.5 * first["restricted_loss"]
    # ...while the test loss is still high: no better than guessing (ln 113 = 4.7).
    assert all(m["test_loss"] > 4.7 for _, m in window[:-1])
    # and the weight norm falls during clean-up.
    assert measures[-1][1]["weight_norm"] < 0.8 * max(m["weight_norm"] for _, m in window)


def test_stored_curves_match_the_checkpoints():
    curves = read_metadata(RUN_DIR / "final")["curves"]
    for epoch, measured in _measures():
        i = curves["epoch"].index(epoch)
        # Intermediate checkpoints are stored in float16, so allow for the rounding of the weights.
        assert measured["test_accuracy"] == pytest.approx(curves["test_accuracy"][i], abs=0.02)
        assert measured["weight_norm"] == pytest.approx(curves["weight_norm"][i], rel=1e-3)


def test_fast_forward_matches_transformerlens_on_the_shipped_model():
    model = _series()[-1][1]
    tokens = _data().tokens[:2000]
    with torch.no_grad():
        torch.testing.assert_close(last_position_logits(model, tokens), full_logits(model, tokens)[:, -1:],
                                   atol=1e-4, rtol=1e-4)


def test_fourier_sparsity_rises_across_the_series_and_the_phases_are_ordered():
    """The Gini coefficients of the embedding's and the neuron-logit map's Fourier norms rise checkpoint after
    checkpoint from memorisation on, and the boundaries read off the stored curves come in the paper's order."""
    from circuitlab.ch4.reference import fft1d, fourier_basis, gini, neuron_logit_fourier, phase_boundaries

    p = _data().p
    basis = fourier_basis(p)
    sparsity = [(gini(fft1d(model.W_E[:p].detach(), basis).norm(dim=-1)).item(),
                 gini(neuron_logit_fourier(model, basis).norm(dim=-1)).item()) for _, model in _series()]
    for earlier, later in zip(sparsity[1:], sparsity[2:]):
        assert later[0] > earlier[0] and later[1] > earlier[1], sparsity
    phases = phase_boundaries(read_metadata(RUN_DIR / "final")["curves"])
    assert phases["memorised"] < phases["formed"] < phases["grokked"] < phases["cleaned"], phases
