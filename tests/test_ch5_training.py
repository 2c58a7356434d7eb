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


def test_phase_scale_and_abs_experiments_run_on_tiny_settings():
    from circuitlab.ch5 import reference as ch5

    phase = toy.run_phase_sweep(replace(toy.PhaseSettings(), n_importance=2, n_probability=3, restarts=2, steps=20,
                                        eval_batch=256))
    assert phase["W"].shape == (2, 3, 1, 2) and phase["loss"].shape == (2, 3)
    assert toy.candidate_phase(phase["importance"], phase["probability"]).shape == (2, 3)
    model, probability, losses = toy.run_scale_sweep(replace(toy.ScaleSettings(), n_features=12, n_hidden=3,
                                                             probabilities=(0.5, 0.1), steps=20))
    assert model.W.shape == (2, 3, 12) and len(losses) == 20
    assert sum(toy.plateau_counts(ch5.dimensionality(model.W.detach())[0], tolerance=1.0).values()) == 6 * 12
    model, probability, losses = toy.run_abs_experiment(replace(toy.AbsSettings(), n_instances=2, steps=20))
    assert ch5.abs_computed(model, torch.linspace(-1, 1, 5)).shape == (2, 8)
    assert (toy.signed_batch(torch.full((2, 3), 1.0), 50) < 0).any()


def test_sae_training_with_bricken_resampling_keeps_the_live_state():
    settings = replace(toy.SAESettings(), n_instances=2, toy_steps=50, steps=80, resample_every=40, window=20)
    toy_model, sample_h = toy.sae_toy_model(settings)
    torch.manual_seed(0)
    sae = ref.ToySAE(settings.n_instances, settings.n_hidden, settings.d_sae)
    with torch.no_grad():
        sae.b_enc[:, :2] = -100.0  # two latents per instance start dead
    run = toy.train_sae(sae, sample_h, settings, resample=True, resample_fn=ref.resample_bricken,
                        resample_with_optimizer=True)
    assert run.resampled > 0 and len(run.losses) == 80
