"""Mutants and alternatives for ch5.feature_probability."""
import numpy as np
import torch

from circuitlab.grading.meta import alternative, mutant


@mutant(hint="order is inverted")
def sparse_first(n_instances, n_features, min_probability):
    p = min_probability ** torch.linspace(1, 0, n_instances)
    return p[:, None].repeat(1, n_features)


@mutant(hint="1 - p, the sparsity")
def returns_sparsity(n_instances, n_features, min_probability):
    p = min_probability ** torch.linspace(0, 1, n_instances)
    return 1 - p[:, None].repeat(1, n_features)


@mutant(hint="exponent has the wrong sign")
def reciprocal(n_instances, n_features, min_probability):
    p = min_probability ** -torch.linspace(0, 1, n_instances)
    return p[:, None].repeat(1, n_features)


@mutant(hint="spaced linearly")
def linear(n_instances, n_features, min_probability):
    return torch.linspace(1, min_probability, n_instances)[:, None].repeat(1, n_features)


@alternative
def with_logspace(n_instances, n_features, min_probability):
    exponents = np.linspace(0, np.log10(min_probability), n_instances)
    return torch.tensor(10.0 ** exponents, dtype=torch.float32)[:, None].expand(n_instances, n_features)


@mutant(hint="contains NaN")
def divides_by_instances_minus_one(n_instances, n_features, min_probability):
    exponents = torch.arange(n_instances) / (n_instances - 1)
    return (min_probability**exponents)[:, None].repeat(1, n_features)


@alternative
def with_a_loop(n_instances, n_features, min_probability):
    rows = []
    for i in range(n_instances):
        t = i / (n_instances - 1) if n_instances > 1 else 0.0
        rows.append([min_probability**t] * n_features)
    return torch.tensor(rows)
