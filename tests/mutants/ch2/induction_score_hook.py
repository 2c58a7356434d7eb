"""Mutants and alternatives for ch2.induction_score_hook."""
import torch

from circuitlab.grading.meta import alternative, mutant


def _scores_with(offset_of, start):
    def induction_scores(model, tokens, half_len):
        scores = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)

        def hook(pattern, hook):
            stripe = pattern.diagonal(offset=offset_of(half_len), dim1=-2, dim2=-1)[..., start:]
            scores[hook.layer()] = stripe.mean(dim=(0, -1))

        model.run_with_hooks(tokens, fwd_hooks=[(lambda name: name.endswith("hook_pattern"), hook)])
        return scores

    return induction_scores


whole_stripe = mutant(hint="includes queries in the first half")(_scores_with(lambda h: 1 - h, 0))
one_first_half_query = mutant(hint="query in the first half")(_scores_with(lambda h: 1 - h, 1))
duplicate_token = mutant(hint="duplicate-token head")(_scores_with(lambda h: -h, 1))


@mutant(hint="shape")
def layers_averaged(model, tokens, half_len):
    scores = []

    def hook(pattern, hook):
        scores.append(pattern.diagonal(offset=1 - half_len, dim1=-2, dim2=-1)[..., 2:].mean(dim=(0, -1)))

    model.run_with_hooks(tokens, fwd_hooks=[(lambda name: name.endswith("hook_pattern"), hook)])
    return torch.stack(scores).mean(0)


@alternative
def with_index_arrays(model, tokens, half_len):
    rows = []

    def hook(pattern, hook):
        queries = torch.arange(half_len + 1, 2 * half_len + 1)
        rows.append(pattern[:, :, queries, queries - half_len + 1].mean(dim=(0, 2)))

    model.run_with_hooks(tokens, fwd_hooks=[(f"blocks.{layer}.attn.hook_pattern", hook)
                                            for layer in range(model.cfg.n_layers)])
    return torch.stack(rows)


@mutant(hint="3 layers, 3 heads")  # the report names the model it failed on
def hard_coded_two_layers_four_heads(model, tokens, half_len):
    scores = torch.zeros(2, 4)

    def hook(pattern, hook):
        scores[hook.layer()] = pattern.diagonal(offset=1 - half_len, dim1=-2, dim2=-1)[..., 2:].mean(dim=(0, -1))

    model.run_with_hooks(tokens, fwd_hooks=[(f"blocks.{layer}.attn.hook_pattern", hook) for layer in range(2)])
    return scores


@mutant(hint="left hooks")
def hooks_left_behind(model, tokens, half_len):
    scores = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)

    def hook(pattern, hook):
        scores[hook.layer()] = pattern.diagonal(offset=1 - half_len, dim1=-2, dim2=-1)[..., 2:].mean(dim=(0, -1))

    for layer in range(model.cfg.n_layers):
        model.add_hook(f"blocks.{layer}.attn.hook_pattern", hook)
    model(tokens)  # forgot model.reset_hooks()
    return scores


@mutant(hint="by its value")
def first_occurrence_by_value(model, tokens, half_len):
    scores = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    queries = range(half_len + 1, 2 * half_len + 1)

    def hook(pattern, hook):
        total = torch.zeros(pattern.shape[1])
        for b in range(tokens.shape[0]):
            for q in queries:
                first = int(torch.nonzero(tokens[b, 1:half_len + 1] == tokens[b, q])[0]) + 1
                total += pattern[b, :, q, first + 1]
        scores[hook.layer()] = total / (tokens.shape[0] * half_len)

    model.run_with_hooks(tokens, fwd_hooks=[(lambda name: name.endswith("hook_pattern"), hook)])
    return scores


_accumulated = {}


@mutant(hint="second call")
def accumulates_across_calls(model, tokens, half_len):
    # Keeps a running total from one call to the next.
    key = (model.cfg.n_layers, model.cfg.n_heads)
    scores = _accumulated.setdefault(key, torch.zeros(*key))

    def hook(pattern, hook):
        scores[hook.layer()] += pattern.diagonal(offset=1 - half_len, dim1=-2, dim2=-1)[..., 2:].mean(dim=(0, -1))

    model.run_with_hooks(tokens, fwd_hooks=[(lambda name: name.endswith("hook_pattern"), hook)])
    return scores.clone()


@alternative
def with_a_python_loop_over_queries(model, tokens, half_len):
    per_layer = {}

    def hook(pattern, hook):
        values = [pattern[:, :, q, q - half_len + 1] for q in range(half_len + 1, 2 * half_len + 1)]
        per_layer[hook.layer()] = torch.stack(values, dim=-1).mean(dim=(0, -1))

    model.run_with_hooks(tokens, fwd_hooks=[(lambda name: name.endswith("hook_pattern"), hook)], return_type=None)
    return torch.stack([per_layer[layer] for layer in range(model.cfg.n_layers)])
