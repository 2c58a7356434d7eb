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


@mutant(hint="all features of an example appear together")
def one_draw_per_example(probability, batch_size):
    shape = (batch_size, *probability.shape)
    return torch.rand(shape) * (torch.rand(batch_size, 1, 1) < probability)


@mutant(hint="torch.randn draws from a normal law")
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


@mutant(hint="every instance uses the same presence draws")
def same_mask_for_all_instances(probability, batch_size):
    shape = (batch_size, *probability.shape)
    return torch.rand(shape) * (torch.rand(batch_size, 1, probability.shape[1]) < probability)


@mutant(hint="same random number")
def one_draw_for_presence_and_magnitude(probability, batch_size):
    u = torch.rand(batch_size, *probability.shape)
    return u * (u < probability)


@mutant(hint="torch.randn draws from a normal law")
def signed_gaussian_magnitudes(probability, batch_size):
    shape = (batch_size, *probability.shape)
    return torch.randn(shape) * (torch.rand(shape) < probability)


@mutant(hint="share their magnitude")
def magnitude_shared_across_instances(probability, batch_size):
    shape = (batch_size, *probability.shape)
    return torch.rand(batch_size, 1, probability.shape[1]) * (torch.rand(shape) < probability)


@mutant(hint="do not set a seed inside")
def seeds_itself(probability, batch_size):
    torch.manual_seed(0)
    shape = (batch_size, *probability.shape)
    return torch.rand(shape) * (torch.rand(shape) < probability)


@mutant(hint="has shape")
def squeezed(probability, batch_size):
    shape = (batch_size, *probability.shape)
    return (torch.rand(shape) * (torch.rand(shape) < probability)).squeeze()


@mutant(hint="not uniform in [0, 1)")
def squared_magnitudes(probability, batch_size):
    shape = (batch_size, *probability.shape)
    return torch.rand(shape) ** 2 * (torch.rand(shape) < probability)


@alternative
def one_draw_rescaled(probability, batch_size):
    # One uniform number decides presence; rescaled, it is again uniform on [0, 1) and independent of
    # which features are present: a valid (if unusual) answer.
    u = torch.rand(batch_size, *probability.shape)
    present = u < probability
    return torch.where(present, u / probability.clamp_min(1e-12), torch.zeros_like(u))


@alternative
def loop_over_instances(probability, batch_size):
    columns = []
    for inst in range(probability.shape[0]):
        magnitude = torch.rand(batch_size, probability.shape[1])
        columns.append(magnitude * (torch.rand(batch_size, probability.shape[1]) < probability[inst]))
    return torch.stack(columns, dim=1)
