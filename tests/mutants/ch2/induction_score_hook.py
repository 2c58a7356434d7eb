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
