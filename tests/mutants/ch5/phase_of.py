"""Mutants and alternatives for ch5.phase_of."""
import torch

from circuitlab.grading.meta import alternative, mutant


def _code(first, extra):
    return torch.where(extra, torch.where(first, 2, 1), 0)


@mutant(hint="compare with >, not >=")
def at_threshold_counts(W, threshold=0.5):
    norms = W.norm(dim=1)
    return _code(norms[:, 0] >= threshold, norms[:, 1] >= threshold)


@mutant(hint="swapped the roles")
def roles_swapped(W, threshold=0.5):
    norms = W.norm(dim=1)
    return _code(norms[:, 1] > threshold, norms[:, 0] > threshold)


@mutant(hint="not the signed weight")
def signed_weight(W, threshold=0.5):
    return _code(W[:, 0, 0] > threshold, W[:, 0, 1] > threshold)


@mutant(hint="over the hidden axis")
def norm_over_features(W, threshold=0.5):
    norms = W.norm(dim=2)
    return _code(norms[:, 0] > threshold, norms[:, -1] > threshold)


@mutant(hint="dtype")
def as_float(W, threshold=0.5):
    norms = W.norm(dim=1)
    return _code(norms[:, 0] > threshold, norms[:, 1] > threshold).float()


@mutant(hint="shape")
def squeezed(W, threshold=0.5):
    norms = W.norm(dim=1)
    return _code(norms[:, 0] > threshold, norms[:, 1] > threshold).squeeze()


@mutant(hint="Expected, per instance")
def superposed_needs_opposite_signs_of_the_first_hidden_weight(W, threshold=0.5):
    # Calls "superposed" only an antipodal pair along hidden axis 0, which is wrong for hidden > 1.
    norms = W.norm(dim=1)
    first, extra = norms[:, 0] > threshold, norms[:, 1] > threshold
    opposite = W[:, 0, 0] * W[:, 0, 1] < 0
    return torch.where(extra, torch.where(first & opposite, 2, torch.where(first, 0, 1)), 0)


@alternative
def with_a_loop(W, threshold=0.5):
    out = []
    for w in W:
        n0, n1 = float(w[:, 0].norm()), float(w[:, 1].norm())
        out.append(0 if n1 <= threshold else (2 if n0 > threshold else 1))
    return torch.tensor(out, dtype=torch.long)


@alternative
def arithmetic(W, threshold=0.5):
    represented = (W.norm(dim=1) > threshold).long()
    return represented[:, 1] * (1 + represented[:, 0])
