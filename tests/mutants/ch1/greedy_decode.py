"""Mutants and alternatives for ch1.greedy_decode."""
import torch

from circuitlab.grading.meta import alternative, mutant


@mutant(hint="logits of the first position")
@torch.no_grad()
def first_position(model, tokens, n_new):
    for _ in range(n_new):
        tokens = torch.cat([tokens, model(tokens)[:, 0].argmax(-1, keepdim=True)], -1)
    return tokens


@mutant(hint="Every new token is the same")
@torch.no_grad()
def never_feeds_back(model, tokens, n_new):
    next_token = model(tokens)[:, -1].argmax(-1, keepdim=True)
    return torch.cat([tokens] + [next_token] * n_new, -1)


@mutant(hint="only the new tokens")
@torch.no_grad()
def only_new(model, tokens, n_new):
    prompt_length = tokens.shape[1]
    for _ in range(n_new):
        tokens = torch.cat([tokens, model(tokens)[:, -1].argmax(-1, keepdim=True)], -1)
    return tokens[:, prompt_length:]


@mutant(hint="argmax over the vocabulary")
@torch.no_grad()
def samples(model, tokens, n_new):
    generator = torch.Generator().manual_seed(0)
    for _ in range(n_new):
        probs = model(tokens)[:, -1].softmax(-1)
        tokens = torch.cat([tokens, torch.multinomial(probs, 1, generator=generator)], -1)
    return tokens


@alternative
@torch.no_grad()
def building_a_list(model, tokens, n_new):
    sequence = tokens
    for _ in range(n_new):
        logits = model(sequence)
        best = torch.max(logits[:, -1, :], dim=-1).indices
        sequence = torch.cat([sequence, best[:, None]], dim=1)
    return sequence


@mutant(hint="torch.long")
@torch.no_grad()
def float_tokens(model, tokens, n_new):
    out = tokens.float()
    for _ in range(n_new):
        out = torch.cat([out, model(out.long())[:, -1].argmax(-1, keepdim=True).float()], -1)
    return out


@mutant(hint="shape")
@torch.no_grad()
def squeezed(model, tokens, n_new):
    for _ in range(n_new):
        tokens = torch.cat([tokens, model(tokens)[:, -1].argmax(-1, keepdim=True)], -1)
    return tokens.squeeze()


@mutant(hint="the first difference is at position")
@torch.no_grad()
def second_most_likely(model, tokens, n_new):
    for _ in range(n_new):
        logits = model(tokens)[:, -1]
        tokens = torch.cat([tokens, logits.argsort(-1)[:, -2:-1]], -1)  # the second most likely token
    return tokens
