# %% [markdown]
# **What you will be able to do.** Write a GPT-2-style decoder-only transformer from its parts
# (LayerNorm, embeddings, causal multi-head attention, MLP, residual blocks, unembedding); prove it
# computes what TransformerLens computes by loading the same weights into both and comparing every
# activation; train a small one on Python's own documentation with a next-token loss; and make it
# write text with greedy decoding, temperature, top-k, top-p and beam search.
#
# **Papers.** Radford et al. (2019), *Language Models are Unsupervised Multitask Learners* (GPT-2,
# the architecture we copy), and Elhage et al. (2021), *A Mathematical Framework for Transformer
# Circuits* (the residual-stream, QK and OV vocabulary we use to talk about it).
#
# **Prerequisites.** Chapter 0 (einops, einsum, how checks work); PyTorch modules and autograd;
# softmax and cross-entropy.
#
# **Time.** About three and a half hours. Training takes about a minute of CPU; nothing is downloaded
# (GPT-2 small is used only if the network is reachable).
#
# **How exercises work.** Each exercise gives a spec and a stub that raises `NotImplementedError`.
# Write your code, run the `check(...)` cell under it, and read the report: most failures name the
# mistake behind them. `hint("ch1.attention")` gives a nudge; `progress()` shows where you are.
# For the modules, the `__init__` is given (keep the parameter names: the checks and the
# TransformerLens comparison load weights into them by name); you write `forward`.

# %%
import math
import time
from dataclasses import dataclass

import einops
import plotly.express as px
import plotly.graph_objects as go
import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor, nn
from tqdm.auto import tqdm

from circuitlab.ch1.equivalence import compare_with_tl, config_from_tl, load_tl_weights, tl_twin
from circuitlab import threads
from circuitlab.claims import describe

# One thread: this chapter's matrices are small, and on a shared or busy machine a second thread
# spends most of its time waiting (measured: several times slower, not faster). A thread count you
# set yourself (setup(threads=N) or CIRCUITLAB_THREADS) is kept.
threads.at_most(1, "this chapter's matrices are small")
torch.manual_seed(0)

# %% [markdown]
# ## 1. The shape of the model
#
# A decoder-only transformer turns a sequence of token ids into, at every position, a score (a
# *logit*) for every possible next token. In between it keeps one vector per position, the
# **residual stream**. The embeddings write the first version of it; then each layer *reads* the
# stream, computes something, and *adds* its result back. Nothing is ever overwritten: the stream is
# a shared channel, and every component communicates with later components only by writing into it.
# That additivity is what makes transformers dissectable: the final stream is a sum of
# contributions we can pull apart, which later chapters do all the time.
#
# Two kinds of layer write into the stream:
#
# - **attention** moves information *between positions*. Each head decides where to look from each
#   position (the QK circuit: queries compared with keys) and what to carry back from there (the
#   OV circuit: values, projected by the output matrix);
# - the **MLP** works on each position separately: a wide hidden layer with a nonlinearity.
#
# We copy GPT-2 exactly, at a smaller size. All sizes live in one config:

# %%
@dataclass(frozen=True)
class TransformerConfig:
    """The sizes of a GPT-2-style model."""

    d_model: int = 128       # width of the residual stream
    n_layers: int = 2
    n_heads: int = 4
    d_head: int = 32         # width of each head's queries, keys and values
    d_mlp: int = 512         # width of the MLP's hidden layer (4 * d_model in GPT-2)
    d_vocab: int = 2048
    n_ctx: int = 128         # longest sequence the positional embedding covers
    layer_norm_eps: float = 1e-5
    init_range: float = 0.02


IGNORE = -1e5  # written into masked attention scores; softmax turns it into an exact 0

gpt2_small = TransformerConfig(d_model=768, n_layers=12, n_heads=12, d_head=64, d_mlp=3072, d_vocab=50257, n_ctx=1024)
tiny = TransformerConfig(d_model=64, n_layers=2, n_heads=4, d_head=16, d_mlp=256, d_vocab=2048, n_ctx=128)


def n_parameters(cfg: TransformerConfig) -> int:
    """Parameter count of the model this chapter builds (embeddings, blocks, final LayerNorm, unembedding)."""
    per_block = 4 * cfg.n_heads * cfg.d_model * cfg.d_head + 3 * cfg.n_heads * cfg.d_head + cfg.d_model \
        + 2 * cfg.d_model * cfg.d_mlp + cfg.d_mlp + cfg.d_model + 4 * cfg.d_model
    return 2 * cfg.d_vocab * cfg.d_model + cfg.d_vocab + cfg.n_ctx * cfg.d_model + cfg.n_layers * per_block + 2 * cfg.d_model


for name, cfg in [("GPT-2 small", gpt2_small), ("our tiny model", tiny)]:
    print(f"{name:>15}: {n_parameters(cfg) / 1e6:7.2f} M parameters")

# %% [markdown]
# (GPT-2 ties its embedding and unembedding matrices, so its published count is smaller by one
# `d_vocab x d_model` matrix; we keep them separate, as TransformerLens does.)
#
# **Tokens in, logits out.** Before building one, look at what a trained model of this shape does. Circuit
# Lab ships one (section 10 says how it was trained) with a byte-level BPE tokenizer of 2048 tokens. The
# cell shows how the tokenizer cuts a prompt into tokens (it puts `<|bos|>` in front), the shape of the
# logits the model returns (one row of 2048 per position), and the softmax of the last row: the model's
# distribution over the next token, here its five most likely tokens and how much of the probability
# they hold.

# %%
from circuitlab.ch1.lm_data import load_ch1_tokenizer
from circuitlab.models import load_shipped

tokenizer = load_ch1_tokenizer()
preview_model = load_shipped("ch1-pydocs-lm")
preview_ids = tokenizer("The return statement exits the")["input_ids"]
print("token ids:", preview_ids)
print("tokens:   ", [tokenizer.decode([token]) for token in preview_ids])
with torch.no_grad():
    preview_logits = preview_model(torch.tensor([preview_ids]))
print("logits shape (batch, position, vocabulary):", tuple(preview_logits.shape))
next_probs = preview_logits[0, -1].softmax(-1)
top = next_probs.topk(5)
for prob, token in zip(top.values.tolist(), top.indices.tolist()):
    print(f"  next token {tokenizer.decode([token])!r:>12}: logit {preview_logits[0, -1, token]:6.2f}, probability {prob:.3f}")
print(f"the five together: {top.values.sum():.3f} of the probability; the other {tokenizer.vocab_size - 5} tokens share the rest")

# %% [markdown]
# ## 2. LayerNorm
#
# Before each layer reads the residual stream it normalises it: each position's vector is shifted to
# mean 0 and scaled to variance 1, then multiplied by a learned `w` and shifted by a learned `b`.
# The stream itself is never normalised; only the copy a layer reads.

# %% [markdown] exercise="ch1.layer_norm"
# LayerNorm keeps the inputs of every layer on the same scale however large the residual stream grows,
# which is what lets deep stacks train. It is also the one nonlinearity outside attention and the MLP,
# so interpretability work has to handle it explicitly.
#
# **Spec.** `forward(residual)` takes `(batch, seq, d_model)` and returns the same shape:
# `(x - mean) / sqrt(var + eps) * w + b`, with mean and variance over `d_model` for each position.
# The variance is the *biased* one (divide by `d_model`), and `eps = cfg.layer_norm_eps` goes inside
# the square root.

# %% solution="ch1.layer_norm"


# %% check="ch1.layer_norm"
check("ch1.layer_norm", LayerNorm)

# %% [markdown]
# Whatever the scale of the input, each output vector has mean 0 and standard deviation 1 (with the
# default `w = 1, b = 0`):

# %%
x = 50 * torch.randn(2, 3, tiny.d_model) + 7
normed = LayerNorm(tiny)(x)
print("input  mean, std per position:", x.mean(-1)[0].tolist(), x.std(-1, unbiased=False)[0].tolist())
print("output mean, std per position:", normed.mean(-1)[0].detach().round(decimals=4).tolist(),
      normed.std(-1, unbiased=False)[0].detach().round(decimals=4).tolist())

# %% [markdown]
# ## 3. Embeddings
#
# The token embedding `W_E` has one row per vocabulary entry; the positional embedding `W_pos` has one
# row per position. GPT-2 learns both and adds them, so the first residual stream says both *which*
# token sits at a position and *where* it sits.

# %% [markdown] exercise="ch1.embed"
# Token ids are integers with no geometry; the embedding gives each a learned vector the rest of the
# network can compute with.
#
# **Spec.** `forward(tokens)` takes integer ids `(batch, seq)` and returns `(batch, seq, d_model)`:
# row `tokens[b, s]` of `W_E`.

# %% solution="ch1.embed"


# %% check="ch1.embed"
check("ch1.embed", Embed)

# %% [markdown] exercise="ch1.pos_embed"
# Attention without a mask treats its input as a set: shuffle the positions and each output is
# shuffled the same way. The causal mask already breaks that symmetry (a decoder with no positional
# signal can still infer position, for instance by how many tokens it can see), but a learned positional
# embedding makes order easy to use. Most recent models rotate queries and keys by a position-dependent
# angle instead (rotary embeddings, RoPE); GPT-2 adds one learned vector per position.
#
# **Spec.** `forward(tokens)` takes `(batch, seq)` (only its shape matters) and returns
# `(batch, seq, d_model)`: row `s` of `W_pos` at position `s`, the same for every sequence in the
# batch. `seq` may be shorter than `n_ctx`.

# %% solution="ch1.pos_embed"


# %% check="ch1.pos_embed"
check("ch1.pos_embed", PosEmbed)

# %% [markdown]
# ## 4. Attention
#
# For each head, every position produces a query `q`, a key `k` and a value `v` (linear maps of the
# normalised stream). The score of query position `i` for key position `j` is `q_i . k_j / sqrt(d_head)`;
# a softmax over `j` turns each row of scores into weights that sum to 1 (the *attention pattern*);
# the head's output at `i` is the weighted sum of values, mapped back into the stream by `W_O`.
#
# - **QK circuit (where to look):** the scores depend only on `W_Q` and `W_K`.
# - **OV circuit (what to move):** given the pattern, what gets written depends only on `W_V` and `W_O`.
#
# Keeping the two apart is the single most useful idea for reading attention heads, and chapter 2
# builds on it. The division by `sqrt(d_head)` keeps the scores' spread independent of the head size:
# without it, wide heads give saturated softmaxes that barely train.
#
# A language model predicts the next token, so position `i` must not see positions after `i`: the
# **causal mask** hides them before the softmax.

# %% [markdown] exercise="ch1.causal_mask"
# Without the mask, the model can read the answer (the next token) straight from its input during
# training, and learns nothing useful. The mask is also the reason position 0 attends only to itself,
# a fact you will see in every attention pattern in this course.
#
# **Spec.** `apply_causal_mask(attn_scores)` takes scores `(batch, n_heads, query_pos, key_pos)` and
# returns a new tensor of the same shape and dtype where every entry with `key_pos > query_pos` is masked
# and every other entry is unchanged; `query_pos == key_pos`. A masked entry is any value at or below `-1e4`:
# write `IGNORE` (`-1e5`); `-inf` and `torch.finfo(dtype).min` are accepted too. Do not modify the input.

# %% solution="ch1.causal_mask"


# %% check="ch1.causal_mask"
check("ch1.causal_mask", apply_causal_mask)

# %% [markdown]
# The pattern of uniform scores after your mask: row `i` spreads its attention evenly over positions
# `0..i`.

# %%
uniform_pattern = apply_causal_mask(torch.zeros(1, 1, 8, 8)).softmax(-1)[0, 0]
px.imshow(uniform_pattern, color_continuous_scale="Blues", labels=dict(x="key position", y="query position"),
          title="Causal mask applied to equal scores", width=420, height=380)

# %% [markdown] exercise="ch1.attention"
# Attention is the only place information moves between positions, so every algorithm a transformer
# runs across a sequence (copying, induction, name tracking) lives in these few lines.
#
# **Spec.** `forward(normalized_resid_pre)` takes `(batch, seq, d_model)` and returns
# `(batch, seq, d_model)`:
# 1. `q, k, v = x @ W_{Q,K,V} + b_{Q,K,V}`, each `(batch, seq, n_heads, d_head)`
#    (`W_Q` is `(n_heads, d_model, d_head)`);
# 2. scores `(batch, n_heads, query_pos, key_pos)` = `q . k / sqrt(d_head)`;
# 3. `apply_causal_mask`, then softmax over the key axis: the pattern;
# 4. `z` = pattern-weighted sum of `v`, `(batch, seq, n_heads, d_head)`;
# 5. output = sum over heads of `z @ W_O` (`W_O` is `(n_heads, d_head, d_model)`), plus `b_O`.
#
# Read every size from `self.cfg`: `n_heads * d_head` need not equal `d_model`, and the check uses configs
# where it does not. It also compares the gradients of every weight with the reference's.

# %% solution="ch1.attention"


# %% check="ch1.attention"
check("ch1.attention", Attention)

# %% [markdown]
# ## 5. The MLP
#
# The MLP maps each position's normalised vector up to `d_mlp` dimensions, applies GELU, and maps it
# back. GPT-2's GELU is the tanh approximation `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`;
# PyTorch has it as `F.gelu(x, approximate="tanh")`. The exact GELU differs from it by a little, but
# by far more than the 1e-5 at which we compare with TransformerLens:

# %%
grid = torch.linspace(-6, 6, 2001)
print(f"max |exact GELU - tanh GELU| on [-6, 6]: {(F.gelu(grid) - F.gelu(grid, approximate='tanh')).abs().max():.1e}")

# %% [markdown] exercise="ch1.mlp"
# Most of a transformer's parameters sit in its MLPs, and much of what it "knows" (facts, token
# statistics) is thought to be stored there. Its hidden units are also the first place people look
# for interpretable features.
#
# **Spec.** `forward(normalized_resid_mid)` takes `(batch, seq, d_model)` and returns the same shape:
# `gelu_tanh(x @ W_in + b_in) @ W_out + b_out`, with `W_in` `(d_model, d_mlp)` and `W_out`
# `(d_mlp, d_model)`.

# %% solution="ch1.mlp" defines="gelu_new"


# %% check="ch1.mlp"
check("ch1.mlp", MLP)

# %% [markdown]
# ## 6. The block, and why pre-norm
#
# A block reads the stream twice: attention reads `ln1(resid_pre)` and adds its output, giving
# `resid_mid`; the MLP reads `ln2(resid_mid)` and adds its output, giving `resid_post`.
#
# The original transformer normalised *after* adding (post-norm: `ln(x + f(x))`). GPT-2 normalises
# the *input* of each sublayer instead (pre-norm). With pre-norm, the path from the embedding to the
# logits is a plain sum with nothing in the way, so gradients reach early layers undiminished and deep
# models train without careful warm-up; and for us, the stream stays a sum of the components' outputs,
# which is what makes it possible to attribute the final logits to individual heads and neurons.

# %% [markdown] exercise="ch1.transformer_block"
# The block's wiring (what is read, what is added) is the whole "residual stream" picture in two lines.
# Getting it slightly wrong still trains, so only a comparison against a known answer catches it.
#
# **Spec.** `forward(resid_pre)` takes `(batch, seq, d_model)` and returns `resid_post`, same shape:
# `resid_mid = resid_pre + attn(ln1(resid_pre))`, `resid_post = resid_mid + mlp(ln2(resid_mid))`.

# %% solution="ch1.transformer_block"


# %% check="ch1.transformer_block"
check("ch1.transformer_block", TransformerBlock)

# %% [markdown]
# ## 7. Logits
#
# The unembedding maps the final (normalised) residual vector at each position to one number per
# vocabulary token: the logits. They are unnormalised log-probabilities: `softmax(logits)` is the
# model's predicted distribution for the *next* token, and only differences between logits matter
# (adding a constant to all of them changes nothing). A logit is a dot product of the final stream
# with a column of `W_U`, so "which direction in the stream makes the model say *the*" is a question
# with a precise answer.

# %% [markdown] exercise="ch1.unembed"
# The unembedding is where the stream's contents become predictions; reading the stream through `W_U`
# ("logit lens", direct logit attribution) is a tool you will use in every later chapter.
#
# **Spec.** `forward(normalized_resid_final)` takes `(batch, seq, d_model)` and returns logits
# `(batch, seq, d_vocab)` = `x @ W_U + b_U`. No softmax.

# %% solution="ch1.unembed"


# %% check="ch1.unembed"
check("ch1.unembed", Unembed)

# %% [markdown] exercise="ch1.transformer"
# This puts every part together. The attribute names matter: the TransformerLens comparison below and
# the checks find modules by them (`embed`, `pos_embed`, `blocks`, `ln_final`, `unembed`).
#
# **Spec.** `forward(tokens)` takes `(batch, seq)` ids and returns logits `(batch, seq, d_vocab)`:
# `residual = embed + pos_embed`, then every block in order, then `ln_final`, then `unembed`.

# %% solution="ch1.transformer"


# %% check="ch1.transformer"
check("ch1.transformer", DemoTransformer)

# %% [markdown]
# ## 8. Does it equal TransformerLens?
#
# A check against our own reference is one thing; agreement with the library the rest of the course
# uses is a stronger one. We build a TransformerLens model of the same shape with random weights,
# copy its weights into your model (`load_tl_weights` maps each TransformerLens weight to the
# parameter with the same name in your model, layer by layer), and compare.
#
# TransformerLens records every intermediate activation with `run_with_cache`. To get the same from
# your model we use PyTorch forward hooks, functions that PyTorch calls with a module's output each
# time the module runs (`compare_with_tl` in `circuitlab.ch1.equivalence` does this in a few lines).

# %%
tl_model = tl_twin(tiny, seed=0)
my_model = load_tl_weights(DemoTransformer(tiny), tl_model).eval()
probe_tokens = torch.randint(0, tiny.d_vocab, (4, 32), generator=torch.Generator().manual_seed(0))
differences = compare_with_tl(my_model, tl_model, probe_tokens)
for name, gap in differences.items():
    print(f"{name:>14}: max |yours - TransformerLens| = {gap:.2e}")
print(f"\nlargest difference anywhere: {max(differences.values()):.2e}")

# %% solution_only=true
from circuitlab.claims import claim

claim(max(differences.values()) < 1e-5, "the two implementations compute the same function, module by module",
      measured=f"largest difference {max(differences.values()):.2e}")

# %%
fig = go.Figure(go.Bar(x=list(differences), y=[max(v, 1e-9) for v in differences.values()]))
fig.update_yaxes(type="log", title="max absolute difference")
fig.add_hline(y=1e-5, line_dash="dash", annotation_text="tolerance 1e-5")
fig.update_layout(title="Your activations against TransformerLens's cache, module by module", height=380)
fig

# %% [markdown]
# The differences are at the level of float32 rounding: the two implementations compute the same
# function, module by module.
#
# **GPT-2 small.** When the Hugging Face Hub is reachable, the same comparison runs on the real
# GPT-2 small (a download of several hundred MB). TransformerLens loads it with its
# LayerNorm scales folded into the next weights; `load_tl_weights` then fills your LayerNorms with
# `w = 1, b = 0`, which computes the same function. Offline, the cell says so and moves on.

# %%
from circuitlab.models import hub_is_reachable, load_gpt2_small

if hub_is_reachable():
    gpt2_tl = load_gpt2_small()
    gpt2_mine = load_tl_weights(DemoTransformer(config_from_tl(gpt2_tl, TransformerConfig)), gpt2_tl).eval()
    gpt2_tokens = gpt2_tl.to_tokens("The residual stream is a shared channel that every layer reads and writes.")
    with torch.no_grad():
        gap = (gpt2_mine(gpt2_tokens).log_softmax(-1) - gpt2_tl(gpt2_tokens).log_softmax(-1)).abs().max().item()
    print(f"GPT-2 small: max |log-prob difference| between your model and TransformerLens = {gap:.2e}")
else:
    print("Skipping GPT-2 small: the Hugging Face Hub is out of reach (offline, or HF_HUB_OFFLINE=1). "
          "Everything else in this chapter runs offline.")

# %% [markdown]
# ## 9. Training on Python's documentation
#
# Every Python installation carries its own documentation: the language reference topics in
# `pydoc_data.topics` and the standard library's docstrings. That is our corpus, so nothing is
# downloaded. Circuit Lab ships a byte-level BPE tokenizer with 2048 tokens trained on it
# (`python -m circuitlab.ch1.train_lm --tokenizer-only` reproduces it). Every tenth document is held
# out for validation, so no document appears in both splits.

# %%
from circuitlab.ch1.lm_data import load_ch1_tokenizer, random_batch, token_splits, windows
from circuitlab.ch1.train_lm import cosine_schedule, unigram_entropy

tokenizer = load_ch1_tokenizer()
splits = token_splits()
example = "A list comprehension consists of brackets containing an expression followed by a for clause."
print([tokenizer.decode([t]) for t in tokenizer(example)["input_ids"]])
print(f"train tokens: {splits.train.numel():,}   validation tokens: {splits.validation.numel():,}")

# %% [markdown]
# A useful yardstick: the best model that ignores context predicts each token with its frequency in
# the training text. Its loss on the validation text (the *unigram* loss) is the bar a trained model
# must clear; random guessing over 2048 tokens scores `ln 2048`.

# %%
unigram_loss = unigram_entropy(splits.validation, splits.train, tiny.d_vocab)
print(f"uniform guess: {math.log(tiny.d_vocab):.3f} nats   unigram baseline: {unigram_loss:.3f} nats")

# %% [markdown] exercise="ch1.next_token_loss"
# This is the whole training signal of a language model: at every position, how surprised the model
# is by the token that actually comes next. It is also the quantity most interpretability experiments
# measure (loss after an ablation, loss on repeated text).
#
# **Spec.** `next_token_loss(logits, tokens)` takes logits `(batch, seq, d_vocab)` and tokens
# `(batch, seq)` and returns a 0-dim float tensor: the mean over batch and positions `0..seq-2` of
# `-log softmax(logits[b, i])[tokens[b, i + 1]]`. Keep it differentiable: the check compares the gradient
# with respect to the logits with the reference's.

# %% solution="ch1.next_token_loss"


# %% check="ch1.next_token_loss"
check("ch1.next_token_loss", next_token_loss)

# %% [markdown] exercise="ch1.train_step"
# Every training loop in this course is this step repeated. The order of its four calls matters, and
# a wrong order fails silently: the loss still goes down, just not the way it should.
#
# **Spec.** `train_step(model, optimizer, tokens)` computes `next_token_loss(model(tokens), tokens)`,
# clears old gradients (the model may arrive holding gradients from earlier work), back-propagates, takes
# one optimiser step, and returns the loss computed before the step as a Python float (`loss.item()`, not a
# 0-dim tensor). The model arrives in train mode; leave it so. The check runs three steps, with plain SGD
# and with AdamW, and compares the weights after every step with the reference's.

# %% solution="ch1.train_step"


# %% check="ch1.train_step"
check("ch1.train_step", train_step)

# %% [markdown]
# Now train the tiny model with AdamW: random windows of 64 tokens, 16 per
# batch, a short linear warm-up, then a cosine decay of the learning rate. The loop evaluates the
# validation loss on a fixed set of held-out windows as it goes. The target: a validation loss at
# least 0.5 nats below the unigram baseline, that is, a model that uses context.

# %%
TRAIN_STEPS, BATCH_SIZE, SEQ_LEN, LEARNING_RATE, EVAL_EVERY = 300, 16, 64, 1e-2, 50
target_loss = unigram_loss - 0.5

torch.manual_seed(0)
model = DemoTransformer(tiny)
optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=0.1)
scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine_schedule(TRAIN_STEPS, warmup_steps=50))
batches = torch.Generator().manual_seed(0)
validation_windows = windows(splits.validation, SEQ_LEN)[:64]


@torch.no_grad()
def validation_loss(model: nn.Module) -> float:
    model.eval()
    loss = next_token_loss(model(validation_windows), validation_windows).item()
    model.train()
    return loss


train_losses, validation_curve = [], [(0, validation_loss(model))]
start = time.perf_counter()
for step in tqdm(range(1, TRAIN_STEPS + 1), desc="training"):
    train_losses.append(train_step(model, optimizer, random_batch(splits.train, BATCH_SIZE, SEQ_LEN, batches)))
    scheduler.step()
    if step % EVAL_EVERY == 0:
        validation_curve.append((step, validation_loss(model)))
training_seconds = time.perf_counter() - start
model.eval()

final_validation = validation_curve[-1][1]
print(f"trained {sum(p.numel() for p in model.parameters()):,} parameters for {TRAIN_STEPS} steps in {training_seconds:.0f} s")
print(f"validation loss {final_validation:.3f} nats (unigram baseline {unigram_loss:.3f}, target below {target_loss:.3f}):",
      "target reached" if final_validation < target_loss else "target not reached")

# %% solution_only=true
claim(final_validation < target_loss, "a validation loss at least 0.5 nats below the unigram baseline",
      measured=f"{final_validation:.3f} against a target of {target_loss:.3f}")

# %%
fig = go.Figure()
fig.add_scatter(x=list(range(1, len(train_losses) + 1)), y=train_losses, name="training batch", opacity=0.5)
fig.add_scatter(x=[s for s, _ in validation_curve], y=[v for _, v in validation_curve], name="validation",
                mode="lines+markers")
fig.add_hline(y=unigram_loss, line_dash="dot", annotation_text="unigram baseline")
fig.update_layout(title="Next-token loss while training", xaxis_title="step", yaxis_title="loss (nats)", height=400)
fig

# %% [markdown]
# Do the learned positional embeddings already have structure? If neighbouring positions get similar
# vectors, the cosine similarity is high near the diagonal and the model can tell near from far. The
# cell compares the mean cosine of adjacent positions with that of positions at least 16 apart.

# %%
W_pos = model.pos_embed.W_pos[:SEQ_LEN].detach()
similarity = F.normalize(W_pos, dim=-1) @ F.normalize(W_pos, dim=-1).T
distance = (torch.arange(SEQ_LEN)[:, None] - torch.arange(SEQ_LEN)[None, :]).abs()
adjacent_cosine = similarity[distance == 1].mean().item()
distant_cosine = similarity[distance >= 16].mean().item()
describe([(adjacent_cosine > distant_cosine + 0.1,
           f"Neighbouring positions are more alike: mean cosine {adjacent_cosine:.2f} for adjacent positions, "
           f"{distant_cosine:.2f} for positions 16 or more apart.")],
         otherwise=f"No clear structure yet: mean cosine {adjacent_cosine:.2f} for adjacent positions, "
                   f"{distant_cosine:.2f} for positions 16 or more apart.")
px.imshow(similarity, color_continuous_scale="RdBu", zmin=-1, zmax=1, width=460, height=420,
          labels=dict(x="position", y="position"), title="Cosine similarity of learned positional embeddings")

# %% [markdown]
# ## 10. Making it write
#
# The model gives a distribution over the next token; generating text means choosing a token,
# appending it, and asking again. *How* to choose is a separate decision from the model.
#
# A minute of training gives a model that has learned word fragments and frequent words, not yet
# sentences. So that the decoders below have something to work with, we also load the same
# architecture trained for longer by `python -m circuitlab.ch1.train_lm` (the recipe and the measured
# results are stored with it). It ships as a TransformerLens model, so loading it into your
# `DemoTransformer` is the same weight copy as in section 8.

# %%
from circuitlab.models import CHECKPOINT_DIR, load_shipped, read_metadata

shipped_tl = load_shipped("ch1-pydocs-lm")
shipped = load_tl_weights(DemoTransformer(config_from_tl(shipped_tl, TransformerConfig)), shipped_tl).eval()
shipped_metadata = read_metadata(CHECKPOINT_DIR / "ch1-pydocs-lm")
recipe, recorded = shipped_metadata["recipe"], shipped_metadata["results"]
print(f"shipped model: {recipe['steps']} steps of batch {recipe['batch_size']} x {recipe['seq_len']} tokens "
      f"(yours: {TRAIN_STEPS} steps)")
print(f"shipped model's recorded losses: training {recorded['final_training_loss_mean_of_last_50']:.2f} "
      f"(mean of its last 50 batches), validation {recorded['validation_loss']:.2f}")
print(f"validation loss: yours {validation_loss(model):.3f}, shipped {validation_loss(shipped):.3f}, "
      f"unigram baseline {unigram_loss:.3f}")

# %% [markdown] exercise="ch1.greedy_decode"
# Greedy decoding (always take the most likely token) is deterministic, which makes it the standard
# way to ask "what does the model think comes next?" in interpretability experiments.
#
# **Spec.** `greedy_decode(model, tokens, n_new)` takes a prompt `(batch, seq)` and returns
# `(batch, seq + n_new)`, a `torch.long` tensor: the prompt followed by `n_new` tokens, each the argmax
# of the model's logits at the last position given everything before it. The prompt may be one token long.

# %% solution="ch1.greedy_decode"


# %% check="ch1.greedy_decode"
check("ch1.greedy_decode", greedy_decode)

# %%
def encode(text: str) -> Tensor:
    return torch.tensor([tokenizer(text)["input_ids"]])


def decode(tokens: Tensor) -> str:
    return tokenizer.decode(tokens[0].tolist(), skip_special_tokens=True)


prompt = "The return statement"
for name, lm in [("yours", model), ("shipped", shipped)]:
    print(f"{name:>8}:", repr(decode(greedy_decode(lm, encode(prompt), 30))))

# How much of the shipped model's greedy continuation repeats itself: the share of its 3-token windows
# that occur more than once.
continuation = greedy_decode(shipped, encode(prompt), 30)[0, -30:].tolist()
windows = [tuple(continuation[i:i + 3]) for i in range(len(continuation) - 2)]
repeated_share = sum(windows.count(w) > 1 for w in windows) / len(windows)
describe([(repeated_share >= 0.2, f"The shipped model's greedy text loops: {repeated_share:.0%} of its 3-token "
                                  "windows occur more than once.")],
         otherwise=f"This greedy text hardly loops: {repeated_share:.0%} of its 3-token windows occur more than once.")

# %% [markdown]
# Greedy text tends to loop (the line above measures it): once a phrase is likely, repeating it keeps it
# likely. Sampling avoids that: draw the next token at random, each with the probability the model gives
# it. First the draw itself; then three knobs that shape the distribution before the draw.

# %% [markdown] exercise="ch1.sample_categorical"
# Every sampler, however it filters or reshapes the distribution, ends in this one draw. Drawing from a
# `torch.Generator` you are handed, rather than from torch's global random state, is what makes an
# experiment repeatable: the same seed gives the same text, whatever else ran in between.
#
# **Spec.** `sample_categorical(logits, generator)` takes logits `(batch, d_vocab)` (some may be `-inf`;
# every row has at least one finite entry) and a `torch.Generator`, and returns a `torch.long` tensor of
# shape `(batch,)`: for each row, one token drawn from `softmax(logits[row])`, independently of the other
# rows. The generator must be the only source of randomness (pass `generator=generator`; don't seed or copy
# it, and don't touch torch's global RNG), so two generators with the same seed give the same draws. Any
# exact method is accepted (`torch.multinomial`, Gumbel-max or an inverse CDF on `torch.rand(...,
# generator=generator)`): the check compares frequencies over many rows, not individual draws. Do not
# modify `logits`.

# %% solution="ch1.sample_categorical"


# %% check="ch1.sample_categorical"
check("ch1.sample_categorical", sample_categorical)

# %% [markdown]
# Ten thousand draws of the token after the prompt, from the shipped model's distribution: how often
# each of the five most likely tokens came up, beside its probability.

# %%
with torch.no_grad():
    prompt_logits = shipped(encode(prompt))[:, -1]
prompt_probs = prompt_logits.softmax(-1)[0]
draws = sample_categorical(prompt_logits.expand(10_000, -1), torch.Generator().manual_seed(0))
draw_frequencies = torch.bincount(draws, minlength=prompt_probs.shape[0]).float() / draws.shape[0]
for token in prompt_probs.topk(5).indices.tolist():
    print(f"{tokenizer.decode([token])!r:>14}: probability {prompt_probs[token]:.3f}, drawn {draw_frequencies[token]:.3f}")
print(f"largest |frequency - probability| over the vocabulary: {(draw_frequencies - prompt_probs).abs().max():.4f}")

# %% [markdown] exercise="ch1.apply_temperature"
# Temperature is the simplest control over how adventurous sampling is: below 1 it sharpens the
# distribution towards greedy, above 1 it flattens it towards uniform.
#
# **Spec.** `apply_temperature(logits, temperature)` takes `(batch, d_vocab)` logits and a positive
# temperature and returns logits of the same shape whose softmax is `softmax(logits / temperature)`.

# %% solution="ch1.apply_temperature"


# %% check="ch1.apply_temperature"
check("ch1.apply_temperature", apply_temperature)

# %% [markdown] exercise="ch1.top_k"
# Most of the vocabulary has tiny but non-zero probability, and sampled often enough those tokens
# derail a text. Top-k keeps only the k most likely candidates.
#
# **Spec.** `top_k_filter(logits, k)` takes `(batch, d_vocab)` and returns the same shape: logits
# that are at least as large as the k-th largest of their row are unchanged, the others are `-inf`.
# Tokens tied with the k-th largest are all kept (so the result never depends on tie order), and a row
# without ties keeps exactly k. `1 <= k <= d_vocab`; the input may already hold `-inf` entries.

# %% solution="ch1.top_k"


# %% check="ch1.top_k"
check("ch1.top_k", top_k_filter)

# %% [markdown] exercise="ch1.top_p"
# A fixed k is too many when the model is sure and too few when it is not. Top-p (nucleus) sampling
# keeps however many tokens it takes to cover probability p.
#
# **Spec.** `top_p_filter(logits, p)` takes `(batch, d_vocab)` and returns the same shape. Rank each
# row's tokens by probability, most likely first; keep a token if the total probability of the tokens
# ranked strictly above it is less than `p` (so the token that carries the total across `p` is kept);
# set the others to `-inf`. Kept logits are unchanged; `0 < p <= 1`, and the input may already hold `-inf`.
# Two cases are left to you: tokens of equal probability may be ranked in either order (a tie across `p`
# may keep either token, but only as many tokens as the rule gives), and when the mass above a token equals
# `p` exactly the rule drops it, but float rounding may tip it either way, so the check accepts both there.

# %% solution="ch1.top_p"


# %% check="ch1.top_p"
check("ch1.top_p", top_p_filter)

# %% [markdown] exercise="ch1.frequency_penalty"
# Filters decide which tokens may be drawn; a penalty changes their odds according to what has already
# been written. A frequency penalty makes each further use of a token less likely, which is the usual
# remedy for the loops that low temperatures and small models fall into.
#
# **Spec.** `frequency_penalty(logits, tokens, penalty)` takes next-token logits `(batch, d_vocab)`, the
# context so far `tokens` `(batch, seq)` (`torch.long`) and a Python float `penalty`, and returns a new
# tensor of the logits' shape and dtype: `logits[b, v] - penalty * count[b, v]`, where `count[b, v]` is the
# number of times token `v` occurs in `tokens[b]` (a token seen three times loses `3 * penalty`; each row
# counts only its own context). `penalty = 0` returns the logits unchanged; `-inf` entries stay `-inf`.
# Do not modify `logits` or `tokens`.

# %% solution="ch1.frequency_penalty"


# %% check="ch1.frequency_penalty"
check("ch1.frequency_penalty", frequency_penalty)

# %% [markdown]
# With the filters and the penalty, a sampler is a few lines. The penalty goes on the model's logits,
# then the temperature (it changes which tokens fall inside the nucleus), then the filters, then one draw
# with your `sample_categorical`.

# %%
@torch.inference_mode()
def sample(model: nn.Module, tokens: Tensor, n_new: int, temperature: float = 1.0, top_k: int | None = None,
           top_p: float | None = None, penalty: float = 0.0, seed: int = 0) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    for _ in range(n_new):
        logits = model(tokens[:, -model.cfg.n_ctx:])[:, -1]
        if penalty:
            logits = frequency_penalty(logits, tokens, penalty)
        logits = apply_temperature(logits, temperature)
        if top_k is not None:
            logits = top_k_filter(logits, top_k)
        if top_p is not None:
            logits = top_p_filter(logits, top_p)
        next_token = sample_categorical(logits, generator)
        tokens = torch.cat([tokens, next_token[:, None]], dim=-1)
    return tokens


for settings in [dict(temperature=0.7, top_k=40), dict(temperature=1.0, top_p=0.9), dict(temperature=1.5)]:
    print(settings)
    for name, lm in [("yours", model), ("shipped", shipped)]:
        print(f"  {name:>8}:", repr(decode(sample(lm, encode(prompt), 30, **settings))))

# %% [markdown]
# What the penalty does to repetition: sixty tokens from the shipped model at a low temperature, without
# and with a frequency penalty, and how many of the generated tokens repeat one already in the text.

# %%
def repeated_fraction(sequence: Tensor, n_prompt: int) -> float:
    """Fraction of the generated tokens that already occur earlier in the sequence."""
    tokens_so_far = sequence[0].tolist()
    return sum(tokens_so_far[i] in tokens_so_far[:i] for i in range(n_prompt, len(tokens_so_far))) / (len(tokens_so_far) - n_prompt)


repetition = {}
for strength in [0.0, 1.0]:
    penalised = sample(shipped, encode(prompt), 60, temperature=0.5, penalty=strength)
    repetition[strength] = repeated_fraction(penalised, encode(prompt).shape[1])
    print(f"penalty {strength}: {repetition[strength]:.0%} of new tokens repeat an earlier one:",
          repr(decode(penalised)))
describe([(repetition[1.0] < repetition[0.0],
           f"The penalty cut the share of repeated tokens from {repetition[0.0]:.0%} to {repetition[1.0]:.0%}.")],
         otherwise=f"On this prompt the penalty did not reduce repetition ({repetition[0.0]:.0%} without, "
                   f"{repetition[1.0]:.0%} with).")

# %% [markdown]
# How many tokens does the nucleus keep? It changes from one context to the next, which is the point
# of top-p: a fixed k would be too many in some rows and too few in others.

# %%
with torch.no_grad():
    next_logits = shipped(validation_windows[:8, :32])[:, -1]
kept = torch.isfinite(top_p_filter(next_logits, 0.9)).sum(-1)
top_prob = next_logits.softmax(-1).max(-1).values
for count, prob in zip(kept.tolist(), top_prob.tolist()):
    print(f"top token probability {prob:.2f} -> nucleus of {count} tokens")

# %% [markdown] exercise="ch1.beam_search"
# Greedy decoding commits to one token at a time; the best *sequence* can start with a token that is
# not the best *first* token. Beam search keeps several candidates and often finds a likelier
# continuation than greedy. It is still a heuristic: nothing guarantees it finds the most likely one.
#
# **Spec.** `beam_search(model, tokens, n_new, beam_width)` takes a 1-D prompt `(seq,)` and returns
# `(best_sequence, score)`: `best_sequence` `(seq + n_new,)` (`torch.long`) is the prompt followed by the
# best of the beams after `n_new` steps, and `score` (a Python float, not a tensor) is the sum of the
# log-probabilities of its new tokens.
# Start from one beam (the prompt, score 0). At every step, extend every beam by every token, score
# each extension by its beam's score plus the token's log-probability, and keep the `beam_width` best.

# %% solution="ch1.beam_search"


# %% check="ch1.beam_search"
check("ch1.beam_search", beam_search)

# %%
@torch.no_grad()
def continuation_log_prob(model: nn.Module, sequence: Tensor, n_prompt: int) -> float:
    log_probs = model(sequence[None])[0].log_softmax(-1)
    positions = torch.arange(n_prompt, sequence.shape[0])
    return log_probs[positions - 1, sequence[positions]].sum().item()


beam_gains = []
for beam_prompt in ["The return statement", "A class definition", "If the value is"]:
    prompt_tokens = encode(beam_prompt)[0]
    greedy_sequence = greedy_decode(shipped, prompt_tokens[None], 12)[0]
    beam_sequence, beam_score = beam_search(shipped, prompt_tokens, 12, beam_width=4)
    print(f"greedy  (log-prob {continuation_log_prob(shipped, greedy_sequence, len(prompt_tokens)):7.2f}):",
          repr(tokenizer.decode(greedy_sequence.tolist(), skip_special_tokens=True)))
    print(f"beam 4  (log-prob {beam_score:7.2f}):", repr(tokenizer.decode(beam_sequence.tolist(), skip_special_tokens=True)))
    beam_gains.append(beam_score - continuation_log_prob(shipped, greedy_sequence, len(prompt_tokens)))
describe([(min(beam_gains) >= -1e-4 and max(beam_gains) > 1e-4,
           f"Beam search found a likelier continuation than greedy on {sum(g > 1e-4 for g in beam_gains)} of "
           f"{len(beam_gains)} prompts and an equally likely one on the others.")],
         otherwise=f"Beam minus greedy log-probability per prompt: {[round(g, 2) for g in beam_gains]}: a beam of 4 "
                   f"is not always better than greedy.")

# %% [markdown] exercise="ch1.beam_search_with_eos"
# Real text ends. A model that can emit an end-of-sequence token (EOS) offers a beam the choice to stop,
# and a finished answer has to be compared with the ones still growing; otherwise beam search either
# runs past the end or never considers stopping at all.
#
# **Spec.** `beam_search_with_eos(model, tokens, n_new, beam_width, eos_token)` takes a 1-D prompt `(seq,)`
# and returns `(best_sequence, score)` like `beam_search`. A beam is *finished* once one of its new tokens
# is `eos_token` (tokens in the prompt do not count): it stops growing and keeps its score. Start from one
# beam (the prompt, score 0). At every step, the candidates are the finished beams, unchanged, plus every
# extension of every unfinished beam by every token (score: its beam's score plus the token's
# log-probability); keep the `beam_width` best. Stop after `n_new` steps, or earlier when every kept beam
# has finished, and return the best beam of the pool: a finished beam ends with its EOS (so
# `best_sequence` may be shorter than `seq + n_new`, and nothing follows the EOS), and `score` (a Python
# float) is the sum of the log-probabilities of its new tokens, the EOS's included. **No length penalty:**
# scores are plain sums, which favours shorter beams (every token adds a negative log-probability); many
# production decoders divide by a power of the length instead, but not here.

# %% solution="ch1.beam_search_with_eos"


# %% check="ch1.beam_search_with_eos"
check("ch1.beam_search_with_eos", beam_search_with_eos)

# %% [markdown]
# The shipped model marks the start of every document with `<|bos|>`, and it is also the token it predicts
# where one document ends and the next begins, so it can serve as EOS. With a beam of 4 and room for 40
# tokens, where does each prompt's best beam stop?

# %%
end_token = tokenizer.bos_token_id
for eos_prompt in ["The return statement", "Return the value of x.", "See also"]:
    eos_prompt_tokens = encode(eos_prompt)[0]
    eos_sequence, eos_score = beam_search_with_eos(shipped, eos_prompt_tokens, 40, 4, end_token)
    n_generated = eos_sequence.shape[0] - eos_prompt_tokens.shape[0]
    ending = "ends with EOS" if int(eos_sequence[-1]) == end_token else "still going after 40 tokens"
    print(f"{n_generated:>2} new tokens, {ending}, log-prob {eos_score:7.2f}:",
          repr(tokenizer.decode(eos_sequence.tolist(), skip_special_tokens=True)))

# %% [markdown] exercise="ch1.kv_cache"
# Greedy decoding as written reruns the whole sequence for every new token, although the keys and
# values of old positions never change (the mask stops them from seeing new tokens). Caching them
# makes each step cost one position instead of the whole sequence; every production decoder does this.
#
# **Spec.** `generate_with_kv_cache(model, tokens, n_new)` returns exactly what
# `greedy_decode(model, tokens, n_new)` returns, for your `DemoTransformer`. Run the prompt through the
# model once, storing each layer's keys and values `(batch, pos, n_heads, d_head)`; then at every step
# feed only the newest token `(batch, 1)`, at position `n_past` (use `W_pos[n_past]`), compute its
# query, key and value, append the key and value to the layer's cache, and attend to all cached keys.
# Use the model's own modules and weights (`block.ln1`, `block.attn.W_Q`, `block.mlp`, ...): the check
# records the sequence length of every call of each block's `ln1`, and expects the prompt's length once,
# then 1 per new token (feeding the last new token through the model is allowed but not needed).

# %% solution="ch1.kv_cache"


# %% check="ch1.kv_cache"
check("ch1.kv_cache", generate_with_kv_cache)

# %%
generated = {}
for name, generate in [("no cache", greedy_decode), ("KV cache", generate_with_kv_cache)]:
    start = time.perf_counter()
    generated[name] = generate(model, encode(prompt), 80)
    print(f"{name}: 80 tokens in {time.perf_counter() - start:.2f} s")
print("same tokens:", torch.equal(generated["no cache"], generated["KV cache"]))

# %% solution_only=true
claim(torch.equal(generated["no cache"], generated["KV cache"]), "exactly what greedy_decode returns")

# %% [markdown]
# ## 11. What longer training buys
#
# The validation loss, position by position within the 64-token windows, for your model and the
# shipped one. Early positions have little context to use; later ones have more. Compare how much
# each model's loss falls as the context grows: that is what longer training mostly buys.

# %%
@torch.no_grad()
def loss_by_position(lm: nn.Module) -> Tensor:
    log_probs = lm(validation_windows)[:, :-1].log_softmax(-1)
    return -log_probs.gather(-1, validation_windows[:, 1:, None])[..., 0].mean(0)


fig = go.Figure()
for name, lm in [("yours", model), ("shipped", shipped)]:
    fig.add_scatter(y=loss_by_position(lm), name=name)
fig.add_hline(y=unigram_loss, line_dash="dot", annotation_text="unigram baseline")
fig.update_layout(title="Validation loss by position in the window", xaxis_title="position of the predicted token - 1",
                  yaxis_title="loss (nats)", height=380)
fig

# %% [markdown]
# Finally, a look inside. A forward hook on each `Attention` module receives the normalised stream it
# reads; from it we recompute the QK half of your attention (scores, your mask, softmax) and get every
# head's pattern. Each panel is one head of the shipped model: row `i` shows where the token at
# position `i` looks.

# %%
@torch.no_grad()
def attention_patterns(lm: nn.Module, tokens: Tensor) -> Float[Tensor, "layer head query key"]:
    """Each head's attention pattern on one sequence, recomputed from the input each Attention module reads."""
    patterns = []

    def record(attn: nn.Module, inputs: tuple[Tensor], output: Tensor) -> None:
        x = inputs[0]
        q = einops.einsum(x, attn.W_Q, "b s d, h d dh -> b s h dh") + attn.b_Q
        k = einops.einsum(x, attn.W_K, "b s d, h d dh -> b s h dh") + attn.b_K
        scores = einops.einsum(q, k, "b q h dh, b k h dh -> b h q k") / math.sqrt(attn.cfg.d_head)
        patterns.append(apply_causal_mask(scores).softmax(-1)[0])

    handles = [block.attn.register_forward_hook(record) for block in lm.blocks]
    try:
        lm(tokens)
    finally:
        for handle in handles:
            handle.remove()
    return torch.stack(patterns)


text_tokens = encode("The value of x is returned. The value of y is ignored.")
labels = [f"{i}:{tokenizer.decode([t])}" for i, t in enumerate(text_tokens[0].tolist())]
patterns = attention_patterns(shipped, text_tokens)
previous_token_score = patterns.diagonal(offset=-1, dim1=-2, dim2=-1).mean(-1)  # weight on the token just before
for layer in range(patterns.shape[0]):
    print(f"layer {layer}: mean attention to the previous token, per head:",
          [round(v, 2) for v in previous_token_score[layer].tolist()])
fig = px.imshow(patterns[1], facet_col=0, color_continuous_scale="Blues", zmin=0, zmax=1,
                labels=dict(x="key", y="query"), title="Layer 1 attention patterns of the shipped model (one panel per head)")
fig.update_xaxes(tickvals=list(range(len(labels))), ticktext=labels, tickangle=90, tickfont_size=8)
fig.update_yaxes(tickvals=list(range(len(labels))), ticktext=labels, tickfont_size=8)
fig.update_layout(height=420)
fig

# %% [markdown]
# ## Summary
#
# - The residual stream is a sum: embeddings start it, and every attention layer and MLP adds to it.
#   Pre-norm keeps it that way, because LayerNorm is applied only to the copies the layers read.
# - Attention splits into QK (which positions a query attends to) and OV (what each attended position
#   contributes). The `1/sqrt(d_head)` scale and the causal mask are both part of QK.
# - Logits are dot products of the final stream with the columns of `W_U`; softmax turns them into
#   the next-token distribution, and the training loss is the average surprise at the true next token.
# - Your model computes the same function as TransformerLens to float32 rounding, so everything the
#   course does later with TransformerLens applies to the model you wrote.
# - Decoding is separate from the model: greedy and beam search look for likely text, temperature,
#   top-k and top-p shape the distribution that sampling draws from.
#
# ## Explore further
#
# 1. **Tie the embeddings.** GPT-2 uses `W_U = W_E.T`. Make your `Unembed` reuse the embedding and
#    retrain. *First experiment:* train both versions for the same number of steps and compare the final
#    validation losses and parameter counts.
# 2. **Post-norm.** Change your block to `ln(x + f(x))` and train. *First experiment:* run both with
#    the learning rate at 1e-2 and at 3e-2 and plot the two loss curves on one figure.
# 3. **Beyond the trained length.** Your model trained on 64-token windows, but `W_pos` has 128 rows; the
#    rows past 64 never received a gradient. *First experiment:* compute `loss_by_position` on 128-token
#    validation windows (`windows(splits.validation, 128)`) for your model and the shipped one, and look
#    at what happens after position 64.
# 4. **The cost of no cache.** *First experiment:* time `greedy_decode` and `generate_with_kv_cache` for
#    10, 50 and 120 new tokens and plot time against length; explain the two shapes.
# 5. **Scaling.** *First experiment:* double `d_model` (and `d_head`) of the tiny model, train for the
#    same wall-clock time, and compare validation losses: is the bigger model better per second?
