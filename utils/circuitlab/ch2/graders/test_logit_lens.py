"""Grader for ch2.logit_lens."""
import pytest
import torch

from circuitlab.ch2.models import cached_run, model_named
from circuitlab.grading.testing import expect_close, expect_tensor, reference, run_learner, submitted


def _stages(model, cache):
    n = model.cfg.n_layers
    return torch.stack([cache[f"blocks.{l}.hook_resid_pre"] for l in range(n)] + [cache[f"blocks.{n - 1}.hook_resid_post"]])


def _score(logits, tokens):
    return logits[:, :, :-1].log_softmax(-1).gather(-1, tokens[None, :, 1:, None].expand(logits.shape[0], -1, -1, 1))[..., 0]


@pytest.mark.parametrize("name, kind", [("shipped", "text"), ("shipped", "repeated"), ("random", "repeated")])
def test_matches_reference(name, kind):
    """log-prob of the next token read at every stage of the residual stream"""
    model = model_named(name)
    tokens, _, cache = cached_run(name, kind)
    out = run_learner(submitted(), model, cache, tokens)
    expect_tensor(out, shape=(model.cfg.n_layers + 1, tokens.shape[0], tokens.shape[1] - 1), what="your logit lens")
    with torch.no_grad():
        resid = _stages(model, cache)
        centred = resid - resid.mean(-1, keepdim=True)
        final_scale = cache["ln_final.hook_scale"]
        own_scale = (centred.pow(2).mean(-1, keepdim=True) + model.cfg.eps).sqrt()
        mistakes = {
            "You normalised every stage with the final LayerNorm's cached scale; the lens normalises each stage "
            "with its own scale, as if the stream ended there.": _score(centred / final_scale @ model.W_U, tokens),
            "You skipped the LayerNorm: centre each stage and divide by its own standard deviation before W_U.":
                _score(resid @ model.W_U, tokens),
            "Each stage is divided by its scale but not centred: LayerNorm subtracts the mean first.":
                _score(resid / (resid.pow(2).mean(-1, keepdim=True) + model.cfg.eps).sqrt() @ model.W_U, tokens),
            "These are logits, not log-probabilities: apply log_softmax over the vocabulary.":
                (centred / own_scale @ model.W_U)[:, :, :-1].gather(
                    -1, tokens[None, :, 1:, None].expand(resid.shape[0], -1, -1, 1))[..., 0],
        }
        expected = reference()(model, cache, tokens)
    expect_close(out.detach(), expected, atol=1e-4, rtol=1e-4, what="your logit lens", mistakes=mistakes,
                 hint="Stages: resid_pre of each layer, then the final resid_post; entry j scores token j + 1.")
