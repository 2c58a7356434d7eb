"""Mutants and alternatives for ch1.sample_categorical."""
import torch

from circuitlab.grading.meta import alternative, mutant


@mutant(hint="greedy decoding")
def argmax(logits, generator):
    return logits.argmax(-1)


@mutant(hint="global RNG")
def ignores_the_generator(logits, generator):
    return torch.multinomial(logits.softmax(-1), 1)[:, 0]


@mutant(hint="generator's state is ignored")
def makes_its_own_generator(logits, generator):
    own = torch.Generator().manual_seed(0)
    return torch.multinomial(logits.softmax(-1), 1, generator=own)[:, 0]


@mutant(hint="global random state")
def seeds_the_global_rng(logits, generator):
    torch.manual_seed(generator.initial_seed())
    return torch.multinomial(logits.softmax(-1), 1)[:, 0]


@mutant(hint="copied inside")
def copies_the_generator(logits, generator):
    copy = torch.Generator()
    copy.set_state(generator.get_state())
    return torch.multinomial(logits.softmax(-1), 1, generator=copy)[:, 0]


@mutant(hint="shape (1,)")
def bare_squeeze(logits, generator):
    return torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze()


@mutant(hint="shape")
def keeps_the_column(logits, generator):
    return torch.multinomial(logits.softmax(-1), 1, generator=generator)


@mutant(hint="torch.long")
def int32_ids(logits, generator):
    return torch.multinomial(logits.softmax(-1), 1, generator=generator)[:, 0].int()


@mutant(hint="torch.long")
def float_ids(logits, generator):
    return torch.multinomial(logits.softmax(-1), 1, generator=generator)[:, 0].float()


@mutant(hint="softmax over the batch axis")
def softmax_over_the_batch(logits, generator):
    return torch.multinomial(logits.softmax(0), 1, generator=generator)[:, 0]


@mutant(hint="logits themselves as weights")
def logits_as_weights(logits, generator):
    return torch.multinomial(logits.clamp(min=0) + 1e-12, 1, generator=generator)[:, 0]


@mutant(hint="-inf")
def minus_infinity_to_zero(logits, generator):
    """Replaces -inf by 0 to avoid NaN, which gives masked tokens probability again."""
    return torch.multinomial(logits.nan_to_num(neginf=0.0).softmax(-1), 1, generator=generator)[:, 0]


@mutant(hint="in place")
def shifts_in_place(logits, generator):
    logits -= logits.max(-1, keepdim=True).values
    return torch.multinomial(logits.exp(), 1, generator=generator)[:, 0]


@mutant(hint="do not follow softmax")
def one_draw_for_the_whole_batch(logits, generator):
    row = torch.multinomial(logits.softmax(-1)[0], 1, generator=generator)
    return torch.multinomial(logits.softmax(-1), 1, generator=generator)[:, 0] * 0 + row


@alternative
def gumbel_max(logits, generator):
    uniform = torch.rand(logits.shape, generator=generator).clamp(min=1e-20)
    return (logits - (-uniform.log()).log()).argmax(-1)


@alternative
def inverse_cdf(logits, generator):
    cdf = logits.softmax(-1).cumsum(-1)
    u = torch.rand(logits.shape[0], 1, generator=generator) * cdf[:, -1:]
    return torch.searchsorted(cdf, u, right=True)[:, 0].clamp(max=logits.shape[-1] - 1)


@alternative
def with_exp_of_shifted_logits(logits, generator):
    weights = (logits - logits.max(-1, keepdim=True).values).exp()
    return torch.multinomial(weights, 1, generator=generator).view(-1)


@alternative
def with_categorical_and_a_loop(logits, generator):
    probs = logits.softmax(-1)
    return torch.stack([torch.multinomial(row, 1, generator=generator)[0] for row in probs])
