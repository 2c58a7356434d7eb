"""Mutants and alternatives for ch1.kv_cache."""
import torch

from circuitlab.ch1.reference import IGNORE, generate_with_kv_cache, greedy_decode
from circuitlab.grading.meta import alternative, mutant


@mutant(hint="recomputing the prefix")
def without_a_cache(model, tokens, n_new):
    return greedy_decode(model, tokens, n_new)


def _cached_forward(model, new_tokens, cache, position_of_new):
    residual = model.embed.W_E[new_tokens] + model.pos_embed.W_pos[position_of_new]
    for layer, block in enumerate(model.blocks):
        attn, x = block.attn, block.ln1(residual)
        q = torch.einsum("bsd,hde->bshe", x, attn.W_Q) + attn.b_Q
        k = torch.einsum("bsd,hde->bshe", x, attn.W_K) + attn.b_K
        v = torch.einsum("bsd,hde->bshe", x, attn.W_V) + attn.b_V
        if cache[layer] is not None:
            k, v = torch.cat([cache[layer][0], k], 1), torch.cat([cache[layer][1], v], 1)
        cache[layer] = (k, v)
        scores = torch.einsum("bqhe,bkhe->bhqk", q, k) / attn.cfg.d_head ** 0.5
        n_q, n_k = scores.shape[-2:]
        future = torch.arange(n_k)[None, :] > (torch.arange(n_q)[:, None] + n_k - n_q)
        scores = scores.masked_fill(future, IGNORE)
        z = torch.einsum("bhqk,bkhe->bqhe", scores.softmax(-1), v)
        residual = residual + torch.einsum("bqhe,hed->bqd", z, attn.W_O) + attn.b_O
        residual = residual + block.mlp(block.ln2(residual))
    return model.unembed(model.ln_final(residual))


@mutant(hint="position of each new token")
@torch.no_grad()
def every_new_token_at_position_zero(model, tokens, n_new):
    cache = [None] * len(model.blocks)
    logits = _cached_forward(model, tokens, cache, torch.arange(tokens.shape[1]))
    for _ in range(n_new):
        next_token = logits[:, -1].argmax(-1, keepdim=True)
        tokens = torch.cat([tokens, next_token], -1)
        logits = _cached_forward(model, next_token, cache, torch.tensor([0]))
    return tokens


@mutant(hint="sees every cached key")
@torch.no_grad()
def forgets_the_prompt_keys(model, tokens, n_new):
    prompt_length = tokens.shape[1]
    cache = [None] * len(model.blocks)
    logits = _cached_forward(model, tokens, cache, torch.arange(prompt_length))
    for step in range(n_new):
        next_token = logits[:, -1].argmax(-1, keepdim=True)
        tokens = torch.cat([tokens, next_token], -1)
        cache = [None] * len(model.blocks)  # the cache is thrown away: the new token sees only itself
        logits = _cached_forward(model, next_token, cache, torch.tensor([prompt_length + step]))
    return tokens


@alternative
@torch.no_grad()
def with_a_list_cache(model, tokens, n_new):
    cache = [None] * len(model.blocks)
    logits = _cached_forward(model, tokens, cache, torch.arange(tokens.shape[1]))
    for _ in range(n_new):
        next_token = logits[:, -1].argmax(-1, keepdim=True)
        position = torch.tensor([tokens.shape[1]])
        tokens = torch.cat([tokens, next_token], -1)
        logits = _cached_forward(model, next_token, cache, position)
    return tokens


@mutant(hint="the prompt once")
@torch.no_grad()
def prompt_one_token_at_a_time(model, tokens, n_new):
    """Right tokens, but the prompt goes through the model one position at a time."""
    cache = [None] * len(model.blocks)
    for position in range(tokens.shape[1]):
        logits = _cached_forward(model, tokens[:, position: position + 1], cache, torch.tensor([position]))
    for _ in range(n_new):
        next_token = logits[:, -1].argmax(-1, keepdim=True)
        position = torch.tensor([tokens.shape[1]])
        tokens = torch.cat([tokens, next_token], -1)
        logits = _cached_forward(model, next_token, cache, position)
    return tokens


@mutant(hint="torch.long")
def float_tokens(model, tokens, n_new):
    return generate_with_kv_cache(model, tokens, n_new).float()
