"""Chapter 5: the measured claims about the shipped toy models, checked on the weights themselves."""
from __future__ import annotations

import einops
import pytest
import torch

from circuitlab.ch5 import reference as ref
from circuitlab.ch5 import toy
from circuitlab.threads import using as using_threads


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors train fastest on one thread; on a shared machine a second thread mostly waits."""
    with using_threads(1):
        yield


def test_sweep_represented_features_rise_from_2_to_5():
    """5 -> 2 sweep: the dense instance represents 2 features, the sparsest all 5, rising along the way."""
    model, metadata = toy.load_toy("tms_sweep_5_2")
    counts = toy.represented_features(model.W.detach()).tolist()
    assert counts[0] == 2, counts
    assert counts[-1] == 5, counts
    assert counts == metadata["measured"]["represented_features"]
    # Sparser never means much fewer features (allowing one step back between neighbours).
    assert all(later >= earlier - 1 for earlier, later in zip(counts, counts[1:])), counts
    assert counts[-3:] == [5, 5, 5], counts


def test_sweep_sparse_end_is_a_pentagon():
    """At the sparse end, every feature has dimensionality close to 2/5 (the pentagon)."""
    model, _ = toy.load_toy("tms_sweep_5_2")
    dims = ref.dimensionality(model.W.detach())
    assert torch.allclose(dims[-1], torch.full((5,), 0.4), atol=0.05), dims[-1]
    assert (dims[0, :2] > 0.8).all(), dims[0]


def _recovery(name: str) -> dict:
    sae, metadata = toy.load_toy(name)
    toy_model, _ = toy.load_toy("tms_sae_toy")
    report = toy.recovery_report(sae, toy_model)
    return {"sae": sae, "toy": toy_model, "report": report, "metadata": metadata}


def _live_latents(sae, toy_model, probability: float) -> list[int]:
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(0)
    try:
        prob = torch.full((toy_model.W.shape[0], toy_model.W.shape[2]), probability)
        h = toy.hidden_activations(toy_model, ref.generate_batch(prob, 8192))
        return toy.count_live(sae, h)
    finally:
        torch.random.set_rng_state(generator_state)


def test_sae_with_resampling_recovers_90_percent():
    """With resampling: >= 90% of ground-truth features recovered at cosine >= 0.9, no dead latents."""
    result = _recovery("tms_sae_resampled")
    assert result["report"]["recovered_fraction"] >= 0.9, result["report"]["recovered_per_instance"]
    settings = result["metadata"]["recipe"]
    live = _live_latents(result["sae"], result["toy"], settings["probability"])
    assert live == [settings["d_sae"]] * settings["n_instances"], live
    assert result["metadata"]["measured"]["resampled_latents"] > 0


def test_sae_without_resampling_has_dead_latents():
    """Without resampling: dead latents are present and recovery falls short of the resampled SAE."""
    plain, resampled = _recovery("tms_sae_no_resampling"), _recovery("tms_sae_resampled")
    settings = plain["metadata"]["recipe"]
    live = _live_latents(plain["sae"], plain["toy"], settings["probability"])
    dead = sum(settings["d_sae"] - n for n in live)
    assert dead > 0, live
    assert plain["report"]["recovered_fraction"] < resampled["report"]["recovered_fraction"]


def test_toy_features_all_represented_for_the_sae():
    """The toy models under the SAEs keep all 5 features (so there are 5 to recover)."""
    toy_model, _ = toy.load_toy("tms_sae_toy")
    assert toy.represented_features(toy_model.W.detach()).tolist() == [5] * toy_model.W.shape[0]
    true = einops.rearrange(toy_model.W.detach(), "inst hidden feat -> inst feat hidden")
    assert true.norm(dim=-1).min() > 0.5
