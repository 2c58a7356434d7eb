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
# **Time.** About four hours: one for data, model and training, one and a half for the Fourier analysis of the
# embedding, the neurons and the attention, one and a half for the algorithm, the progress measures and the
# comparison with the paper's run.
#
# **Models.** You train one model yourself in section 3, and train it on through clean-up in section 8. The
# analysis uses a checkpoint series that ships with Circuit Lab, from one run of
# `python -m circuitlab.ch4.training` (its recipe and measured results are stored beside the weights), so
# every number below is reproducible offline.

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

#
# The logits function below also keeps a copy of the weights every 20 optimiser steps (it notices a step as a
# change in the embedding between two calls), so that section 8 can measure your run after the fact.

# %%
class KeepingSnapshots:
    """A logits_fn that calls ``logits_fn`` and keeps the model's weights every ``every`` optimiser steps."""

    def __init__(self, logits_fn: Callable, every: int = 20, steps_before: int = 0) -> None:
        self.logits_fn, self.every, self.steps = logits_fn, every, steps_before
        self.last_seen: Tensor | None = None
        self.snapshots: dict[int, dict[str, Tensor]] = {}

    def __call__(self, model, tokens: Tensor) -> Tensor:
        embedding = model.W_E.detach()
        if self.last_seen is not None and not torch.equal(embedding, self.last_seen):
            self.steps += 1  # the weights changed since the last call: one more optimiser step
        self.last_seen = embedding.clone()
        if self.steps % self.every == 0 and self.steps not in self.snapshots:
            self.snapshots[self.steps] = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return self.logits_fn(model, tokens)


print("this CPU multiplies bfloat16 natively:", bf16_is_fast())
use_bf16 = False
fast_logits_fn = bf16_logits_fn(last_position_logits) if use_bf16 else last_position_logits
my_model = make_grokking_model(P, seed=0)
my_snapshots = KeepingSnapshots(fast_logits_fn)
start = time.perf_counter()
history = train_model(my_model, tokens, labels, train_indices, test_indices, n_epochs=600, logits_fn=my_snapshots,
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
# before weight decay removed the rest, so it may still need more (section 8 trains it on):

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
# The 2D Fourier power says *which* terms a neuron is made of. The paper puts the same finding as a fit:
# each neuron is close to a degree-2 polynomial in the cosine and sine of `w·a` and `w·b` for its own
# frequency w. Fitting that polynomial directly, by least squares, checks the claim without going through
# the basis at all.

# %% [markdown] exercise="ch4.trig_regression_fve"
# A regression makes the claim falsifiable neuron by neuron: if the fit on nine trig terms of one frequency
# leaves little of a neuron's variance unexplained, the neuron really is such a polynomial; if it leaves a
# lot, the neuron does something else. The nine features are exactly the 3 × 3 block of 2D basis functions
# the previous exercise summed, so the two measures should agree: seeing why is part of the exercise.
#
# **Spec.** `trig_regression_fve(neuron_acts, freqs)` takes activations (p, p, d_mlp) indexed [a, b, neuron]
# and a `torch.long` tensor (d_mlp,) giving each neuron's frequency. For neuron n, with w = 2π·freqs[n]/p,
# the features over the grid are the nine products u(a)·v(b) with u and v each one of 1, cos(w·), sin(w·):
# the constant, cos wa, sin wa, cos wb, sin wb, and the four products cos wa cos wb, cos wa sin wb,
# sin wa cos wb, sin wa sin wb. Fit the neuron's p² activations by least squares on these features and return
# the floating-point tensor (d_mlp,) of `1 - Σ residual² / Σ (y - mean y)²` (shape (d_mlp,) also for one
# neuron). Work in float64. A neuron with no variance (all zeros, or constant) may get 0 or NaN.

# %% solution="ch4.trig_regression_fve"


# %% check="ch4.trig_regression_fve"
check("ch4.trig_regression_fve", trig_regression_fve)

# %%
trig_fve = trig_regression_fve(neuron_acts, neuron_freqs)
print(f"median fraction of variance explained over firing neurons: {trig_fve[alive].median():.3f}; "
      f"{int((trig_fve[alive] > 0.8).sum())} of {int(alive.sum())} above 0.8")
print("largest difference from neuron_freq_fve on firing neurons:",
      f"{(trig_fve[alive] - neuron_fve[alive].double()).abs().max().item():.1e}")

# %% solution_only=true
claim(trig_fve[alive].median() > 0.9, "each neuron is close to a degree-2 polynomial in the cosine and sine of "
      "w·a and w·b for its own frequency", measured=f"median fve {trig_fve[alive].median():.3f}")

# %% [markdown]
# If the neurons of one frequency cluster carry that frequency's part of the algorithm, removing a cluster
# should hurt, and removing the clusters one at a time measures how much each contributes.

# %% [markdown] exercise="ch4.ablate_neurons_loss"
# An ablation turns a correlation ("these neurons are waves at frequency k") into a causal statement ("the
# model needs them"). Zero-ablation (setting the activations to 0) is the simplest kind; it must touch only
# the chosen neurons, at the MLP's output nonlinearity, and leave no hook behind.
#
# **Spec.** `ablate_neurons_loss(model, tokens, labels, neurons)` takes the model, tokens (batch, 3), labels
# (batch,) and a bool tensor `neurons` (d_mlp,). Run the model with the activations at
# `blocks.0.mlp.hook_post` set to zero wherever `neurons` is True, and return the mean float64 cross-entropy
# of the last position's prediction as a 0-dim tensor. Leave the model as you found it (no hooks left on it,
# weights unchanged).

# %% solution="ch4.ablate_neurons_loss"


# %% check="ch4.ablate_neurons_loss"
check("ch4.ablate_neurons_loss", ablate_neurons_loss)

# %%
plain_loss = ablate_neurons_loss(final_model, data.tokens, data.labels, torch.zeros_like(alive)).item()
print(f"loss on all pairs, nothing ablated: {plain_loss:.2e}")
cluster_losses = {}
generator = torch.Generator().manual_seed(0)
for k in sorted(clusters):
    members = (neuron_freqs == k) & well_explained
    cluster_losses[k] = ablate_neurons_loss(final_model, data.tokens, data.labels, members).item()
    # The same number of firing neurons drawn from the other clusters, for comparison.
    others = torch.nonzero(alive & ~members).flatten()
    control = torch.zeros_like(alive)
    control[others[torch.randperm(len(others), generator=generator)[: int(members.sum())]]] = True
    control_loss = ablate_neurons_loss(final_model, data.tokens, data.labels, control).item()
    print(f"frequency {k:3d}: {int(members.sum()):3d} neurons; ablating them gives loss {cluster_losses[k]:.2e}; "
          f"as many random neurons from the other clusters {control_loss:.2e}")
worst = max(cluster_losses, key=cluster_losses.get)
mildest = min(cluster_losses, key=cluster_losses.get)
describe([(cluster_losses[mildest] > 10 * plain_loss,
           f"Every cluster matters: removing any one raises the loss at least tenfold (from {plain_loss:.1e} to "
           f"between {cluster_losses[mildest]:.1e} for frequency {mildest} and {cluster_losses[worst]:.2f} for "
           f"frequency {worst}), so the other frequencies cannot fully make up for a missing one."),
          (cluster_losses[worst] > 10 * plain_loss,
           f"Some clusters matter much more than others: removing frequency {worst}'s neurons raises the loss to "
           f"{cluster_losses[worst]:.2f}, removing frequency {mildest}'s only to {cluster_losses[mildest]:.1e}.")],
         otherwise="No single cluster's ablation raises the loss tenfold: the clusters back each other up.")

# %% [markdown]
# Read the printed line: one frequency's neurons can be removed with the other frequencies still standing,
# and the loss says how much the remaining ones make up for it.
#
# Attention is the other half of the block. Its query is always the `=` token at position 2, so its pattern
# depends on the keys alone, that is on a and b: if the embeddings are waves, the attention paid to a should
# be periodic in a and b at the same key frequencies.

# %% [markdown] exercise="ch4.attention_to_a"
# Reading a pattern off the cache for every input at once, and laying it out on the (a, b) grid, is what
# lets the Fourier tools from before apply to attention too.
#
# **Spec.** `attention_to_a(model, tokens)` takes the model and the tokens of all p² pairs in row order
# a·p + b and returns a floating-point tensor (p, p, n_heads): `out[a, b, h]` is head h's attention from the
# last position (`=`) to position 0 (the token a), read from `blocks.0.attn.hook_pattern` (its axes are
# [batch, head, query position, key position]). Keep the head axis also when there is one head, and leave
# no hooks on the model.

# %% solution="ch4.attention_to_a"


# %% check="ch4.attention_to_a"
check("ch4.attention_to_a", attention_to_a)

# %%
attention_grid = attention_to_a(final_model, data.tokens).double()
attention_power = fft2d(attention_grid, basis.double()).pow(2)
attention_power[0, 0] = 0.0
key_rows = torch.cat([torch.tensor([0]), 2 * key_freqs - 1, 2 * key_freqs])
attention_key_share = attention_power[key_rows][:, key_rows].sum((0, 1)) / attention_power.sum((0, 1))
print("share of each head's attention-to-a variance in terms built from the key frequencies:",
      [round(v, 3) for v in attention_key_share.tolist()],
      f"(those terms are {len(key_rows) ** 2 - 1} of the {P * P - 1} non-constant ones)")
fig = make_subplots(rows=1, cols=2, subplot_titles=("head 0: attention from '=' to a (rows a, columns b)",
                                                    "its 2D Fourier power (first 21 components)"))
fig.add_trace(go.Heatmap(z=attention_grid[:, :, 0], colorscale="Viridis", showscale=False), 1, 1)
fig.add_trace(go.Heatmap(z=attention_power[:21, :21, 0], x=names[:21], y=names[:21], colorscale="Blues",
                         showscale=False), 1, 2)
fig.update_layout(height=420).show()

# %% solution_only=true
claim(bool((attention_key_share > 0.9).all()), "the attention paid to a is periodic in a and b at the same key "
      "frequencies", measured=f"key-frequency shares {[round(v, 3) for v in attention_key_share.tolist()]}")

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
# The last step of the algorithm happens in the weights after the neurons: each neuron writes to the logits
# through one row of the *neuron-logit map* `W_L = W_out W_U` (d_mlp, p), a function of the answer c. If the
# neurons supply `cos(w(a + b))` and `sin(w(a + b))` and the output turns them into `cos(w(a + b - c))`, then
# each row of `W_L` should itself be a wave in c at the key frequencies, and nothing else.

# %% [markdown] exercise="ch4.neuron_logit_fourier"
# The embedding was the place to look for waves in the inputs; `W_L` is the place to look for waves in the
# output. It is a weight matrix, so this is a statement about the model that needs no data at all.
#
# **Spec.** `neuron_logit_fourier(model, basis)` returns a floating-point tensor (p, d_mlp): with
# `W_L = model.W_out[0] @ model.W_U` (one row per neuron, one column per answer c),
# `out[i, n] = Σ_c basis[i, c] · W_L[n, c]`: column n is neuron n's map in the Fourier basis over c, rows in
# the basis's order (constant, then cos k and sin k for each k). `basis` is `fourier_basis(p)` (float32, like the
# weights); p is the model's number of answers.

# %% solution="ch4.neuron_logit_fourier"


# %% check="ch4.neuron_logit_fourier"
check("ch4.neuron_logit_fourier", neuron_logit_fourier)

# %%
W_L_fourier = neuron_logit_fourier(final_model, basis)
map_power = W_L_fourier.pow(2).sum(-1)  # [component]
map_frequency_power = map_power[1::2] + map_power[2::2]  # [frequency - 1]
map_key_share = (map_frequency_power[key_freqs - 1].sum() / map_power.sum()).item()
fig = px.bar(x=names, y=map_power, labels={"x": "Fourier component over c", "y": "squared norm over the neurons"},
             title="The neuron-logit map W_out W_U in the Fourier basis")
fig.update_layout(height=350).show()
random_map = neuron_logit_fourier(make_grokking_model(P, seed=1), basis).pow(2).sum(-1)
random_key_share = ((random_map[1::2] + random_map[2::2])[key_freqs - 1].sum() / random_map.sum()).item()
print(f"share of W_L's squared norm in the key frequencies {sorted(key_freqs.tolist())}: {map_key_share:.3f} "
      f"(an untrained model: {random_key_share:.3f}; {len(key_freqs)} of {P // 2} frequencies)")
print("the map's five largest frequencies:", (map_frequency_power.argsort(descending=True)[:5] + 1).tolist())

# %% solution_only=true
claim(map_key_share > 0.9 and random_key_share < 0.3, "each row of W_L should itself be a wave in c at the key "
      "frequencies, and nothing else", measured=f"key share {map_key_share:.3f}, untrained {random_key_share:.3f}")

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


def measure(checkpoint, freqs: Tensor, epoch: int, split=data) -> dict[str, float]:
    """The progress measures of one checkpoint on every pair, with your restricted and excluded losses."""
    with torch.no_grad():
        logits = last_position_logits(checkpoint, split.tokens)[:, -1]
    log_probs = logits.double().log_softmax(-1).gather(-1, split.labels[:, None])[:, 0]
    correct = (logits.argmax(-1) == split.labels).float()
    return {
        "epoch": epoch,
        "train_loss": -log_probs[split.train_indices].mean().item(),
        "test_loss": -log_probs[split.test_indices].mean().item(),
        "train_accuracy": correct[split.train_indices].mean().item(),
        "test_accuracy": correct[split.test_indices].mean().item(),
        "restricted_loss": restricted_loss(logits, split.labels, freqs).item(),
        "excluded_loss": excluded_loss(logits, split.labels, freqs, split.train_indices).item(),
        "weight_norm": torch.cat([p.detach().flatten() for p in checkpoint.parameters()]).norm().item(),
    }


rows = [measure(checkpoint, series_freqs, epoch) for epoch, checkpoint in series]
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
# The restricted and excluded losses need the key frequencies, read off the final model. A progress measure
# that needs nothing from the end of training is *sparsity in the Fourier basis*: a memorising model has no
# reason to prefer any frequency, the finished algorithm uses a handful, so the embedding's and the
# neuron-logit map's norms should concentrate on fewer and fewer Fourier components as the circuit forms and
# weight decay cleans up.

# %% [markdown] exercise="ch4.gini"
# The Gini coefficient turns "concentrated on a few components" into one number between 0 (every component the
# same size) and nearly 1 (one component holds everything), with no threshold to pick, which is what a
# measure tracked across training needs.
#
# **Spec.** `gini(x)` takes a non-negative floating-point tensor and returns the Gini coefficient of each row
# along the last axis, `G = Σ_i Σ_j |x_i - x_j| / (2 n Σ_i x_i)` with n the length of that axis, as a
# floating-point tensor of shape `x.shape[:-1]` (a 0-dim tensor for a 1D input). A row of all zeros has no
# inequality: return 0 for it, not NaN. So a row of equal entries gives 0 and a row with a single non-zero entry
# gives (n - 1)/n. The double sum needs an (n, n) table per row; sorting each row ascending gives the same value
# in O(n log n): `Σ_i Σ_j |x_i - x_j| = 2 Σ_i (2i - n - 1) x_(i)` for the sorted entries x_(1) <= ... <= x_(n).
# Do not change `x`.

# %% solution="ch4.gini"


# %% check="ch4.gini"
check("ch4.gini", gini)

# %%
def fourier_sparsity(checkpoint) -> tuple[float, float]:
    """Gini coefficients of the Fourier components' norms: of the embedding, and of the neuron-logit map."""
    embedding = fft1d(checkpoint.W_E[:P].detach(), basis).norm(dim=-1)
    neuron_logit = neuron_logit_fourier(checkpoint, basis).norm(dim=-1)
    return gini(embedding).item(), gini(neuron_logit).item()


sparsity = [(epoch, *fourier_sparsity(checkpoint)) for epoch, checkpoint in series]
print(f"{'epoch':>6} {'Gini W_E':>9} {'Gini W_L':>9}")
for epoch, gini_embedding, gini_map in sparsity:
    print(f"{epoch:6d} {gini_embedding:9.3f} {gini_map:9.3f}")
random_sparsity = fourier_sparsity(make_grokking_model(P, seed=1))
print(f"an untrained model (seed 1): {random_sparsity[0]:.3f}, {random_sparsity[1]:.3f}")

# %% solution_only=true
from circuitlab.claims import claim

claim(all(b[1] > a[1] and b[2] > a[2] for a, b in zip(sparsity[1:], sparsity[2:])),
      "the embedding's and the neuron-logit map's norms concentrate on fewer and fewer Fourier components as the "
      "circuit forms and weight decay cleans up",
      measured="Gini from the memorised checkpoint on: " + ", ".join(f"{g:.2f}/{m:.2f}" for _, g, m in sparsity[1:]))

# %% [markdown] exercise="ch4.phase_boundaries"
# Where one phase ends is a matter of definition, and a definition written as code can be applied to any run:
# yours, the shipped one, one with another seed. Each boundary below reads one progress measure.
#
# **Spec.** `phase_boundaries(curves, restricted_threshold=0.1, norm_tolerance=0.01)` takes a dict of equal-length
# lists, `"epoch"` (increasing ints), `"train_accuracy"`, `"test_accuracy"`, `"restricted_loss"` and
# `"weight_norm"` (other keys may be present), and returns the dict
# `{"memorised": ..., "formed": ..., "grokked": ..., "cleaned": ...}` of epochs (Python ints, from
# `curves["epoch"]`), each None when the run never gets there:
# - `"memorised"`: the first epoch whose train accuracy is at least 0.99 (end of memorisation);
# - `"formed"`: the first epoch whose restricted loss is below `restricted_threshold` (strictly): the Fourier
#   circuit works on its own (end of circuit formation);
# - `"grokked"`: the first epoch whose test accuracy is at least 0.99;
# - `"cleaned"`: the first epoch, at or after `"grokked"`, from which on every weight norm up to the end stays
#   within `norm_tolerance` of the last one (`|norm - last| <= norm_tolerance * |last|`): weight decay has nothing
#   left to remove (end of clean-up). None when the run never groks. It assumes the run went on long enough to
#   settle; if it did not, the answer is (close to) the last epoch.

# %% solution="ch4.phase_boundaries"


# %% check="ch4.phase_boundaries"
check("ch4.phase_boundaries", phase_boundaries)

# %%
phases = phase_boundaries(curves)
memorised, formed, grokked, cleaned = (phases[key] for key in ("memorised", "formed", "grokked", "cleaned"))
at = {e: i for i, e in enumerate(curves["epoch"])}


def measured_at(key: str, epoch: int) -> float:
    return curves[key][at[epoch]]


formation = [i for i, e in enumerate(curves["epoch"]) if memorised <= e < formed]
worse_than_uniform = sum(curves["test_loss"][i] > math.log(P) for i in formation) / len(formation)
print("boundaries from the progress measures:", phases)
print(f"memorisation, epochs 0-{memorised} (train accuracy reaches 99%): test loss {measured_at('test_loss', 0):.2f} -> "
      f"{measured_at('test_loss', memorised):.2f}, test accuracy {measured_at('test_accuracy', memorised):.3f}")
print(f"circuit formation, epochs {memorised}-{formed} (until the restricted loss is below 0.1): excluded loss "
      f"{measured_at('excluded_loss', memorised):.2f} -> {measured_at('excluded_loss', formed):.2f}, restricted loss "
      f"{measured_at('restricted_loss', memorised):.2f} -> {measured_at('restricted_loss', formed):.3f}, test loss "
      f"{measured_at('test_loss', memorised):.2f} -> {measured_at('test_loss', formed):.2f}, test accuracy "
      f"{measured_at('test_accuracy', memorised):.3f} -> {measured_at('test_accuracy', formed):.3f}; the test loss is "
      f"above uniform guessing (ln {P} = {math.log(P):.2f}) for {worse_than_uniform:.0%} of the phase")
print(f"clean-up, epochs {formed}-{cleaned} (until the weight norm settles within 1% of its final value), test "
      f"accuracy reaching 99% at epoch {grokked}: weight norm {measured_at('weight_norm', formed):.1f} -> "
      f"{measured_at('weight_norm', grokked):.1f} (at 99% test accuracy) -> {measured_at('weight_norm', cleaned):.1f} "
      f"({measured_at('weight_norm', memorised):.1f} at memorisation, {curves['weight_norm'][-1]:.1f} at the end), "
      f"test loss {measured_at('test_loss', formed):.2f} -> {measured_at('test_loss', grokked):.3f} -> "
      f"{measured_at('test_loss', cleaned):.1e}")

# %%
fig = make_subplots(rows=1, cols=2, subplot_titles=("Gini coefficients in the Fourier basis", "weight norm"))
fig.add_scatter(x=[e for e, _, _ in sparsity], y=[g for _, g, _ in sparsity], name="Gini of W_E", mode="lines+markers",
                row=1, col=1)
fig.add_scatter(x=[e for e, _, _ in sparsity], y=[m for _, _, m in sparsity], name="Gini of W_L", mode="lines+markers",
                row=1, col=1)
fig.add_scatter(x=curves["epoch"], y=curves["weight_norm"], name="weight norm", line=dict(color="black"), row=1, col=2)
for name, epoch in phases.items():
    if epoch is not None:
        for col in (1, 2):
            fig.add_vline(x=epoch, line_dash="dot", line_color="grey", row=1, col=col)
        fig.add_annotation(x=epoch, y=1.0, yref="y domain", text=name, showarrow=False, row=1, col=2)
fig.update_xaxes(title_text="epoch", type="log")
fig.update_layout(title="Sparsity and weight norm across the shipped series, with the phase boundaries (dotted)",
                  height=400)
fig.show()

# %% [markdown]
# The phase boundaries above come from the measures themselves: memorisation ends when the training
# accuracy reaches 99%, circuit formation when the restricted loss (the Fourier circuit on its own) is
# below 0.1, clean-up when the weight norm has settled; test accuracy reaches 99% inside clean-up.
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
# of a change that was under way long before. It does not end there: long after test accuracy has reached
# 99% the weight norm keeps falling and the Gini coefficients keep rising, as the model sheds the
# frequencies it no longer needs.

# %% solution_only=true
from circuitlab.claims import claim

claim(memorised < formed < grokked < cleaned, "test accuracy reaches 99% inside clean-up",
      measured=f"boundaries {phases}")
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
claim(norm_drop_rate[1] > norm_drop_rate[0] > -0.05, "the weight norm drops faster",
      measured=f"{norm_drop_rate[0]:.3f} per epoch during circuit formation, {norm_drop_rate[1]:.3f} from its end to "
               "99% test accuracy")
final_sparsity, grokked_sparsity = sparsity[-1], next(row for row in sparsity if row[0] >= grokked)
claim(measured_at("weight_norm", cleaned) < 0.95 * measured_at("weight_norm", grokked) and cleaned > 2 * grokked
      and final_sparsity[1] > grokked_sparsity[1] + 0.1 and final_sparsity[2] > grokked_sparsity[2] + 0.1,
      "long after test accuracy has reached 99% the weight norm keeps falling and the Gini coefficients keep rising",
      measured=f"norm {measured_at('weight_norm', grokked):.1f} at epoch {grokked} -> "
               f"{measured_at('weight_norm', cleaned):.1f} at {cleaned}; Gini {grokked_sparsity[1]:.2f}/"
               f"{grokked_sparsity[2]:.2f} at {grokked_sparsity[0]} -> {final_sparsity[1]:.2f}/{final_sparsity[2]:.2f}")

# %% [markdown]
# ## 8. Your run, the shipped run and the paper's
#
# Your model stopped at 99% test accuracy, in the middle of clean-up. Now train it on until clean-up is over,
# and read all three phases off its own progress measures, as section 7 did for the shipped run.
#
# The recipe for the rest of the run matters. At the fast recipe's learning rate (2e-2) a model this far into
# clean-up is not stable: once the training loss is tiny, Adam's normalised steps stay large while the
# gradients shrink, and sooner or later the loss spikes (a *slingshot*), the weight norm jumps and the model
# relearns part of its solution. Decaying the learning rate does not help either: AdamW's decay per step is
# lr × weight decay, so it slows clean-up down with it. The continuation below uses the library's loop (`train`
# in `circuitlab.ch4.training`: same model, same split, a fresh AdamW) with the shipped run's recipe, half the
# fast learning rate and the same weight decay, which has no spikes; it keeps the weights every 20 epochs and
# the sparsity measures every 100. How long clean-up takes depends on the path your run took (even the number
# of CPU threads changes it), so the cell does not fix the length: after at least 1,600 epochs it stops at the
# first hundred where the weight norm has stayed within 1% for 200 epochs and both Gini coefficients moved by
# less than 0.01 over the last 100 (`cleanup_looks_over`), and after 2,800 at the latest. It is the longest cell
# of the chapter (two to four minutes on two cores).

# %%
from circuitlab.ch4.training import CLEANUP, CLEANUP_EPOCHS, CLEANUP_MAX_EPOCHS, cleanup_looks_over, train as train_further
from circuitlab.data.modular import ModularAdditionData

my_split = ModularAdditionData(tokens, labels, train_indices, test_indices)  # your dataset and split from section 1
print(f"clean-up recipe: lr {CLEANUP.lr:g}, weight decay {CLEANUP.weight_decay:g} (the shipped run's: lr "
      f"{meta['recipe']['lr']:g}, weight decay {meta['recipe']['weight_decay']:g}), warmup {CLEANUP.warmup_steps} "
      f"steps, for at least {CLEANUP_EPOCHS} epochs and at most {CLEANUP_MAX_EPOCHS}")


def sparsity_row(epoch: int, model) -> tuple[int, float, float, int]:
    return (epoch, *fourier_sparsity(model), len(key_frequencies(model.W_E[:P].detach(), basis, 0.9)))


def keep(epoch: int, model, history) -> None:
    """Every 20 epochs a snapshot of the weights, every 100 the sparsity measures."""
    my_snapshots.snapshots[epochs + epoch] = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if epoch % 100 == 0:
        my_sparsity.append(sparsity_row(epochs + epoch, model))


my_sparsity = [sparsity_row(epochs, my_model)]
start = time.perf_counter()
more = train_further(my_model, my_split, CLEANUP_MAX_EPOCHS, CLEANUP, eval_every=20, progress=True,
                     checkpoint_at=lambda epoch, h: epoch > 0, on_checkpoint=keep,
                     stop_when=lambda epoch, history: cleanup_looks_over(epoch, history, my_sparsity))
cleanup_seconds = time.perf_counter() - start
ran = more.epoch[-1]
largest_jump = max(b - a for a, b in zip(more.train_loss, more.train_loss[1:]))
print(f"{ran} more epochs in {cleanup_seconds:.1f} s ({1000 * cleanup_seconds / ran:.0f} ms "
      f"per epoch); test accuracy now {more.test_accuracy[-1]:.4f}, train loss {more.train_loss[-1]:.1e}; the "
      f"largest rise of the train loss between two evaluations: {largest_jump:.1e}")
print(f"{'epoch':>6} {'Gini W_E':>9} {'Gini W_L':>9} {'frequencies for 90%':>20}")
for epoch, gini_embedding, gini_map, n_freqs in my_sparsity:
    print(f"{epoch:6d} {gini_embedding:9.3f} {gini_map:9.3f} {n_freqs:20d}")
my_freqs_now = key_frequencies(my_model.W_E[:P].detach(), basis, 0.9)

# %% [markdown]
# The snapshots kept during your training (section 3 and the cell above) give your run's progress measures,
# with the restricted and excluded losses taken at the key frequencies your model ends with, and
# `phase_boundaries` reads its phases off them as it did for the shipped run. The end of clean-up is the rule's
# (the weight norm settles within 1% of its final value); the line after the boundaries checks the other signs
# that clean-up is over, from that epoch to the end: the restricted loss has stopped falling, the excluded loss
# stays high, and the Gini coefficients have levelled off.

# %%
probe = make_grokking_model(P, seed=0)
my_rows = []
for epoch, state in sorted(my_snapshots.snapshots.items()):
    probe.load_state_dict(state)
    my_rows.append(measure(probe, my_freqs_now, epoch, split=my_split))
my_curves = {key: [row[key] for row in my_rows] for key in my_rows[0]}
my_phases = phase_boundaries(my_curves)
my_at = {e: i for i, e in enumerate(my_curves["epoch"])}
my_end = my_curves["epoch"][-1]


def my_measured(key: str, epoch: int) -> float:
    return my_curves[key][my_at[epoch]]


print(f"your run, measured every 20 epochs to epoch {my_end} at its key frequencies "
      f"{sorted(my_freqs_now.tolist())}:", my_phases)
my_cleaned = my_phases["cleaned"]
settled_for = my_end - my_cleaned if my_cleaned is not None else 0
cleaned_sparsity = next(row for row in my_sparsity if row[0] >= my_cleaned) if my_cleaned is not None else my_sparsity[-1]
gini_change = max(abs(my_sparsity[-1][1] - my_sparsity[-2][1]), abs(my_sparsity[-1][2] - my_sparsity[-2][2]))
restricted_ratio = (my_measured("restricted_loss", my_end) / my_measured("restricted_loss", my_cleaned)
                    if my_cleaned is not None else 0.0)
print(f"from epoch {my_cleaned} to {my_end}: weight norm {my_measured('weight_norm', my_cleaned):.2f} -> "
      f"{my_measured('weight_norm', my_end):.2f}, restricted loss {my_measured('restricted_loss', my_cleaned):.1e} -> "
      f"{my_measured('restricted_loss', my_end):.1e}, excluded loss {my_measured('excluded_loss', my_cleaned):.2f} -> "
      f"{my_measured('excluded_loss', my_end):.2f}, Gini of W_E / W_L {cleaned_sparsity[1]:.3f}/{cleaned_sparsity[2]:.3f} "
      f"(epoch {cleaned_sparsity[0]}) -> {my_sparsity[-1][1]:.3f}/{my_sparsity[-1][2]:.3f}, of which "
      f"{gini_change:.3f} at most in the last 100 epochs")
finished = (settled_for >= 200 and restricted_ratio > 0.8 and my_measured("excluded_loss", my_end) > math.log(P)
            and gini_change < 0.01)
describe([(finished,
           f"Your run finished cleaning up at epoch {my_cleaned}: for the last {settled_for} epochs its weight norm "
           f"stayed within 1% of {my_measured('weight_norm', my_end):.1f}, the restricted loss stopped falling, the "
           f"excluded loss stayed at {my_measured('excluded_loss', my_end):.1f} (above uniform guessing, ln {P} = "
           f"{math.log(P):.2f}) and the Gini coefficients moved by {gini_change:.3f} at most over the last 100 "
           "epochs.")],
         otherwise=f"Your run has not clearly finished cleaning up by epoch {my_end}: the rule puts the end at "
                   f"{my_cleaned}, {settled_for} epochs before the last measurement, with the restricted loss "
                   f"{restricted_ratio:.2f} times its value there and the Gini coefficients moving by up to "
                   f"{gini_change:.3f} over the last 100 epochs (a loss spike can set a run back; look at the largest "
                   "rise printed above).")
fig = make_subplots(rows=1, cols=2, subplot_titles=("your run: losses (log scale)", "weight norm"))
for key, colour in colours.items():
    fig.add_scatter(x=my_curves["epoch"], y=my_curves[key], name=key.replace("_", " "), line=dict(color=colour),
                    row=1, col=1)
fig.add_scatter(x=my_curves["epoch"], y=my_curves["weight_norm"], name="weight norm", line=dict(color="black"),
                row=1, col=2)
for name, epoch in my_phases.items():
    if epoch is not None:
        for col in (1, 2):
            fig.add_vline(x=epoch, line_dash="dot", line_color="grey", row=1, col=col)
        fig.add_annotation(x=epoch, y=1.0, yref="y domain", text=name, showarrow=False, row=1, col=2)
fig.add_vline(x=epochs, line_dash="dash", line_color="black", row=1, col=2)
fig.update_yaxes(type="log", row=1, col=1)
fig.update_xaxes(title_text="epoch")
fig.update_layout(title="Your run's progress measures and phase boundaries (dotted; dashed: section 3 stopped here)",
                  height=380)
fig.show()

# %% solution_only=true
claim(my_phases["memorised"] < my_phases["formed"] < my_phases["grokked"] < my_cleaned and my_cleaned > epochs,
      "your run's phases come in the shipped run's order, and clean-up ends after section 3 stopped",
      measured=f"boundaries {my_phases}; section 3 stopped at epoch {epochs}")
claim(largest_jump < 0.1 and more.test_accuracy[-1] >= 0.99, "with the clean-up recipe the run has no loss spike",
      measured=f"largest rise of the train loss {largest_jump:.1e}, final test accuracy {more.test_accuracy[-1]:.4f}")
claim(finished, "your run finished cleaning up: the weight norm settled, the restricted loss stopped falling, the "
                "excluded loss stayed high and the Gini coefficients levelled off",
      measured=f"settled for {settled_for} epochs, restricted loss ratio {restricted_ratio:.2f}, excluded "
               f"{my_measured('excluded_loss', my_end):.2f}, Gini change {gini_change:.3f}")

# %% [markdown]
# Read the printed lines: they say whether your run did what the shipped series did. The table puts the three
# runs side by side. The paper's column is the paper's reported setup and results, not measured here.

# %%
paper = {"p": 113, "training fraction": 0.3, "weight decay": 1.0, "learning rate": 1e-3,
         "key frequencies": [14, 35, 41, 42, 52], "end of memorisation": "about 1,400",
         "end of circuit formation": "about 9,400", "99% test accuracy": "during clean-up",
         "end of clean-up": "about 13,000"}
shipped = {"p": meta["recipe"]["p"], "training fraction": meta["recipe"]["frac_train"],
           "weight decay": meta["recipe"]["weight_decay"], "learning rate": meta["recipe"]["lr"],
           "key frequencies": sorted(key_freqs.tolist()), "end of memorisation": memorised,
           "end of circuit formation": formed, "99% test accuracy": grokked, "end of clean-up": cleaned}
mine = {"p": P, "training fraction": round(len(train_indices) / P ** 2, 3),
        "weight decay": 1.0 if CLEANUP.weight_decay == 1.0 else f"1, then {CLEANUP.weight_decay:g}",
        "learning rate": f"0.02, then {CLEANUP.lr:g}",
        "key frequencies": sorted(my_freqs_now.tolist()), "end of memorisation": my_phases["memorised"],
        "end of circuit formation": my_phases["formed"], "99% test accuracy": my_phases["grokked"],
        "end of clean-up": my_cleaned if finished else f"{my_cleaned} (not settled)"}
print(f"{'':26} {'paper (as reported)':>26} {'shipped run':>26} {'your run':>26}")
for row in paper:
    cells = [str(run[row]) if not isinstance(run[row], float) else f"{run[row]:g}" for run in (paper, shipped, mine)]
    print(f"{row:26} " + " ".join(f"{cell:>26}" for cell in cells))
print(f"(your run: from epoch {epochs} on the clean-up recipe; measured every 20 epochs)")
print(f"\nshipped run, final model: train loss {meta['measured']['train_loss']:.1e}, test loss "
      f"{meta['measured']['test_loss']:.1e}, restricted loss {meta['measured']['restricted_loss']:.1e}, excluded loss "
      f"{meta['measured']['excluded_loss']:.2f}; {len(key_freqs)} key frequencies carry "
      f"{meta['measured']['key_frequency_share']:.1%} of the embedding")
print(f"your run, final model: train loss {my_measured('train_loss', my_end):.1e}, test loss "
      f"{my_measured('test_loss', my_end):.1e}, restricted loss {my_measured('restricted_loss', my_end):.1e}, excluded "
      f"loss {my_measured('excluded_loss', my_end):.2f}, weight norm {my_measured('weight_norm', my_end):.1f} "
      f"(shipped {meta['measured']['weight_norm']:.1f})")
epoch_ratio = [int(paper_epochs.split()[-1].replace(",", "")) / ours for paper_epochs, ours in
               ((paper["end of memorisation"], memorised), (paper["end of circuit formation"], formed),
                (paper["end of clean-up"], cleaned))]
print("paper's phase boundaries over the shipped run's:", [f"{r:.0f}x" for r in epoch_ratio])
my_epoch_ratio = [ours / theirs for ours, theirs in ((my_phases["memorised"], memorised), (my_phases["formed"], formed),
                                                      (my_cleaned, cleaned))]
print("your run's phase boundaries over the shipped run's:", [f"{r:.2f}x" for r in my_epoch_ratio])
shared = sorted(set(shipped["key frequencies"]) & set(mine["key frequencies"]))
print(f"key frequencies shared by the shipped run and yours (both from seed {meta['recipe']['seed']}): {shared}")

# %% [markdown]
# Three things differ, and each difference is expected.
#
# - **The key frequencies.** Any frequency k from 1 to (p-1)/2 makes `cos(w_k(a + b - c))` peak at the right
#   answer, so the task itself prefers none; which few a run ends with depends on where it starts and on the
#   path training takes from there. The paper's run started from other random weights. The shipped run and
#   yours start from the same weights (seed 0) and differ in their recipes (yours: the fast recipe until section 3
#   stopped, then this section's clean-up recipe with a fresh optimiser), and still their sets differ (the
#   table's row; the line below it counts the frequencies they share). What every run shares is that a few
#   frequencies are enough.
# - **The epochs.** The shipped run uses a learning rate ten times the paper's, with the same weight decay of 1
#   (yours twenty times the paper's until section 3 stopped). AdamW's decay per step is lr × weight decay, so the
#   push towards small weights is ten times stronger, and every phase ends sooner: the printed ratios say by how
#   much for the shipped run, and how your run's boundaries compare with the shipped run's. The order of the
#   phases and what each measure does in them are the same in all three runs.
# - **The losses.** This project computes the loss at the last position only, in float64, and stops where its
#   runs stop; the paper reports its own figures for its own run, so compare the pattern (restricted loss at or
#   below the full loss, excluded loss far above it) rather than the digits.

# %% solution_only=true
claim(shipped["learning rate"] == 10 * paper["learning rate"] and shipped["weight decay"] == paper["weight decay"],
      "a learning rate ten times the paper's, with the same weight decay of 1",
      measured=f"lr {shipped['learning rate']}, weight decay {shipped['weight decay']}")
claim(all(r > 3 for r in epoch_ratio), "every phase ends sooner",
      measured=", ".join(f"{r:.0f}x" for r in epoch_ratio))
claim(meta["recipe"]["seed"] == 0 and shipped["key frequencies"] != mine["key frequencies"]
      and shipped["key frequencies"] != paper["key frequencies"],
      "the shipped run and yours start from the same weights (seed 0) and differ in their recipes, and still "
      "their sets differ", measured=f"shipped {shipped['key frequencies']}, yours {mine['key frequencies']}, "
                                          f"paper {paper['key frequencies']}")

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
# - The neurons are degree-2 trig polynomials of one frequency each, the clusters of one frequency can be
#   ablated to measure what they contribute, the attention is periodic at the same frequencies, and the
#   neuron-logit map writes waves in c at the key frequencies only.
# - Progress measures built from that understanding show the generalising circuit forming while the
#   training loss is flat and long before test accuracy jumps; Fourier sparsity (Gini coefficients) needs no
#   knowledge of the final model, and written as code the rules give the phases' boundaries for any run.
# - Your own run, trained on through clean-up, goes through the same three phases, read off its own progress
#   measures; it and the shipped run differ from the paper's in their key frequencies and their epochs, as
#   expected: any frequency serves the algorithm, and a larger learning rate at the same weight decay makes every
#   phase shorter.
#
# ## Explore further
#
# 1. **Which phase does weight decay control?** Train with `weight_decay=0.3` and `3.0` (everything else
#    fixed). First experiment: record the epoch at which test accuracy passes 99% and the final weight
#    norm for each, with `n_epochs=600`.
# 2. **Does the training fraction matter?** Rebuild the dataset with `frac_train` 0.2 and 0.5. First
#    experiment: the epochs to 99% test accuracy for each, and the number of key frequencies the model
#    ends up with.
# 3. **What attention computes.** Section 5 showed the attention to a is periodic. First experiment: replace
#    every head's pattern by its mean over all pairs (a hook on `hook_pattern`) and measure the loss: does the
#    model need attention to vary with a and b at all, or only to move both numbers to `=`?
# 4. **Other operations.** Change the labels to `(a - b) mod p` or `(a * b) mod p` and train with the fast
#    recipe. First experiment: does it grok, and does the embedding still concentrate on a few frequencies
#    (for multiplication, try the embedding indexed by the discrete logarithm of a)?
# 5. **Restricted loss during training.** The restricted loss is computed with the final model's key
#    frequencies. First experiment: compute each checkpoint's own key frequencies with `key_frequencies`
#    and see from which checkpoint on they match the final ones.
# 6. **Ablating a frequency in the weights.** Section 5 ablated a cluster of neurons. First experiment: instead
#    remove one key frequency from the embedding (project `W_E[:p]` off its cos and sin directions) and compare
#    the loss with the cluster ablation for the same frequency: which does the model miss more?
# 7. **Sparsity as an early warning.** The Gini coefficients need no key frequencies. First experiment: retrain
#    with `python -m circuitlab.ch4.training --out /tmp/series` after adding Gini coefficients to the stored
#    curves, and compare the epoch where the W_L Gini first passes 0.5 with `phase_boundaries`' boundaries.
# 8. **Your run's boundaries, other seeds.** Section 8 read your run's phases off its own progress measures.
#    First experiment: rerun sections 3 and 8 with model seeds 1 and 2 (same split) and see which boundary moves
#    most, and whether the clean-up recipe stays free of loss spikes.
