"""Chapter 5: independent checks of the references added for the phase diagram, Bricken et al.'s
resampling and SAE evaluation (kept beside tests/test_references.py, in a file of their own)."""
from __future__ import annotations

import copy

import pytest
import torch

from circuitlab.ch5 import reference as ch5
from circuitlab.ch5 import toy
from circuitlab.threads import using as using_threads


@pytest.fixture(autouse=True)
def one_thread():
    with using_threads(1):
        yield


def test_ch5_phase_of_by_a_loop():
    torch.manual_seed(0)
    W = torch.randn(200, 2, 2) * 0.6
    W[:5] = torch.tensor([[0.5, 0.0], [0.0, 0.0]])  # a norm exactly at the threshold is not represented
    out = ch5.phase_of(W, 0.5)
    for i in range(200):
        first, extra = (float(W[i, :, f].pow(2).sum().sqrt()) > 0.5 for f in (0, 1))
        want = ch5.IGNORED if not extra else (ch5.SUPERPOSED if first else ch5.ALONE)
        assert int(out[i]) == want
    assert out.dtype == torch.long


def test_ch5_candidate_phase_losses_by_monte_carlo():
    """The candidate losses in toy.candidate_phase are the toy model's loss with those weights and zero bias."""
    torch.manual_seed(1)
    p, r = 0.3, 2.0
    probability = torch.full((3, 2), p)
    importance = torch.tensor([1.0, r])
    model = ch5.ToyModel(ch5.ToyConfig(3, 2, 1))
    with torch.no_grad():
        model.W.copy_(torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]], [[1.0, -1.0]]]))
        model.b_final.zero_()
        x = ch5.generate_batch(probability, 50_000)
        per_instance = (importance * (x - model(x)) ** 2).sum(-1).mean(0)  # loss per example, summed over features
    closed = torch.tensor([r * p / 3, p / 3, p**2 * (1 + r) / 6])
    torch.testing.assert_close(per_instance, closed, rtol=0.06, atol=1e-4)
    grid = toy.candidate_phase(torch.tensor([0.5, 2.0]), torch.tensor([0.01, 1.0]))
    assert grid.tolist() == [[ch5.SUPERPOSED, ch5.IGNORED], [ch5.SUPERPOSED, ch5.ALONE]]


def _sae_and_adam(inst, d_in, d_sae, seed):
    torch.manual_seed(seed)
    sae = ch5.ToySAE(inst, d_in, d_sae)
    optimizer = torch.optim.Adam(sae.parameters(), lr=1e-2)
    for _ in range(2):
        h = torch.randn(32, inst, d_in)
        acts, recon = sae(h)
        optimizer.zero_grad()
        ch5.sae_loss(h, acts, recon, 0.1).sum().backward()
        optimizer.step()
    return sae, optimizer


def test_ch5_resample_bricken_draws_in_proportion_to_loss_squared():
    sae, optimizer = _sae_and_adam(1, 3, 2000, seed=2)
    h = torch.randn(6, 1, 3) * torch.tensor([0.3, 0.6, 1.0, 1.5, 2.0, 3.0])[:, None, None]
    dead = torch.ones(1, 2000, dtype=torch.bool)
    dead[0, :10] = False
    before = copy.deepcopy(sae)
    torch.manual_seed(3)
    ch5.resample_bricken(sae, h, dead, optimizer)
    with torch.no_grad():
        _, recon = before(h)
        loss = ((recon - h) ** 2).sum(-1)[:, 0]
        unit = torch.nn.functional.normalize(h[:, 0] - before.b_dec[0], dim=-1)
        picks = (sae.W_dec[0, 10:] @ unit.T).argmax(-1)
        assert torch.allclose(sae.W_dec[0, 10:], unit[picks], atol=1e-6)
    frequency = torch.bincount(picks, minlength=6).double() / picks.numel()
    expected = (loss**2 / (loss**2).sum()).double()
    assert torch.all((frequency - expected).abs() < 5 * (expected * (1 - expected) / picks.numel()).sqrt() + 1e-3)
    live_norm = before.W_enc[0, :, :10].detach().norm(dim=0).mean()
    torch.testing.assert_close(sae.W_enc[0, :, 10:].detach().norm(dim=0), torch.full((1990,), 0.2 * float(live_norm)))
    assert torch.equal(sae.W_enc[0, :, :10], before.W_enc[0, :, :10])


def test_ch5_resample_bricken_resets_only_the_resampled_moments():
    sae, optimizer = _sae_and_adam(2, 4, 6, seed=4)
    state_before = copy.deepcopy({name: optimizer.state[p] for name, p in sae.named_parameters()})
    dead = torch.zeros(2, 6, dtype=torch.bool)
    dead[0, [1, 5]] = True
    torch.manual_seed(0)
    ch5.resample_bricken(sae, torch.randn(10, 2, 4), dead, optimizer)
    for name, p in sae.named_parameters():
        for key in ("exp_avg", "exp_avg_sq"):
            got, was = optimizer.state[p][key], state_before[name][key]
            for i in range(2):
                for latent in range(6):
                    entry = {"W_enc": (i, slice(None), latent), "W_dec": (i, latent), "b_enc": (i, latent)}.get(name)
                    if entry is None:
                        continue
                    if dead[i, latent]:
                        assert bool((got[entry] == 0).all())
                    else:
                        assert torch.equal(got[entry], was[entry])
            if name == "b_dec":
                assert torch.equal(got, was)
        assert torch.equal(torch.as_tensor(optimizer.state[p]["step"]), torch.as_tensor(state_before[name]["step"]))


def test_ch5_feature_density_and_variance_explained_by_loops():
    torch.manual_seed(5)
    acts = torch.relu(torch.randn(7, 2, 3))
    density = ch5.feature_density(acts)
    for i in range(2):
        for latent in range(3):
            assert float(density[i, latent]) == pytest.approx(sum(float(acts[b, i, latent]) > 0 for b in range(7)) / 7)
    h = torch.randn(9, 2, 4, dtype=torch.float64) + 2
    recon = h + 0.3 * torch.randn_like(h)
    out = ch5.variance_explained(h, recon)
    for i in range(2):
        total = sum(float(((h[b, i] - h[:, i].mean(0)) ** 2).sum()) for b in range(9))
        error = sum(float(((recon[b, i] - h[b, i]) ** 2).sum()) for b in range(9))
        assert float(out[i]) == pytest.approx(1 - error / total, rel=1e-9)


def test_ch5_dimensions_per_feature_closed_forms():
    """n_hidden / ||W||_F**2: 1 for one unit feature per dimension, 1/2 for antipodal pairs, 2/5 for a pentagon."""
    import math

    angles = torch.arange(5, dtype=torch.float64) * 2 * math.pi / 5
    pentagon = torch.stack([angles.cos(), angles.sin()])
    own = torch.eye(2, 5, dtype=torch.float64)
    pairs = torch.tensor([[1.0, -1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, -1.0, 0.0]], dtype=torch.float64)
    out = ch5.dimensions_per_feature(torch.stack([pentagon, own, pairs, torch.zeros(2, 5, dtype=torch.float64)]))
    assert out[:3].tolist() == pytest.approx([0.4, 1.0, 0.5])
    assert math.isinf(float(out[3]))


def test_ch5_abs_computed_on_a_hand_built_model():
    """Two neurons per feature compute |x| exactly; a feature with no neurons outputs ReLU(b) and is not computed."""
    model = ch5.NeuronModel(ch5.ToyConfig(1, 3, 4))
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        for f in range(2):
            model.W_in[0, 2 * f, f], model.W_in[0, 2 * f + 1, f] = 1.0, -1.0
            model.W_out[0, f, 2 * f], model.W_out[0, f, 2 * f + 1] = 1.0, 1.0
        model.b_out[0, 2] = 0.5
    out = ch5.abs_computed(model, torch.linspace(-1, 1, 11), tolerance=0.25)
    assert out.tolist() == [[True, True, False]]
    # Feature 2 outputs 0.5 everywhere: within 0.5 of |v| for every v in [0, 1], so with tolerance 0.5 it counts.
    assert ch5.abs_computed(model, torch.linspace(-1, 1, 11), tolerance=0.5).tolist() == [[True, True, True]]


def test_ch5_splice_through_sae_inverts_the_normalisation():
    """An SAE that reconstructs perfectly (identity encoder and decoder, zero biases, inputs in the positive
    orthant after normalisation) gives back resid exactly."""
    torch.manual_seed(6)
    d = 4
    sae = ch5.ToySAE(1, d, d)
    with torch.no_grad():
        sae.W_enc.copy_(torch.eye(d)[None])
        sae.W_dec.copy_(torch.eye(d)[None])
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    mean, scale = torch.randn(d), 3.0
    resid = mean + torch.rand(2, 5, d) / scale  # (resid - mean) * scale is in [0, 1): ReLU keeps it
    torch.testing.assert_close(ch5.splice_through_sae(resid, sae, mean, scale), resid)


def test_ch5_nearest_parent_by_a_loop():
    torch.manual_seed(7)
    small, large = torch.randn(5, 6, dtype=torch.float64), torch.randn(9, 6, dtype=torch.float64)
    small[2] = 0.0
    parent, cosine = ch5.nearest_parent(small, large)
    for i in range(9):
        cosines = [0.0 if float(small[j].norm()) == 0 else float(large[i] @ small[j] / (large[i].norm() * small[j].norm()))
                   for j in range(5)]
        assert int(parent[i]) == max(range(5), key=lambda j: (cosines[j], -j))
        assert float(cosine[i]) == pytest.approx(max(cosines), rel=1e-9)
