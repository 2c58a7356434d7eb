"""Mutants and alternatives for ch5.abs_computed."""
import einops
import torch

from circuitlab.grading.meta import alternative, mutant


def _own(model, values, all_on=False):
    inst, feat = model.cfg.n_instances, model.cfg.n_features
    eye = torch.ones(feat, feat) if all_on else torch.eye(feat)
    x = einops.repeat(values[:, None, None] * eye, "v f g -> (v f) inst g", inst=inst)
    with torch.no_grad():
        out = einops.rearrange(model(x), "(v f) inst g -> v f inst g", v=len(values))
    return torch.diagonal(out, dim1=1, dim2=3)


@mutant(hint="not ReLU(v)")
def relu_target(model, values, tolerance=0.25):
    return ((_own(model, values) - values.clamp_min(0)[:, None, None]).abs() <= tolerance).all(0)


@mutant(hint="use <=, not <")
def strict(model, values, tolerance=0.25):
    return ((_own(model, values) - values.abs()[:, None, None]).abs() < tolerance).all(0)


@mutant(hint="not the error on average")
def mean_error(model, values, tolerance=0.25):
    return (_own(model, values) - values.abs()[:, None, None]).abs().mean(0) <= tolerance


@mutant(hint="every feature on at once")
def all_features_on(model, values, tolerance=0.25):
    return ((_own(model, values, all_on=True) - values.abs()[:, None, None]).abs() <= tolerance).all(0)


@mutant(hint="only tried |v|")
def positive_values_only(model, values, tolerance=0.25):
    return ((_own(model, values.abs()) - values.abs()[:, None, None]).abs() <= tolerance).all(0)


@mutant(hint="boolean tensor")
def as_float(model, values, tolerance=0.25):
    return ((_own(model, values) - values.abs()[:, None, None]).abs() <= tolerance).all(0).float()


@mutant(hint="shape")
def counts(model, values, tolerance=0.25):
    return ((_own(model, values) - values.abs()[:, None, None]).abs() <= tolerance).all(0).sum(-1)


@alternative
def loops(model, values, tolerance=0.25):
    inst, feat = model.cfg.n_instances, model.cfg.n_features
    result = torch.ones(inst, feat, dtype=torch.bool)
    with torch.no_grad():
        for f in range(feat):
            for v in values.tolist():
                x = torch.zeros(1, inst, feat)
                x[0, :, f] = v
                result[:, f] &= (model(x)[0, :, f] - abs(v)).abs() <= tolerance
    return result
