# %% [markdown]
# **What you will be able to do.** Train a one-layer transformer on modular addition until it
# *groks* (fits its training data early, then, much later, suddenly generalises), in seconds on a
# laptop CPU; then open it up and read the algorithm it learned: the numbers become waves, the
# neurons multiply waves, and the logits are sums of `cos(w(a + b - c))`. Finally you will measure
# the training run with *progress measures* that show the generalising circuit forming long before
# test accuracy jumps.
#
# **Paper.** Nanda, Chan, Lieberum, Smith & Steinhardt (2023), *Progress measures for grokking via
# mechanistic interpretability* (ICLR 2023). Grokking itself was reported by Power et al. (2022).
#
# **Prerequisites.** Chapter 0 (einops, plotly, the checks) and chapter 1 (what attention and an MLP
# compute). School trigonometry: `cos(x + y) = cos x cos y - sin x sin y`.
#
# **Time.** About three hours: one for data, model and training, one for the Fourier analysis, one for
# the algorithm and the progress measures.
#
# **Models.** You train one model yourself in section 3. The analysis then uses a checkpoint series
# that ships with Circuit Lab, from one run of `python -m circuitlab.ch4.training` (its recipe and
# measured results are stored beside the weights), so every number below is reproducible offline.

# %%
import math
import time
from typing import Any, Callable

import einops
import plotly.express as px
import plotly.graph_objects as go
import torch
from jaxtyping import Float, Int
from plotly.subplots import make_subplots
from torch import Tensor

from circuitlab.ch4.model import full_logits, grokking_config, last_position_logits, make_grokking_model
from circuitlab.ch4.training import (SERIES_NAME, bf16_is_fast, bf16_logits_fn, embedding_key_frequencies,
                                     load_series)
from circuitlab.data.modular import modular_addition_data
from circuitlab.claims import describe
from circuitlab.models import CHECKPOINT_DIR, act_name, load_shipped, read_metadata

# These models are small enough that a CPU is the right device: a GPU would spend its time launching kernels.
device = "cpu"
# Threads: the setup cell's choice (every core; set CIRCUITLAB_THREADS to change it). On an idle 2-core
# machine two threads train this model about 1.7 times faster than one; on a busy machine one thread can
# be faster, because a second thread then mostly waits.
P = 113

# %% [markdown]
# ## 1. The task: `a + b mod p`
#
# The model reads three tokens, `a b =`, and predicts `(a + b) mod p` at the `=` position, for the prime
# p = 113. There are only p² = 12,769 possible inputs, so we can write down every one of them, train on
# a random 30%, and test on all the rest: a model that does well on the rest cannot have memorised it.
#
# Token ids 0..p-1 are the numbers and token p is `=`; the model's output vocabulary has p entries (the
# answers). Keep every pair in a fixed order, row `a * p + b`, so that anything computed on all pairs
# reshapes to a (p, p) grid with axes a and b: the analysis later depends on it.

# %% [markdown] exercise="ch4.mod_add_dataset"
# The split decides what "generalisation" means here, so it must be random (not the first rows, which
# would hold only small values of a), disjoint (a test pair seen in training measures memory, not
# understanding) and reproducible (the same seed gives the same split on every machine, whatever else
# the notebook did with the random number generator).
#
# **Spec.** `make_dataset(p, frac_train, seed)` returns four tensors of dtype `torch.long`:
# `tokens` (p², 3) with row `a * p + b` equal to `[a, b, p]`; `labels` (p²,) equal to `(a + b) % p`;
# `train_indices`, the first `int(frac_train * p * p)` entries of a random permutation of the rows
# drawn from `torch.Generator().manual_seed(seed)` (or any generator fixed by `seed` alone); and
# `test_indices`, the remaining entries. The order inside `train_indices` and `test_indices` is yours to
# choose (shuffled or sorted: they are compared as sets), but which rows go where must depend on `seed` alone.

# %% solution="ch4.mod_add_dataset"


# %% check="ch4.mod_add_dataset"
check("ch4.mod_add_dataset", make_dataset)

# %%
tokens, labels, train_indices, test_indices = make_dataset(P, 0.3, seed=0)
print("rows 0, 1 and 12,768:", tokens[[0, 1, -1]].tolist(), "labels", labels[[0, 1, -1]].tolist())
print(f"{len(train_indices)} training pairs, {len(test_indices)} test pairs")

# %% [markdown]
# ## 2. The model
#
# One transformer block: attention with 4 heads of size 32, then an MLP with 512 ReLU neurons, on a
# residual stream of width 128. There is **no LayerNorm**, so every activation is a plain function of the
# weights and the two input numbers, which makes the analysis exact. The attention and unembedding
# biases are frozen at zero, as in the paper's model. For the key bias nothing is lost: it adds the same
# number to every score in a row, which softmax ignores. The other biases could be used, so freezing
# them is a choice that keeps fewer terms to analyse, not a free simplification. It is a
# TransformerLens-native model, so hooks and caches work as in earlier chapters.

# %%
print(grokking_config(P))
model = make_grokking_model(P, seed=0)
print(f"{sum(p.numel() for p in model.parameters() if p.requires_grad):,} trainable parameters")

# %% [markdown]
# **Compute only what the loss reads.** The answer is predicted at the last position only, so the logits
# at positions 0 and 1 are wasted work. `last_position_logits` computes the same last-position logits
# from the model's weights while skipping the rest: without LayerNorm, the keys and values at a position
# depend only on the token there, so they come from small tables (one row per vocabulary entry), and only
# the query, the MLP and the unembedding run per example. It returns shape (batch, 1, d_vocab_out). Check
# that it agrees with the ordinary TransformerLens forward pass:

# %%
with torch.no_grad():
    reference_logits = full_logits(model, tokens[:1000])[:, -1:]
    fast_logits = last_position_logits(model, tokens[:1000])
print("largest difference from model(tokens)[:, -1:]:", (reference_logits - fast_logits).abs().max().item())

# %% [markdown] exercise="ch4.last_position_loss"
# The loss must read only the last position: at positions 0 and 1 the model has not seen both numbers,
# and training it to guess there would waste capacity on an impossible task. Late in training the model
# gives the right answer a probability so close to 1 that float32 cannot tell it from 1: `log_softmax`
# then returns exactly zero for that example, and its gradient vanishes with it. Computing the loss in
# float64 keeps those examples in play.
#
# **Spec.** `last_position_loss(logits, labels)` takes logits (batch, seq, d_vocab_out) and labels
# (batch,) and returns the mean over the batch of `-log softmax(logits[:, -1])[label]`, computed in
# float64, as a 0-dim float64 tensor.

# %% solution="ch4.last_position_loss"


# %% check="ch4.last_position_loss"
check("ch4.last_position_loss", last_position_loss)

# %%
with torch.no_grad():
    initial_loss = last_position_loss(last_position_logits(model, tokens[train_indices]), labels[train_indices])
print(f"loss at initialisation {initial_loss.item():.3f}; uniform guessing gives ln {P} = {math.log(P):.3f}")

# %% [markdown]
# ## 3. Training until it groks
#
# The paper trains with AdamW at learning rate 1e-3 and weight decay 1 on the full training set every
# step, and the model needs about ten thousand epochs to generalise. Weight decay is what drives
# grokking: the memorising solution needs large weights, the generalising one is cheaper, and weight
# decay keeps pushing towards the cheaper one. Raising the learning rate to 2e-2 (keeping weight decay
# at 1, so the decay per step is twenty times stronger) makes the same thing happen within a few hundred
# epochs. `python -m circuitlab.ch4.training --bench` measures both recipes on your machine.

# %% [markdown] exercise="ch4.train_model"
# A training loop is where most grokking experiments go wrong: Adam with `weight_decay` is not AdamW
# (it adds an L2 term to the gradient, which Adam then rescales away), a test pair that leaks into the
# loss turns "generalisation" into memory, and a missing warmup makes the first large steps throw the
# model around.
#
# **Spec.** `train_model(model, tokens, labels, train_indices, test_indices, n_epochs, logits_fn, lr=2e-2,
# weight_decay=1.0, warmup_steps=10, eval_every=10, stop_at_test_accuracy=None)` trains `model` in place,
# one full-batch step per epoch on the training rows, and returns a dict of lists.
# - Optimiser: `torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, betas=(0.9, 0.98))`.
# - Learning rate of step `s` (counting from 0): `lr * min(1, (s + 1) / warmup_steps)`.
# - Each epoch: `loss = last_position_loss(logits_fn(model, tokens[train_indices]), labels[train_indices])`,
#   then zero the gradients, backward, optimiser step, scheduler step. The model may arrive with gradients
#   left on it from earlier work: zeroing before each backward keeps them out of the first step.
# - After every `eval_every`-th epoch (epochs counted from 1), without gradients, append to the history:
#   `"epoch"`, `"train_loss"` and `"test_loss"` (the loss on the train and test rows after the update),
#   `"test_accuracy"` (fraction of test rows whose largest last-position logit is the label) and
#   `"weight_norm"` (the L2 norm of all parameters together). Store Python numbers (`int` epochs, `float`
#   values, e.g. `loss.item()`), not tensors.
# - If `stop_at_test_accuracy` is not None, stop right after the first evaluation whose test accuracy
#   reaches it.

# %% solution="ch4.train_model"


# %% check="ch4.train_model"
check("ch4.train_model", train_model)

# %% [markdown]
# Now train a fresh model with your loop, the fast recipe and the last-position forward pass, until it
# reaches 99% test accuracy (or 600 epochs). Everything runs in float32. On a CPU with native bfloat16
# matrix products (AVX512-BF16 or AMX) you can set `use_bf16 = True` to run the products in bfloat16
# under autocast (the weights stay float32 and the loss float64): each epoch gets cheaper, but the
# rounding changes the trajectory, and this unstable learning rate may then take longer to grok.

# %%
print("this CPU multiplies bfloat16 natively:", bf16_is_fast())
use_bf16 = False
fast_logits_fn = bf16_logits_fn(last_position_logits) if use_bf16 else last_position_logits
my_model = make_grokking_model(P, seed=0)
start = time.perf_counter()
history = train_model(my_model, tokens, labels, train_indices, test_indices, n_epochs=600, logits_fn=fast_logits_fn,
                      stop_at_test_accuracy=0.99)
seconds = time.perf_counter() - start
epochs = history["epoch"][-1]
print(f"bfloat16 matrix products: {use_bf16}; {epochs} epochs in {seconds:.1f} s "
      f"({1000 * seconds / epochs:.0f} ms per epoch, evaluation included)")
print(f"final train loss {history['train_loss'][-1]:.2e}, test loss {history['test_loss'][-1]:.2e}, "
      f"test accuracy {history['test_accuracy'][-1]:.4f}")


# %%
def plot_curves(history: dict, title: str) -> go.Figure:
    """Train and test loss (log scale) and the weight norm, against epochs."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss (log scale)", "weight norm"))
    fig.add_scatter(x=history["epoch"], y=history["train_loss"], name="train loss", row=1, col=1)
    fig.add_scatter(x=history["epoch"], y=history["test_loss"], name="test loss", row=1, col=1)
    fig.add_scatter(x=history["epoch"], y=history["weight_norm"], name="weight norm", row=1, col=2)
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(title=title, height=380)
    return fig


plot_curves(history, "Your model: memorise first, generalise later").show()

# %% [markdown]
# Read the curves from left to right. The train loss falls within a few dozen epochs while the test loss
# *rises*: the model memorises. Then, with the training set already fitted, the test loss comes down to
# meet it. With this large learning rate the run is not smooth: spikes where both losses jump at once
# are common (the model leaves a solution and comes back); they are a property of the fast recipe, which
# is why the checkpoint series below comes from a run at half the learning rate.

# %% [markdown]
# ## 4. The numbers become waves
#
# From here on we analyse the shipped run's final model. Its metadata records how it was trained and what
# was measured when it was saved; the cells below measure it again.

# %%
final_model = load_shipped(f"{SERIES_NAME}/final")
meta = read_metadata(CHECKPOINT_DIR / SERIES_NAME / "final")
print("recipe:", {k: meta["recipe"][k] for k in ("lr", "weight_decay", "seed", "frac_train", "n_epochs")})
data = modular_addition_data(meta["recipe"]["p"], meta["recipe"]["frac_train"], meta["recipe"]["seed"])
with torch.no_grad():
    final_logits = last_position_logits(final_model, data.tokens)[:, -1]
accuracy = (final_logits.argmax(-1) == data.labels).float()
print(f"train accuracy {accuracy[data.train_indices].mean():.4f}, "
      f"test accuracy {accuracy[data.test_indices].mean():.4f}")

# %% [markdown]
# The model's only access to a number is its embedding vector, a row of `W_E`. If the model computes
# something periodic in a, the embedding is the place to look. The tool is the discrete Fourier
# basis: p orthonormal vectors over the inputs 0..p-1, namely a constant and, for each frequency
# k = 1..(p-1)/2, a cosine and a sine that complete k full turns over the p inputs.

# %% [markdown] exercise="ch4.fourier_basis"
# Everything in the rest of the chapter is expressed in this basis. It has to be orthonormal so that a
# coefficient's square is the share of variance in that direction, and the ordering must be exact
# because later code reads frequency k from rows 2k-1 and 2k.
#
# **Spec.** `fourier_basis(p)` for odd p (3 or more) returns a floating-point tensor (p, p), float32 or
# float64 as you like, one basis vector per row: row 0 is constant; rows 2k-1 and 2k are `cos(2πkx/p)` and
# `sin(2πkx/p)` over x = 0..p-1, for k = 1..(p-1)/2; every row has unit norm.

# %% solution="ch4.fourier_basis"


# %% check="ch4.fourier_basis"
check("ch4.fourier_basis", fourier_basis)

# %%
basis = fourier_basis(P)
names = ["const"] + [f"{wave} {k}" for k in range(1, P // 2 + 1) for wave in ("cos", "sin")]
fig = go.Figure()
for row in (0, 1, 2, 9, 10):
    fig.add_scatter(y=basis[row], name=names[row], mode="lines")
fig.update_layout(title="A few Fourier basis vectors", xaxis_title="input x", yaxis_title="value", height=350)
fig.show()
print("largest deviation of basis @ basis.T from the identity:",
      (basis @ basis.T - torch.eye(P)).abs().max().item())

# %% [markdown] exercise="ch4.fft1d"
# Changing to the Fourier basis is one matrix product along the axis that indexes the input number.
# Applying it to the embedding tells us which frequencies the model uses to represent numbers.
#
# **Spec.** `fft1d(x, basis)` takes `x` whose first axis has length p (the input value; any further axes
# are kept, a trailing axis of length 1 included) and returns the coefficients with the same shape:
# `out[i, ...] = Σ_x basis[i, x] · x[x, ...]`. `x` and `basis` share a dtype, float32 or float64; return a
# floating-point tensor (either dtype).

# %% solution="ch4.fft1d"


# %% check="ch4.fft1d"
check("ch4.fft1d", fft1d)

# %%
W_E = final_model.W_E[:P].detach()  # the number tokens' embeddings, without '='
embedding_power = fft1d(W_E, basis).pow(2).sum(-1)
fig = px.bar(x=names, y=embedding_power, labels={"x": "Fourier component", "y": "squared norm"},
             title="The embedding in the Fourier basis: a few frequencies carry almost everything")
fig.update_layout(height=350).show()
random_power = fft1d(make_grokking_model(P, seed=1).W_E[:P].detach(), basis).pow(2).sum(-1)
print(f"largest single component's share: trained {embedding_power.max() / embedding_power.sum():.3f}, "
      f"untrained {random_power.max() / random_power.sum():.3f}")

# %% [markdown] exercise="ch4.key_frequencies"
# The handful of frequencies that stand out in the embedding are the model's *key frequencies*: the rest
# of the analysis follows them through the network. Defining them by the share of the embedding's squared
# norm gives an objective cut-off instead of eyeballing the bar chart.
#
# **Spec.** `key_frequencies(W_E, basis, fraction=0.9)` takes an embedding (p, d_model). Frequency k's
# share is the squared norm of rows 2k-1 and 2k of `fft1d(W_E, basis)` over the squared norm of all the
# coefficients. Return a 1D long tensor of the fewest frequencies whose shares add up to at least
# `fraction`, taken largest share first and listed in that order (shape `(n,)`, also when n is 1). "At least"
# includes equality: when the first frequencies' shares add up to exactly `fraction`, stop there. Frequencies
# with equal shares may come in either order, and when the cut falls between equal shares either may be taken.
# `basis` is `fourier_basis(p)` or any orthonormal basis laid out the same way (one check uses the identity, so
# that the shares are exact fractions).

# %% solution="ch4.key_frequencies"


# %% check="ch4.key_frequencies"
check("ch4.key_frequencies", key_frequencies)

# %%
key_freqs = key_frequencies(W_E, basis, 0.9)
share = sum(embedding_power[2 * k - 1] + embedding_power[2 * k] for k in key_freqs) / embedding_power.sum()
print(f"key frequencies of the shipped model: {key_freqs.tolist()}, carrying {share:.3f} of the embedding's "
      f"squared norm ({len(key_freqs)} of {P // 2} frequencies)")
my_freqs = key_frequencies(my_model.W_E[:P].detach(), basis, 0.9)
print(f"key frequencies of the model you trained: {my_freqs.tolist()}")

# %% [markdown]
# Two runs usually pick different frequencies: any frequency works for the algorithm below, and which
# ones win depends on the initialisation. The claim "only a few frequencies" is about a model that has
# finished cleaning up: the shipped one trained to the end of its run. Yours stopped at 99% test accuracy,
# before weight decay removed the rest, so it may still need more:

# %%
describe([(len(my_freqs) > len(key_freqs),
           f"Your model needs {len(my_freqs)} frequencies for 90% of its embedding's norm, the shipped one "
           f"{len(key_freqs)}: stopping at 99% test accuracy left clean-up unfinished.")],
         otherwise=f"Your model needs {len(my_freqs)} frequencies for 90% of its embedding's norm, the shipped one "
                   f"{len(key_freqs)}: yours is already as concentrated.")

# %% solution_only=true
from circuitlab.claims import claim

claim(len(key_freqs) <= 8 and embedding_power.max() / embedding_power.sum() > 5 * random_power.max() / random_power.sum(),
      "a few frequencies carry almost everything (the shipped model); an untrained embedding spreads over all of them",
      measured=f"{len(key_freqs)} key frequencies; largest share {embedding_power.max() / embedding_power.sum():.3f} "
               f"trained, {random_power.max() / random_power.sum():.3f} untrained")

# %% [markdown]
# ## 5. Neurons are functions of two waves
#
# Attention in this model mostly moves the embeddings of a and b to the `=` position, so each MLP neuron
# sees (roughly) a sum of waves in a and in b. After the ReLU, it is a function on the (a, b) grid, and a
# 2D Fourier basis (products of a 1D wave in a and a 1D wave in b) can describe it.

# %% [markdown] exercise="ch4.fourier_2d_basis_term"
# Products are what make the algorithm work: `cos(wa)·cos(wb)` and `sin(wa)·sin(wb)` combine into
# `cos(w(a + b))`. So the 2D basis functions are outer products of 1D ones, never sums (a sum of a wave
# in a and a wave in b cannot represent anything that depends on a and b jointly).
#
# **Spec.** `fourier_2d_basis_term(i, j, basis)` (i and j Python ints, `basis` float32 or float64) returns the
# (p, p) floating-point grid `f[a, b] = basis[i][a] · basis[j][b]`.

# %% solution="ch4.fourier_2d_basis_term"


# %% check="ch4.fourier_2d_basis_term"
check("ch4.fourier_2d_basis_term", fourier_2d_basis_term)

# %%
k = int(key_freqs[0])
fig = make_subplots(rows=1, cols=2, subplot_titles=(f"cos {k}(a) · cos {k}(b)", f"sin {k}(a) · sin {k}(b)"))
fig.add_trace(go.Heatmap(z=fourier_2d_basis_term(2 * k - 1, 2 * k - 1, basis), coloraxis="coloraxis"), 1, 1)
fig.add_trace(go.Heatmap(z=fourier_2d_basis_term(2 * k, 2 * k, basis), coloraxis="coloraxis"), 1, 2)
fig.update_layout(coloraxis=dict(colorscale="RdBu"), height=350, title="Two 2D basis functions (rows a, columns b)")
fig.show()

# %% [markdown] exercise="ch4.fft2d"
# Transforming a function of (a, b) into the 2D basis shows at a glance which products of waves it is
# made of; applied to all 512 neurons at once it becomes the basis of the clustering below.
#
# **Spec.** `fft2d(x, basis)` takes `x` whose first two axes are a and b (length p each; further axes are
# kept, a trailing axis of length 1 included) and returns coefficients of the same shape:
# `out[i, j, ...] = Σ_a Σ_b basis[i, a] · basis[j, b] · x[a, b, ...]`. `x` and `basis` share a dtype, float32 or
# float64; return a floating-point tensor (either dtype).
# Transform one axis at a time: a single three-operand `einsum` is correct, but without a contraction
# optimiser torch evaluates it through a (p, p, p, p) intermediate, which is slow and large.

# %% solution="ch4.fft2d"


# %% check="ch4.fft2d"
check("ch4.fft2d", fft2d)

# %%
# The MLP activations at the '=' position for every pair, from a TransformerLens cache.
post_hook = act_name("post", 0)
with torch.no_grad():
    _, cache = final_model.run_with_cache(data.tokens, names_filter=lambda name: name == post_hook)
neuron_acts = einops.rearrange(cache[post_hook][:, -1], "(a b) neuron -> a b neuron", a=P)
neuron_power = fft2d(neuron_acts, basis).pow(2)
neuron = 0
fig = make_subplots(rows=1, cols=2, subplot_titles=(f"neuron {neuron} on the (a, b) grid",
                                                    "its 2D Fourier power (first 21 components)"))
fig.add_trace(go.Heatmap(z=neuron_acts[:, :, neuron], colorscale="Viridis", showscale=False), 1, 1)
fig.add_trace(go.Heatmap(z=neuron_power[:21, :21, neuron], x=names[:21], y=names[:21], colorscale="Blues",
                         showscale=False), 1, 2)
fig.update_layout(height=420).show()

# %% [markdown] exercise="ch4.neuron_freq_fve"
# If a neuron is a function of waves at one frequency k, all its 2D power sits in the terms built from
# the constant, cos k and sin k on each axis (a 3 × 3 block, minus the constant-constant term, which is
# just the neuron's mean). Measuring what fraction of each neuron's variance its best frequency explains
# turns "the neurons look periodic" into a number, and groups the neurons into clusters by frequency.
#
# **Spec.** `neuron_freq_fve(neuron_acts, basis)` takes activations (p, p, d_mlp) indexed [a, b, neuron].
# Compute the squared 2D coefficients and zero the [0, 0] term. For each k = 1..(p-1)/2, the explained
# power is the sum over rows and columns {0, 2k-1, 2k}; the fraction of variance explained is that over
# the neuron's total power (its own: sum over the two Fourier axes). Return the tuple `(freqs, fve)`, both of
# shape (d_mlp,) (also for one neuron): each neuron's best frequency as a `torch.long` tensor, and its fraction
# of variance explained as a floating-point tensor. When two frequencies explain the same fraction, either may
# be returned. A neuron whose activations are all zero has no variance: its fve may be NaN (0 / 0) or 0, and
# its frequency is not checked.

# %% solution="ch4.neuron_freq_fve"


# %% check="ch4.neuron_freq_fve"
check("ch4.neuron_freq_fve", neuron_freq_fve)

# %%
neuron_freqs, neuron_fve = neuron_freq_fve(neuron_acts, basis)
alive = neuron_acts.flatten(0, 1).max(0).values > 0
print(f"{int(alive.sum())} of {neuron_acts.shape[-1]} neurons ever fire")
well_explained = alive & (neuron_fve > 0.8)
print(f"{int(well_explained.sum())} firing neurons have one frequency explaining more than 80% of their variance "
      f"(median over firing neurons: {neuron_fve[alive].median():.3f})")
clusters = {int(k): int(((neuron_freqs == k) & well_explained).sum()) for k in neuron_freqs[well_explained].unique()}
print("neurons per frequency (> 80% explained):", clusters)
print("key frequencies of the embedding:", sorted(key_freqs.tolist()))
fig = px.histogram(x=neuron_fve[alive], nbins=40, labels={"x": "fraction of variance explained by the best frequency"},
                   title="Nearly every neuron is a function of a single frequency")
fig.update_layout(height=330).show()

# %% solution_only=true
claim(well_explained.sum() >= 0.9 * alive.sum() and set(clusters) <= set(key_freqs.tolist()),
      "nearly every neuron is a function of a single frequency, one of the key frequencies",
      measured=f"{int(well_explained.sum())} of {int(alive.sum())}; clusters at {sorted(clusters)}")

# %% [markdown]
# ## 6. The algorithm in the logits
#
# With waves of a and b available, the products in the neurons supply `cos(w(a + b))` and
# `sin(w(a + b))`, and the unembedding reads off, for each candidate answer c,
# `cos(w(a + b)) cos(wc) + sin(w(a + b)) sin(wc) = cos(w(a + b - c))`. That is largest exactly when
# c = (a + b) mod p, for every frequency w at once; summing several frequencies makes the right answer
# stand out from all the others. If this story is right, the logits as a function of (a, b, c) should be
# mostly a sum of `cos(w_k(a + b - c))` over the key frequencies. Measure how much of the logits' variance
# those terms explain:

# %%
a_grid = torch.arange(P).repeat_interleave(P)[:, None].double()
b_grid = torch.arange(P).repeat(P)[:, None].double()
c_grid = torch.arange(P)[None, :].double()
centred = final_logits.double() - final_logits.double().mean(0, keepdim=True)
explained_total = 0.0
for k in key_freqs.tolist():
    wave = torch.cos(2 * math.pi * k * (a_grid + b_grid - c_grid) / P)  # [pairs c]
    wave = wave / wave.norm()
    coefficient = (wave * centred).sum()
    explained_total += coefficient.item() ** 2
    print(f"k = {k:3d}: coefficient {coefficient.item():8.1f}")
print(f"share of the (centred) logits' variance in cos(w_k(a + b - c)) over the key frequencies: "
      f"{explained_total / centred.pow(2).sum().item():.3f}")

# %% solution_only=true
claim(explained_total / centred.pow(2).sum().item() > 0.8, "the logits should be mostly a sum of cos(w_k(a + b - c))",
      measured=f"{explained_total / centred.pow(2).sum().item():.3f} of the variance")

# %% [markdown]
# A test of the story that does not rely on reading coefficients: throw away every part of the logits
# except the key frequencies' `cos/sin(w(a + b))` components and see whether the model still works
# (*restricted loss*), and conversely remove just those components and see whether the model can still
# fit its training data without them (*excluded loss*).

# %% [markdown] exercise="ch4.restricted_loss"
# The restricted loss asks: is the Fourier algorithm, on its own, enough? If keeping only a few
# directions of the logits leaves the loss as low as (or lower than) the full model's, then everything
# else the model computes is unnecessary for the task.
#
# **Spec.** `restricted_loss(logits, labels, freqs)` takes the logits on all pairs (p², p) in row order
# a·p + b, the labels (p²,) and a 1D tensor of frequencies. For each k in `freqs`, build the directions
# `cos(2πk(a + b)/p)` and `sin(2πk(a + b)/p)` over the p² pairs, each normalised to unit norm. Keep each
# output column's mean over the pairs plus the projection of the logits onto these directions, and
# return the mean float64 cross-entropy over all pairs (a 0-dim tensor).

# %% solution="ch4.restricted_loss" defines="sum_frequency_directions"


# %% check="ch4.restricted_loss"
check("ch4.restricted_loss", restricted_loss)

# %% [markdown] exercise="ch4.excluded_loss"
# The excluded loss asks the opposite question, and it is the one that sees the circuit early: while the
# model still relies on memorisation, removing the key directions barely hurts its training loss; once
# the training loss depends on the Fourier circuit, removing them makes the training loss shoot up, even
# though the test loss has not moved yet.
#
# **Spec.** `excluded_loss(logits, labels, freqs, train_indices)` subtracts from the logits their
# projection onto the same unit directions as above and returns the mean float64 cross-entropy over the
# training rows only (a 0-dim tensor).

# %% solution="ch4.excluded_loss"


# %% check="ch4.excluded_loss"
check("ch4.excluded_loss", excluded_loss)

# %%
full_test = last_position_loss(final_logits[:, None], data.labels)
full_train = last_position_loss(final_logits[data.train_indices][:, None], data.labels[data.train_indices])
print(f"final model, loss on all pairs:     {full_test.item():.3e}")
print(f"restricted to the key frequencies:  {restricted_loss(final_logits, data.labels, key_freqs).item():.3e}")
print(f"training loss:                      {full_train.item():.3e}")
print(f"excluding the key frequencies:      "
      f"{excluded_loss(final_logits, data.labels, key_freqs, data.train_indices).item():.3e}")

# %% solution_only=true
claim(restricted_loss(final_logits, data.labels, key_freqs) <= full_test,
      "keeping only the key-frequency components leaves the loss as low as (or lower than) the full model's",
      measured=f"restricted {restricted_loss(final_logits, data.labels, key_freqs).item():.2e}, full {full_test.item():.2e}")
claim(excluded_loss(final_logits, data.labels, key_freqs, data.train_indices) > math.log(P) / 2,
      "removing them breaks its fit to the training data",
      measured=f"excluded {excluded_loss(final_logits, data.labels, key_freqs, data.train_indices).item():.2f} nats")

# %% [markdown]
# ## 7. Progress measures: watching the circuit form
#
# The shipped series holds checkpoints of one run, chosen by the training script: initialisation, the
# moment the training set is memorised, several points while the test loss is still high, the point
# where test accuracy passes 50% and 99%, and the end. Its metadata also holds the progress measures
# every 10 epochs, computed with the reference versions of your functions. Recompute them on the
# checkpoints with your own functions and check they land on the stored curves.

# %%
series = load_series()
curves = meta["curves"]
series_freqs, _ = embedding_key_frequencies(final_model)  # the final model's key frequencies, fixed for the run
rows = []
for epoch, checkpoint in series:
    with torch.no_grad():
        logits = last_position_logits(checkpoint, data.tokens)[:, -1]
    log_probs = logits.double().log_softmax(-1).gather(-1, data.labels[:, None])[:, 0]
    rows.append({
        "epoch": epoch,
        "train_loss": -log_probs[data.train_indices].mean().item(),
        "test_loss": -log_probs[data.test_indices].mean().item(),
        "restricted_loss": restricted_loss(logits, data.labels, series_freqs).item(),
        "excluded_loss": excluded_loss(logits, data.labels, series_freqs, data.train_indices).item(),
        "weight_norm": torch.cat([p.detach().flatten() for p in checkpoint.parameters()]).norm().item(),
    })
print(f"{'epoch':>6} {'train':>9} {'test':>9} {'restricted':>10} {'excluded':>9} {'|W|':>7}")
for row in rows:
    print(f"{row['epoch']:6d} {row['train_loss']:9.2e} {row['test_loss']:9.2e} {row['restricted_loss']:10.2e} "
          f"{row['excluded_loss']:9.2e} {row['weight_norm']:7.2f}")

# %%
fig = make_subplots(rows=1, cols=2, subplot_titles=("losses (log scale)", "weight norm"))
colours = {"train_loss": "#1f77b4", "test_loss": "#ff7f0e", "restricted_loss": "#2ca02c", "excluded_loss": "#d62728"}
for key, colour in colours.items():
    fig.add_scatter(x=curves["epoch"], y=curves[key], name=key.replace("_", " "), line=dict(color=colour), row=1, col=1)
    fig.add_scatter(x=[r["epoch"] for r in rows], y=[r[key] for r in rows], mode="markers", showlegend=False,
                    marker=dict(color=colour, size=9, symbol="circle-open"), row=1, col=1)
fig.add_scatter(x=curves["epoch"], y=curves["weight_norm"], name="weight norm", line=dict(color="black"), row=1, col=2)
fig.add_scatter(x=[r["epoch"] for r in rows], y=[r["weight_norm"] for r in rows], mode="markers", showlegend=False,
                marker=dict(color="black", size=9, symbol="circle-open"), row=1, col=2)
fig.update_yaxes(type="log", row=1, col=1)
fig.update_xaxes(title_text="epoch")
fig.update_layout(title="Progress measures (lines: every 10 epochs, stored; circles: your functions on the checkpoints)",
                  height=420)
fig.show()

# %% [markdown]
# Locate the three phases from the stored curves rather than by eye:

# %%
def first_epoch(values: list[float], condition) -> int:
    return next(e for e, v in zip(curves["epoch"], values) if condition(v))


memorised = first_epoch(curves["train_accuracy"], lambda v: v >= 0.99)
formed = first_epoch(curves["restricted_loss"], lambda v: v < 0.1)  # the Fourier circuit works on its own
grokked = first_epoch(curves["test_accuracy"], lambda v: v >= 0.99)
at = {e: i for i, e in enumerate(curves["epoch"])}


def measured_at(key: str, epoch: int) -> float:
    return curves[key][at[epoch]]


formation = [i for i, e in enumerate(curves["epoch"]) if memorised <= e < formed]
worse_than_uniform = sum(curves["test_loss"][i] > math.log(P) for i in formation) / len(formation)
print(f"memorisation, epochs 0-{memorised} (train accuracy reaches 99%): test loss {measured_at('test_loss', 0):.2f} -> "
      f"{measured_at('test_loss', memorised):.2f}, test accuracy {measured_at('test_accuracy', memorised):.3f}")
print(f"circuit formation, epochs {memorised}-{formed} (until the restricted loss is below 0.1): excluded loss "
      f"{measured_at('excluded_loss', memorised):.2f} -> {measured_at('excluded_loss', formed):.2f}, restricted loss "
      f"{measured_at('restricted_loss', memorised):.2f} -> {measured_at('restricted_loss', formed):.3f}, test loss "
      f"{measured_at('test_loss', memorised):.2f} -> {measured_at('test_loss', formed):.2f}, test accuracy "
      f"{measured_at('test_accuracy', memorised):.3f} -> {measured_at('test_accuracy', formed):.3f}; the test loss is "
      f"above uniform guessing (ln {P} = {math.log(P):.2f}) for {worse_than_uniform:.0%} of the phase")
print(f"clean-up, epochs {formed}-{grokked} (until test accuracy reaches 99%): weight norm "
      f"{measured_at('weight_norm', formed):.1f} -> {measured_at('weight_norm', grokked):.1f} "
      f"({measured_at('weight_norm', memorised):.1f} at memorisation, {curves['weight_norm'][-1]:.1f} at the end), "
      f"test loss {measured_at('test_loss', formed):.2f} -> {measured_at('test_loss', grokked):.3f}")

# %% [markdown]
# The phase boundaries above come from the measures themselves: memorisation ends when the training
# accuracy reaches 99%, circuit formation when the restricted loss (the Fourier circuit on its own) is
# below 0.1, clean-up when the test accuracy reaches 99%.
#
# **Memorisation.** The training loss falls and the test loss rises: the model fits the training pairs
# with a lookup-table-like solution that says nothing about the test pairs.
#
# **Circuit formation.** The training loss is already tiny, yet the excluded loss climbs: the training
# loss is coming to depend on the key-frequency directions, so the Fourier circuit is doing more and
# more of the work. The restricted loss falls at the same time, as the circuit gets good enough to stand
# on its own. The train curve shows nothing of this. The test curve does move: it falls through the whole
# phase, but stays above uniform guessing for much of it, and test accuracy is still far from 99% at the
# end.
#
# **Clean-up.** Weight decay removes the now redundant memorising components, the weight norm drops
# faster, and the test loss falls the rest of the way: the sudden jump in test accuracy is the last phase
# of a change that was under way long before.

# %% solution_only=true
from circuitlab.claims import claim

claim(measured_at("test_loss", memorised) > measured_at("test_loss", 0), "the training loss falls and the test loss rises",
      measured=f"test loss {measured_at('test_loss', 0):.2f} -> {measured_at('test_loss', memorised):.2f}")
claim(measured_at("excluded_loss", formed) > 3 * measured_at("excluded_loss", memorised)
      and max(curves["train_loss"][i] for i in formation) < 0.5,
      "the training loss is already tiny, yet the excluded loss climbs",
      measured=f"excluded {measured_at('excluded_loss', memorised):.2f} -> {measured_at('excluded_loss', formed):.2f}")
claim(measured_at("test_loss", formed) < measured_at("test_loss", memorised) and worse_than_uniform >= 0.4
      and measured_at("test_accuracy", formed) < 0.9,
      "the test loss falls through the whole phase, but stays above uniform guessing for much of it, and test "
      "accuracy is still far from 99% at the end",
      measured=f"test loss {measured_at('test_loss', memorised):.2f} -> {measured_at('test_loss', formed):.2f}, "
               f"{worse_than_uniform:.0%} above ln p, accuracy {measured_at('test_accuracy', formed):.3f}")
norm_drop_rate = [(measured_at("weight_norm", a) - measured_at("weight_norm", b)) / (b - a)
                  for a, b in ((memorised, formed), (formed, grokked))]
claim(norm_drop_rate[1] > norm_drop_rate[0] > -0.05, "the weight norm drops faster during clean-up",
      measured=f"{norm_drop_rate[0]:.3f} per epoch during circuit formation, {norm_drop_rate[1]:.3f} during clean-up")

# %% [markdown]
# ## Summary
#
# - Modular addition with a 30% training split separates memorisation from generalisation cleanly, and
#   with AdamW at lr 2e-2 and weight decay 1 a one-layer transformer groks within a few hundred epochs;
#   computing only the last position makes that a short cell on a CPU.
# - The trained model (the shipped one, after clean-up) represents numbers as waves at a few key
#   frequencies, its neurons are functions of one frequency each, and its logits are close to a sum of
#   `cos(w(a + b - c))`.
# - Keeping only the key-frequency components of the logits keeps the model working (restricted loss);
#   removing them breaks its fit to the training data (excluded loss).
# - Progress measures built from that understanding show the generalising circuit forming while the
#   training loss is flat and long before test accuracy jumps; they also give the phases' boundaries.
#
# ## Explore further
#
# 1. **Which phase does weight decay control?** Train with `weight_decay=0.3` and `3.0` (everything else
#    fixed). First experiment: record the epoch at which test accuracy passes 99% and the final weight
#    norm for each, with `n_epochs=600`.
# 2. **Does the training fraction matter?** Rebuild the dataset with `frac_train` 0.2 and 0.5. First
#    experiment: the epochs to 99% test accuracy for each, and the number of key frequencies the model
#    ends up with.
# 3. **Attention's role.** Cache `pattern` for all pairs and average each head's attention from `=` to a,
#    b and `=`. First experiment: plot one head's attention to a as a (p, p) grid and compute its 2D
#    Fourier power: is it periodic too?
# 4. **Other operations.** Change the labels to `(a - b) mod p` or `(a * b) mod p` and train with the fast
#    recipe. First experiment: does it grok, and does the embedding still concentrate on a few frequencies
#    (for multiplication, try the embedding indexed by the discrete logarithm of a)?
# 5. **Restricted loss during training.** The restricted loss is computed with the final model's key
#    frequencies. First experiment: compute each checkpoint's own key frequencies with `key_frequencies`
#    and see from which checkpoint on they match the final ones.
