"""Mutants and alternatives for ch5.importance_weighted_loss."""
import einops

from circuitlab.grading.meta import alternative, mutant


@mutant(hint="inside the square")
def importance_squared(output, features, importance):
    return ((importance * (features - output)) ** 2).mean((0, 2)).sum()


@mutant(hint="ignores the importance")
def unweighted(output, features, importance):
    return ((features - output) ** 2).mean((0, 2)).sum()


@mutant(hint="averaged over instances")
def mean_over_instances(output, features, importance):
    return (importance * (features - output) ** 2).mean()


@mutant(hint="absolute error")
def absolute(output, features, importance):
    return (importance * (features - output).abs()).mean((0, 2)).sum()


@mutant(hint="summed over features")
def summed_over_features(output, features, importance):
    return (importance * (features - output) ** 2).sum(2).mean(0).sum()


@alternative
def with_einops(output, features, importance):
    per_instance = einops.reduce(importance * (output - features) ** 2, "b i f -> i", "mean")
    return per_instance.sum()


@alternative
def mean_times_instances(output, features, importance):
    return (importance * (features - output) ** 2).mean() * output.shape[1]


@mutant(hint="return a torch.Tensor")
def python_float(output, features, importance):
    return (importance * (features - output) ** 2).mean((0, 2)).sum().item()


@mutant(hint="return a scalar (a 0-dim tensor)")
def per_instance_vector(output, features, importance):
    return (importance * (features - output) ** 2).mean((0, 2))


@mutant(hint="not connected to the output")
def rebuilt_from_value(output, features, importance):
    import torch

    return torch.tensor(float((importance * (features - output) ** 2).mean((0, 2)).sum()))


@mutant(hint="summed over the batch")
def summed_over_batch(output, features, importance):
    return (importance * (features - output) ** 2).sum(0).mean(-1).sum()


@alternative
def loop_over_instances(output, features, importance):
    total = 0.0
    for i in range(output.shape[1]):
        weight = importance[i] if importance.ndim == 2 else importance
        total = total + (weight * (features[:, i] - output[:, i]) ** 2).mean()
    return total
