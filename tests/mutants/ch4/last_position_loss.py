"""Mutants and alternatives for ch4.last_position_loss."""
import torch
import torch.nn.functional as F

from circuitlab.grading.meta import alternative, mutant


@mutant(hint="all positions")
def every_position(logits, labels):
    seq = logits.shape[1]
    flat = logits.to(torch.float64).flatten(0, 1)
    return F.cross_entropy(flat, labels.repeat_interleave(seq))


@mutant(hint="float64")
def float32(logits, labels):
    return F.cross_entropy(logits[:, -1], labels)


@mutant(hint="float64 before log_softmax")
def converts_too_late(logits, labels):
    return -logits[:, -1].log_softmax(-1).to(torch.float64).gather(-1, labels[:, None]).mean()


@mutant(hint="first position")
def first_position(logits, labels):
    return F.cross_entropy(logits[:, 0].double(), labels)


@mutant(hint="summed")
def summed(logits, labels):
    return F.cross_entropy(logits[:, -1].double(), labels, reduction="sum")


@alternative
def with_cross_entropy(logits, labels):
    return F.cross_entropy(logits[:, -1].to(torch.float64), labels)


@alternative
def with_logsumexp(logits, labels):
    last = logits[:, -1].double()
    return (last.logsumexp(-1) - last[torch.arange(len(labels)), labels]).mean()


@mutant(hint="(1, 3, 5)")
def squeezes(logits, labels):
    last = logits[:, -1].squeeze().double()
    return -last.log_softmax(-1).gather(-1, labels[:, None]).mean()


@mutant(hint="torch.Tensor")
def returns_a_python_float(logits, labels):
    return F.cross_entropy(logits[:, -1].double(), labels).item()
