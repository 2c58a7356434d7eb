"""Mutants and alternatives for ch4.mod_add_dataset."""
import torch

from circuitlab.grading.meta import alternative, mutant


def _pairs(p):
    a = torch.arange(p).repeat_interleave(p)
    b = torch.arange(p).repeat(p)
    return a, b


@mutant(hint="split leaks")
def test_is_everything(p, frac_train, seed):
    a, b = _pairs(p)
    tokens = torch.stack([a, b, torch.full_like(a, p)], 1)
    order = torch.randperm(p * p, generator=torch.Generator().manual_seed(seed))
    return tokens, (a + b) % p, order[: int(frac_train * p * p)], order  # test = all rows, train included


@mutant(hint="not reduced mod p")
def labels_without_mod(p, frac_train, seed):
    a, b = _pairs(p)
    tokens = torch.stack([a, b, torch.full_like(a, p)], 1)
    order = torch.randperm(p * p, generator=torch.Generator().manual_seed(seed))
    n = int(frac_train * p * p)
    return tokens, a + b, order[:n], order[n:]


@mutant(hint="first rows")
def unshuffled(p, frac_train, seed):
    a, b = _pairs(p)
    tokens = torch.stack([a, b, torch.full_like(a, p)], 1)
    n = int(frac_train * p * p)
    return tokens, (a + b) % p, torch.arange(n), torch.arange(n, p * p)


@mutant(hint="ignores the seed")
def global_random_state(p, frac_train, seed):
    a, b = _pairs(p)
    tokens = torch.stack([a, b, torch.full_like(a, p)], 1)
    order = torch.randperm(p * p)
    n = int(frac_train * p * p)
    return tokens, (a + b) % p, order[:n], order[n:]


@mutant(hint="token p")
def equals_as_zero(p, frac_train, seed):
    a, b = _pairs(p)
    tokens = torch.stack([a, b, torch.zeros_like(a)], 1)
    order = torch.randperm(p * p, generator=torch.Generator().manual_seed(seed))
    n = int(frac_train * p * p)
    return tokens, (a + b) % p, order[:n], order[n:]


@alternative
def with_meshgrid_and_numpy_shuffle(p, frac_train, seed):
    import numpy as np

    a, b = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    tokens = torch.stack([a.flatten(), b.flatten(), torch.full((p * p,), p)], dim=1)
    order = torch.from_numpy(np.random.default_rng(seed).permutation(p * p))
    n = int(frac_train * p * p)
    return tokens, tokens[:, :2].sum(1) % p, order[:n], order[n:]


@mutant(hint="torch.long")
def int32_indices(p, frac_train, seed):
    a, b = _pairs(p)
    tokens = torch.stack([a, b, torch.full_like(a, p)], 1)
    order = torch.randperm(p * p, generator=torch.Generator().manual_seed(seed)).to(torch.int32)
    n = int(frac_train * p * p)
    return tokens, (a + b) % p, order[:n], order[n:]


@mutant(hint="torch.long")
def float_labels(p, frac_train, seed):
    a, b = _pairs(p)
    tokens = torch.stack([a, b, torch.full_like(a, p)], 1)
    order = torch.randperm(p * p, generator=torch.Generator().manual_seed(seed))
    n = int(frac_train * p * p)
    return tokens, ((a + b) % p).float(), order[:n], order[n:]


@mutant(hint="int(")
def rounds_the_cut(p, frac_train, seed):
    a, b = _pairs(p)
    tokens = torch.stack([a, b, torch.full_like(a, p)], 1)
    order = torch.randperm(p * p, generator=torch.Generator().manual_seed(seed))
    n = round(frac_train * p * p)
    return tokens, (a + b) % p, order[:n], order[n:]


@alternative
def sorted_indices(p, frac_train, seed):
    """The same split, each part sorted: the order inside train_indices and test_indices is free."""
    a, b = _pairs(p)
    tokens = torch.stack([a, b, torch.full_like(a, p)], 1)
    order = torch.randperm(p * p, generator=torch.Generator().manual_seed(seed))
    n = int(frac_train * p * p)
    return tokens, (a + b) % p, order[:n].sort().values, order[n:].sort().values
