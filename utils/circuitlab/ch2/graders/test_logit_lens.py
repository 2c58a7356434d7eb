"""Grader for ch2.logit_lens."""
import pytest
import torch

from circuitlab.ch2.grading_support import call_with_cache, expect_matches, on_case
from circuitlab.ch2.models import cached_run, describe_model, model_named
from circuitlab.grading.testing import expect_tensor, reference, submitted

CASES = [("shipped", "text", 1), ("shipped", "repeated", 4), ("random", "repeated", 1), ("wide", "repeated", 3)]


def _stages(model, cache):
    n = model.cfg.n_layers
    return torch.stack([cache[f"blocks.{l}.hook_resid_pre"] for l in range(n)] + [cache[f"blocks.{n - 1}.hook_resid_post"]])


def _score(logits, tokens):
    return logits[:, :, :-1].log_softmax(-1).gather(-1, tokens[None, :, 1:, None].expand(logits.shape[0], -1, -1, 1))[..., 0]


def _mistakes(model, cache, tokens) -> dict:
    resid = _stages(model, cache)
    centred = resid - resid.mean(-1, keepdim=True)
    variance = centred.pow(2).mean(-1, keepdim=True)
    own_scale = (variance + model.cfg.eps).sqrt()
    unembed = lambda x: x @ model.W_U + model.b_U
    mistakes = {
        "You normalised every stage with the final LayerNorm's cached scale; the lens normalises each stage "
        "with its own scale, as if the stream ended there.": _score(unembed(centred / cache["ln_final.hook_scale"]), tokens),
        "You skipped the LayerNorm: centre each stage and divide by sqrt(mean of squares + model.cfg.eps) before W_U.":
            _score(unembed(resid), tokens),
        "Each stage is divided by its scale but not centred: LayerNorm subtracts the mean first.":
            _score(unembed(resid / (resid.pow(2).mean(-1, keepdim=True) + model.cfg.eps).sqrt()), tokens),
        "These are logits, not log-probabilities: apply log_softmax over the vocabulary.":
            unembed(centred / own_scale)[:, :, :-1].gather(
                -1, tokens[None, :, 1:, None].expand(resid.shape[0], -1, -1, 1))[..., 0],
        "You used the unbiased variance (torch.std / var with Bessel's correction); LayerNorm divides by d_model, "
        "not d_model - 1.": _score(unembed(centred / (resid.var(-1, keepdim=True) + model.cfg.eps).sqrt()), tokens),
    }
    if model.cfg.eps != 1e-5:
        # On the other models eps = 1e-5 and no eps at all give the same answer to grading precision.
        mistakes["Your scale leaves eps out or uses 1e-5, the shipped model's value: divide by sqrt(mean of "
                 f"squares + model.cfg.eps) (this model's eps is {model.cfg.eps:g})."] = _score(
            unembed(centred / (variance + 1e-5).sqrt()), tokens)
    return mistakes


@pytest.mark.parametrize("name, kind, batch", CASES, ids=[f"{c[0]}-{c[1]}-batch{c[2]}" for c in CASES])
def test_matches_reference(name, kind, batch):
    """log-prob of the next token read at every stage of the residual stream"""
    model = model_named(name)
    tokens, _, cache = cached_run(name, kind, batch=batch, half_len=6)
    with torch.no_grad():
        expected = reference()(model, cache, tokens)
    with on_case(f"{describe_model(name)}, {kind} tokens, batch {batch}"):
        out = call_with_cache(submitted(), model, cache, tokens.clone())
        expect_tensor(out, shape=(model.cfg.n_layers + 1, tokens.shape[0], tokens.shape[1] - 1), what="your logit lens")
        with torch.no_grad():
            expect_matches(out, expected, axes=["stage", "batch", "position"], atol=1e-4, rtol=1e-4,
                           what="your logit lens", mistakes=lambda: _mistakes(model, cache, tokens),
                           hint="Stages: resid_pre of each layer, then the final resid_post; entry j scores token j + 1.")
