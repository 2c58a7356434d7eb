"""Chapter 4 exercises: metadata (the reference solutions are in ``reference.py``)."""
from circuitlab.grading.registry import Exercise

EXERCISES = [
    Exercise(
        id="ch4.mod_add_dataset", title="The modular addition dataset", reference="make_dataset",
        points=2, difficulty=1, importance=3, minutes=10,
        hints=["torch.arange(p).repeat_interleave(p) gives a for every row; torch.arange(p).repeat(p) gives b.",
               "Shuffle the row indices with torch.randperm(p * p, generator=torch.Generator().manual_seed(seed)) "
               "and cut the permutation at int(frac_train * p * p)."],
    ),
    Exercise(
        id="ch4.last_position_loss", title="Loss on the last position, in float64", reference="last_position_loss",
        points=2, difficulty=1, importance=4, minutes=10,
        hints=["Only logits[:, -1] predicts the answer.",
               "logits[:, -1].to(torch.float64).log_softmax(-1), then pick each row's label with gather and average."],
    ),
    Exercise(
        id="ch4.train_model", title="The full-batch training loop", reference="train_model",
        points=3, difficulty=2, importance=4, minutes=20,
        hints=["AdamW(model.parameters(), lr, weight_decay=..., betas=(0.9, 0.98)) and "
               "LambdaLR(optimizer, lambda step: min(1, (step + 1) / warmup_steps)).",
               "Each epoch: loss on the training rows, zero_grad, backward, optimizer.step(), scheduler.step().",
               "Every eval_every epochs, under torch.no_grad(), recompute the train and test loss, the test "
               "accuracy and the norm of torch.cat of all flattened parameters, and append them."],
    ),
    Exercise(
        id="ch4.fourier_basis", title="The 1D Fourier basis", reference="fourier_basis",
        points=2, difficulty=2, importance=4, minutes=10,
        hints=["Build the rows in a list: a row of ones, then cos(2πkx/p) and sin(2πkx/p) for k = 1..p//2.",
               "Stack, then divide each row by its norm (basis.norm(dim=1, keepdim=True))."],
    ),
    Exercise(
        id="ch4.fft1d", title="Fourier coefficients in 1D", reference="fft1d",
        points=1, difficulty=1, importance=4, minutes=5,
        hints=["It is a change of basis: multiply by the basis matrix along the input axis.",
               "einops.einsum(basis, x, 'component input, input ... -> component ...')"],
    ),
    Exercise(
        id="ch4.key_frequencies", title="Key frequencies of the embedding", reference="key_frequencies",
        points=2, difficulty=2, importance=5, minutes=15,
        hints=["Square the coefficients of fft1d(W_E, basis) and sum over d_model: one power per basis row.",
               "Frequency k's power is rows 2k-1 and 2k together: power[1::2] + power[2::2] is indexed by k-1.",
               "Sort descending, take the cumulative sum divided by the total power, and keep frequencies until "
               "it reaches the fraction (the one that crosses it included; reaching it exactly is enough)."],
    ),
    Exercise(
        id="ch4.fourier_2d_basis_term", title="A 2D Fourier basis function", reference="fourier_2d_basis_term",
        points=1, difficulty=1, importance=3, minutes=5,
        hints=["f(a, b) = basis[i][a] * basis[j][b] for every a and b: an outer product.",
               "basis[i][:, None] * basis[j][None, :]"],
    ),
    Exercise(
        id="ch4.fft2d", title="Fourier coefficients in 2D", reference="fft2d",
        points=2, difficulty=2, importance=4, minutes=10,
        hints=["Transform axis a with the basis, then axis b with the basis.",
               "Two einsums: 'i a, a b ... -> i b ...' then 'j b, i b ... -> i j ...'. (One three-operand einsum "
               "is correct too, but torch evaluates it through a p**4 intermediate and it is very slow.)"],
    ),
    Exercise(
        id="ch4.neuron_freq_fve", title="Neurons as waves: frequency and variance explained",
        reference="neuron_freq_fve", points=3, difficulty=3, importance=5, minutes=20,
        hints=["Square the 2D coefficients and set the [0, 0] (mean) term to zero.",
               "For frequency k the rows/columns are [0, 2k-1, 2k]; sum the 3x3 block of the power.",
               "Stack the blocks over k, divide by the total power, then max over k (frequency = index + 1)."],
    ),
    Exercise(
        id="ch4.restricted_loss", title="Restricted loss: keep only the key frequencies",
        reference="restricted_loss", points=3, difficulty=3, importance=5, minutes=20,
        hints=["Build one unit vector over the p² pairs for cos(2πk(a+b)/p) and one for sin, for each key k "
               "(rows a*p + b, so a = row // p and b = row % p).",
               "Projection: D.T @ (D @ logits) for D of shape (2·len(freqs), p²) with orthonormal rows.",
               "Add back logits.mean(0) and take the float64 cross-entropy over all pairs."],
    ),
    Exercise(
        id="ch4.excluded_loss", title="Excluded loss: remove the key frequencies",
        reference="excluded_loss", points=2, difficulty=2, importance=5, minutes=10,
        hints=["The same directions as the restricted loss.",
               "Subtract the projection from the logits and take the cross-entropy on the training rows only."],
    ),
    Exercise(
        id="ch4.neuron_logit_fourier", title="The neuron-logit map in the Fourier basis",
        reference="neuron_logit_fourier", points=2, difficulty=2, importance=4, minutes=10,
        hints=["W_L = model.W_out[0] @ model.W_U has one row per neuron and one column per answer c.",
               "Change basis along c: einops.einsum(basis, W_L, 'component c, neuron c -> component neuron')."],
    ),
    Exercise(
        id="ch4.gini", title="A sparsity measure: the Gini coefficient", reference="gini",
        points=2, difficulty=2, importance=3, minutes=15,
        hints=["Sort each row ascending (x.sort(dim=-1).values); with i = 1..n, Σ_i Σ_j |x_i - x_j| equals "
               "2 Σ_i (2i - n - 1) x_(i).",
               "G = Σ_i (2i - n - 1) x_(i) / (n Σ_i x_i); where a row sums to zero return 0 (torch.where), "
               "not 0 / 0."],
    ),
    Exercise(
        id="ch4.trig_regression_fve", title="Neurons as degree-2 trig polynomials",
        reference="trig_regression_fve", points=3, difficulty=3, importance=4, minutes=20,
        hints=["For neuron n, w = 2π·freqs[n]/p; build (1, cos wa, sin wa) and (1, cos wb, sin wb) and take all "
               "nine products u[:, None] * v[None, :], flattened over the grid: a (p², 9) design matrix.",
               "torch.linalg.lstsq(features, y[:, None]).solution gives the fit; work in float64.",
               "fve = 1 - Σ residual² / Σ (y - y.mean())²; a neuron with no variance gets 0 (or NaN)."],
    ),
    Exercise(
        id="ch4.ablate_neurons_loss", title="Ablate a cluster of neurons", reference="ablate_neurons_loss",
        points=2, difficulty=2, importance=4, minutes=15,
        hints=["A hook on 'blocks.0.mlp.hook_post' that sets post[:, :, neurons] = 0 and returns it.",
               "model.run_with_hooks(tokens, fwd_hooks=[(name, hook)]) removes the hook afterwards; then the "
               "float64 cross-entropy of logits[:, -1]."],
    ),
    Exercise(
        id="ch4.attention_to_a", title="Attention from '=' to a, on every pair", reference="attention_to_a",
        points=2, difficulty=2, importance=3, minutes=10,
        hints=["run_with_cache with names_filter='blocks.0.attn.hook_pattern'; the pattern is "
               "[pair, head, query position, key position].",
               "Query position -1 ('='), key position 0 (a); then rearrange '(a b) head -> a b head' with a=p."],
    ),
    Exercise(
        id="ch4.phase_boundaries", title="Phase boundaries from the progress measures", reference="phase_boundaries",
        points=2, difficulty=2, importance=4, minutes=15,
        hints=["The first three are 'first epoch whose value passes the threshold': next((e for e, v in "
               "zip(epochs, values) if ...), None).",
               "For 'cleaned', walk back from the last evaluation while the weight norm is within the tolerance of "
               "the last norm (and the epoch is at or after 'grokked'); the last epoch you reach is the answer."],
    ),
]
