"""Grader for ch1.attention."""
import pytest
import torch

from circuitlab.ch1.grading_support import (
    CONFIGS, MODULE_CASES, attention_variant, describe_config, expect_same_gradients, learner_module, random_residual,
    reference_module,
)
from circuitlab.grading.testing import expect_close, expect_tensor, run_learner, submitted

AXES = ("batch", "position", "d_model")


def _mistakes(attn, x):
    cfg = attn.cfg
    mistakes = {
        "You forgot to scale the scores by 1/sqrt(d_head). Without it the softmax saturates as d_head grows.":
            attention_variant(attn, x, scale=False),
        "The softmax is over the query axis. Each query's weights over the keys must sum to 1: softmax(dim=-1) "
        "on scores shaped (batch, head, query_pos, key_pos).": attention_variant(attn, x, softmax_dim=-2),
        "The masked scores are 0 instead of a large negative value, so future tokens still get weight.":
            attention_variant(attn, x, mask="zero"),
        "There is no causal mask: every position can see future tokens.": attention_variant(attn, x, mask="none"),
        "Your mask is off by one: it hides the diagonal, so a token cannot attend to itself.":
            attention_variant(attn, x, mask="diagonal_too"),
        "Your mask is on the wrong axis: it hides the past instead of the future.":
            attention_variant(attn, x, mask="wrong_axis"),
        "You scaled the scores by 1/d_head; the scale is 1/sqrt(d_head).":
            attention_variant(attn, x, scale_size=cfg.d_head ** 2),
    }
    if cfg.d_model != cfg.d_head:
        mistakes["You scaled the scores by 1/sqrt(d_model); the scale is 1/sqrt(d_head), the size of one head."] = \
            attention_variant(attn, x, scale_size=cfg.d_model)
    if cfg.d_model // cfg.n_heads != cfg.d_head:
        mistakes["You scaled by sqrt(d_model // n_heads), which is d_head only when n_heads * d_head = d_model: "
                 "use cfg.d_head."] = attention_variant(attn, x, scale_size=cfg.d_model // cfg.n_heads)
    for bias, where in (("b_Q", "after W_Q"), ("b_K", "after W_K"), ("b_V", "after W_V"), ("b_O", "once at the end")):
        mistakes[f"The bias {bias} is missing: add it {where}."] = attention_variant(attn, x, without=bias)
    return mistakes


@pytest.mark.parametrize("cfg_name, batch, seq", MODULE_CASES)
def test_matches_reference(cfg_name, batch, seq):
    """multi-head causal attention: (batch, seq, d_model) in and out, equal to the reference"""
    cfg = CONFIGS[cfg_name]
    where = describe_config(cfg_name, batch, seq)
    ref_attn = reference_module("Attention", cfg, seed=11)
    attn = learner_module(submitted(), cfg, ref_attn)
    x = random_residual(cfg, batch, seq, seed=12)
    out = run_learner(attn, x)
    expect_tensor(out, shape=(batch, seq, cfg.d_model), what=f"attention output on {where}")
    with torch.no_grad():
        expected = ref_attn(x)
        mistakes = _mistakes(ref_attn, x)
    expect_close(out, expected, what=f"attention output on {where}", atol=1e-5, mistakes=mistakes, axis_names=AXES)


def test_causal():
    """the output at a position does not depend on later tokens"""
    cfg = CONFIGS["small"]
    ref_attn = reference_module("Attention", cfg, seed=13)
    attn = learner_module(submitted(), cfg, ref_attn)
    x = random_residual(cfg, 1, 6, seed=14)
    changed = x.clone()
    changed[:, 4:] += 5.0
    first = run_learner(attn, x)
    second = run_learner(attn, changed)
    expect_tensor(first, shape=(1, 6, cfg.d_model), what="attention output")
    expect_tensor(second, shape=(1, 6, cfg.d_model), what="attention output")
    expect_close(second[:, :4], first[:, :4], atol=1e-5, what="output at positions 0-3 after changing positions 4-5",
                 axis_names=AXES,
                 hint="Information is leaking from the future: apply the causal mask to the scores before softmax.")


@pytest.mark.parametrize("cfg_name", ["wide", "odd"])
def test_gradients(cfg_name):
    """gradients reach every weight, bias and the input as in the reference"""
    cfg = CONFIGS[cfg_name]
    ref_attn = reference_module("Attention", cfg, seed=15)
    attn = learner_module(submitted(), cfg, ref_attn)
    expect_same_gradients(attn, ref_attn, lambda: random_residual(cfg, 2, 4, seed=16),
                          what=describe_config(cfg_name, 2, 4))
