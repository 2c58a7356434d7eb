# %% [markdown]
# **What you will be able to do.** Train many small models at once and watch them store more
# features than they have dimensions (superposition); map when a feature is ignored, given a
# dimension or superposed (the phase diagram of two features in one dimension); read the geometry
# they choose (antipodal pairs, pentagons) from `WᵀW` and from each feature's *dimensionality*, also
# for 200 features in 20 dimensions; see how correlated features and a ReLU hidden layer change that
# geometry, and count the features a ReLU model computes `|x|` for in superposition; and build, train
# and evaluate a sparse autoencoder (SAE) that pulls the hidden features back out, with two rules for
# resampling dead latents side by side (a simple one and Bricken et al.'s), held-out metrics and
# feature densities; and, as a bonus, train one on a real model's residual stream, splice it in to
# measure the loss it costs, watch its features split as the dictionary grows, and read its latents
# through their max-activating examples.
#
# **Papers.** Elhage et al. (2022), *Toy Models of Superposition*, for the first half; Bricken et al.
# (2023), *Towards Monosemanticity*, for the sparse autoencoder; Rajamanoharan et al. (2024),
# *Jumping Ahead*, for the JumpReLU bonus.
#
# **Prerequisites.** Chapter 0 (einops, einsum, plotly) and a PyTorch training loop (chapter 1).
# No transformer is needed: every model here is small enough to train in seconds on a CPU.
#
# **Time.** About four and a half hours (the bonus sections are a further hour).
#
# Every model in this chapter holds many independent copies (*instances*) along a leading axis, so
# one optimizer step trains a whole experiment, for example one model per feature probability.

# %%
import copy
import math
from dataclasses import replace
from typing import Callable

import einops
import plotly.express as px
import plotly.graph_objects as go
import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float, Int
from torch import Tensor, nn
from tqdm.auto import trange

from circuitlab import threads
from circuitlab.ch5 import plots, toy
from circuitlab.claims import describe
from circuitlab.ch5.reference import ToyConfig

# Small tensors train fastest on one thread; a second thread mostly waits on the first. A thread
# count you set yourself (setup(threads=N) or CIRCUITLAB_THREADS) is kept.
threads.at_most(1, "the toy models' tensors are small")

# %% [markdown]
# ## 1. The toy model
#
# A model sees `n_features` input features and must squeeze them through `n_hidden < n_features`
# dimensions, then reconstruct them:
#
# $$h = W x, \qquad x' = \mathrm{ReLU}(W^\top h + b) = \mathrm{ReLU}(W^\top W x + b),$$
#
# with `W` of shape `(n_hidden, n_features)`: column `W_i` is feature `i`'s direction in the hidden
# space. Two knobs decide what the model does with its few dimensions:
#
# - **importance**: how much each feature's reconstruction error counts in the loss;
# - **feature probability**: how often a feature is nonzero. A sparse feature is usually zero, so two
#   sparse features rarely fire together, and sharing a direction costs little.

# %% [markdown] exercise="ch5.feature_probability"
# A sparsity sweep trains one instance per feature probability. Geometric spacing gives each
# factor of ten of sparsity the same number of instances, which is where the interesting changes
# happen.
#
# **Spec.** `feature_probability(n_instances, n_features, min_probability)` returns a tensor of shape
# `(n_instances, n_features)`. Every feature of instance `i` has probability
# `min_probability ** (i / (n_instances - 1))`: instance 0 is dense (probability 1), the last
# instance has `min_probability`. A sweep of a single instance is dense: probability 1.
# Return floats (any float dtype).

# %% solution="ch5.feature_probability"


# %% check="ch5.feature_probability"
check("ch5.feature_probability", feature_probability)

# %% [markdown]
# The probabilities of the sweep used below (8 instances, from 1 down to 0.02):

# %%
print([round(p, 3) for p in feature_probability(8, 5, 0.02)[:, 0].tolist()])

# %% [markdown] exercise="ch5.generate_batch"
# The toy model's data are synthetic: we decide what the true features are, so we can later check
# what a model (or an SAE) has learned about them.
#
# **Spec.** `generate_batch(probability, batch_size)` takes `probability` of shape `(inst, feat)` and
# returns a float tensor `(batch_size, inst, feat)` (keep the batch axis when `batch_size` is 1). Each
# entry is, independently of all others (other features, other instances, other examples, other
# calls), present with its probability `p`; a present entry has a magnitude uniform in `[0, 1)`,
# independent of everything else, and an absent one is 0. Do not set a seed inside the function.

# %% solution="ch5.generate_batch"


# %% check="ch5.generate_batch"
check("ch5.generate_batch", generate_batch)

# %% [markdown]
# Measured on a large batch, the fraction of nonzero entries per instance should follow the sweep:

# %%
sample = generate_batch(feature_probability(8, 5, 0.02), 20_000)
print("fraction nonzero per instance:", [round(v, 3) for v in (sample != 0).float().mean((0, 2)).tolist()])

# %% [markdown] exercise="ch5.importance_weighted_loss"
# Importance is how the toy model is told which features deserve their own dimension. Weighting
# the squared error per feature makes losing feature 0 cost more than losing feature 4.
#
# **Spec.** `importance_weighted_loss(output, features, importance)`: `output` and `features` are
# `(batch, inst, feat)`; `importance` is `(feat,)` or `(inst, feat)`. For each instance take the mean,
# over batch and features, of `importance * (features - output) ** 2`; return the **sum** over
# instances as a 0-dim tensor (not a Python float: training backpropagates through it). Summing keeps each instance's gradient the same however many instances
# train together.

# %% solution="ch5.importance_weighted_loss"


# %% check="ch5.importance_weighted_loss"
check("ch5.importance_weighted_loss", importance_weighted_loss)

# %% [markdown] exercise="ch5.toy_model_forward"
# This is the whole model of the paper's first half. Its ReLU on the output is what makes
# superposition possible: it can clip away the small negative interference that other features
# leave on a feature's output.
#
# **Spec.** Complete `ToyModel.forward`. `W` has shape `(inst, n_hidden, n_features)` and `b_final`
# `(inst, n_features)`. For `features` of shape `(batch, inst, n_features)` return
# `ReLU(Wᵀ W x + b_final)` for every instance, shape `(batch, inst, n_features)`. Keep the given
# `__init__`.

# %% solution="ch5.toy_model_forward"


# %% check="ch5.toy_model_forward"
check("ch5.toy_model_forward", ToyModel)

# %% [markdown] exercise="ch5.train_toy_model"
# All instances train in one loop: the loss is a sum of independent per-instance losses, so one
# backward pass gives every instance its own gradient.
#
# **Spec.** `train_toy_model(model, probability, importance, steps, batch_size, lr, batch_fn, loss_fn,
# progress)` trains `model` with `torch.optim.Adam(model.parameters(), lr=lr)` for `steps` steps.
# Create the optimizer once, before the loop, with Adam's other settings at their defaults. Each step
# draws a fresh batch `batch_fn(probability, batch_size)`, computes
# `loss_fn(model(batch), batch, importance)`, zeroes the gradients (before `backward`: the model may
# arrive with gradients left over), backpropagates and steps. Return the list of the `steps` losses,
# each the loss of its step computed before the update, as Python floats (`loss.item()`). Show a
# progress bar when `progress` is true. The check trains three small models on fixed batches and
# compares every step with the reference loop.

# %% solution="ch5.train_toy_model"


# %% check="ch5.train_toy_model"
check("ch5.train_toy_model", train_toy_model)

# %% [markdown]
# ## 2. The sparsity sweep: 5 features in 2 dimensions
#
# Now the experiment: 5 features, 2 hidden dimensions, importance `0.9 ** i`, and 8 instances from
# dense (probability 1) to sparse (probability 0.02). `toy.run_sparsity_sweep` builds the model and
# the probabilities with *your* functions above and trains it with your loop (a few seconds).

# %%
sweep_settings = toy.SweepSettings()
print(sweep_settings)
sweep_model, sweep_probability, sweep_losses = toy.run_sparsity_sweep(
    sweep_settings, model_class=ToyModel, probability_fn=feature_probability, batch_fn=generate_batch,
    loss_fn=importance_weighted_loss, train_fn=train_toy_model, progress=True)
W_sweep = sweep_model.W.detach()
probabilities = sweep_probability[:, 0].tolist()
instance_titles = [f"p = {p:.3g}" for p in probabilities]

# %%
px.line(y=sweep_losses, log_y=True, labels={"x": "step", "y": "loss (sum over instances)"},
        title="Training loss of the sweep", height=300, width=650).show()

# %% [markdown]
# Each panel shows one instance's five feature directions `W_i` in its 2-d hidden space. Look at the
# dense instance on the left, then move right as the features get sparser.

# %%
plots.feature_vectors(W_sweep, instance_titles).show()

# %% [markdown]
# The same information as `WᵀW`: the diagonal is each feature's squared norm (is it represented?),
# the off-diagonal entries are the interference between features (do they share directions?).

# %%
plots.gram_matrices(W_sweep, instance_titles).show()

# %% [markdown]
# Count the features each instance represents: a norm above 0.5. Most trained norms end up near 0
# or near 1; the printed norms show which ones are still on their way.

# %%
represented = toy.represented_features(W_sweep).tolist()
norms = W_sweep.norm(dim=1)
for p, count, row in zip(probabilities, represented, norms.tolist()):
    print(f"p = {p:6.3f}: {count} features represented; norms {[round(v, 2) for v in row]}")
plots.sweep_bars(probabilities, represented, sweep_settings.n_hidden).show()

# %% [markdown]
# Read the counts above: the dense instance represents as many features as it has dimensions, the
# two most important ones, at right angles. As features get sparser, more of them share the two
# dimensions, first as antipodal pairs (a feature and its opposite), and at the sparse end all five
# sit at the corners of a pentagon. That is superposition: more features than dimensions, paid for
# with interference that the output ReLU and bias clip away when only one feature is active.

# %% solution_only=true
from circuitlab.claims import claim

dense_norms, dense_unit = norms[0], torch.nn.functional.normalize(W_sweep[0], dim=0)
claim(represented[0] == sweep_settings.n_hidden and bool((dense_norms[:2] > 0.5).all()),
      "the dense instance represents as many features as it has dimensions, the two most important ones",
      measured=f"{represented[0]} represented, norms {dense_norms.numpy().round(2)}")
claim(abs((dense_unit[:, 0] * dense_unit[:, 1]).sum()) < 0.1, "at right angles",
      measured=f"cosine {(dense_unit[:, 0] * dense_unit[:, 1]).sum().item():.2f}")
claim(represented[-1] == 5, "at the sparse end all five sit at the corners of a pentagon",
      measured=f"{represented[-1]} represented at p = {probabilities[-1]:.3f}")

# %% [markdown]
# ### The phase diagram: two features in one dimension
#
# The sweep varied sparsity with importance fixed. Elhage et al. map both knobs at once in the
# smallest case where something can happen: two features, one hidden dimension. Feature 0 has
# importance 1; the *extra* feature, feature 1, has importance `r`. With one dimension there are
# three things the model can do with the extra feature: **ignore** it (keep feature 0), give it the
# dimension **alone** (drop feature 0), or **superpose** the two (`W = [w, -w]`, an antipodal pair
# on a line).

# %% [markdown] exercise="ch5.phase_of"
# A phase diagram needs each trained model named by its outcome, and the naming has to be written
# down, so the same rule reads the learner's grid and the paper's.
#
# **Spec.** `phase_of(W, threshold=0.5)`: `W` has shape `(inst, hidden, 2)` (here `hidden` is 1, but
# any size works). A feature is *represented* when the norm of its column `W[i, :, f]` is strictly
# above `threshold` (a norm equal to the threshold is not represented). Return a `torch.long` tensor
# of shape `(inst,)` (also for one instance): `IGNORED` (0) when feature 1 is not represented, whatever
# feature 0 does; `ALONE` (1) when feature 1 is represented and feature 0 is not; `SUPERPOSED` (2) when
# both are. The three constants are defined for you.

# %%
IGNORED, ALONE, SUPERPOSED = 0, 1, 2

# %% solution="ch5.phase_of"


# %% check="ch5.phase_of"
check("ch5.phase_of", phase_of)

# %% [markdown]
# The sweep: a 7 × 7 grid of (importance of feature 1 from 0.1 to 10, feature probability from 0.01
# to 1), both log-spaced. Each cell trains three models from different initialisations and keeps
# the one with the lowest loss, as the paper does (a weight that reaches 0 gets no gradient back,
# so a single run can stall). All 147 models train together with your loop, in about ten seconds.
#
# Beside it, the layout the paper's analysis predicts, computed here the crude way
# (`toy.candidate_phase`): compare the expected loss of the three candidate solutions with unit
# weights and zero bias. Feature 0 alone loses `r·p/3` per example (feature 1 is never reconstructed),
# feature 1 alone loses `p/3`, and the antipodal pair loses only when both fire, `p²(1 + r)/6`. The
# `p²` is the whole story: interference needs two features at once, so it gets cheap fastest as the
# features get sparse.

# %%
phase_settings = toy.PhaseSettings()
phase_run = toy.run_phase_sweep(phase_settings, model_class=ToyModel, batch_fn=generate_batch,
                                loss_fn=importance_weighted_loss, train_fn=train_toy_model, progress=True)
phase_importance, phase_probability = phase_run["importance"], phase_run["probability"]
measured_phase = phase_of(phase_run["W"].reshape(-1, 1, 2)).reshape(phase_settings.n_importance,
                                                                   phase_settings.n_probability)
layout_phase = toy.candidate_phase(phase_importance, phase_probability)
plots.phase_diagrams([("trained models", measured_phase), ("candidate-solution layout", layout_phase)],
                     phase_importance, phase_probability).show()

# %% [markdown]
# Where do the two panels agree? The cell below measures it: the densest column (the paper: the more
# important feature takes the dimension), the sparse half (the paper: superposition over a wide range
# of importances), and all cells.

# %%
agree = measured_phase == layout_phase
off_diagonal = (phase_importance - 1).abs() > 1e-6  # r = 1 exactly is a tie between the two "alone" outcomes
dense_column = measured_phase[:, -1]
dense_matches = bool(((dense_column == ALONE) == (phase_importance > 1))[off_diagonal].all()
                     and (dense_column != SUPERPOSED).all())
sparse_half = measured_phase[:, : phase_settings.n_probability // 2]
superposed_sparse = float((sparse_half == SUPERPOSED).float().mean())
print(f"cells where the trained model matches the layout: {int(agree.sum())} of {agree.numel()}")
print(f"superposed cells among the sparser half (p < {phase_probability[phase_settings.n_probability // 2]:.2g}): "
      f"{superposed_sparse:.0%}; superposed cells in the densest column: {int((dense_column == SUPERPOSED).sum())}")
mismatch = [(f"r = {phase_importance[i]:.2g}", f"p = {phase_probability[j]:.2g}") for i, j in torch.nonzero(~agree).tolist()]
print("cells that differ:", mismatch)
describe([(dense_matches and superposed_sparse >= 0.75,
           "As in the paper: when the features are dense there is no superposition, and the more important feature "
           "takes the dimension (feature 1 alone above r = 1, ignored below); as they get sparse, superposition "
           "takes over most of the importance range."),
          (dense_matches,
           "Half of the paper's picture: the dense column is right (the more important feature takes the dimension), "
           "but fewer than three quarters of the sparse cells superpose in this run.")],
         otherwise="Not the paper's picture in the densest column: look at the cells that differ.")

# %% [markdown]
# Read the printed line and the cells that differ. Disagreements at the sparsest probabilities are
# usually training, not the loss: at `p = 0.01` a feature fires in about two or three of a batch's
# 256 examples, so 2000 steps give it little signal (try `replace(phase_settings, steps=8000)`).
# Disagreements next to a boundary are where the crude layout is least trustworthy: its candidates have
# fixed weights and no bias, while the trained model tunes both, which moves the boundaries a little
# (in either direction; the list above says which way in this run).

# %% [markdown]
# ## 3. Feature dimensionality
#
# How much of a dimension does each feature get? Elhage et al. define feature `i`'s dimensionality as
#
# $$D_i = \frac{\lVert W_i\rVert^2}{\sum_j (\hat W_i \cdot W_j)^2},$$
#
# where `Ŵ_i` is the unit vector along `W_i`. The numerator says how strongly the feature is
# represented; the denominator counts how many features share its direction (itself included).
# A feature with a dimension to itself has `D = 1`, each feature of an antipodal pair `1/2`, each
# corner of a pentagon in two dimensions `2/5`.

# %% [markdown] exercise="ch5.dimensionality"
# Dimensionality turns the picture into numbers, and it is what reveals that features in
# superposition snap to a few special fractions rather than spreading out continuously.
#
# **Spec.** `dimensionality(W)` takes `W` of shape `(inst, hidden, feat)` and returns `(inst, feat)`:
# `D_i` per instance and feature, as defined above, as floats. A feature with `W_i = 0` exactly has
# dimensionality 0 (not NaN).

# %% solution="ch5.dimensionality"


# %% check="ch5.dimensionality"
check("ch5.dimensionality", dimensionality)

# %% [markdown]
# On the sweep: the dense instance's represented features should be near 1, the sparsest
# instance's five features near 2/5.

# %%
for p, row in zip(probabilities, dimensionality(W_sweep).tolist()):
    print(f"p = {p:6.3f}: dimensionality {[round(v, 2) for v in row]}")

# %% solution_only=true
sweep_dimensionality = dimensionality(W_sweep)
claim(bool((sweep_dimensionality[0][norms[0] > 0.5] > 0.8).all()) and bool(((sweep_dimensionality[-1] - 0.4).abs() < 0.05).all()),
      "the dense instance's represented features should be near 1, the sparsest instance's five features near 2/5",
      measured=f"dense {sweep_dimensionality[0].numpy().round(2)}, sparsest {sweep_dimensionality[-1].numpy().round(2)}")
claim(any(bool(((row[row > 0.1] - 0.5).abs() < 0.05).all()) and int((row > 0.1).sum()) >= 4 for row in sweep_dimensionality),
      "first as antipodal pairs (an instance whose represented features all have dimensionality 1/2)",
      measured=str(sweep_dimensionality.numpy().round(2).tolist()))

# %% [markdown]
# The same numbers as a picture: each dot is one feature of one instance, placed by how sparse its
# instance is. Features that are represented sit on the plateaus the geometry allows (1, 1/2, 2/5)
# rather than anywhere in between; unrepresented ones sit at 0.

# %%
sweep_dims = dimensionality(W_sweep)
plots.dimensionality_scatter(sweep_probability[:, 0], sweep_dims).show()
on_plateau = [min(abs(d - f) for f in (1.0, 0.5, 0.4, 0.0)) < 0.1 for d in sweep_dims.flatten().tolist()]
print(f"features within 0.1 of 1, 1/2, 2/5 or 0: {sum(on_plateau)} of {len(on_plateau)}")

# %% solution_only=true
claim(sum(on_plateau) >= 0.8 * len(on_plateau), "features sit on the plateaus the geometry allows",
      measured=f"{sum(on_plateau)} of {len(on_plateau)} within 0.1")

# %% [markdown]
# ### Dimensionality at scale: 200 features in 20 dimensions
#
# Five features in two dimensions allow only a few shapes. With many features in many dimensions the
# model could choose anything, and Elhage et al. found that it still does not: the features'
# dimensionalities stick at the fractions of a few small shapes, 1 (a dimension of its own), 3/4
# (a tetrahedron: 4 features in 3 dimensions), 2/3 (a triangle), 1/2 (an antipodal pair), 2/5 (a
# pentagon) and 3/8 (a square antiprism: 8 in 3), and the average, *dimensions per feature*
# `D* = n_hidden / ||W||_F²`, shows flat stretches as sparsity varies.

# %% [markdown] exercise="ch5.dimensions_per_feature"
# `D*` is the summary number of the paper's scale experiment: a represented feature has a norm near 1,
# so `||W||_F²` counts the represented features and `D*` says how many dimensions each gets on average.
#
# **Spec.** `dimensions_per_feature(W)`: `W` of shape `(inst, hidden, feat)`. Return a float tensor of
# shape `(inst,)`: `hidden / ||W_inst||_F²`, where the squared Frobenius norm sums `W ** 2` over the hidden
# and feature axes. An instance with `W = 0` gives `inf` (do not add an epsilon).

# %% solution="ch5.dimensions_per_feature"


# %% check="ch5.dimensions_per_feature"
check("ch5.dimensions_per_feature", dimensions_per_feature)

# %% [markdown]
# The experiment, short: 200 equally important features in 20 dimensions, one instance at each of three
# probabilities, 2000 steps with your loop (about twenty seconds). The paper trains much longer on a
# finer grid of sparsities; expect this run to show some plateaus, not all six, and the cell after the
# plot says which.

# %%
scale_settings = toy.ScaleSettings()
print(scale_settings)
scale_model, scale_probability, _ = toy.run_scale_sweep(
    scale_settings, model_class=ToyModel, batch_fn=generate_batch, loss_fn=importance_weighted_loss,
    train_fn=train_toy_model, progress=True)
W_scale = scale_model.W.detach()
scale_dims = dimensionality(W_scale)
scale_dstar = dimensions_per_feature(W_scale)
plots.dimensionality_scatter(scale_probability[:, 0], scale_dims, fractions=list(toy.PLATEAUS.values()),
                             names=list(toy.PLATEAUS), title="200 features in 20 dimensions",
                             extra=("dimensions per feature D*", scale_dstar.tolist())).show()

# %%
represented_scale = W_scale.norm(dim=1) > 0.5
shown = set()
for p, dims_row, keep, dstar in zip(scale_probability[:, 0].tolist(), scale_dims, represented_scale, scale_dstar.tolist()):
    counts = toy.plateau_counts(dims_row[keep])
    shown |= {name for name, n in counts.items() if n >= 3}
    print(f"p = {p:4.2f}: {int(keep.sum()):3d} features represented, D* = {dstar:.3f}; within 0.01 of each plateau: "
          + ", ".join(f"{name}: {n}" for name, n in counts.items()))
missing = [name for name in toy.PLATEAUS if name not in shown]
describe([(not missing, "Every plateau of the paper shows in this run (at least three features on each)."),
          (len(shown) >= 2, f"This short run shows the plateaus at {', '.join(n for n in toy.PLATEAUS if n in shown)} "
                            f"(at least three features within 0.01); not {', '.join(missing)}.")],
         otherwise=f"This short run shows at most one plateau ({', '.join(shown) or 'none'}): the features have not "
                   "settled; train longer.")

# %% [markdown]
# If the line above misses 3/4 and 2/3, that is what a short run on three sparsities should do: in the
# paper those plateaus sit at the transitions between sparsities, where the model rearranges, and
# catching them takes many more sparsity values and far longer training than a notebook cell allows
# (explore-further problem 6).

# %% [markdown]
# ## 4. Correlated and anticorrelated features
#
# So far every feature was independent. Real features are not: some tend to appear together,
# others exclude each other. Interference only hurts when two features fire together, so
# correlation should change which features the model is willing to superpose.

# %% [markdown] exercise="ch5.correlated_batch"
# To test that, we need data with a controlled correlation structure.
#
# **Spec.** `correlated_batch(probability, batch_size, correlated=True)`: `probability` has shape
# `(inst, pairs)`; the output has shape `(batch_size, inst, 2 * pairs)`, with pair `k` made of features
# `2k` and `2k + 1`. Magnitudes are independent and uniform in `[0, 1)`. Different pairs, instances,
# examples and calls are independent of each other; only the two features of a pair depend on each other.
#
# - `correlated=True`: with probability `p` both features of the pair are present, otherwise both are 0;
# - `correlated=False` (anticorrelated): the pair fires with probability `2p`, and then exactly one of
#   its two features, each with chance 1/2, is present. Each feature is still present with
#   probability `p`, but never together with its partner. (Assume `p <= 1/2`.)

# %% solution="ch5.correlated_batch"


# %% check="ch5.correlated_batch"
check("ch5.correlated_batch", correlated_batch)

# %% [markdown]
# Now train 4 features (2 pairs) in 2 dimensions, 4 instances each, once with correlated pairs and
# once with anticorrelated pairs, all features sparse (`p = 0.05`) and equally important. To squeeze
# 4 features into 2 dimensions each model has to superpose some of them: which ones?

# %%
def train_pairs(correlated: bool, seed: int = 0) -> Float[Tensor, "inst hidden feat"]:
    torch.manual_seed(seed)
    model = ToyModel(ToyConfig(n_instances=4, n_features=4, n_hidden=2))
    pair_probability = torch.full((4, 2), 0.05)

    def batch_fn(probability: Tensor, batch_size: int) -> Tensor:
        return correlated_batch(probability, batch_size, correlated=correlated)

    train_toy_model(model, pair_probability, torch.ones(4), steps=1500, batch_size=128, lr=5e-3,
                    batch_fn=batch_fn, loss_fn=importance_weighted_loss, progress=True)
    return model.W.detach()


def pair_cosines(W: Float[Tensor, "inst hidden feat"]) -> Float[Tensor, "inst pairs"]:
    """Cosine between the two features of each pair (-1 antipodal, 0 orthogonal)."""
    unit = einops.rearrange(F.normalize(W, dim=1), "inst hidden (pairs two) -> inst pairs two hidden", two=2)
    return (unit[:, :, 0] * unit[:, :, 1]).sum(-1)


W_correlated, W_anticorrelated = train_pairs(True), train_pairs(False)
for name, W_pairs in [("correlated", W_correlated), ("anticorrelated", W_anticorrelated)]:
    cosines = pair_cosines(W_pairs)
    print(f"{name:>15s}: cosine within each pair, per instance {[[round(c, 2) for c in row] for row in cosines.tolist()]};"
          f" antipodal pairs (cosine < -0.9): {int((cosines < -0.9).sum())} of {cosines.numel()}")
plots.feature_vectors(torch.cat([W_correlated, W_anticorrelated]),
                      [f"correlated {i}" for i in range(4)] + [f"anticorrelated {i}" for i in range(4)],
                      title="Pairs: features 0,1 (blue, orange) and 2,3 (green, red)").show()

# %% [markdown]
# Compare the counts of antipodal pairs. Anticorrelated partners never fire together, so placing
# them antipodally (cosine -1) costs nothing, and the anticorrelated models use that arrangement;
# some runs settle in another arrangement, which is why the count need not be the maximum. Correlated
# partners fire together, so an antipodal placement would cost interference every time the pair is
# active: they keep apart (cosine near 0), and the model superposes features *across* pairs instead.

# %% solution_only=true
correlated_cosines, anticorrelated_cosines = pair_cosines(W_correlated), pair_cosines(W_anticorrelated)
claim(bool((correlated_cosines.abs() < 0.1).all()), "correlated partners keep apart (cosine near 0)",
      measured=str(correlated_cosines.numpy().round(2).tolist()))
claim(int((anticorrelated_cosines < -0.9).sum()) > int((correlated_cosines < -0.9).sum()),
      "the anticorrelated models use that arrangement (more antipodal pairs than the correlated ones)",
      measured=f"{int((anticorrelated_cosines < -0.9).sum())} against {int((correlated_cosines < -0.9).sum())} of 8")

# %% [markdown]
# ## 5. A ReLU hidden layer: the privileged basis
#
# The toy model's hidden space has no preferred directions: rotating `W` changes nothing. Real
# networks apply nonlinearities neuron by neuron, which makes the neuron basis special
# (*privileged*): a feature aligned with one neuron can be switched on or off by that neuron alone.

# %% [markdown] exercise="ch5.neuron_model_forward"
# With a ReLU on the hidden layer we can ask the questions interpretability asks of real models: are
# neurons monosemantic (one feature each) or polysemantic (several)? And the model can now
# *compute*, not just store.
#
# **Spec.** Complete `NeuronModel.forward`: with `W_in` of shape `(inst, n_hidden, n_features)`, `b_in`
# `(inst, n_hidden)`, `W_out` `(inst, n_features, n_hidden)` and `b_out` `(inst, n_features)`, return
# `ReLU(W_out h + b_out)` where `h = ReLU(W_in x + b_in)`, shape `(batch, inst, n_features)`.

# %% solution="ch5.neuron_model_forward"


# %% check="ch5.neuron_model_forward"
check("ch5.neuron_model_forward", NeuronModel)

# %% [markdown]
# **Storing features in neurons.** Train 6 features of decreasing importance into 3 neurons, dense to
# sparse, and look at `W_in`: which neurons read which features?

# %%
torch.manual_seed(0)
neuron_cfg = ToyConfig(n_instances=4, n_features=6, n_hidden=3)
neuron_model = NeuronModel(neuron_cfg)
neuron_probability = feature_probability(neuron_cfg.n_instances, neuron_cfg.n_features, 0.02)
train_toy_model(neuron_model, neuron_probability, toy.importance_for(6, 0.8), steps=2000, batch_size=128, lr=5e-3,
                batch_fn=generate_batch, loss_fn=importance_weighted_loss, progress=True)
W_in = neuron_model.W_in.detach()


def features_per_neuron(W_in: Float[Tensor, "inst hidden feat"], threshold: float = 0.3) -> Tensor:
    """How many features each neuron reads with a weight above ``threshold``: 1 is monosemantic."""
    return (W_in > threshold).sum(-1)


for p, counts in zip(neuron_probability[:, 0].tolist(), features_per_neuron(W_in).tolist()):
    print(f"p = {p:6.3f}: features read by each neuron {counts}")
px.imshow(W_in, facet_col=0, color_continuous_scale="RdBu", color_continuous_midpoint=0,
          labels={"x": "feature", "y": "neuron"}, title="W_in per instance (dense → sparse)",
          height=300, width=900).show()

# %% [markdown]
# Read the heatmaps and the counts above: a neuron that reads exactly one feature is monosemantic, one
# that reads several is polysemantic, one that reads none is idle. Elhage et al. report, for long runs,
# one feature per neuron when the features are dense and polysemantic neurons, with features spread
# across neurons in superposition, when they are sparse. These models trained for a few seconds, and
# they need not show that picture; the next cell says what this run shows.

# %%
neuron_counts = features_per_neuron(W_in)
for p, counts in zip(neuron_probability[:, 0].tolist(), neuron_counts.tolist()):
    print(f"p = {p:6.3f}: {sum(c == 1 for c in counts)} monosemantic, {sum(c > 1 for c in counts)} polysemantic, "
          f"{sum(c == 0 for c in counts)} idle neurons; {sum(counts)} of {neuron_cfg.n_features} features read")
dense_poly = bool((neuron_counts[0] > 1).any())
describe([(not dense_poly and bool((neuron_counts[-1] > 1).any()),
           "As in the paper: the dense instance's neurons each read at most one feature, and the sparsest instance "
           "has polysemantic neurons."),
          (dense_poly,
           "Not the paper's picture: even the dense instance has a polysemantic neuron, so in this short run "
           "sparsity is not what makes neurons polysemantic. The next cell measures why.")],
         otherwise="Not the paper's picture: the sparsest instance has no polysemantic neuron in this short run. "
                   "The next cell measures why.")

# %% [markdown]
# Why not? A ReLU only makes the neuron basis matter where it cuts: a neuron whose pre-activation
# `W_in x + b_in` is positive on every input passes a linear mixture of its features through unchanged, and
# mixing features in a linear channel costs nothing (it is the toy model's hidden space again). A neuron
# that is never positive is dead and reads nothing. The cell measures, for each neuron, the share of inputs
# (with at least one feature present) on which it is active.

# %%
with torch.no_grad():
    probe_batch = generate_batch(neuron_probability, 8192)
    pre_activation = einops.einsum(neuron_model.W_in, probe_batch, "inst h feat, batch inst feat -> batch inst h") \
        + neuron_model.b_in
    any_feature = probe_batch.abs().sum(-1) > 0  # (batch, inst)
    active_share = torch.stack([(pre_activation[any_feature[:, i], i] > 0).float().mean(0)
                                for i in range(neuron_cfg.n_instances)])  # (inst, hidden)
for p, counts, shares in zip(neuron_probability[:, 0].tolist(), neuron_counts.tolist(), active_share.tolist()):
    print(f"p = {p:6.3f}: " + ", ".join(f"neuron {n} reads {c} active on {s:.0%}" for n, (c, s) in
                                        enumerate(zip(counts, shares))))
dense_polysemantic = [n for n, c in enumerate(neuron_counts[0].tolist()) if c > 1]
dense_always_on = bool(dense_polysemantic) and all(active_share[0, n].item() >= 0.99 for n in dense_polysemantic)
n_dead = int((active_share == 0).sum().item())
n_living = active_share.numel() - n_dead
n_always_on = int((active_share >= 0.99).sum().item())
describe([(dense_always_on,
           f"The dense instance's polysemantic neuron{'s are' if len(dense_polysemantic) > 1 else ' is'} active on at "
           f"least {active_share[0, dense_polysemantic].min().item():.1%} of inputs: its bias keeps it on, so its ReLU "
           "never cuts and it is a linear channel, where two features may share a neuron at no cost. Across all "
           f"sparsities, {n_always_on} of the {n_living} living neurons are on for at least 99% of inputs and "
           f"{n_dead} of the {active_share.numel()} are dead (never active). The paper's monosemantic neurons need "
           "ReLUs that cut; in this short run most living neurons never switch off.")],
         otherwise=f"Every polysemantic neuron of the dense instance switches off on some inputs (the shares above), so "
                   f"its ReLU does cut; {n_dead} of the {active_share.numel()} neurons are dead. This run mixes "
                   "features in neurons whose nonlinearity is in use.")

# %% solution_only=true
claim(dense_always_on and n_dead >= 1 and n_always_on >= n_living / 2,
      "the dense instance's polysemantic neurons are always on (a linear channel), most living neurons (all "
      "sparsities together) never switch off, and some neurons are dead",
      measured=f"active shares {active_share.numpy().round(3).tolist()}")

# %% [markdown]
# What *privileged* means can be measured directly, whatever the short run's neurons look like: rotate
# the hidden space by a random orthogonal matrix `Q`. The toy model (`W ← Q W`) computes exactly the same
# function, since `Wᵀ Qᵀ Q W = Wᵀ W`; the model with a hidden ReLU (`W_in ← Q W_in`, `b_in ← Q b_in`,
# `W_out ← W_out Qᵀ`) does not, because the ReLU acts on each neuron separately.

# %%
def rotated_loss_ratio(model: nn.Module, hidden_weights: list[str], probability: Tensor, importance: Tensor,
                       seed: int = 0) -> Tensor:
    """Per instance: loss after a random rotation of the hidden space, divided by the loss before."""
    torch.manual_seed(seed)
    batch = generate_batch(probability, 4096)
    n_inst, n_hidden = probability.shape[0], model.W_in.shape[1] if hasattr(model, "W_in") else model.W.shape[1]
    Q = torch.linalg.qr(torch.randn(n_inst, n_hidden, n_hidden)).Q
    rotated = copy.deepcopy(model)
    with torch.no_grad():
        for name in hidden_weights:
            weight = getattr(rotated, name)
            if name == "W_out":
                weight.copy_(einops.einsum(weight, Q, "inst feat h, inst k h -> inst feat k"))
            elif weight.ndim == 2:
                weight.copy_(einops.einsum(Q, weight, "inst k h, inst h -> inst k"))
            else:
                weight.copy_(einops.einsum(Q, weight, "inst k h, inst h feat -> inst k feat"))
        before = (importance * (batch - model(batch)) ** 2).mean((0, 2))
        after = (importance * (batch - rotated(batch)) ** 2).mean((0, 2))
    return after / before


toy_ratio = rotated_loss_ratio(sweep_model, ["W"], sweep_probability, toy.importance_for(5, 0.9))
neuron_ratio = rotated_loss_ratio(neuron_model, ["W_in", "b_in", "W_out"], neuron_probability, toy.importance_for(6, 0.8))
print("loss after / before a random rotation of the hidden space, per instance")
print("  toy model (no hidden nonlinearity):", [round(r, 4) for r in toy_ratio.tolist()])
print("  hidden-ReLU model:                 ", [round(r, 2) for r in neuron_ratio.tolist()])
describe([(bool((neuron_ratio > 1.05).all()),
           f"The rotation leaves the toy model's loss unchanged and raises every hidden-ReLU model's loss (by "
           f"{(neuron_ratio.min() - 1):.0%} at least): only with the ReLU does the neuron basis matter.")],
         otherwise="The rotation leaves the toy model's loss unchanged, but some hidden-ReLU instance barely notices it: "
                   "its neurons are not yet doing anything a rotation would break.")

# %% solution_only=true
claim(bool(((toy_ratio - 1).abs() < 1e-3).all()), "The toy model computes exactly the same function after the rotation",
      measured=str(toy_ratio.numpy().round(5).tolist()))

# %% [markdown]
# ### Computation in superposition: |x|
#
# The hidden ReLU also lets the model *compute*, not just store. Give it signed features (present with
# probability `p`, then uniform in `[-1, 1)`) and ask for `|x|` on the output: `|x| = ReLU(x) + ReLU(-x)`
# needs two neurons per feature, so 6 neurons compute at most 3 of 8 features if every feature has
# neurons of its own. Elhage et al. find that sparse features share neurons and the model computes
# `|x|` for more features than that bound, in superposition.

# %% [markdown] exercise="ch5.abs_computed"
# To count the features a model computes, test each one on its own: this is the measurement the
# experiment below rests on.
#
# **Spec.** `abs_computed(model, values, tolerance=0.25)`: `model` is a toy model with `model.cfg`
# (`n_instances`, `n_features`) that maps `(batch, inst, feat)` to `(batch, inst, feat)`; `values` is a
# 1-d float tensor (possibly of one value). For each instance and feature `f` and each `v` in `values`, run
# the model on the input whose feature `f` is `v` and all other features 0 (in every instance). Return a
# `torch.bool` tensor of shape `(inst, feat)`: True where feature `f`'s own output is within `tolerance` of
# `|v|` (an error equal to `tolerance` counts) for **every** value. Do not train or change the model.

# %% solution="ch5.abs_computed"


# %% check="ch5.abs_computed"
check("ch5.abs_computed", abs_computed)

# %% [markdown]
# The experiment: 8 features of importance `0.9 ** i`, 6 neurons, 4 instances from dense (`p = 1`) to
# sparse (`p = 0.03`), trained with your loop on `toy.signed_batch` with the loss `toy.abs_loss`
# (importance-weighted squared error against `|x|`), a few seconds.

# %%
abs_settings = toy.AbsSettings()
print(abs_settings)
abs_model, abs_probability, abs_losses = toy.run_abs_experiment(
    abs_settings, model_class=NeuronModel, probability_fn=feature_probability, train_fn=train_toy_model,
    progress=True)
computed = abs_computed(abs_model, torch.linspace(-1, 1, 21))
bound = abs_settings.n_hidden // 2
for p, row in zip(abs_probability[:, 0].tolist(), computed.tolist()):
    print(f"p = {p:5.3f}: |x| computed (within 0.25) for {sum(row)} of {abs_settings.n_features} features: "
          f"{[f for f, ok in enumerate(row) if ok]}")
print(f"two neurons per feature would allow {bound}")
px.imshow(abs_model.W_in.detach(), facet_col=0, color_continuous_scale="RdBu", color_continuous_midpoint=0,
          labels={"x": "feature", "y": "neuron"}, title="W_in of the |x| models (dense → sparse)",
          height=300, width=900).show()

# %% [markdown]
# In the heatmaps, a neuron with a positive weight on a feature computes its `ReLU(x)` half and one
# with a negative weight the `ReLU(-x)` half; a neuron with several strong weights serves several
# features. The line below compares the counts with the bound of two neurons per feature.

# %%
counts = computed.sum(-1).tolist()
describe([(counts[0] <= bound and max(counts[1:]) > bound,
           f"As in the paper: the dense model computes |x| for {counts[0]} features, within the two-neurons-per-feature "
           f"bound of {bound}, and a sparser one for {max(counts[1:])}, beyond it: sparse features share neurons."),
          (max(counts) > bound,
           f"Some model computes |x| for more than {bound} features ({counts}), but the dense one is among them: "
           "this run does not tie the excess to sparsity.")],
         otherwise=f"No model computes |x| for more than {bound} features in this short run ({counts}): no "
                   "computation in superposition to see here; train longer with replace(abs_settings, steps=10_000).")

# %% [markdown]
# ## 6. Sparse autoencoders: pulling the features back out
#
# In a real model we do not know the features, only the activations, which are in superposition.
# A sparse autoencoder (SAE) learns an overcomplete dictionary: it encodes an activation `h` into
# many non-negative latents, few of them active, and decodes it back as a sum of latent directions.
#
# $$a = \mathrm{ReLU}\big((h - b_{dec}) W_{enc} + b_{enc}\big), \qquad \hat h = a\, \hat W_{dec} + b_{dec},$$
#
# where each latent's decoder row is normalised to unit length. Here we train SAEs on the toy
# model's hidden vectors `h = W x` (5 sparse features in 2 dimensions), where the ground truth is
# known: a good SAE's decoder rows should line up with the columns of the toy model's `W`.

# %% [markdown] exercise="ch5.sae_forward"
# The forward pass is the SAE. Normalising the decoder rows matters: without it the L1 penalty
# could be made arbitrarily small by shrinking the activations and growing the decoder.
#
# **Spec.** Complete `ToySAE.forward`. Parameters: `W_enc (inst, d_in, d_sae)`, `b_enc (inst, d_sae)`,
# `W_dec (inst, d_sae, d_in)`, `b_dec (inst, d_in)`. For `h` of shape `(batch, inst, d_in)` return
# `(acts, reconstruction)`: `acts = ReLU((h - b_dec) W_enc + b_enc)` of shape `(batch, inst, d_sae)`, and
# `reconstruction = acts W_dec_normalised + b_dec`, where `W_dec_normalised` divides each latent's row
# `W_dec[i, latent, :]` by its norm. Normalise inside `forward`, so gradients flow through it.

# %% solution="ch5.sae_forward"


# %% check="ch5.sae_forward"
check("ch5.sae_forward", ToySAE)

# %% [markdown] exercise="ch5.sae_loss"
# The loss trades reconstruction against sparsity. The L1 norm of the latents is the usual
# stand-in for "how many latents are active", and `l1_coeff` sets the exchange rate.
#
# **Spec.** `sae_loss(h, acts, recon, l1_coeff)` returns one loss per instance, a tensor of shape
# `(inst,)` (also for one instance) that the SAE backpropagates through:
# the mean over batch and `d_in` of `(recon - h) ** 2`, plus `l1_coeff` times the mean over the batch of
# `sum over latents of |acts|`.

# %% solution="ch5.sae_loss"


# %% check="ch5.sae_loss"
check("ch5.sae_loss", sae_loss)

# %% [markdown] exercise="ch5.matched_cosine"
# With known ground truth, an SAE can be scored directly: for each true feature, is there a latent
# pointing the same way?
#
# **Spec.** `matched_cosine(learned, true)`: `learned` is `(inst, d_sae, d_in)` (decoder rows), `true` is
# `(inst, n_feat, d_in)`, float32 or float64, with any number of latents and features (more latents than
# features or fewer) and `inst` possibly 1. Return a floating-point tensor of shape `(inst, n_feat)`: for each
# true direction, the largest cosine similarity with any learned direction of the same instance. Several
# features may have the same best latent (this is not a one-to-one matching). A zero direction, true or
# learned, has cosine 0 with everything (so a zero true direction scores 0), never NaN.

# %% solution="ch5.matched_cosine"


# %% check="ch5.matched_cosine"
check("ch5.matched_cosine", matched_cosine)

# %% [markdown]
# Train the toy models whose hidden vectors the SAEs will see: 8 instances, 5 features, 2 dimensions,
# every feature with probability 0.025, so all five should end up in superposition.

# %%
sae_settings = toy.SAESettings()
print(sae_settings)
sae_toy, sample_h = toy.sae_toy_model(sae_settings, train_fn=train_toy_model, progress=True)
print("features represented per toy model:", toy.represented_features(sae_toy.W.detach()).tolist())

# %% [markdown]
# Train one SAE per toy model (5 latents for 5 features) without resampling, and measure how many
# true features it recovers at cosine >= 0.9, and how many of its latents ever fire:

# %%
torch.manual_seed(sae_settings.seed + 1)
sae_plain = ToySAE(sae_settings.n_instances, sae_settings.n_hidden, sae_settings.d_sae)
run_plain = toy.train_sae(sae_plain, sample_h, sae_settings, resample=False, loss_fn=sae_loss, progress=True)
report_plain = toy.recovery_report(sae_plain, sae_toy, matched_fn=matched_cosine)
live_plain = toy.count_live(sae_plain, sample_h(8192))
print(f"recovered features: {report_plain['recovered_fraction']:.0%}; per instance "
      f"{report_plain['recovered_per_instance']} of 5")
print(f"live latents per instance: {live_plain} of {sae_settings.d_sae}; dead latents in total: "
      f"{sum(sae_settings.d_sae - n for n in live_plain)}")

# %% [markdown]
# Some latents never fire on any input: they are **dead**. The gradient of a dead latent is zero (its
# ReLU is always off), so it never comes back, and the features it might have learned stay
# unrecovered. The plot shows the true features (solid) and the decoder rows (dashed, grey if dead).

# %%
true_directions = einops.rearrange(sae_toy.W.detach(), "inst hidden feat -> inst feat hidden")
live_mask_plain = (sae_plain(sample_h(8192))[0] > 0).any(0)
plots.sae_directions(true_directions, sae_plain.W_dec.detach(), live_mask_plain,
                     [f"instance {i}" for i in range(sae_settings.n_instances)]).show()

# %% [markdown] exercise="ch5.resample_dead"
# Resampling gives a dead latent a second chance, aimed where the SAE is failing: at an input it
# reconstructs badly. This is what turns an SAE with wasted latents into one that covers the data.
#
# **Spec.** `resample_dead(sae, h, dead)` changes `sae` in place (under `torch.no_grad()`) and returns
# `None`. `h` is `(batch, inst, d_in)`; `dead` is a boolean `(inst, d_sae)`. For each instance:
#
# 1. compute each input's squared reconstruction error `sum over d_in of (recon - h) ** 2` with the SAE;
# 2. rank the inputs worst first; the `k`-th dead latent (in increasing latent index) takes the `k`-th
#    worst input, `v = h - b_dec`;
# 3. set that latent's decoder row `W_dec[i, latent]` to `v / |v|`, its encoder column
#    `W_enc[i, :, latent]` to `v / |v|` times the mean norm of the encoder columns of the instance's
#    **live** latents (1 if none is live), and its `b_enc` to 0.
#
# Live latents must not change.

# %% solution="ch5.resample_dead"


# %% check="ch5.resample_dead"
check("ch5.resample_dead", resample_dead)

# %% [markdown]
# This is a simplified version of the resampling in Bricken et al. (2023). They draw the new inputs at
# random, each with probability proportional to its squared reconstruction loss, rather than taking the
# worst ones in order; they scale the new encoder rows to 0.2 times the mean norm of the live latents'
# rows; and they reset the Adam state of the resampled rows only. Here the training loop clears the whole
# optimizer state after each resampling, which the live latents recover from within a few steps. After
# the comparison below, an exercise implements their rule and a table sets the two side by side on these
# SAEs; on a large SAE the random draw keeps many dead latents from all landing on the same few outliers.

# %% [markdown]
# Train the same SAEs again, from the same initialisation, now resampling every
# `resample_every` steps the latents that fired on nothing during the last `window` steps:

# %%
torch.manual_seed(sae_settings.seed + 1)
sae_resampled = ToySAE(sae_settings.n_instances, sae_settings.n_hidden, sae_settings.d_sae)
run_resampled = toy.train_sae(sae_resampled, sample_h, sae_settings, resample=True, loss_fn=sae_loss,
                              resample_fn=resample_dead, progress=True)
report_resampled = toy.recovery_report(sae_resampled, sae_toy, matched_fn=matched_cosine)
live_resampled = toy.count_live(sae_resampled, sample_h(8192))
print(f"latents resampled during training: {run_resampled.resampled}")
print(f"recovered features: {report_resampled['recovered_fraction']:.0%}; per instance "
      f"{report_resampled['recovered_per_instance']} of 5")
print(f"live latents per instance: {live_resampled} of {sae_settings.d_sae}")

# %%
print(f"{'':22s}{'recovered (cos >= 0.9)':>24s}{'dead latents':>14s}")
for name, report, live in [("without resampling", report_plain, live_plain),
                           ("with resampling", report_resampled, live_resampled)]:
    print(f"{name:22s}{report['recovered_fraction']:>24.0%}{sum(sae_settings.d_sae - n for n in live):>14d}")

# %% solution_only=true
claim(report_resampled["recovered_fraction"] >= 0.9 and report_resampled["recovered_fraction"] > report_plain["recovered_fraction"],
      "resampling dead latents is what makes it recover nearly all of them",
      measured=f"{report_plain['recovered_fraction']:.0%} without, {report_resampled['recovered_fraction']:.0%} with")
claim(sum(sae_settings.d_sae - n for n in live_plain) > 0, "some latents never fire on any input: they are dead",
      measured=f"{sum(sae_settings.d_sae - n for n in live_plain)} dead without resampling")
live_mask_resampled = (sae_resampled(sample_h(8192))[0] > 0).any(0)
plots.sae_directions(true_directions, sae_resampled.W_dec.detach(), live_mask_resampled,
                     [f"instance {i}" for i in range(sae_settings.n_instances)],
                     title="With resampling: toy features (solid) and SAE decoder directions (dashed)").show()

# %% [markdown]
# The distribution of matched cosines, feature by feature, for both SAEs:

# %%
fig = go.Figure()
for name, report in [("without resampling", report_plain), ("with resampling", report_resampled)]:
    fig.add_trace(go.Histogram(x=report["matched_cosine"].flatten().tolist(), name=name, opacity=0.6,
                               xbins=dict(start=-1, end=1.001, size=0.05)))
fig.add_vline(x=0.9, line_dash="dot")
fig.update_layout(barmode="overlay", title="Best cosine between each true feature and any latent",
                  xaxis_title="matched cosine", height=350, width=650)
fig.show()

# %% [markdown]
# ### Resampling as Bricken et al. describe it
#
# The rule above is a simplification. Bricken et al. (2023) resample in three ways that differ from
# it: each dead latent *draws* its input at random, with probability proportional to the **square** of
# the input's loss, so a few outliers cannot take every dead latent; the new encoder column is scaled to
# only **0.2 times** the mean norm of the live latents' encoder columns, so a resampled latent starts
# quiet and has to earn its place; and only the resampled entries of Adam's running moments are reset,
# so the live latents keep their optimizer state.

# %% [markdown] exercise="ch5.resample_bricken"
# Side by side with the simple rule, this lets you measure what the paper's choices buy on a run in
# front of you, instead of taking either rule on trust.
#
# **Spec.** `resample_bricken(sae, h, dead, optimizer)` changes `sae` and `optimizer` in place (under
# `torch.no_grad()`) and returns `None`. `h` is `(batch, inst, d_in)`, `dead` a boolean `(inst, d_sae)`,
# `optimizer` the `torch.optim.Adam` training `sae`. For each instance:
#
# 1. each input's loss is its squared reconstruction error, `sum over d_in of (recon - h) ** 2`
#    (assume at least one input has a nonzero loss);
# 2. each dead latent independently draws one input with probability proportional to `loss ** 2`
#    (with replacement: two latents may draw the same input); let `v = h - b_dec` for the drawn input;
# 3. the latent's decoder row becomes `v / |v|`, its encoder column `W_enc[i, :, latent]` becomes
#    `0.2 * m * v / |v|`, where `m` is the mean norm of the encoder columns of the instance's **live**
#    latents (1 if none is live), and its `b_enc` becomes 0;
# 4. in `optimizer.state[p]` for `p` in `W_dec`, `W_enc` and `b_enc`, the entries of `exp_avg` and
#    `exp_avg_sq` that belong to the resampled latents (rows of `W_dec`, columns of `W_enc`, entries of
#    `b_enc`) become 0. Everything else, the `step` counts included, stays as it was.
#
# Live latents and `b_dec` must not change. The check identifies which input each latent drew from
# its new decoder row, and compares the frequencies of 1,920 draws with `loss ** 2`.

# %% solution="ch5.resample_bricken"


# %% check="ch5.resample_bricken"
check("ch5.resample_bricken", resample_bricken)

# %% [markdown]
# The same SAEs once more, from the same initialisation and on the same schedule, now with your
# `resample_bricken` (the training loop hands it the optimizer and keeps the rest of its state):

# %%
torch.manual_seed(sae_settings.seed + 1)
sae_bricken = ToySAE(sae_settings.n_instances, sae_settings.n_hidden, sae_settings.d_sae)
run_bricken = toy.train_sae(sae_bricken, sample_h, sae_settings, resample=True, loss_fn=sae_loss,
                            resample_fn=resample_bricken, resample_with_optimizer=True, progress=True)
report_bricken = toy.recovery_report(sae_bricken, sae_toy, matched_fn=matched_cosine)
live_bricken = toy.count_live(sae_bricken, sample_h(8192))
sae_rows = [("no resampling", report_plain, live_plain, run_plain),
            ("simple rule", report_resampled, live_resampled, run_resampled),
            ("Bricken et al.'s rule", report_bricken, live_bricken, run_bricken)]
print(f"{'':24s}{'recovered (cos >= 0.9)':>24s}{'dead at the end':>17s}{'resamplings':>13s}")
for name, report, live, run in sae_rows:
    print(f"{name:24s}{report['recovered_fraction']:>24.0%}{sum(sae_settings.d_sae - n for n in live):>17d}"
          f"{run.resampled:>13d}")
print("live latents at each check (sum over instances):")
for name, _, _, run in sae_rows:
    print(f"  {name:22s}", [sum(counts) for counts in run.live_history])

# %% [markdown]
# Which rule does better here? The cell below says, from the table. Bear in mind what this setting is:
# five latents for five features in two dimensions, resampled every 300 steps. A latent resampled by
# Bricken et al.'s rule starts with a fifth of a live latent's encoder norm, so in a short run it can die
# again before it grows, while the simple rule's full-size encoder makes it fire at once. Their rule was
# built for dictionaries of thousands of latents trained for hundreds of thousands of steps, where many
# latents die at once and drawing them onto different inputs matters.

# %%
dead_end = {name: sum(sae_settings.d_sae - n for n in live) for name, _, live, _ in sae_rows}
recovered = {name: report["recovered_fraction"] for name, report, _, _ in sae_rows}
describe([(recovered["Bricken et al.'s rule"] > recovered["simple rule"],
           "Bricken et al.'s rule recovers more of the toy features than the simple rule in this run."),
          (recovered["Bricken et al.'s rule"] == recovered["simple rule"],
           "The two rules recover the same share of the toy features in this run.")],
         otherwise="The simple rule recovers more of the toy features than Bricken et al.'s rule in this run: on "
                   "five latents and a short schedule, the quiet restart costs more than the random draw gains.")
dead_plain, dead_simple, dead_bricken = (dead_end[name] for name, *_ in sae_rows)
describe([(dead_simple < dead_plain and dead_bricken < dead_plain,
           f"Both rules leave fewer dead latents than no resampling ({dead_simple} and {dead_bricken} against "
           f"{dead_plain})."),
          (dead_bricken < dead_plain,
           f"Bricken et al.'s rule leaves fewer dead latents than no resampling ({dead_bricken} against {dead_plain}); "
           f"the simple rule does not ({dead_simple})."),
          (dead_simple < dead_plain,
           f"The simple rule leaves fewer dead latents than no resampling ({dead_simple} against {dead_plain}); "
           f"Bricken et al.'s rule does not ({dead_bricken}).")],
         otherwise=f"Neither rule leaves fewer dead latents than no resampling ({dead_simple}, {dead_bricken} and "
                   f"{dead_plain}).")

# %% solution_only=true
claim(run_bricken.resampled > 0, "now with your resample_bricken (it resampled some latents)",
      measured=f"{run_bricken.resampled} resamplings")

# %% [markdown]
# ### Evaluating an SAE on held-out data
#
# A loss on the training batches says how well an SAE fits what it saw. The numbers that matter are
# measured on inputs it has not seen: how much of their variance it reconstructs, how many latents it
# uses per input (L0), and how often each latent fires, its **feature density**. A latent that never
# fires on held-out data is dead; one that fires on a tiny fraction of it (Bricken et al. see a whole
# cluster of such *ultralow-density* latents) is suspect too: it may be fitting a handful of examples.

# %% [markdown] exercise="ch5.feature_density"
# Density is the first thing to plot for a trained SAE: its histogram shows dead latents, ultralow
# ones and the bulk in one picture.
#
# **Spec.** `feature_density(acts)`: `acts` is `(batch, inst, d_sae)`. Return a float tensor of shape
# `(inst, d_sae)`: for each instance and latent, the fraction of the `batch` inputs on which the latent
# fires, that is, is strictly positive (0 is off, and so is a negative value).

# %% solution="ch5.feature_density"


# %% check="ch5.feature_density"
check("ch5.feature_density", feature_density)

# %% [markdown] exercise="ch5.variance_explained"
# Mean squared error depends on the scale of the activations; the fraction of variance explained
# does not, so it compares SAEs across layers and models: 1 is a perfect reconstruction, 0 is no better
# than predicting the mean input, below 0 is worse.
#
# **Spec.** `variance_explained(h, recon)`: both `(batch, inst, d_in)`, batch at least 2. Return a float
# tensor of shape `(inst,)`: `1 - sum (recon - h) ** 2 / sum (h - mean_h) ** 2`, where both sums run over
# the batch and `d_in`, and `mean_h` is the instance's mean input over the batch, shape `(inst, d_in)`.

# %% solution="ch5.variance_explained"


# %% check="ch5.variance_explained"
check("ch5.variance_explained", variance_explained)

# %% [markdown]
# The three SAEs, on 8,192 fresh inputs that none of them trained on (the toy data are drawn anew
# each time, so any new batch is held out):

# %%
torch.manual_seed(2024)
held_out_h = sample_h(8192)
print(f"{'':24s}{'variance explained':>20s}{'L0':>7s}{'dead':>6s}{'density < 1%':>14s}")
held_out_metrics = {}
for name, sae in [("no resampling", sae_plain), ("simple rule", sae_resampled), ("Bricken et al.'s rule", sae_bricken)]:
    with torch.no_grad():
        acts, recon = sae(held_out_h)
    density = feature_density(acts)
    explained = variance_explained(held_out_h, recon)
    held_out_metrics[name] = (float(explained.mean()), int((density == 0).sum()))
    print(f"{name:24s}{explained.mean().item():>20.3f}{(acts > 0).float().sum(-1).mean().item():>7.2f}"
          f"{int((density == 0).sum()):>6d}{int(((density > 0) & (density < 0.01)).sum()):>14d}")

# %% [markdown]
# Each toy feature fires on 2.5% of inputs, so a latent that has found one should have a density near
# 0.025; the densities of all 40 latents of each SAE, on the held-out inputs:

# %%
fig = go.Figure()
for name, sae in [("no resampling", sae_plain), ("simple rule", sae_resampled), ("Bricken et al.'s rule", sae_bricken)]:
    with torch.no_grad():
        density = feature_density(sae(held_out_h)[0]).flatten()
    fig.add_trace(go.Histogram(x=density.tolist(), name=name, opacity=0.6, xbins=dict(start=0, end=0.1, size=0.0025)))
fig.add_vline(x=sae_settings.probability, line_dash="dot", annotation_text="feature probability")
fig.update_layout(barmode="overlay", title="Feature density of the toy SAEs' latents (held out)",
                  xaxis_title="fraction of inputs on which the latent fires", height=350, width=700)
fig.show()

# %% [markdown]
# ## 7. Bonus: JumpReLU
#
# The L1 penalty shrinks every active latent towards zero, which biases the SAE's reconstructions
# low. A JumpReLU SAE replaces the ReLU with a learned threshold per latent,
# `JumpReLU(z) = z · H(z - θ)`: below `θ` the latent is off, above it passes `z` unchanged. The jump
# has no useful gradient with respect to `θ` (zero almost everywhere), so training uses a
# *pseudo-derivative*: the jump is smoothed by a rectangle of width `ε` (the bandwidth).

# %% [markdown] exercise="ch5.jumprelu"
# This straight-through trick is what makes thresholds (and an L0 penalty) trainable, and it is the
# activation function of several published SAE families.
#
# **Spec.** `jumprelu(pre, threshold, bandwidth)` returns `pre * (pre > threshold)`; `threshold` has
# shape `(d_sae,)` and broadcasts over the leading axes of `pre` (any number of them, none included).
# Both comparisons are strict: at `pre == threshold` the latent is off, and an input exactly
# `bandwidth / 2` from the threshold is outside the window. Its backward pass must give
#
# - with respect to `pre`: `1[pre > threshold]` (times the incoming gradient);
# - with respect to `threshold`: `-(threshold / bandwidth) * 1[|pre - threshold| < bandwidth / 2]`
#   (times the incoming gradient), summed down to the shape of `threshold`.
#
# Write a `torch.autograd.Function` and call its `apply`.

# %% solution="ch5.jumprelu" defines="JumpReLUFunction"


# %% check="ch5.jumprelu"
check("ch5.jumprelu", jumprelu)

# %% [markdown]
# What the pseudo-derivative says: for a latent with threshold 0.5, sweep the pre-activation and
# look at the gradient each input sends to the threshold. Only inputs within `ε/2` of the threshold
# push on it; the sign says that raising the threshold would switch those inputs off.

# %%
pre_values = torch.linspace(0, 1, 201)[:, None]
threshold = torch.tensor([0.5], requires_grad=True)
per_input_gradient = []
for value in pre_values:
    threshold.grad = None
    jumprelu(value[None], threshold, bandwidth=0.1).sum().backward()
    per_input_gradient.append(threshold.grad.item())
fig = go.Figure()
fig.add_trace(go.Scatter(x=pre_values.flatten().tolist(), y=jumprelu(pre_values, threshold.detach()).flatten().tolist(),
                         name="JumpReLU(z)"))
fig.add_trace(go.Scatter(x=pre_values.flatten().tolist(), y=per_input_gradient, name="d/dθ (pseudo-derivative)"))
fig.update_layout(title="JumpReLU with θ = 0.5, ε = 0.1", xaxis_title="pre-activation z", height=350, width=650)
fig.show()

# %% [markdown]
# ## 8. Bonus: an SAE on a real residual stream
#
# Everything so far had a known ground truth. On a real model we only have activations. Here we
# train an SAE on the residual stream after the first block of chapter 2's shipped two-layer
# attention-only model, on text from the offline Python-docs corpus, and read its latents the way
# interpretability research does: through the inputs on which they fire hardest. The SAE is scored,
# and its latents read, on held-out text (the corpus chunks after the training ones), so the numbers
# say how it does on tokens it has not fitted.

# %%
from circuitlab import models
from circuitlab.ch5 import residual_sae

residual_settings = residual_sae.ResidualSAESettings()
print(residual_settings)
lm = models.load_shipped(residual_sae.MODEL_NAME)
n_held_out = 256  # sequences after the training ones, never shown to the SAE
all_tokens = residual_sae.corpus_tokens(lm, residual_settings.n_sequences + n_held_out, residual_settings.seq_len)
train_tokens, lm_tokens = all_tokens[:residual_settings.n_sequences], all_tokens[residual_settings.n_sequences:]
train_residual = residual_sae.residual_activations(lm, train_tokens, residual_settings.layer)[:, 1:]  # drop BOS
normalise = residual_sae.normaliser(einops.rearrange(train_residual, "batch pos d -> (batch pos) d"))
train_residual = normalise(train_residual)
residual = normalise(residual_sae.residual_activations(lm, lm_tokens, residual_settings.layer)[:, 1:])  # held out
print(f"{train_residual.shape[0] * train_residual.shape[1]} training and {residual.shape[0] * residual.shape[1]} "
      f"held-out token activations of size {residual.shape[-1]}")
residual_model, residual_run = residual_sae.train_residual_sae(
    einops.rearrange(train_residual, "batch pos d -> (batch pos) d"), residual_settings, sae_class=ToySAE,
    loss_fn=sae_loss, resample_fn=resample_dead, progress=True)
quality_train = residual_sae.sae_quality(residual_model, einops.rearrange(train_residual, "batch pos d -> (batch pos) d"))
quality = residual_sae.sae_quality(residual_model, einops.rearrange(residual, "batch pos d -> (batch pos) d"))
print(f"held out: variance explained {quality['variance_explained']:.2f} (training tokens "
      f"{quality_train['variance_explained']:.2f}); active latents per token (L0) {quality['l0']:.1f}; "
      f"live latents {quality['live_latents']} of {residual_settings.d_sae}; resampled {residual_run.resampled}")

# %% [markdown]
# **Feature density on held-out tokens.** The histogram below puts every latent at the log of the
# fraction of held-out tokens it fires on (your `feature_density`), with dead latents (density 0, no
# logarithm) in a bar of their own at the left, and ultralow-density latents, here those firing on fewer
# than one token in a thousand, left of the dotted line. Beside the SAE trained with the simple rule is
# one trained identically but resampled with your `resample_bricken`.

# %%
flat_held_out = einops.rearrange(residual, "batch pos d -> (batch pos) 1 d")
residual_bricken, residual_bricken_run = residual_sae.train_residual_sae(
    einops.rearrange(train_residual, "batch pos d -> (batch pos) d"), residual_settings, sae_class=ToySAE,
    loss_fn=sae_loss, resample_fn=resample_bricken, resample_with_optimizer=True, progress=True)
ultralow = 1e-3
density_rows = {}
fig = go.Figure()
for name, model in [("simple rule", residual_model), ("Bricken et al.'s rule", residual_bricken)]:
    with torch.no_grad():
        acts_held_out, recon_held_out = model(flat_held_out)
    density = feature_density(acts_held_out)[0]
    explained = variance_explained(flat_held_out, recon_held_out).item()
    live_density = density[density > 0]
    density_rows[name] = (int((density == 0).sum()), int(((density > 0) & (density < ultralow)).sum()), explained)
    dead_at = -5.0  # where the dead latents' bar stands: log10(0) has no place on the axis
    values = torch.log10(live_density).tolist() + [dead_at] * int((density == 0).sum())
    fig.add_trace(go.Histogram(x=values, name=name, opacity=0.6, xbins=dict(start=-5.0625, end=0.0625, size=0.125)))
print(f"{flat_held_out.shape[0]} held-out tokens; ultralow density: below {ultralow:g}")
print(f"{'':24s}{'dead':>6s}{'ultralow':>10s}{'variance explained':>20s}")
for name, (dead, low, explained) in density_rows.items():
    print(f"{name:24s}{dead:>6d}{low:>10d}{explained:>20.3f}")
fig.add_vline(x=math.log10(ultralow), line_dash="dot", annotation_text="ultralow")
fig.add_annotation(x=-5.0, y=0, text="dead", showarrow=False, yshift=-14)
fig.add_vline(x=math.log10(1 / flat_held_out.shape[0]), line_dash="dash", line_color="grey",
              annotation_text="fires once", annotation_position="bottom right")
fig.update_layout(barmode="overlay", title=f"Feature density on held-out tokens (d_sae = {residual_settings.d_sae}; "
                  f"dead latents: {', '.join(f'{k} {v[0]}' for k, v in density_rows.items())})",
                  xaxis_title="log10 feature density", yaxis_title="latents", height=380, width=750)
fig.show()

# %% [markdown]
# Read the table: Bricken et al. found many dead latents and a separate cluster of ultralow-density
# ones in dictionaries far larger than this, trained far longer. With 256 latents on 64-dimensional
# activations and 600 steps, this run may have few of either; the line below says what it shows.

# %%
(dead_simple_r, low_simple_r, _), (dead_bricken_r, low_bricken_r, _) = density_rows.values()
describe([(dead_simple_r + low_simple_r + dead_bricken_r + low_bricken_r == 0,
           "Neither SAE has a dead or an ultralow-density latent on the held-out tokens: at this size and length "
           "of training there is no such cluster to see."),
          (dead_simple_r + low_simple_r + dead_bricken_r + low_bricken_r <= 0.02 * 2 * residual_settings.d_sae,
           f"Dead and ultralow-density latents are rare here ({dead_simple_r} dead and {low_simple_r} ultralow with "
           f"the simple rule, {dead_bricken_r} and {low_bricken_r} with Bricken et al.'s): no cluster like the "
           "paper's at this size.")],
         otherwise=f"This run has dead or ultralow-density latents worth a look: {dead_simple_r} dead and "
                   f"{low_simple_r} ultralow with the simple rule, {dead_bricken_r} and {low_bricken_r} with "
                   "Bricken et al.'s.")

# %% [markdown]
# **Spliced-in loss.** Variance explained says how close the reconstruction is; it does not say whether
# what the SAE loses matters to the model. Bricken et al. splice the SAE in: run the model with the
# activation replaced by its reconstruction and measure the language-modelling loss. Between the clean
# loss and the loss with the activation ablated (replaced by its mean), the fraction of the gap the
# spliced model closes is the *loss recovered*.

# %% [markdown] exercise="ch5.splice_through_sae"
# This is the function the splice hook calls on every forward pass: it has to put the reconstruction
# back in the model's own units, or the model downstream sees garbage.
#
# **Spec.** `splice_through_sae(resid, sae, mean, scale)`: `resid` is `(batch, pos, d_model)`, `sae` a
# one-instance `ToySAE` trained on normalised vectors `(resid - mean) * scale` (`mean` of shape
# `(d_model,)`, `scale` a Python float). Normalise `resid`, run the SAE on every (sequence, position),
# and return its reconstruction in the model's units, shape `(batch, pos, d_model)`.

# %% solution="ch5.splice_through_sae"


# %% check="ch5.splice_through_sae"
check("ch5.splice_through_sae", splice_through_sae)

# %% [markdown]
# The losses on the held-out sequences (position 0, the BOS token the SAE never saw, keeps its own
# activation in every run):

# %%
resid_mean, resid_scale = residual_sae.normalisation(
    einops.rearrange(residual_sae.residual_activations(lm, train_tokens, residual_settings.layer)[:, 1:],
                     "batch pos d -> (batch pos) d"))
splice_rows = {}
for name, model in [("simple rule", residual_model), ("Bricken et al.'s rule", residual_bricken)]:
    splice_rows[name] = residual_sae.spliced_losses(
        lm, lm_tokens, residual_settings.layer,
        lambda r, model=model: splice_through_sae(r, model, resid_mean, resid_scale), resid_mean)
print(f"{'':24s}{'clean':>8s}{'spliced':>9s}{'mean-ablated':>14s}{'zero-ablated':>14s}{'loss recovered':>16s}")
loss_recovered = {}
for name, row in splice_rows.items():
    loss_recovered[name] = (row["mean-ablated"] - row["spliced"]) / (row["mean-ablated"] - row["clean"])
    print(f"{name:24s}{row['clean']:>8.3f}{row['spliced']:>9.3f}{row['mean-ablated']:>14.3f}{row['zero-ablated']:>14.3f}"
          f"{loss_recovered[name]:>16.0%}")

# %% [markdown]
# Compare the loss recovered with the variance explained above: the two need not agree, because the
# model may depend most on directions that carry little variance.

# %%
simple_recovered = loss_recovered["simple rule"]
describe([(simple_recovered >= 0.9, f"Spliced in, the SAE (simple rule) recovers {simple_recovered:.0%} of the loss "
                                    "gap: what it drops barely matters downstream."),
          (simple_recovered >= 0.5, f"Spliced in, the SAE (simple rule) recovers {simple_recovered:.0%} of the loss "
                                    "gap: most, but the model notices what the reconstruction drops.")],
         otherwise=f"Spliced in, the SAE (simple rule) recovers only {simple_recovered:.0%} of the loss gap: the "
                   "reconstruction misses what the model uses.")

# %% [markdown] exercise="ch5.top_activating"
# Max-activating examples are the first thing anyone looks at for a new latent: the contexts where
# it fires most strongly suggest what it represents (and then need testing).
#
# **Spec.** `top_activating(acts, latent, k)`: `acts` is `(batch, pos, d_sae)`. Return a `torch.long`
# tensor of shape `(k, 2)` (also for `k = 1` and batch 1): the `(sequence, position)` pairs of the `k`
# largest values of `acts[..., latent]` over the whole batch, largest first. One sequence may appear
# more than once. Equal activations may come in any order, and with ties at the k-th place any of the
# tied pairs will do.

# %% solution="ch5.top_activating"


# %% check="ch5.top_activating"
check("ch5.top_activating", top_activating)

# %% [markdown]
# Which latents to show? The densest ones are the easiest to label and the least typical. The rule
# here: rank the latents that fire on held-out text by firing rate, and take the ones at the 25th, 50th
# and 75th percentile of that ranking. Each is shown with its five strongest held-out contexts (the
# token the latent fires on is in [[brackets]]), and with a count of how many distinct tokens its 20
# strongest activations fall on: a handful means a latent tied to particular tokens.

# %%
latents_per_token = residual_sae.latent_activations(residual_model, residual)
firing_rate = (latents_per_token > 0).float().mean((0, 1))
fires = torch.nonzero(firing_rate > 0)[:, 0]
by_rate = fires[firing_rate[fires].argsort()]
examples = [int(by_rate[int(q * (len(by_rate) - 1))]) for q in (0.25, 0.5, 0.75)]
distinct_top_tokens = {}
for latent in examples:
    print(f"latent {latent} (fires on {firing_rate[latent]:.1%} of held-out tokens):")
    for sequence, position in top_activating(latents_per_token, latent, 5).tolist():
        value = latents_per_token[sequence, position, latent].item()
        # +1: the residual tensor dropped the BOS position of lm_tokens.
        print(f"  {value:5.2f}  {residual_sae.context(lm, lm_tokens, sequence, position + 1)}")
    top = top_activating(latents_per_token, latent, 20)
    distinct_top_tokens[latent] = len(set(lm_tokens[top[:, 0], top[:, 1] + 1].tolist()))
    print(f"  its 20 strongest activations fall on {distinct_top_tokens[latent]} distinct tokens")

# %% [markdown]
# Judge for yourself what each latent responds to. This model was trained to predict repeated
# spans and barely models ordinary text, so expect latents tied to particular tokens (or to the
# token before, which the first layer's previous-token heads copy in) rather than abstract concepts;
# the distinct-token counts above are a first test of that expectation.

# %%
describe([(max(distinct_top_tokens.values()) <= 5,
           "All three latents are token-tied: each one's 20 strongest held-out activations fall on at most 5 tokens.")],
         otherwise=f"Not all three are token-tied: distinct tokens among the 20 strongest activations "
                   f"{list(distinct_top_tokens.values())}; look at the contexts for what else they share.")

# %% solution_only=true
claim(quality["variance_explained"] > 0.5, "on held-out tokens the SAE still explains most of the variance",
      measured=f"held-out variance explained {quality['variance_explained']:.2f}, training {quality_train['variance_explained']:.2f}")

# %% [markdown]
# **Feature splitting.** Bricken et al. train dictionaries of several sizes on the same activations and
# find that a latent of a small dictionary often corresponds to a *family* of latents in a larger one:
# directions close to the parent that divide its job between them. To look for it here, train two more
# SAEs on the same training tokens, with 64 and 512 latents (about ten seconds), beside the 256-latent
# one, and match each latent of a larger dictionary to its nearest latent in the next smaller one.

# %% [markdown] exercise="ch5.nearest_parent"
# The matching is the measurement behind every feature-splitting claim: which small-dictionary latent is
# each new latent closest to, and how close.
#
# **Spec.** `nearest_parent(small, large)`: decoder rows `small` `(n_small, d)` and `large` `(n_large, d)`,
# of any norms. Return a tuple `(parent, cosine)`, both of shape `(n_large,)`: `parent` (`torch.long`) is,
# for each row of `large`, the index of the row of `small` with the highest cosine similarity (the first
# such index on ties), and `cosine` (float) is that cosine. A zero row has cosine 0 with everything.

# %% solution="ch5.nearest_parent"


# %% check="ch5.nearest_parent"
check("ch5.nearest_parent", nearest_parent)

# %%
flat_train = einops.rearrange(train_residual, "batch pos d -> (batch pos) d")
dictionaries = {residual_settings.d_sae: residual_model}
for size in (64, 512):
    dictionaries[size], _ = residual_sae.train_residual_sae(
        flat_train, replace(residual_settings, d_sae=size), sae_class=ToySAE, loss_fn=sae_loss,
        resample_fn=resample_dead, progress=True)
sizes = sorted(dictionaries)
child_threshold = 0.7
families = {}
for small_size, large_size in zip(sizes, sizes[1:]):
    parent, cosine = nearest_parent(dictionaries[small_size].W_dec[0].detach(), dictionaries[large_size].W_dec[0].detach())
    children = torch.bincount(parent[cosine >= child_threshold], minlength=small_size)
    families[(small_size, large_size)] = (parent, cosine, children)
    quality_size = residual_sae.sae_quality(dictionaries[large_size], einops.rearrange(residual, "b p d -> (b p) d"))
    print(f"{small_size:4d} -> {large_size:4d} latents: {int((children >= 2).sum())} of {small_size} latents have two or "
          f"more children at cosine >= {child_threshold} (most: {int(children.max())}); the {large_size}-latent SAE "
          f"explains {quality_size['variance_explained']:.2f} of the held-out variance")

# %% [markdown]
# One family, the 64-latent dictionary's latent with the most children in the 256-latent one: the token
# each latent fires on most often among its ten strongest held-out activations, and its firing rate.

# %%
parent, cosine, children = families[(64, residual_settings.d_sae)]
family_head = int(children.argmax())
members = torch.nonzero((parent == family_head) & (cosine >= child_threshold))[:, 0].tolist()


def usual_token(sae_model, latent: int) -> tuple[str, float]:
    acts_tokens = residual_sae.latent_activations(sae_model, residual)
    top = top_activating(acts_tokens, latent, 10)
    ids = lm_tokens[top[:, 0], top[:, 1] + 1]
    return lm.tokenizer.decode([int(ids.mode().values)]), float((acts_tokens[..., latent] > 0).float().mean())


token, rate = usual_token(dictionaries[64], family_head)
print(f"64-latent latent {family_head}: usually {token!r}, fires on {rate:.1%} of held-out tokens")
for member in members:
    token, rate = usual_token(residual_model, member)
    print(f"   256-latent latent {member} (cosine {cosine[member]:.2f}): usually {token!r}, fires on {rate:.1%}")
splitting = int((children >= 2).sum())
describe([(splitting >= 0.25 * 64,
           f"Feature splitting shows: {splitting} of the 64 latents have two or more close children (cosine >= "
           f"{child_threshold}) among the 256; read the family above for how the children divide the parent's tokens.")],
         otherwise=f"Little splitting at this threshold: only {splitting} of the 64 latents have two or more children "
                   f"at cosine >= {child_threshold}.")

# %% [markdown]
# ## Summary
#
# - A toy model with fewer dimensions than features represents only its most important features when
#   they are dense, and more and more of them, in superposition, as they get sparser; the 5 → 2 sweep
#   above went from the counts printed in section 2 at the dense end to all five at the sparse end.
# - The phase diagram of two features in one dimension maps the same trade: importance decides who gets
#   the dimension when features are dense, and sparsity opens a superposed region (section 2 prints how
#   many of its cells match the candidate-solution layout).
# - The geometry is discrete: features share dimensions in antipodal pairs, pentagons and other
#   regular shapes, visible in `WᵀW` and as dimensionalities sitting on plateaus; with 200 features in
#   20 dimensions, section 3 prints which of the paper's plateaus this short run reaches.
# - Correlation decides who shares: anticorrelated features pair up antipodally, correlated ones stay
#   orthogonal.
# - A ReLU hidden layer privileges the neuron basis, and lets the model compute: section 5 counts the
#   features whose |x| each model computes against the bound of two neurons per feature.
# - A sparse autoencoder recovers the hidden features from activations alone; resampling dead latents
#   is what makes it recover nearly all of them, and section 6 sets the simple rule beside Bricken et
#   al.'s on the same run.
# - An SAE is judged on held-out data: variance explained, L0, feature density (dead and ultralow
#   latents) and, on a real model, the loss with the SAE spliced in (section 8); its latents are read
#   through their max-activating examples.
#
# ## Explore further
#
# 1. **Importance against sparsity.** Make all five features equally important and rerun the sweep.
#    *First experiment:* `toy.run_sparsity_sweep(replace(toy.SweepSettings(), importance_decay=1.0), ...)`
#    (with `from dataclasses import replace`) and compare the represented counts with section 2.
# 2. **A sharper phase diagram.** The candidate layout of section 2 fixes the weights at 1 and the bias at
#    0. *First experiment:* for each cell, optimise the superposed candidate's weight `w` and bias `b`
#    (a grid over both, loss by Monte Carlo on `generate_batch`) and redraw the layout; then train the grid
#    with `replace(phase_settings, steps=8000)` and count how many cells still differ.
# 3. **How many latents? Feature splitting.** Give the SAE 10 or 20 latents for the 5 features.
#    *First experiment:* set `d_sae=10` in `toy.SAESettings`, and for each true feature count the latents
#    whose decoder row has cosine above 0.9 with it: do features split into several latents, as Bricken
#    et al. see when the dictionary grows?
# 4. **The L1 trade-off.** *First experiment:* train SAEs with `l1_coeff` in {0.02, 0.2, 1.0} and plot
#    the held-out `variance_explained` against the mean number of active latents per input.
# 5. **A JumpReLU SAE.** Swap the ReLU of `ToySAE` for `jumprelu` with a learned log-threshold per
#    latent and an L0 penalty through the same pseudo-derivative. *First experiment:* compare its
#    shrinkage (mean of `recon · h / |h|^2` on single-feature inputs) with the ReLU SAE's.
# 6. **All six plateaus.** *First experiment:* `replace(toy.ScaleSettings(), probabilities=tuple(float(p)
#    for p in torch.logspace(-0.3, -1.5, 12)), steps=20_000)` (a few minutes), then count the plateaus again:
#    do 3/4 and 2/3 appear between the sparsities where 1/2 and 2/5 hold?
# 7. **Neurons whose ReLU cuts.** Section 5's polysemantic neurons are always on, so their ReLU never acts.
#    *First experiment:* keep the hidden bias at zero (`neuron_model.b_in.requires_grad_(False)` before
#    training), train 10 features of importance `0.75 ** i` into 5 neurons for 10,000 steps at several seeds,
#    and measure again, per sparsity, the active shares and the features each neuron reads: do the dense
#    instances now give each important feature its own neuron?
# 8. **Resampling at scale.** *First experiment:* train section 8's SAE with `d_sae=1024` and `l1_coeff=0.1`
#    under both resampling rules, and compare dead and ultralow-density latents on the held-out tokens.
