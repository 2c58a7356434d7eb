"""Chapter 5: the training code runs end to end on a tiny setting and writes loadable checkpoints."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from circuitlab.ch5 import reference as ref
from circuitlab.ch5 import toy, train
from circuitlab.threads import using as using_threads


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors train fastest on one thread; on a shared machine a second thread mostly waits."""
    with using_threads(1):
        yield


def test_sweep_training_lowers_the_loss():
    settings = replace(toy.SweepSettings(), n_instances=3, steps=80, batch_size=64, lr=1e-2)
    model, probability, losses = toy.run_sparsity_sweep(settings)
    assert len(losses) == 80
    assert sum(losses[-20:]) / 20 < sum(losses[:20]) / 20
    assert probability.shape == (3, 5)


def test_sae_training_resamples_dead_latents():
    settings = replace(toy.SAESettings(), n_instances=2, toy_steps=100, steps=120, resample_every=40, window=20)
    toy_model, sample_h = toy.sae_toy_model(settings)
    torch.manual_seed(0)
    sae = ref.ToySAE(settings.n_instances, settings.n_hidden, settings.d_sae)
    with torch.no_grad():
        sae.b_enc.fill_(-100.0)  # every latent starts dead, so resampling must happen
    run = toy.train_sae(sae, sample_h, settings, resample=True)
    assert run.resampled > 0
    assert len(run.losses) == 120 and len(run.live_history) == 3


def test_train_script_quick_run(tmp_path):
    train.main(["--quick", "--out", str(tmp_path)])
    for name in ("tms_sweep_5_2", "tms_sae_toy", "tms_sae_resampled", "tms_sae_no_resampling"):
        model, metadata = toy.load_toy(name, directory=tmp_path)
        assert "recipe" in metadata and "measured" in metadata


def test_residual_sae_training_runs_on_random_activations():
    from circuitlab.ch5 import residual_sae

    torch.manual_seed(0)
    raw = torch.randn(512, 16) * 3 + 1
    acts = residual_sae.normaliser(raw)(raw)
    assert abs(float(acts.pow(2).mean()) - 1.0) < 1e-3
    settings = replace(residual_sae.ResidualSAESettings(), d_sae=32, steps=30, batch_size=64, resample_every=10,
                       window=5)
    sae, run = residual_sae.train_residual_sae(acts, settings)
    quality = residual_sae.sae_quality(sae, acts)
    assert len(run.losses) == 30
    assert 0 <= quality["live_latents"] <= 32
    latents = residual_sae.latent_activations(sae, acts.reshape(32, 16, 16))
    assert latents.shape == (32, 16, 32)
