"""Mutants and alternatives for ch2.induction_qk_circuit."""
import torch
from transformer_lens import FactoredMatrix

from circuitlab.grading.meta import alternative, mutant


@mutant(hint="direct path")
def without_the_previous_token_head(model, prev_head, induction_head):
    return model.W_E @ model.QK[1, induction_head] @ model.W_E.T


@mutant(hint="on the query side")
def ov_on_the_query_side(model, prev_head, induction_head):
    return (model.W_E @ model.OV[0, prev_head]) @ model.QK[1, induction_head] @ model.W_E.T


@mutant(hint="materialised")
def materialised(model, prev_head, induction_head):
    full = (model.W_E @ model.QK[1, induction_head] @ (model.W_E @ model.OV[0, prev_head]).T).AB
    return FactoredMatrix(full, torch.eye(full.shape[1]))


@mutant(hint="FactoredMatrix")
def returns_a_tensor(model, prev_head, induction_head):
    return (model.W_E @ model.QK[1, induction_head] @ (model.W_E @ model.OV[0, prev_head]).T).AB


@mutant(hint="swapped")
def head_indices_swapped(model, prev_head, induction_head):
    return model.W_E @ model.QK[1, prev_head] @ (model.W_E @ model.OV[0, induction_head]).T


@alternative
def from_the_weights(model, prev_head, induction_head):
    """The same factors written out: (W_E W_Q) (W_K^T W_O^T W_V^T W_E^T), inner dimension d_head."""
    left = model.W_E @ model.W_Q[1, induction_head]
    right = model.W_K[1, induction_head].T @ model.W_O[0, prev_head].T @ model.W_V[0, prev_head].T @ model.W_E.T
    return FactoredMatrix(left, right)
