"""Mutants and alternatives for ch2.logit_lens."""
import einops
import torch
import torch.nn.functional as F

from circuitlab.grading.meta import alternative, mutant


def _resid(model, cache):
    n = model.cfg.n_layers
    return torch.stack([cache["resid_pre", l] for l in range(n)] + [cache["resid_post", n - 1]])


def _finish(logits, tokens):
    targets = einops.repeat(tokens[:, 1:], "b s -> n b s 1", n=logits.shape[0])
    return logits[:, :, :-1].log_softmax(-1).gather(-1, targets)[..., 0]


@mutant(hint="final LayerNorm's cached scale")
def reuses_final_scale(model, cache, tokens):
    resid = _resid(model, cache)
    resid = (resid - resid.mean(-1, keepdim=True)) / cache["ln_final.hook_scale"]
    return _finish(resid @ model.W_U, tokens)


@mutant(hint="skipped the LayerNorm")
def no_layer_norm(model, cache, tokens):
    return _finish(_resid(model, cache) @ model.W_U, tokens)


@mutant(hint="not log-probabilities")
def raw_logits(model, cache, tokens):
    resid = _resid(model, cache)
    logits = F.layer_norm(resid, (resid.shape[-1],), eps=model.cfg.eps) @ model.W_U
    targets = einops.repeat(tokens[:, 1:], "b s -> n b s 1", n=logits.shape[0])
    return logits[:, :, :-1].gather(-1, targets)[..., 0]


@alternative
def with_functional_layer_norm(model, cache, tokens):
    resid = _resid(model, cache)
    return _finish(F.layer_norm(resid, (resid.shape[-1],), eps=model.cfg.eps) @ model.W_U, tokens)
