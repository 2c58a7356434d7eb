# %% [markdown]
# **What you will be able to do.** Reshape, reduce and multiply the tensors that fill every later
# chapter (residual streams, queries and keys, attention patterns) with named axes instead of
# index arithmetic; draw a figure with plotly and an attention pattern with circuitsvis; read what
# Circuit Lab's checks tell you; and pick entries with `gather` and index tensors, and compute
# logsumexp, log-softmax and cross-entropy by hand without overflow.
#
# **Paper.** None: this chapter is the notation the others are written in.
#
# **Prerequisites.** Python, and PyTorch tensors (shapes, indexing, broadcasting).
#
# **Time.** About two hours.
#
# **How exercises work.** Each exercise gives a specification and a stub that raises
# `NotImplementedError`. Replace the stub, run the `check(...)` cell under it, and read the report:
# a ✅ means every check passed; a ❌ lists the checks that failed, and most failures name the
# mistake that produces them. `hint("ch0.split_heads")` gives a nudge (call it again for a stronger
# one), and `progress()` shows where you are.

# %%
import plotly.graph_objects as go
import torch
from einops import einsum, rearrange, reduce, repeat
from torch import Tensor

# %% [markdown]
# ## 1. einops: name your axes
#
# A transformer's activations are tensors with four or five axes: batch, position, head, and a
# feature dimension or two. Code such as `x.view(b, s, h, -1).transpose(1, 2)` is correct only if
# the reader keeps every axis's position in their head. einops writes the axes down by name, so the
# code states its own shape contract and fails loudly when the input disagrees.
#
# Three functions cover most needs: `rearrange` (reorder, split or merge axes), `reduce` (remove axes
# by mean, sum or max) and `repeat` (add axes by copying).

# %% [markdown] exercise="ch0.split_heads"
# Attention works per head, but the model stores all heads' vectors side by side in one axis of size
# `n_heads * d_head`. Splitting that axis is the first thing every attention implementation does.
#
# **Spec.** `split_heads(x, n_heads)` takes `x` of shape `(batch, pos, n_heads * d_head)` and returns
# shape `(batch, pos, n_heads, d_head)`, where head `h` owns the slice `x[..., h * d_head:(h + 1) * d_head]`.

# %% solution="ch0.split_heads"


# %% check="ch0.split_heads"
check("ch0.split_heads", split_heads)

# %% [markdown]
# Head 1 of a vector `0, 1, ..., 11` split into 3 heads of size 4 should be `4, 5, 6, 7`:

# %%
print(split_heads(torch.arange(12.0).reshape(1, 1, 12), n_heads=3)[0, 0, 1])

# %% [markdown] exercise="ch0.average_pattern"
# An attention pattern has shape `(batch, head, query position, key position)`. Averaging it over the
# batch and the heads gives one picture of where the layer looks; it is a quick first look at a layer.
#
# **Spec.** `average_pattern(pattern)` takes `(batch, head, q_pos, k_pos)` and returns the mean over
# batch and head, shape `(q_pos, k_pos)`.

# %% solution="ch0.average_pattern"


# %% check="ch0.average_pattern"
check("ch0.average_pattern", average_pattern)

# %% [markdown] exercise="ch0.broadcast_positions"
# A model adds the same learned positional embedding to every sequence in a batch. Usually
# broadcasting does this implicitly; making the batch axis explicit with `repeat` is useful when you
# want to store or patch the per-sequence result.
#
# **Spec.** `broadcast_positions(pos_embed, batch)` takes `(pos, d_model)` and returns
# `(batch, pos, d_model)`, a copy of `pos_embed` for each of the `batch` sequences.

# %% solution="ch0.broadcast_positions"


# %% check="ch0.broadcast_positions"
check("ch0.broadcast_positions", broadcast_positions)

# %% [markdown]
# ## 2. einsum: products over named axes
#
# `einops.einsum` takes the tensors, then a pattern naming each input's axes and the output's axes.
# An axis that appears in the inputs but not the output is summed over. Matrix products, dot
# products between every query and every key, and the projections in and out of attention heads are
# all one einsum each.

# %% [markdown] exercise="ch0.batched_matmul"
# The simplest einsum: a matrix product done independently for every element of a batch. Writing it
# by name makes it obvious which axis is contracted.
#
# **Spec.** `batched_matmul(a, b)` with `a` of shape `(batch, i, j)` and `b` of shape `(batch, j, k)`
# returns `(batch, i, k)`, equal to `a @ b`.

# %% solution="ch0.batched_matmul"


# %% check="ch0.batched_matmul"
check("ch0.batched_matmul", batched_matmul)

# %% [markdown] exercise="ch0.attention_scores"
# Attention decides where to look by comparing each query with each key. For one head, the score of
# query position `i` against key position `j` is the dot product `q_i · k_j`, divided by `sqrt(d_head)`
# so that the scores' spread does not grow with the head dimension (for queries and keys with entries
# of size about 1, unscaled scores of a wide head make softmax almost one-hot).
#
# **Spec.** `attention_scores(q, k)` takes `q` of shape `(batch, q_pos, head, d_head)` and `k` of shape
# `(batch, k_pos, head, d_head)` (the two position counts may differ, as they do after a KV cache) and
# returns `(batch, head, q_pos, k_pos)`: `scores[b, h, i, j] = q[b, i, h] · k[b, j, h] / sqrt(d_head)`.

# %% solution="ch0.attention_scores"


# %% check="ch0.attention_scores"
check("ch0.attention_scores", attention_scores)

# %% [markdown]
# Why the scale matters: with random unit-variance queries and keys, the unscaled scores' standard
# deviation grows like `sqrt(d_head)`, while the scaled ones stay near 1. The last column shows what
# that does to softmax: the largest weight in each row (averaged over the rows), where 1 is one-hot.

# %%
torch.manual_seed(0)
scale_demo = {}
for d_head in (4, 16, 64, 256):
    q, k = torch.randn(1, 32, 1, d_head), torch.randn(1, 32, 1, d_head)
    scaled = attention_scores(q, k)
    unscaled = scaled * d_head**0.5
    scale_demo[d_head] = (scaled.std().item(), unscaled.std().item(), unscaled.softmax(-1).max(-1).values.mean().item(),
                          scaled.softmax(-1).max(-1).values.mean().item())
    print(f"d_head={d_head:>3}: std of scaled scores {scale_demo[d_head][0]:.2f}, unscaled {scale_demo[d_head][1]:.2f}; "
          f"largest softmax weight: scaled {scale_demo[d_head][3]:.2f}, unscaled {scale_demo[d_head][2]:.2f}")

# %% solution_only=true
from circuitlab.claims import claim

claim(all(0.7 < scaled_std < 1.3 for scaled_std, *_ in scale_demo.values()), "the scaled ones stay near 1",
      measured=", ".join(f"{v[0]:.2f}" for v in scale_demo.values()))
claim(scale_demo[256][1] / scale_demo[4][1] > 4, "the unscaled scores' standard deviation grows like sqrt(d_head)",
      measured=f"{scale_demo[4][1]:.2f} at d_head 4, {scale_demo[256][1]:.2f} at 256")
claim(scale_demo[256][2] > 0.8 > scale_demo[256][3], "unscaled scores of a wide head make softmax almost one-hot",
      measured=f"largest weight {scale_demo[256][2]:.2f} unscaled, {scale_demo[256][3]:.2f} scaled at d_head 256")

# %% [markdown]
# ## 3. Looking at things: plotly and circuitsvis
#
# Interpretability is mostly looking at numbers: loss curves, attention patterns, direct logit
# attributions. plotly gives interactive figures (hover to read values, zoom into a region), and
# circuitsvis draws attention patterns over the actual tokens.

# %% [markdown] exercise="ch0.previous_token_pattern"
# A previous-token head is one of the simplest circuits in a real transformer, and half of the
# induction mechanism you will find in chapter 2. Building its ideal pattern by hand tells you what to
# look for in a real one.
#
# **Spec.** `previous_token_pattern(seq_len)` returns a float tensor `(seq_len, seq_len)` whose row `i`
# (the query) puts all its attention on column `i - 1`; row 0, which has no previous token, attends
# to itself. Every row sums to 1.

# %% solution="ch0.previous_token_pattern"


# %% check="ch0.previous_token_pattern"
check("ch0.previous_token_pattern", previous_token_pattern)

# %% [markdown]
# Here is your pattern drawn by circuitsvis over a short sentence, next to a current-token head
# (the identity). Hover over a token to see where it attends. The view works offline: circuitsvis
# ships its JavaScript inside the Python package.

# %%
import circuitsvis as cv

tokens = ["The", " cat", " sat", " on", " the", " mat"]
patterns = torch.stack([previous_token_pattern(len(tokens)), torch.eye(len(tokens))])
cv.attention.attention_heads(attention=patterns, tokens=tokens, attention_head_names=["previous token", "current token"])

# %% [markdown] exercise="ch0.loss_curve"
# Every training run in this course ends with a loss curve. Losses fall by orders of magnitude, so a
# log-scaled axis is the honest way to show them: on a linear axis the last 90% of training looks flat.
#
# **Spec.** `loss_curve(losses, title="Training loss")` takes a list of Python floats and returns a
# `plotly.graph_objects.Figure` with one line trace (`go.Scatter` drawn with lines, or `px.line`), `x` the
# step numbers `0, 1, ..., len(losses) - 1` (pass them, or leave `x` out: plotly then uses exactly these) and
# `y` the losses in order, a log-scaled y axis, both axes labelled, and `title` as the figure's title.

# %% solution="ch0.loss_curve"


# %% check="ch0.loss_curve"
check("ch0.loss_curve", loss_curve)

# %% [markdown]
# A curve with the shape of a real run: fast early progress, then slow improvement.

# %%
steps = torch.arange(200)
losses = (3.0 * torch.exp(-steps / 20) + 0.05 + 0.02 * torch.rand(200)).tolist()
loss_curve(losses, title="A made-up training run")

# %% [markdown]
# ## 4. How checks work
#
# A check runs a small pytest suite against the object you hand in. The suite compares your output
# with a reference implementation on fixed random inputs of more than one size, so code that only
# works for one shape fails. When your output matches what a known mistake would produce, the report
# names the mistake. Your code runs in the same Python process, but a check never crashes your
# notebook: exceptions, wrong shapes, NaNs, edits to the inputs and endless loops are reported
# instead.
#
# Try it: here is a version of `attention_scores` with a classic bug. The check names it.

# %%
def buggy_attention_scores(q: Tensor, k: Tensor) -> Tensor:
    return einsum(q, k, "batch q_pos head d, batch k_pos head d -> batch head q_pos k_pos")


result = check("ch0.attention_scores", buggy_attention_scores, record=False)  # record=False: a demo, not your answer
print("passed:", result.passed)

# %% [markdown]
# The same checks run from a terminal, on a function saved in a file:
#
# ```
# circuitlab check ch0.attention_scores my_attention.py:attention_scores
# circuitlab list
# circuitlab progress chapters/00_tools.ipynb
# ```
#
# And in the notebook, `progress()` summarises this session:

# %%
progress()

# %% [markdown]
# ## 5. Indexing and numerically stable softmax
#
# Chapters 1 and 2 turn logits into losses and log-probabilities at every position, and read one
# entry per position out of a vocabulary axis. Two tools do the reading: `torch.gather`, and indexing
# with one integer tensor per axis. Two pieces of arithmetic do the rest: log-softmax and cross-entropy,
# built on a logsumexp that does not overflow. PyTorch has all of them; writing them once shows what
# the library calls do and why the naive formulas fail on the logits of a real model.

# %% [markdown] exercise="ch0.pick_targets"
# A language model's loss, and much of what later chapters measure (the log-probability of the correct
# next token at each position, the per-token loss on repeated sequences in chapter 2), reads one entry
# of the vocabulary axis per position. `torch.gather` does that without a loop: `out[b, s] =
# log_probs[b, s, index[b, s, 0]]` when it gathers along the last axis with an index of shape
# `(batch, seq, 1)`.
#
# **Spec.** `pick_targets(log_probs, targets)` takes `log_probs`, a float tensor `(batch, seq, vocab)`,
# and `targets`, a `torch.long` tensor `(batch, seq)` with entries in `0 .. vocab - 1`, and returns a
# tensor `(batch, seq)` of `log_probs`'s dtype (float32 or float64) with `out[b, s] = log_probs[b, s,
# targets[b, s]]`: each position's own target, no shift. Entries of `-inf` (a token the model rules out)
# come back as they are; batch 1 and seq 1 keep their axes; the gradient flows back to `log_probs`.
# Targets of any other dtype (`torch.int32`, float) raise a `TypeError` whose message names the dtype:
# `torch.gather` accepts int32 indices silently, `F.cross_entropy` refuses them, and in this course token
# ids are always `torch.long`, so a different dtype means a tensor built the wrong way. Don't modify the
# inputs.

# %% solution="ch0.pick_targets"


# %% check="ch0.pick_targets"
check("ch0.pick_targets", pick_targets)

# %% [markdown]
# One sequence of two positions over three tokens: the targets' probabilities should be 0.7 and 0.5.

# %%
demo_log_probs = torch.tensor([[[0.1, 0.7, 0.2], [0.5, 0.25, 0.25]]]).log()
print(pick_targets(demo_log_probs, torch.tensor([[1, 0]])).exp())

# %% [markdown] exercise="ch0.final_logits"
# A batch of prompts of different lengths is right-padded into one tensor, so each prompt's last real
# token sits at its own position, and `logits[:, -1]` reads padding for all but the longest prompt.
# Chapter 3 reads the answer logits of its IOI prompts at `end_pos` this way. Indexing with one integer
# tensor per axis pairs them up: `x[rows, cols][i] = x[rows[i], cols[i]]`.
#
# **Spec.** `final_logits(logits, end_pos)` takes `logits`, a float tensor `(batch, seq, vocab)`, and
# `end_pos`, a `torch.long` tensor `(batch,)` with `0 <= end_pos[b] < seq` (the position of prompt `b`'s
# last real token), and returns `(batch, vocab)` of `logits`'s dtype with `out[b] = logits[b, end_pos[b]]`.
# Batch 1 keeps its axis, the gradient flows back to `logits`, and no Python loop is needed.

# %% solution="ch0.final_logits"


# %% check="ch0.final_logits"
check("ch0.final_logits", final_logits)

# %% [markdown]
# Three right-padded prompts of 4, 2 and 3 tokens, with one "logit" per position that counts the
# positions of the whole batch in order (prompt 1 starts at 4, prompt 2 at 8). Their last real tokens
# should read 3, 5 and 10:

# %%
padded_logits = torch.arange(3 * 4.0).reshape(3, 4, 1)
print(final_logits(padded_logits, torch.tensor([3, 1, 2]))[:, 0])

# %% [markdown] exercise="ch0.logsumexp"
# `log(sum(exp(x)))` is in every step from scores to probabilities: it is the normaliser of softmax, so
# it sits inside log-softmax, the cross-entropy loss of chapter 1 and the per-token losses of chapter 2.
# Written as it reads, it fails on ordinary logits: `exp(1000)` overflows to `inf` (float32 overflows
# above about 88, float64 above about 709) and `exp(-1000)` underflows to 0, so the answer comes out
# `inf` or `-inf` though the true value is an ordinary number. The fix is one identity:
# `log(sum(exp(x))) = m + log(sum(exp(x - m)))` for any `m`.
#
# **Spec.** `logsumexp(x, dim)` takes a float tensor `x` of any shape, whose entries are finite or
# `-inf`, and an axis `dim` (negative allowed), and returns `log(sum(exp(x)))` over `dim` with that axis
# removed (as `torch.logsumexp(x, dim)` does), in `x`'s dtype; a 1-D input gives a 0-dim tensor (a
# tensor, not a Python float). It must be right for entries near 1000 and near -1000 in float32
# (`[1000, 1000]` gives `1000 + log 2`), also when one slice is near 1000 and another near -1000 in the
# same tensor. `-inf` entries add `exp(-inf) = 0`; a slice of only `-inf` gives `-inf`, not NaN (a fully
# masked row). The gradient is torch's (the softmax of `x` over `dim`). Don't call `torch.logsumexp`:
# the check compares with it, so it would pass, but the point is to see why the shift works.

# %% solution="ch0.logsumexp"


# %% check="ch0.logsumexp"
check("ch0.logsumexp", logsumexp)

# %% [markdown]
# The formula as it reads, yours and torch's, on three numbers one apart, at three scales:

# %%
stability_demo = {}
for scale in (1.0, 100.0, 1000.0):
    x = torch.tensor([scale, scale - 1, scale - 2])
    stability_demo[scale] = (x.exp().sum().log().item(), logsumexp(x, 0).item(), torch.logsumexp(x, 0).item())
    print(f"x = [{scale:g}, {scale - 1:g}, {scale - 2:g}]: as it reads {stability_demo[scale][0]:.4f}, "
          f"yours {stability_demo[scale][1]:.4f}, torch {stability_demo[scale][2]:.4f}")

# %% solution_only=true
claim(stability_demo[1000.0][0] == float("inf") and abs(stability_demo[1.0][0] - stability_demo[1.0][2]) < 1e-5,
      "exp(1000) overflows to inf", measured=f"{stability_demo[1000.0][0]} at 1000, {stability_demo[1.0][0]:.4f} at 1")

# %% [markdown] exercise="ch0.log_softmax"
# Models output logits; losses and most measurements in this course use log-probabilities. Taking
# softmax and then the log loses the tokens whose probability underflows to 0 (their log is `-inf`, though
# their logit is an ordinary number), and a hand-written softmax overflows on large logits. `x -
# logsumexp(x)` has neither problem: chapter 1 trains with it and chapter 2 measures per-token losses
# with it.
#
# **Spec.** `log_softmax(x, dim=-1)` takes a float tensor of any shape and returns the log of the softmax
# over `dim` (negative allowed): the same shape and dtype as `x`, equal to `torch.log_softmax(x, dim)`. It
# must be right for entries near 1000 and near -1000, also when slices of very different scales share the
# tensor. A `-inf` entry (a masked choice) gives `-inf`; each slice has at least one finite entry. The
# gradient is torch's. Use your `logsumexp`; don't call `torch.log_softmax` or `F.log_softmax`.

# %% solution="ch0.log_softmax"


# %% check="ch0.log_softmax"
check("ch0.log_softmax", log_softmax)

# %% [markdown]
# A token whose logit is 1000 below the top one has a log-probability of about -1000. Softmax then log
# says `-inf`; the first row is the log of torch's softmax, the second yours:

# %%
far_apart = torch.tensor([1000.0, 990.0, 0.0])
print(far_apart.softmax(-1).log())
print(log_softmax(far_apart))

# %% solution_only=true
claim(far_apart.softmax(-1).log()[2] == float("-inf") and abs(log_softmax(far_apart)[2].item() + 1000) < 1e-3,
      "Softmax then log says -inf", measured=f"{far_apart.softmax(-1).log()[2].item()} against "
                                              f"{log_softmax(far_apart)[2].item():.4f}")

# %% [markdown] exercise="ch0.cross_entropy"
# Cross-entropy is the loss every language model in this course is trained on: minus the mean
# log-probability of the correct target. Built from `log_softmax` and `gather` it is three lines, and
# chapter 1's next-token loss is this function after shifting the targets by one position.
#
# **Spec.** `cross_entropy(logits, targets)` takes `logits`, a float tensor `(*batch, n_classes)` with any
# number of leading axes (`(N, n_classes)`, or `(batch, seq, vocab)`), and `targets`, a `torch.long` tensor
# `(*batch)` with entries in `0 .. n_classes - 1`, and returns a 0-dim tensor of `logits`'s dtype (a tensor,
# not a Python float: `loss.backward()` must reach the logits): the mean over every leading position of
# `-log_softmax(logits)[..., target]`, equal to `F.cross_entropy(logits.reshape(-1, n_classes),
# targets.reshape(-1))`. It must be right for logits near ±1000; a single class gives a loss of 0; `-inf`
# logits on classes other than the target are allowed. Targets of any other dtype raise a `TypeError`
# whose message names the dtype (as in `pick_targets`, and as `F.cross_entropy` does). The gradient is
# torch's. Use your `log_softmax`; don't call `F.cross_entropy` or `F.nll_loss`.

# %% solution="ch0.cross_entropy"


# %% check="ch0.cross_entropy"
check("ch0.cross_entropy", cross_entropy)

# %% [markdown]
# A model that knows nothing gives every class the same logit; its loss is then `log(n_classes)`, the
# loss of an untrained language model on its first step:

# %%
import math

torch.manual_seed(0)
for n_classes in (2, 10, 1000):
    uniform_loss = cross_entropy(torch.zeros(8, n_classes), torch.randint(0, n_classes, (8,))).item()
    print(f"{n_classes:>4} classes: loss {uniform_loss:.4f}, log(n_classes) {math.log(n_classes):.4f}")

# %% [markdown]
# ## Summary
#
# - einops names axes: `rearrange` moves, splits and merges them; `reduce` removes them; `repeat` adds
#   them. A pattern is a shape contract that fails loudly.
# - `einsum` contracts every axis missing from the output: attention scores are one line.
# - Scores are divided by `sqrt(d_head)` to keep their spread independent of the head size.
# - A previous-token head's ideal pattern is a shifted identity; circuitsvis shows patterns on tokens.
# - Checks compare with a reference on several inputs and name known mistakes.
# - `gather` reads one entry per position along an axis; one index tensor per axis pairs rows with
#   positions (`logits[arange(batch), end_pos]`).
# - `logsumexp` subtracts the max before `exp`, so logits near ±1000 stay finite; log-softmax is
#   `x - logsumexp(x)`, and cross-entropy is minus the mean log-probability of the targets.
#
# ## Explore further
#
# 1. **Merge heads back.** Write the inverse of `split_heads` with one `rearrange`, and test that
#    `merge(split(x)) == x` for random shapes. First experiment: try the wrong bracket order and see
#    which entries move.
# 2. **einsum versus matmul speed.** Time `attention_scores` against a `q.transpose(...) @ k` version for
#    `d_head` from 8 to 512 on your machine. First experiment: `%timeit` both at batch 32, 128 positions.
# 3. **Softmax temperature.** Apply softmax to unscaled and scaled scores of growing `d_head` and plot the
#    largest weight per row. First experiment: reuse the loop in section 2 and record `softmax(...).max(-1)`.
