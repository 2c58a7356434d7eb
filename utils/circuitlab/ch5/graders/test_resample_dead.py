"""Grader for ch5.resample_dead."""
import copy

import pytest
import torch
import torch.nn.functional as F

from circuitlab.ch5 import reference as ref
from circuitlab.grading.testing import expect, expect_close, fail, run_learner, seeded, submitted

CASES = {
    # name: (inst, d_in, d_sae, dead latents per instance)
    "some dead": (3, 4, 6, [[1, 4], [], [0, 2, 3, 5]]),
    "all dead in one instance": (2, 2, 5, [[0, 1, 2, 3, 4], [3]]),
    "one instance, d_in 3, d_sae 4": (1, 3, 4, [[2]]),
}


def _setup(case):
    inst, d_in, d_sae, dead_lists = CASES[case]
    with seeded(len(case)):
        sae = ref.ToySAE(inst, d_in, d_sae)
        with torch.no_grad():
            sae.b_dec.copy_(torch.randn(inst, d_in) * 0.5)
            sae.b_enc.copy_(torch.randn(inst, d_sae) * 0.2)
            sae.W_enc.mul_(1.7)
        h = torch.randn(48, inst, d_in)
    dead = torch.zeros(inst, d_sae, dtype=torch.bool)
    for i, latents in enumerate(dead_lists):
        dead[i, latents] = True
    return sae, h, dead


def _resampled(case):
    sae, h, dead = _setup(case)
    original = copy.deepcopy(sae)
    learner = copy.deepcopy(sae)
    result = run_learner(submitted(), learner, h, dead)
    expect(result is None, "resample_dead changes the SAE in place and returns None.")
    expected = copy.deepcopy(sae)
    ref.resample_dead(expected, h, dead)
    return original, learner, expected, h, dead


def _latent_view(sae, inst):
    """Every parameter entry that belongs to each latent of one instance: (d_sae, 2 * d_in + 1)."""
    return torch.cat([sae.W_dec[inst].detach(), sae.W_enc[inst].detach().T, sae.b_enc[inst].detach()[:, None]], -1)


@pytest.mark.parametrize("case", list(CASES))
def test_live_latents_untouched(case):
    """latents that are alive keep their weights exactly"""
    original, learner, _, _, dead = _resampled(case)
    for inst in range(dead.shape[0]):
        live = ~dead[inst]
        before, after = _latent_view(original, inst)[live], _latent_view(learner, inst)[live]
        expect(torch.equal(before, after), f"Instance {inst}: you changed latents that are alive (dead is False "
               "for them). Resample only the latents where dead is True; a live latent may be a feature the SAE "
               "has already learned.")
    expect(torch.equal(original.b_dec, learner.b_dec), "b_dec changed: resampling touches only the dead latents' "
           "encoder column, decoder row and encoder bias.")


@pytest.mark.parametrize("case", list(CASES))
def test_dead_latents_resampled(case):
    """each dead latent's decoder row becomes the unit vector of a badly reconstructed input, h - b_dec"""
    original, learner, expected, h, dead = _resampled(case)
    unchanged = [(i, int(j)) for i in range(dead.shape[0]) for j in torch.nonzero(dead[i]).flatten()
                 if torch.equal(original.W_dec[i, j], learner.W_dec[i, j])]
    if unchanged:
        fail(f"Dead latents were not resampled (for example latent {unchanged[0][1]} of instance {unchanged[0][0]} "
             "still has its old decoder row). Each latent where dead is True needs a new direction.")
    got = torch.cat([learner.W_dec[i, dead[i]].detach() for i in range(dead.shape[0])])
    want = torch.cat([expected.W_dec[i, dead[i]].detach() for i in range(dead.shape[0])])
    with torch.no_grad():
        _, recon = original(h)
        error = ((recon - h) ** 2).sum(-1)
    mistakes = {}
    for name, rank, centre, normalise in [
        ("The new directions should come from the worst reconstructed inputs (largest squared error), not the "
         "best.", False, True, True),
        ("Subtract b_dec from the chosen input: the new direction is unit(h - b_dec), since the SAE "
         "subtracts b_dec before encoding.", True, False, True),
        ("The new decoder rows are not unit vectors: normalise h - b_dec.", True, True, False),
    ]:
        rows = []
        for i in range(dead.shape[0]):
            n_dead = int(dead[i].sum())
            order = torch.argsort(error[:, i], descending=rank, stable=True)[:n_dead]
            v = h[order, i] - (original.b_dec[i].detach() if centre else 0)
            rows.append(F.normalize(v, dim=-1) if normalise else v)
        mistakes[name] = torch.cat(rows)
    expect_close(got, want, what="the dead latents' new decoder rows", mistakes=mistakes,
                 hint="Rank inputs by squared reconstruction error, worst first; the k-th dead latent (in index "
                      "order) takes the k-th worst input.")


@pytest.mark.parametrize("case", list(CASES))
def test_encoder_of_resampled_latents(case):
    """a resampled latent's encoder column is its new direction times the live encoders' mean norm; b_enc is 0"""
    _, learner, expected, _, dead = _resampled(case)
    got_enc = torch.cat([learner.W_enc[i][:, dead[i]].detach().T for i in range(dead.shape[0])])
    want_enc = torch.cat([expected.W_enc[i][:, dead[i]].detach().T for i in range(dead.shape[0])])
    unit = F.normalize(want_enc, dim=-1)
    expect_close(got_enc, want_enc, what="the resampled encoder columns", atol=1e-5, mistakes={
        "The new encoder columns have unit norm; scale them by the mean encoder-column norm of the instance's "
        "live latents (1 if none is live), so a resampled latent starts on the same footing.": unit,
    })
    got_bias = torch.cat([learner.b_enc[i, dead[i]].detach() for i in range(dead.shape[0])])
    expect(torch.allclose(got_bias, torch.zeros_like(got_bias)), "Set the resampled latents' encoder bias b_enc "
           "to 0.")


def test_second_call_and_parameters_kept():
    """a second call resamples again from the SAE as it is now; the parameters stay the same tensors"""
    sae, h, dead = _setup("some dead")
    learner, expected = copy.deepcopy(sae), copy.deepcopy(sae)
    parameters = {name: p for name, p in learner.named_parameters()}
    with seeded(7):
        h2 = torch.randn(40, *h.shape[1:])
    dead2 = dead.clone()
    dead2[1, 0] = True  # a latent of the instance that had none dead
    run_learner(submitted(), learner, h, dead)
    run_learner(submitted(), learner, h2, dead2, what="your resample_dead (second call)")
    ref.resample_dead(expected, h, dead)
    ref.resample_dead(expected, h2, dead2)
    for name, p in learner.named_parameters():
        expect(p is parameters[name], f"resample_dead replaced the parameter {name} with a new tensor; write into "
               "the existing parameters (under torch.no_grad()), so an optimizer built on them keeps training them.")
    expect(torch.is_grad_enabled(), "Gradients are switched off after your resample_dead: use torch.no_grad() as "
           "a context manager or decorator, not torch.set_grad_enabled(False).")
    for name, p in learner.named_parameters():
        q = dict(expected.named_parameters())[name]
        if not torch.allclose(p.detach(), q.detach(), atol=1e-5):
            bad = (p.detach() - q.detach()).abs() > 1e-5
            instances = sorted({int(i) for i in bad.nonzero()[:, 0]})
            fail(f"After a second call (new inputs, one more dead latent in instance 1), {name} differs from the "
                 f"reference's in instance(s) {instances}: each call must rank the inputs it is given, with the "
                 "SAE as it is at that call.")
