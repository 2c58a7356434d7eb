"""Grader for ch5.resample_bricken.

The draw is random, so the grader does not ask for the reference's exact draws: it identifies which
input each resampled latent took (its decoder row must be unit(h_j - b_dec) for some input j) and
checks the frequencies of the draws against loss**2 on a case with many dead latents.
"""
from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from circuitlab.ch5 import reference as ref
from circuitlab.ch5.grading_support import on_case
from circuitlab.grading.testing import expect, expect_close, fail, run_learner, seeded, submitted

CASES = {
    # name: (inst, d_in, d_sae, dead latents per instance, batch)
    "3 instances, d_in 4, d_sae 6, some dead, one instance with none dead": (3, 4, 6, [[1, 4], [], [0, 2, 3, 5]], 32),
    "2 instances, d_in 2, d_sae 5, every latent of instance 0 dead": (2, 2, 5, [[0, 1, 2, 3, 4], [3]], 24),
    "1 instance, d_in 3, d_sae 4, batch 1 (the only input is drawn)": (1, 3, 4, [[2]], 1),
}


def _trained(inst: int, d_in: int, d_sae: int, batch: int, seed: int):
    """An SAE and an Adam optimizer whose state has been filled by a few steps."""
    with seeded(seed):
        sae = ref.ToySAE(inst, d_in, d_sae)
        with torch.no_grad():
            sae.b_dec.copy_(torch.randn(inst, d_in) * 0.5)
            sae.b_enc.copy_(torch.randn(inst, d_sae) * 0.2)
            sae.W_enc.mul_(1.7)
        optimizer = torch.optim.Adam(sae.parameters(), lr=1e-2)
        for _ in range(3):
            x = torch.randn(16, inst, d_in)
            acts, recon = sae(x)
            optimizer.zero_grad()
            ref.sae_loss(x, acts, recon, 0.1).sum().backward()
            optimizer.step()
        h = torch.randn(batch, inst, d_in) * torch.linspace(0.5, 2.0, batch)[:, None, None]
    return sae, optimizer, h


def _copy(sae, optimizer):
    """A deep copy of the SAE and an Adam on the copy, with a deep copy of the optimizer's state."""
    twin = copy.deepcopy(sae)
    twin_optimizer = torch.optim.Adam(twin.parameters(), lr=1e-2)
    twin_optimizer.load_state_dict(copy.deepcopy(optimizer.state_dict()))
    return twin, twin_optimizer


def _dead_mask(inst, d_sae, dead_lists):
    dead = torch.zeros(inst, d_sae, dtype=torch.bool)
    for i, latents in enumerate(dead_lists):
        dead[i, latents] = True
    return dead


def _run(case: str):
    inst, d_in, d_sae, dead_lists, batch = CASES[case]
    sae, optimizer, h = _trained(inst, d_in, d_sae, batch, seed=len(case))
    dead = _dead_mask(inst, d_sae, dead_lists)
    learner, learner_optimizer = _copy(sae, optimizer)
    with seeded(11):
        result = run_learner(submitted(), learner, h.clone(), dead.clone(), learner_optimizer)
    expect(result is None, "resample_bricken changes the SAE (and the optimizer's state) in place and returns None.")
    return sae, optimizer, h, dead, learner, learner_optimizer


def _drawn_inputs(original, learner, h, dead) -> list[list[int]]:
    """For each instance, the input index each dead latent's new decoder row points at (fails if none)."""
    drawn = []
    with torch.no_grad():
        for i in range(dead.shape[0]):
            latents = torch.nonzero(dead[i]).flatten()
            rows = learner.W_dec[i, latents].detach()
            same = (rows == original.W_dec[i, latents].detach()).all(-1)
            if bool(same.any()):
                j = int(latents[same][0])
                fail(f"Dead latent {j} of instance {i} was not resampled: it still has its old decoder row. Each "
                     "latent where dead is True needs a new direction.")
            candidates = F.normalize(h[:, i] - original.b_dec[i].detach(), dim=-1)  # (batch, d_in)
            if latents.numel() == 0:
                drawn.append([])
                continue
            best = (rows @ candidates.T).argmax(-1)  # (n_dead,)
            ok = (rows - candidates[best]).abs().amax(-1) <= 1e-4
            if not bool(ok.all()):
                k = int(torch.nonzero(~ok)[0])
                latent, row = int(latents[k]), rows[k]
                uncentred = F.normalize(h[:, i], dim=-1)
                if abs(float(row.norm()) - 1) < 1e-4 and bool(((uncentred @ row) > 1 - 1e-5).any()):
                    fail("Subtract b_dec from the drawn input: the new direction is unit(h - b_dec), since the "
                         "SAE subtracts b_dec before encoding.")
                if float(row.norm()) > 0 and bool(((candidates @ F.normalize(row, dim=0)) > 1 - 1e-5).any()):
                    fail(f"The new decoder row of latent {latent} (instance {i}) points the right way but is not a "
                         "unit vector: normalise h - b_dec.")
                fail(f"The new decoder row of latent {latent} (instance {i}) is not unit(h[j, {i}] - b_dec[{i}]) "
                     "for any input j: each dead latent takes the direction of one drawn input.")
            picks = best.tolist()
            drawn.append(picks)
    return drawn


@pytest.mark.parametrize("case", list(CASES))
def test_live_latents_untouched(case):
    """live latents, b_dec and the live latents' optimizer state keep their values exactly"""
    sae, optimizer, h, dead, learner, learner_optimizer = _run(case)
    with on_case(case):
        for i in range(dead.shape[0]):
            live = ~dead[i]
            for name in ("W_dec", "W_enc", "b_enc"):
                before, after = getattr(sae, name)[i].detach(), getattr(learner, name)[i].detach()
                if name == "W_enc":
                    before, after = before.T, after.T
                expect(torch.equal(before[live], after[live]),
                       f"Instance {i}: you changed {name} of latents that are alive. Resample only the latents where "
                       "dead is True.")
        expect(torch.equal(sae.b_dec, learner.b_dec), "b_dec changed: resampling touches only the dead latents' "
               "encoder column, decoder row and encoder bias.")


@pytest.mark.parametrize("case", list(CASES))
def test_dead_latents_take_drawn_inputs(case):
    """each dead latent's decoder row is unit(h - b_dec) of one input; its encoder column 0.2 x the live mean norm"""
    sae, optimizer, h, dead, learner, learner_optimizer = _run(case)
    with on_case(case):
        drawn = _drawn_inputs(sae, learner, h, dead)
        for i, picks in enumerate(drawn):
            latents = torch.nonzero(dead[i]).flatten()
            if not picks:
                continue
            directions = F.normalize(h[picks, i] - sae.b_dec[i].detach(), dim=-1)
            live = ~dead[i]
            mean_norm = sae.W_enc[i].detach().norm(dim=0)[live].mean() if live.any() else torch.tensor(1.0)
            want = directions * 0.2 * mean_norm
            got = learner.W_enc[i][:, latents].detach().T
            expect_close(got, want, what=f"the resampled encoder columns of instance {i}", atol=1e-5, mistakes={
                "The encoder column is the new direction times 0.2 times the mean encoder-column norm of the live "
                "latents; you left out the 0.2 (that is the chapter's simpler rule).": directions * mean_norm,
                "The encoder column is 0.2 times the mean encoder-column norm of the live latents, times the "
                "direction; you used 0.2 alone (a unit direction times 0.2).": directions * 0.2,
                "Average the encoder-column norms of the live latents only, not of all latents.":
                    directions * 0.2 * sae.W_enc[i].detach().norm(dim=0).mean(),
            }, hint="W_enc[i][:, latent] = 0.2 * mean live encoder-column norm * unit(h - b_dec); with no live "
                    "latent, use 1 for the mean norm.")
            bias = learner.b_enc[i, latents].detach()
            expect(torch.equal(bias, torch.zeros_like(bias)), f"Set the resampled latents' encoder bias b_enc to 0 "
                   f"(instance {i}).")


@pytest.mark.parametrize("case", list(CASES))
def test_optimizer_state_reset_for_resampled_rows(case):
    """Adam's exp_avg and exp_avg_sq are 0 for the resampled entries and unchanged elsewhere; step counts kept"""
    sae, optimizer, h, dead, learner, learner_optimizer = _run(case)
    with on_case(case):
        names = ["W_enc", "b_enc", "W_dec", "b_dec"]
        before = {name: optimizer.state[getattr(sae, name)] for name in names}
        for name in names:
            after = learner_optimizer.state.get(getattr(learner, name))
            if not after:
                fail(f"The optimizer's state for {name} is gone: reset only the resampled entries of exp_avg and "
                     "exp_avg_sq, not the whole state (optimizer.state.clear() throws away the live latents' moments, "
                     "which is the chapter's simpler rule).")
            for key in ("exp_avg", "exp_avg_sq"):
                expect(key in after, f"The optimizer's state for {name} has no {key} any more: set the resampled "
                       "entries to 0, do not delete the entry.")
                want = before[name][key].clone()
                if name != "b_dec":
                    for i in range(dead.shape[0]):
                        if name == "W_enc":
                            want[i][:, dead[i]] = 0.0
                        else:
                            want[i, dead[i]] = 0.0
                got = after[key]
                if not torch.equal(got, want):
                    untouched = torch.equal(got, before[name][key])
                    if untouched and not torch.equal(want, before[name][key]):
                        fail(f"Adam's {key} for {name} was not reset for the resampled latents: set "
                             f"optimizer.state[sae.{name}]['{key}'] to 0 at the resampled rows (columns of W_enc).")
                    if bool((got == 0).all()):
                        fail(f"Adam's {key} for {name} is zero everywhere: reset only the resampled latents' entries.")
                    fail(f"Adam's {key} for {name} differs from what it should be: 0 at the dead latents' entries "
                         f"({'columns' if name == 'W_enc' else 'rows'}), unchanged elsewhere.")
            expect(torch.equal(torch.as_tensor(after["step"]), torch.as_tensor(before[name]["step"])),
                   f"The optimizer's step count for {name} changed: keep 'step' as it is.")


def _draw_counts(weights_power: float | None = None):
    """The many-dead case: 1 instance, d_in 3, 480 of 500 latents dead, 12 inputs, called 4 times."""
    sae, optimizer, h = _trained(1, 3, 500, 12, seed=5)
    with torch.no_grad():
        sae.b_enc[0, :20] = 1.0  # 20 live latents
    dead = torch.zeros(1, 500, dtype=torch.bool)
    dead[0, 20:] = True
    counts = torch.zeros(12)
    for call in range(4):
        learner, learner_optimizer = _copy(sae, optimizer)
        with seeded(100 + call):
            run_learner(submitted(), learner, h.clone(), dead.clone(), learner_optimizer,
                        what="your resample_bricken (the case with 480 dead latents)")
        for j in _drawn_inputs(sae, learner, h, dead)[0]:
            counts[j] += 1
    with torch.no_grad():
        _, recon = sae(h)
        loss = ((recon - h) ** 2).sum(-1)[:, 0]
    return counts, loss


def _chi_square_z(counts, probabilities) -> float:
    """(X² - df) / sqrt(2 df): about N(0, 1) when the counts follow the probabilities."""
    n = counts.sum()
    expected = n * probabilities
    keep = expected > 0
    if bool((counts[~keep] > 0).any()):
        return math.inf
    x2 = float(((counts[keep] - expected[keep]) ** 2 / expected[keep]).sum())
    df = int(keep.sum()) - 1
    return (x2 - df) / math.sqrt(2 * df)


def test_draws_follow_loss_squared():
    """1920 draws: each input is drawn with probability proportional to its squared loss (loss = squared error)"""
    with on_case("1 instance, 480 dead latents, 12 inputs whose losses differ, 4 calls"):
        counts, loss = _draw_counts()
        hypotheses = {
            "loss squared": loss**2,
            "Draw with probability proportional to the *square* of each input's loss (the loss is already the "
            "squared error, so the weights are its square); yours follows the loss itself.": loss,
            "Draw with probability proportional to the square of each input's loss; yours draws every input "
            "equally often.": torch.ones_like(loss),
            "Draw with probability proportional to the square of each input's loss; yours follows a higher power "
            "(did you square the squared error twice?).": loss**4,
        }
        z = {name: _chi_square_z(counts, w / w.sum()) for name, w in hypotheses.items()}
        if z["loss squared"] < 8:
            return
        top = torch.argsort(loss, descending=True)
        if int((counts > 0).sum()) <= 480 and counts[top[0]] == counts.sum():
            fail("Every dead latent took the same input, the worst one: draw a fresh input for each dead latent "
                 "(torch.multinomial(weights, n_dead, replacement=True)).")
        best = min(z, key=z.get)
        if best != "loss squared" and z[best] < 8:
            fail(best)
        shares = ", ".join(f"{int(c)}" for c in counts.tolist())
        fail("The inputs your dead latents took do not follow probabilities proportional to loss**2 (the counts per "
             f"input, over 1920 draws, were {shares}). Draw each dead latent's input independently, with "
             "replacement, with weights loss ** 2 where loss is the input's squared reconstruction error.")
