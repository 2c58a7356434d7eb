"""Grader for ch4.neuron_logit_fourier: the map W_out W_U, changed to the Fourier basis over the answers."""
from __future__ import annotations

import torch

from circuitlab.ch4.fixtures import grader_models, on_input
from circuitlab.ch4.reference import fourier_basis
from circuitlab.grading.testing import expect_close, isolated, reference, run_learner, submitted


def test_matches_reference():
    """the Fourier coefficients of W_out W_U over the answers, shape (p, d_mlp), on three models"""
    for what, model in grader_models():
        p = model.cfg.d_vocab_out
        basis = fourier_basis(p)
        with isolated(model, what=what) as learner_model:
            out = run_learner(submitted(), learner_model, basis, what=f"your neuron_logit_fourier on {what}")
        if isinstance(out, torch.Tensor):
            out = out.detach()
        with torch.no_grad():
            W_L = model.W_out[0] @ model.W_U  # [neuron c]
            expected = reference()(model, basis)
            mistakes = {
                "You returned W_out W_U itself (transposed to (p, d_mlp)); change it to the Fourier basis: multiply "
                "by the basis along the answer axis c.": W_L.T,
                "You used W_in (the neurons' input weights); the neuron-logit map is what the neurons write: "
                "W_out[0] @ W_U.": basis @ (model.W_in[0].T @ model.W_U).T,
                "You multiplied by the basis's columns (basis.T); the basis vectors are its rows: "
                "out[i, n] = Σ_c basis[i, c] W_L[n, c].": basis.T @ W_L.T,
                "You squared the coefficients; return the coefficients themselves (signed), not their power.":
                    (basis @ W_L.T).pow(2),
                "Your axes are transposed: rows are the Fourier components (p of them), columns the neurons.":
                    (basis @ W_L.T).T,
            }
        expect_close(out, expected, atol=1e-4, rtol=1e-3, what=f"the neuron-logit map in the Fourier basis of {what}",
                     axis_names=("Fourier component", "neuron"), mistakes=on_input(what, mistakes),
                     hint="out = basis @ (model.W_out[0] @ model.W_U).T, shape (p, d_mlp).")
