"""Mutants and alternatives for ch4.neuron_logit_fourier."""
import torch

from circuitlab.grading.meta import alternative, mutant


def _map(model):
    return (model.W_out[0] @ model.W_U).detach()


@mutant(hint="change it to the Fourier basis")
def raw_map(model, basis):
    return _map(model).T


@mutant(hint="used W_in")
def input_weights(model, basis):
    return basis @ (model.W_in[0].T @ model.W_U).detach().T


@mutant(hint="basis's columns")
def basis_columns(model, basis):
    return basis.T @ _map(model).T


@mutant(hint="squared the coefficients")
def power(model, basis):
    return (basis @ _map(model).T).pow(2)


@mutant(hint="axes are transposed")
def neurons_first(model, basis):
    return _map(model) @ basis.T


@alternative
def through_fft1d_convention(model, basis):
    """fft1d's convention: the answer axis first, transformed by a matrix product."""
    W_L_by_answer = torch.einsum("nd,dc->cn", model.W_out[0], model.W_U)
    return torch.einsum("ic,cn->in", basis, W_L_by_answer).detach()


@alternative
def with_grad_history(model, basis):
    """Left attached to the autograd graph: the values are what is graded."""
    return basis @ (model.W_out[0] @ model.W_U).T
