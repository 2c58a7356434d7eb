"""Mutants and alternatives for ch5.generate_batch."""
import torch

from circuitlab.grading.meta import alternative, mutant


@mutant(hint="probability 1 - p")
def inverted_probability(probability, batch_size):
    shape = (batch_size, *probability.shape)
    return torch.rand(shape) * (torch.rand(shape) > probability)


@mutant(hint="forgot to zero the absent features")
def dense(probability, batch_size):
    return torch.rand(batch_size, *probability.shape)


@mutant(hint="not a constant")
def presence_only(probability, batch_size):
    return (torch.rand(batch_size, *probability.shape) < probability).float() * 0.5


@mutant(hint="independent random number")
def one_draw_per_example(probability, batch_size):
    shape = (batch_size, *probability.shape)
    return torch.rand(shape) * (torch.rand(batch_size, 1, 1) < probability)


@mutant(hint="torch.rand, not torch.randn")
def gaussian_magnitudes(probability, batch_size):
    shape = (batch_size, *probability.shape)
    return (torch.randn(shape).abs() * 0.4).clamp(max=0.999) * (torch.rand(shape) < probability)


@alternative
def with_bernoulli(probability, batch_size):
    shape = (batch_size, *probability.shape)
    present = torch.bernoulli(probability.expand(shape))
    return torch.rand(shape) * present


@alternative
def with_where(probability, batch_size):
    values = torch.rand(batch_size, *probability.shape)
    return torch.where(torch.rand_like(values) < probability, values, torch.zeros_like(values))
