"""Chapter 5 exercises: metadata shown in the notebook and used by the graders."""
from circuitlab.grading.registry import Exercise

EXERCISES = [
    Exercise(
        id="ch5.feature_probability", title="A sparsity sweep: feature probability per instance",
        reference="feature_probability", points=1, difficulty=1, importance=3, minutes=5,
        hints=[
            "The exponent runs from 0 (instance 0) to 1 (the last instance), evenly spaced.",
            "min_probability ** torch.linspace(0, 1, n_instances) gives one probability per instance; "
            "then repeat it across the features.",
        ],
    ),
    Exercise(
        id="ch5.generate_batch", title="Sparse synthetic features", reference="generate_batch",
        points=2, difficulty=2, importance=4, minutes=10,
        hints=[
            "Two random tensors of the output's shape: one decides presence, one gives the magnitude.",
            "torch.rand(shape) < probability is True with probability p (probability broadcasts over the batch).",
            "torch.rand(shape) * (torch.rand(shape) < probability)",
        ],
    ),
    Exercise(
        id="ch5.importance_weighted_loss", title="Importance-weighted reconstruction loss",
        reference="importance_weighted_loss", points=2, difficulty=1, importance=4, minutes=10,
        hints=[
            "Square the error first, then weight it.",
            "importance broadcasts against (batch, inst, feat) whether it is (feat,) or (inst, feat).",
            "(importance * (features - output) ** 2).mean((0, 2)).sum()",
        ],
    ),
    Exercise(
        id="ch5.toy_model_forward", title="The toy model: ReLU(WᵀWx + b) for many instances at once",
        reference="ToyModel", points=2, difficulty=2, importance=5, minutes=15,
        hints=[
            "Two einsums: one down to the hidden space, one back up, each keeping batch and inst.",
            "W is (inst, hidden, feat): 'inst hidden feat, batch inst feat -> batch inst hidden' goes down.",
            "Add b_final to the result of the second product, then apply ReLU.",
        ],
    ),
    Exercise(
        id="ch5.train_toy_model", title="Train all instances at once", reference="train_toy_model",
        points=2, difficulty=2, importance=4, minutes=10,
        hints=[
            "Build torch.optim.Adam(model.parameters(), lr=lr) once, before the loop; then each step: fresh "
            "batch, forward, loss, zero the gradients, backward, step.",
            "Draw a new batch with batch_fn(probability, batch_size) at every step, and record loss.item().",
        ],
    ),
    Exercise(
        id="ch5.phase_of", title="Classify the phase: ignored, alone or superposed", reference="phase_of",
        points=2, difficulty=2, importance=4, minutes=10,
        hints=[
            "A feature is represented when the norm of its column W[i, :, f] (over the hidden axis) is above "
            "the threshold: W.norm(dim=1) > threshold gives an (inst, 2) boolean tensor.",
            "Decide on the extra feature first: not represented means IGNORED, whatever feature 0 does; "
            "otherwise SUPERPOSED if feature 0 is represented too, else ALONE.",
            "Nested torch.where calls build the answer; make it torch.long.",
        ],
    ),
    Exercise(
        id="ch5.dimensionality", title="Feature dimensionality", reference="dimensionality",
        points=2, difficulty=3, importance=3, minutes=15,
        hints=[
            "Compute all pairwise dot products between unit(W_i) and W_j with one einsum over the hidden axis.",
            "The numerator is the squared norm of W_i; the denominator sums the squared overlaps over j, "
            "including j = i.",
            "Where the norm is (nearly) zero, return 0: torch.where(norms > 1e-8, value, 0).",
        ],
    ),
    Exercise(
        id="ch5.dimensions_per_feature", title="Dimensions per feature", reference="dimensions_per_feature",
        points=1, difficulty=1, importance=3, minutes=5,
        hints=[
            "The squared Frobenius norm sums W**2 over both the hidden and the feature axes, one total per instance.",
            "Divide the number of hidden dimensions, W.shape[1], by it.",
        ],
    ),
    Exercise(
        id="ch5.correlated_batch", title="Correlated and anticorrelated feature pairs", reference="correlated_batch",
        points=2, difficulty=3, importance=3, minutes=15,
        hints=[
            "Draw presence per *pair*, then expand it to the two features of the pair.",
            "For anticorrelated pairs, draw whether the pair fires (probability 2p) and a fair coin for which "
            "feature; then the two features are pair_on & coin and pair_on & ~coin.",
            "Build a (batch, inst, pairs, 2) tensor and rearrange '... pairs two -> ... (pairs two)'.",
        ],
    ),
    Exercise(
        id="ch5.neuron_model_forward", title="A ReLU hidden layer: the privileged basis", reference="NeuronModel",
        points=2, difficulty=2, importance=4, minutes=10,
        hints=[
            "Like the toy model, but with separate W_in and W_out, a bias and a ReLU on the hidden layer.",
            "W_out is (inst, feat, hidden): 'inst feat hidden, batch inst hidden -> batch inst feat'.",
        ],
    ),
    Exercise(
        id="ch5.abs_computed", title="Which features does a model compute |x| for?", reference="abs_computed",
        points=2, difficulty=3, importance=3, minutes=15,
        hints=[
            "Build one input per (value, feature): a zero vector with feature f set to v, the same for every "
            "instance; einsum of values with torch.eye(n_features) gives them all at once.",
            "Run the model on that batch, keep for each input the output of the feature that was on "
            "(torch.diagonal), and compare it with values.abs().",
            "A feature is computed when the largest error over the values is <= tolerance: (error <= tolerance).all(0).",
        ],
    ),
    Exercise(
        id="ch5.sae_forward", title="Sparse autoencoder forward pass", reference="ToySAE",
        points=3, difficulty=3, importance=5, minutes=20,
        hints=[
            "Encode: subtract b_dec, multiply by W_enc, add b_enc, ReLU.",
            "Normalise each latent's decoder row: W_dec / W_dec.norm(dim=-1, keepdim=True).",
            "Decode: acts times the normalised decoder, plus b_dec. Return (acts, reconstruction).",
        ],
    ),
    Exercise(
        id="ch5.sae_loss", title="Reconstruction plus L1 sparsity loss", reference="sae_loss",
        points=2, difficulty=2, importance=5, minutes=10,
        hints=[
            "The reconstruction term is a mean over batch and d_in; the sparsity term sums |acts| over the "
            "latents, then averages over the batch.",
            "Both terms keep the instance axis: the result has shape (inst,).",
        ],
    ),
    Exercise(
        id="ch5.matched_cosine", title="Match learned latents to ground-truth features", reference="matched_cosine",
        points=2, difficulty=2, importance=4, minutes=10,
        hints=[
            "Normalise both sets of directions, then one einsum gives all the cosines.",
            "Take the max over the learned latents: one number per ground-truth feature.",
        ],
    ),
    Exercise(
        id="ch5.resample_dead", title="Resample dead latents", reference="resample_dead",
        points=3, difficulty=4, importance=4, minutes=25,
        hints=[
            "Run the SAE on h to get the per-input squared error; rank inputs worst first per instance.",
            "Loop over instances; torch.nonzero(dead[i]) lists the dead latents, and argsort(descending=True) "
            "ranks the inputs.",
            "Under torch.no_grad(), assign only the dead rows of W_dec, the dead columns of W_enc and the dead "
            "entries of b_enc.",
        ],
    ),
    Exercise(
        id="ch5.resample_bricken", title="Resampling as Bricken et al. describe it", reference="resample_bricken",
        points=3, difficulty=4, importance=3, minutes=25,
        hints=[
            "torch.multinomial(loss ** 2, n_dead, replacement=True) draws one input index per dead latent; it "
            "accepts weights that do not sum to 1.",
            "The encoder column is the unit direction times 0.2 times the live latents' mean encoder-column norm.",
            "optimizer.state[param] is a dict with 'exp_avg' and 'exp_avg_sq', each shaped like param: set the "
            "entries of the resampled rows (columns of W_enc) to 0, and leave everything else, 'step' included.",
        ],
    ),
    Exercise(
        id="ch5.feature_density", title="Feature density: how often each latent fires", reference="feature_density",
        points=1, difficulty=1, importance=3, minutes=5,
        hints=[
            "A latent fires on an input when its activation is strictly positive.",
            "(acts > 0).float().mean(0): a fraction over the batch axis, not a count.",
        ],
    ),
    Exercise(
        id="ch5.variance_explained", title="Fraction of variance explained", reference="variance_explained",
        points=1, difficulty=2, importance=3, minutes=10,
        hints=[
            "Both sums run over the batch and d_in together, one pair of sums per instance.",
            "The denominator is the spread of h around its own mean over the batch: h - h.mean(0, keepdim=True).",
        ],
    ),
    Exercise(
        id="ch5.jumprelu", title="Bonus: JumpReLU with a trainable threshold", reference="jumprelu",
        points=3, difficulty=4, importance=2, minutes=25, bonus=True,
        hints=[
            "Write a torch.autograd.Function: forward saves pre and threshold, backward returns one gradient "
            "per input (None for the bandwidth).",
            "The threshold gets a gradient only where |pre - threshold| < bandwidth / 2; sum it over the batch "
            "dimensions down to the threshold's shape.",
        ],
    ),
    Exercise(
        id="ch5.splice_through_sae", title="Bonus: splice an SAE into the residual stream",
        reference="splice_through_sae", points=2, difficulty=2, importance=3, minutes=10, bonus=True,
        hints=[
            "Normalise as the SAE's training data were: (resid - mean) * scale.",
            "The SAE takes (batch, inst, d_in): flatten (batch, pos) into one axis and add an instance axis of size 1.",
            "Reshape the reconstruction back to (batch, pos, d_model), then divide by scale and add the mean.",
        ],
    ),
    Exercise(
        id="ch5.top_activating", title="Bonus: max-activating examples of an SAE latent", reference="top_activating",
        points=2, difficulty=2, importance=3, minutes=10, bonus=True,
        hints=[
            "Select the latent's activations, flatten (batch, pos) into one axis, and take the top k.",
            "torch.topk on the flat tensor gives indices; torch.unravel_index turns them back into "
            "(sequence, position) pairs, already torch.long.",
        ],
    ),
    Exercise(
        id="ch5.nearest_parent", title="Bonus: feature splitting, each latent's parent", reference="nearest_parent",
        points=2, difficulty=2, importance=2, minutes=10, bonus=True,
        hints=[
            "Normalise both sets of rows (F.normalize handles zero rows), then one matrix product gives every cosine.",
            "argmax over the small dictionary's axis gives the parent (the first one on ties); gather the cosine "
            "at that index.",
        ],
    ),
]
