"""Mutants and alternatives for ch1.apply_temperature."""
from circuitlab.grading.meta import alternative, mutant


@mutant(hint="after the softmax")
def after_softmax(logits, temperature):
    return logits.softmax(-1) / temperature


@mutant(hint="multiplied by the temperature")
def multiplies(logits, temperature):
    return logits * temperature


@mutant(hint="returned probabilities")
def returns_probabilities(logits, temperature):
    return (logits / temperature).softmax(-1)


@alternative
def as_log_probabilities(logits, temperature):
    return (logits / temperature).log_softmax(-1)


@alternative
def by_inverse(logits, temperature):
    return logits * (1.0 / temperature)


@mutant(hint="shape")
def squeezed(logits, temperature):
    return (logits / temperature).squeeze()
