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


@mutant(hint="model.cfg.eps")
def hard_coded_eps(model, cache, tokens):
    resid = _resid(model, cache)
    return _finish(F.layer_norm(resid, (resid.shape[-1],), eps=1e-5) @ model.W_U, tokens)


@mutant(hint="unbiased variance")
def with_torch_std(model, cache, tokens):
    resid = _resid(model, cache)
    centred = resid - resid.mean(-1, keepdim=True)
    return _finish(centred / (resid.var(-1, keepdim=True) + model.cfg.eps).sqrt() @ model.W_U, tokens)


@mutant(hint="leaves eps out")
def without_eps(model, cache, tokens):
    resid = _resid(model, cache)
    centred = resid - resid.mean(-1, keepdim=True)
    return _finish(centred / centred.pow(2).mean(-1, keepdim=True).sqrt() @ model.W_U, tokens)


@mutant(hint="changed the cache")
def centres_the_cache_in_place(model, cache, tokens):
    n = model.cfg.n_layers
    for l in range(n):
        resid = cache[f"blocks.{l}.hook_resid_pre"]
        resid -= resid.mean(-1, keepdim=True)  # in place: writes into the caller's cache
    resid = _resid(model, cache)
    return _finish(F.layer_norm(resid, (resid.shape[-1],), eps=model.cfg.eps) @ model.W_U, tokens)


@mutant(hint="shape")
def hard_coded_three_stages(model, cache, tokens):
    resid = torch.stack([cache["resid_pre", 0], cache["resid_pre", 1], cache["resid_post", 1]])
    return _finish(F.layer_norm(resid, (resid.shape[-1],), eps=model.cfg.eps) @ model.W_U + model.b_U, tokens)


@alternative
def with_the_unembedding_bias_and_a_loop(model, cache, tokens):
    stages = []
    n = model.cfg.n_layers
    for resid in [cache["resid_pre", l] for l in range(n)] + [cache["resid_post", n - 1]]:
        centred = resid - resid.mean(-1, keepdim=True)
        normalised = centred / (centred.pow(2).mean(-1, keepdim=True) + model.cfg.eps).sqrt()
        log_probs = (normalised @ model.W_U + model.b_U).log_softmax(-1)[:, :-1]
        stages.append(log_probs.gather(-1, tokens[:, 1:, None])[..., 0])
    return torch.stack(stages)
