"""Independent checks of the reference solutions: each is compared with a computation that does not
share its code (finite differences, a brute-force loop, a closed form), so a wrong reference cannot
hide behind graders that agree with it."""
from __future__ import annotations

import math

import pytest
import torch

from circuitlab.ch3 import reference as ch3
from circuitlab.ch4 import reference as ch4
from circuitlab.ch3.grading_support import batch_for, metric_for, model_named


def _directional_derivative(model, batch, metric, layer: int, head: int, eps: float = 1e-2) -> float:
    """d metric / d t at t = 0 for the corrupted run with head (layer, head)'s z moved to
    z_corrupt + t (z_clean - z_corrupt): the quantity attribution patching estimates, by central differences."""
    name = f"blocks.{layer}.attn.hook_z"
    with torch.no_grad():
        _, clean = model.run_with_cache(batch.tokens, names_filter=lambda n: n == name)
        _, corrupt = model.run_with_cache(batch.corrupt_tokens, names_filter=lambda n: n == name)
        delta = clean[name][:, :, head] - corrupt[name][:, :, head]

        def run(t: float) -> float:
            def move(z, hook):
                z = z.clone()
                z[:, :, head] = corrupt[name][:, :, head] + t * delta
                return z
            return metric(model.run_with_hooks(batch.corrupt_tokens, fwd_hooks=[(name, move)])).item()

        return (run(eps) - run(-eps)) / (2 * eps)


@pytest.mark.parametrize("model_name", ["offline", "random"])
def test_attribution_patching_is_the_full_derivative(model_name):
    model = model_named(model_name)
    batch, metric = batch_for(model_name), metric_for(model_name)
    estimate = ch3.attribution_patching(model, batch.tokens, batch.corrupt_tokens, metric)
    # Every head of the first layer: their outputs reach the logits through later heads too.
    for head in range(model.cfg.n_heads):
        numeric = _directional_derivative(model, batch, metric, 0, head)
        assert estimate[0, head].item() == pytest.approx(numeric, rel=0.05, abs=2e-3), (model_name, head)


# --------------------------------------------------------------------------- chapter 3: patching, metrics


@pytest.mark.parametrize("model_name", ["offline", "wide"])
def test_patch_head_output_matches_transformer_lens(model_name):
    from transformer_lens import patching

    model = model_named(model_name)
    batch, metric = batch_for(model_name, mixed=True), metric_for(model_name, mixed=True)
    with torch.no_grad():
        _, clean_cache = model.run_with_cache(batch.tokens)
        ours = ch3.patch_head_output(model, batch.corrupt_tokens, clean_cache, metric)
        theirs = patching.get_act_patch_attn_head_out_all_pos(model, batch.corrupt_tokens, clean_cache, metric)
    model.reset_hooks()
    torch.testing.assert_close(ours, theirs.cpu().float(), atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("model_name", ["offline", "random"])
def test_patch_residual_matches_transformer_lens(model_name):
    from transformer_lens import patching

    model = model_named(model_name)
    # width 12 keeps S2 (position 10, the one the corruption changes): the grid is not constant.
    batch, metric = batch_for(model_name, width=12), metric_for(model_name, width=12)
    assert bool((batch.tokens != batch.corrupt_tokens).any())
    with torch.no_grad():
        _, clean_cache = model.run_with_cache(batch.tokens)
        ours = ch3.patch_residual(model, batch.corrupt_tokens, clean_cache, metric)
        theirs = patching.get_act_patch_resid_pre(model, batch.corrupt_tokens, clean_cache, metric)
    model.reset_hooks()
    torch.testing.assert_close(ours, theirs.cpu().float(), atol=1e-4, rtol=1e-3)


def test_logit_diff_matches_a_loop():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 7, 11, generator=generator)
    end_pos, io, s = torch.tensor([6, 3, 4, 6, 2]), torch.tensor([1, 2, 3, 4, 5]), torch.tensor([0, 9, 8, 7, 6])
    loop = [logits[i, int(end_pos[i]), int(io[i])].item() - logits[i, int(end_pos[i]), int(s[i])].item() for i in range(5)]
    torch.testing.assert_close(ch3.logit_diff(logits, end_pos, io, s, per_prompt=True), torch.tensor(loop))
    assert ch3.logit_diff(logits, end_pos, io, s).item() == pytest.approx(sum(loop) / 5, abs=1e-6)
    normalised = ch3.normalised_logit_diff(logits, end_pos, io, s, clean_diff=2.0, corrupt_diff=-1.0).item()
    assert normalised == pytest.approx((sum(loop) / 5 + 1.0) / 3.0, abs=1e-6)


def test_residual_dla_adds_up_to_the_logit_difference():
    """Summed over every component, DLA is the logit difference minus the unembedding bias's share."""
    model = model_named("wide")
    batch = batch_for("wide", mixed=True)
    with torch.no_grad():
        logits, cache = model.run_with_cache(batch.tokens)
        rows = torch.arange(len(batch))
        stack = cache.decompose_resid(layer=-1, apply_ln=False)[:, rows, batch.end_pos]
        directions = (model.tokens_to_residual_directions(batch.io_tokens)
                      - model.tokens_to_residual_directions(batch.s_tokens))
        total = ch3.residual_to_logit_diff(stack, cache, batch.end_pos, directions).sum()
        bias = (model.b_U[batch.io_tokens] - model.b_U[batch.s_tokens]).mean()
        want = ch3.logit_diff(logits, batch.end_pos, batch.io_tokens, batch.s_tokens) - bias
    assert total.item() == pytest.approx(want.item(), rel=1e-4, abs=1e-4)


def test_single_token_names_by_hand():
    from circuitlab.ch3.grading_support import small_bpe_tokenizer

    tokenizer = small_bpe_tokenizer()
    # In the hand-built tokenizer " Ann", " Anna" and " Mary" are single tokens; "Annabel" and "Bartholomew"
    # are single tokens only without a space.
    assert ch3.single_token_names(["Mary", "Annabel", "Ann", "Bartholomew", "Anna"], tokenizer) == ["Mary", "Ann", "Anna"]


# --------------------------------------------------------------------------- chapter 4: Fourier tools, losses


@pytest.mark.parametrize("p", [3, 7, 113])
def test_fourier_basis_is_orthonormal_and_real_fft(p):
    basis = ch4.fourier_basis(p).double()
    torch.testing.assert_close(basis @ basis.T, torch.eye(p, dtype=torch.float64), atol=1e-5, rtol=0)
    x = torch.randn(p, 3, generator=torch.Generator().manual_seed(p), dtype=torch.float64)
    coefficients = ch4.fft1d(x, basis)
    spectrum = torch.fft.rfft(x, dim=0)  # sum_x x e^{-2 pi i k x / p}: real part the cos, minus imaginary the sin
    expected = torch.cat([spectrum[:1].real / p ** 0.5,
                          torch.stack([spectrum[1:].real, -spectrum[1:].imag], dim=1).reshape(-1, 3) * (2 / p) ** 0.5])
    torch.testing.assert_close(coefficients, expected, atol=1e-4, rtol=1e-4)  # the basis is float32


def test_fft2d_is_two_1d_transforms_and_its_terms():
    p = 7
    basis = ch4.fourier_basis(p).double()
    x = torch.randn(p, p, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    coefficients = ch4.fft2d(x, basis)
    for i, j in [(0, 0), (1, 4), (6, 2)]:
        term = ch4.fourier_2d_basis_term(i, j, basis)
        assert coefficients[i, j].item() == pytest.approx((term * x).sum().item(), abs=1e-9)


def _sum_only_logits(p: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits that depend on a + b only (a random table of (a + b) mod p against the output)."""
    table = torch.randn(p, p, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    a, b = torch.arange(p).repeat_interleave(p), torch.arange(p).repeat(p)
    return table[(a + b) % p], (a + b) % p


def test_restricted_loss_keeping_every_frequency_is_the_full_loss():
    p = 11
    logits, labels = _sum_only_logits(p, 0)
    every = torch.arange(1, p // 2 + 1)
    full = torch.nn.functional.cross_entropy(logits, labels).item()
    assert ch4.restricted_loss(logits, labels, every).item() == pytest.approx(full, rel=1e-9)
    # Removing every frequency leaves each output's mean: the loss of constant logits.
    train = torch.arange(0, p * p, 2)
    constant = logits.mean(0, keepdim=True).expand_as(logits)
    want = torch.nn.functional.cross_entropy(constant[train], labels[train]).item()
    assert ch4.excluded_loss(logits, labels, every, train).item() == pytest.approx(want, rel=1e-9)


def test_key_frequencies_of_a_planted_embedding():
    p = 13
    x = torch.arange(p, dtype=torch.float64)
    angle = 2 * math.pi * x / p
    W_E = torch.stack([3 * torch.cos(5 * angle), 2 * torch.sin(2 * angle), torch.cos(4 * angle), 0.1 * torch.cos(angle)], 1)
    # Shares 9 : 4 : 1 : 0.01 of the squared norm: 0.9 needs 5 and 2, 0.5 needs 5 alone, 0.99 needs 5, 2 and 4.
    basis = ch4.fourier_basis(p).double()
    assert ch4.key_frequencies(W_E, basis, 0.9).tolist() == [5, 2]
    assert ch4.key_frequencies(W_E, basis, 0.5).tolist() == [5]
    assert ch4.key_frequencies(W_E, basis, 0.99).tolist() == [5, 2, 4]


def test_mod_add_dataset_by_hand():
    tokens, labels, train, test = ch4.make_dataset(5, 0.4, seed=3)
    for row in range(25):
        a, b = divmod(row, 5)
        assert tokens[row].tolist() == [a, b, 5] and labels[row].item() == (a + b) % 5
    assert len(train) == 10 and sorted(train.tolist() + test.tolist()) == list(range(25))



@pytest.mark.parametrize("p", [5, 13])
def test_neuron_freq_fve_is_a_least_squares_fit_of_waves(p):
    """A frequency's explained variance is what a least-squares fit on the nine products of {1, cos k, sin k}
    in a and in b (built from torch.cos directly, not the basis) recovers of the neuron's variance."""
    generator = torch.Generator().manual_seed(p)
    angle = 2 * math.pi * torch.arange(p, dtype=torch.float64) / p
    a, b = angle[:, None, None], angle[None, :, None]
    k = torch.randint(1, p // 2 + 1, (6,), generator=generator)
    acts = torch.relu(torch.cos(k * a + 1.0) + torch.cos(k * b - 0.5)
                      + 0.3 * torch.randn(p, p, 6, generator=generator, dtype=torch.float64))
    freqs, fve = ch4.neuron_freq_fve(acts, ch4.fourier_basis(p).double())
    flat = acts.reshape(p * p, -1)
    centred_norm = (flat - flat.mean(0)).pow(2).sum(0)
    explained = []
    for frequency in range(1, p // 2 + 1):
        waves_a = torch.stack([torch.ones(p, dtype=torch.float64), torch.cos(frequency * angle),
                               torch.sin(frequency * angle)], 1)
        design = torch.einsum("au,bv->abuv", waves_a, waves_a).reshape(p * p, 9)
        fitted = design @ torch.linalg.lstsq(design, flat).solution
        explained.append((fitted - flat.mean(0)).pow(2).sum(0) / centred_norm)
    table = torch.stack(explained)
    torch.testing.assert_close(fve, table.max(0).values, atol=1e-6, rtol=1e-6)
    assert freqs.tolist() == (table.argmax(0) + 1).tolist()


def test_ch4_neuron_logit_fourier_inverts_to_the_map():
    """The coefficients rebuild W_out W_U through the (orthonormal) basis, and match fft1d of the map."""
    from circuitlab.ch4.model import make_grokking_model

    model = make_grokking_model(p=11, seed=5, d_model=12, n_heads=3, d_mlp=9)
    basis = ch4.fourier_basis(11)
    out = ch4.neuron_logit_fourier(model, basis)
    W_L = (model.W_out[0] @ model.W_U).detach()
    torch.testing.assert_close(basis.T @ out, W_L.T, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out, ch4.fft1d(W_L.T.contiguous(), basis), atol=1e-5, rtol=1e-5)


def test_ch4_gini_known_values_and_pairs():
    assert ch4.gini(torch.tensor([0.0, 0.0, 0.0, 1.0])).item() == pytest.approx(0.75)
    assert ch4.gini(torch.tensor([2.0, 2.0, 2.0])).item() == pytest.approx(0.0)
    assert ch4.gini(torch.zeros(3)).item() == 0.0
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(4, 9, generator=generator, dtype=torch.float64)
    for row, value in zip(x, ch4.gini(x)):
        pairs = sum(abs(float(u) - float(v)) for u in row for v in row)
        assert value.item() == pytest.approx(pairs / (2 * 9 * float(row.sum())), rel=1e-12)


def test_ch4_trig_regression_is_the_fourier_block_of_the_given_frequency():
    """The nine trig features are orthogonal over the grid, so the fit explains exactly the 3 x 3 block of squared
    2D Fourier coefficients {0, 2k-1, 2k} x {0, 2k-1, 2k} (the mean term aside) of the neuron's own frequency."""
    p = 13
    generator = torch.Generator().manual_seed(1)
    acts = torch.relu(torch.randn(p, p, 5, generator=generator, dtype=torch.float64))
    freqs = torch.tensor([1, 6, 3, 3, 2])
    fve = ch4.trig_regression_fve(acts, freqs)
    power = ch4.fft2d(acts, ch4.fourier_basis(p).double()).pow(2)
    power[0, 0] = 0.0
    for n, k in enumerate(freqs.tolist()):
        rows = torch.tensor([0, 2 * k - 1, 2 * k])
        assert fve[n].item() == pytest.approx((power[rows][:, rows, n].sum() / power[:, :, n].sum()).item(), abs=1e-6)


def test_ch4_ablating_neurons_is_zeroing_their_output_weights():
    import copy

    from circuitlab.ch4.model import last_position_logits, make_grokking_model

    model = make_grokking_model(p=11, seed=2, d_model=16, n_heads=2, d_mlp=20).eval()
    a = torch.arange(11).repeat_interleave(11)
    b = torch.arange(11).repeat(11)
    tokens, labels = torch.stack([a, b, torch.full_like(a, 11)], 1), (a + b) % 11
    neurons = torch.zeros(20, dtype=torch.bool)
    neurons[[1, 4, 5, 19]] = True
    ablated = copy.deepcopy(model)
    with torch.no_grad():
        ablated.blocks[0].mlp.W_out[neurons] = 0.0
        want = -last_position_logits(ablated, tokens)[:, -1].double().log_softmax(-1).gather(-1, labels[:, None]).mean()
    assert ch4.ablate_neurons_loss(model, tokens, labels, neurons).item() == pytest.approx(want.item(), rel=1e-6)
    assert not model.blocks[0].mlp.hook_post._forward_hooks


def test_ch4_attention_to_a_from_the_weights():
    """Softmax over the three keys of (W_E + W_pos) W_Q · (W_E + W_pos) W_K / sqrt(d_head), by hand."""
    from circuitlab.ch4.model import make_grokking_model

    p = 7
    model = make_grokking_model(p=p, seed=3, d_model=12, n_heads=2, d_mlp=10).eval()
    grid = ch4.attention_to_a(model, torch.stack([torch.tensor([a, b, p]) for a in range(p) for b in range(p)]))
    with torch.no_grad():
        for a, b in [(0, 0), (3, 5), (6, 1)]:
            resid = model.W_E[torch.tensor([a, b, p])] + model.W_pos
            for head in range(2):
                q = resid[2] @ model.W_Q[0, head]
                k = resid @ model.W_K[0, head]
                pattern = torch.softmax(k @ q / model.cfg.d_head ** 0.5, 0)
                assert grid[a, b, head].item() == pytest.approx(pattern[0].item(), rel=1e-5)


def test_ch4_phase_boundaries_by_hand():
    curves = {"epoch": [0, 10, 20, 30, 40, 50], "train_accuracy": [0.0, 0.99, 1, 1, 1, 1],
              "restricted_loss": [5.0, 1.0, 0.1, 0.05, 0.01, 0.01], "test_accuracy": [0.0, 0.1, 0.5, 0.99, 1, 1],
              "weight_norm": [10.0, 12.0, 11.0, 9.0, 8.05, 8.0]}
    assert ch4.phase_boundaries(curves) == {"memorised": 10, "formed": 30, "grokked": 30, "cleaned": 40}
    assert ch4.phase_boundaries(curves, norm_tolerance=0.2)["cleaned"] == 30
    cut = {key: values[:3] for key, values in curves.items()}
    assert ch4.phase_boundaries(cut) == {"memorised": 10, "formed": None, "grokked": None, "cleaned": None}

# --------------------------------------------------------------------------- chapter 5

import math

from circuitlab.ch5 import reference as ch5


def test_ch5_dimensionality_closed_forms():
    """1 for a feature with its own dimension, 1/2 in an antipodal pair, 2/5 in a pentagon, 0 for a zero column."""
    angles = torch.arange(5, dtype=torch.float64) * 2 * math.pi / 5
    pentagon = torch.stack([angles.cos(), angles.sin()]) * 1.7
    own_pair_zero = torch.tensor([[3.0, 0.0, 0.0, 0.0, 0.0],
                                  [0.0, 0.5, -0.5, 0.0, 0.0]], dtype=torch.float64)
    out = ch5.dimensionality(torch.stack([pentagon, own_pair_zero]))
    expected = torch.tensor([[0.4] * 5, [1.0, 0.5, 0.5, 0.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(out, expected, atol=1e-9, rtol=0)


def test_ch5_dimensionality_brute_force():
    """The vectorised formula against a per-feature loop on random W."""
    torch.manual_seed(0)
    W = torch.randn(3, 4, 6, dtype=torch.float64)
    out = ch5.dimensionality(W)
    for i in range(3):
        for f in range(6):
            w = W[i, :, f]
            unit = w / w.norm()
            denominator = sum(float(unit @ W[i, :, g]) ** 2 for g in range(6))
            assert float(out[i, f]) == pytest.approx(float(w @ w) / denominator, rel=1e-9)


def _smoothed_sum(z: torch.Tensor, threshold: float) -> float:
    """sum_z z * H(z - threshold): the quantity whose derivative the pseudo-gradient estimates."""
    return float((z * (z > threshold)).sum())


@pytest.mark.parametrize("threshold", [0.3, 0.55])
def test_ch5_jumprelu_gradient_matches_finite_differences_of_the_expected_output(threshold):
    """Over a dense grid of pre-activations, the threshold's pseudo-gradient sums to the derivative of the
    summed output, which finite differences measure (d/dθ of N * (1 - θ²) / 2 is -N θ)."""
    n, bandwidth, step = 200_001, 0.02, 0.01
    z = torch.linspace(0.0, 1.0, n, dtype=torch.float64)
    theta = torch.tensor([threshold], dtype=torch.float64, requires_grad=True)
    ch5.jumprelu(z[:, None], theta, bandwidth).sum().backward()
    numeric = (_smoothed_sum(z, threshold + step) - _smoothed_sum(z, threshold - step)) / (2 * step)
    assert float(theta.grad) == pytest.approx(numeric, rel=1e-3)
    assert numeric == pytest.approx(-(n - 1) * threshold, rel=1e-3)


def test_ch5_jumprelu_forward_and_pre_gradient():
    pre = torch.tensor([[0.1, 0.5, 0.9]], requires_grad=True)
    threshold = torch.tensor([0.5, 0.5, 0.5], requires_grad=True)
    out = ch5.jumprelu(pre, threshold, 0.1)
    assert out.tolist() == [[0.0, 0.0, pytest.approx(0.9)]]  # pre == threshold is off
    out.sum().backward()
    assert pre.grad.tolist() == [[0.0, 0.0, 1.0]]
    assert threshold.grad.tolist() == [0.0, pytest.approx(-5.0), 0.0]


def test_ch5_generate_batch_statistics():
    """Presence frequency p per entry, magnitudes uniform (mean 1/2, variance 1/12), entries independent."""
    torch.manual_seed(0)
    probability = torch.tensor([[1.0, 0.5, 0.2], [0.0, 0.7, 0.05]])
    n = 40_000
    batch = ch5.generate_batch(probability, n)
    frequency = (batch != 0).double().mean(0)
    assert torch.all((frequency - probability).abs() <= 5 * (probability * (1 - probability) / n).sqrt() + 1e-3)
    present = batch[batch != 0].double()
    assert float(present.mean()) == pytest.approx(0.5, abs=0.01)
    assert float(present.var()) == pytest.approx(1 / 12, abs=0.003)
    flat = (batch != 0).flatten(1).double()[:, [1, 2, 4]]  # the entries with 0 < p < 1 (and p != 0.05 pair)
    corr = torch.corrcoef(flat.T)
    assert float((corr - torch.eye(3, dtype=torch.float64)).abs().max()) < 0.03


def test_ch5_correlated_batch_statistics():
    torch.manual_seed(1)
    probability = torch.tensor([[0.3, 0.1]])
    n = 40_000
    for correlated in (True, False):
        present = ch5.correlated_batch(probability, n, correlated) != 0
        frequency = present.double().mean(0)[0]
        assert torch.allclose(frequency, probability[0].repeat_interleave(2).double(), atol=0.01)
        first, second = present[..., 0::2], present[..., 1::2]
        if correlated:
            assert torch.equal(first, second)
        else:
            assert not bool((first & second).any())


def test_ch5_top_activating_brute_force():
    torch.manual_seed(2)
    acts = torch.rand(5, 7, 3)
    out = ch5.top_activating(acts, 1, 6)
    ranked = sorted(((float(acts[b, p, 1]), b, p) for b in range(5) for p in range(7)), reverse=True)
    assert out.dtype == torch.long
    assert out.tolist() == [[b, p] for _, b, p in ranked[:6]]



def test_ch5_matched_cosine_brute_force():
    """Each feature's best cosine by a Python loop over latents, with a zero latent and a zero feature."""
    generator = torch.Generator().manual_seed(5)
    learned = torch.randn(2, 4, 3, generator=generator, dtype=torch.float64)
    true = torch.randn(2, 6, 3, generator=generator, dtype=torch.float64)
    learned[1, 2] = 0.0
    true[0, 3] = 0.0

    def cosine(u: torch.Tensor, v: torch.Tensor) -> float:
        norms = u.norm().item() * v.norm().item()
        return 0.0 if norms == 0 else float(u @ v) / norms

    loop = [[max(cosine(true[i, f], learned[i, s]) for s in range(4)) for f in range(6)] for i in range(2)]
    torch.testing.assert_close(ch5.matched_cosine(learned, true), torch.tensor(loop, dtype=torch.float64))

# --------------------------------------------------------------------------- chapters 0 and 1

import itertools

import torch.nn.functional as F

from circuitlab.ch0 import reference as ch0
from circuitlab.ch1 import reference as ch1
from circuitlab.ch1.grading_support import CONFIGS as CH1_CONFIGS, reference_module, sampling_model


def test_ch0_attention_scores_brute_force():
    torch.manual_seed(3)
    q, k = torch.randn(2, 3, 2, 5, dtype=torch.float64), torch.randn(2, 4, 2, 5, dtype=torch.float64)
    out = ch0.attention_scores(q, k)
    for b, h, i, j in itertools.product(range(2), range(2), range(3), range(4)):
        assert float(out[b, h, i, j]) == pytest.approx(float(q[b, i, h] @ k[b, j, h]) / math.sqrt(5), rel=1e-12)


def test_ch0_split_heads_is_slicing():
    x = torch.arange(2 * 3 * 12, dtype=torch.float64).reshape(2, 3, 12)
    out = ch0.split_heads(x, 4)
    for h in range(4):
        assert torch.equal(out[:, :, h], x[..., h * 3:(h + 1) * 3])


def test_ch0_previous_token_pattern_closed_form():
    for n in (1, 2, 6):
        expected = torch.tensor([[1.0 if j == max(i - 1, 0) else 0.0 for j in range(n)] for i in range(n)])
        assert torch.equal(ch0.previous_token_pattern(n), expected)


@pytest.mark.parametrize("cfg_name", list(CH1_CONFIGS))
def test_ch1_layer_norm_is_torchs(cfg_name):
    cfg = CH1_CONFIGS[cfg_name]
    ln = reference_module("LayerNorm", cfg, seed=1)
    x = 0.05 * torch.randn(2, 3, cfg.d_model)  # small variance: eps matters
    with torch.no_grad():
        torch.testing.assert_close(ln(x), F.layer_norm(x, (cfg.d_model,), ln.w, ln.b, cfg.layer_norm_eps))


def test_ch1_attention_brute_force():
    """Attention against a loop over batch, head, query and key, written from the definition."""
    cfg = CH1_CONFIGS["odd"]
    attn = reference_module("Attention", cfg, seed=2).double()
    x = torch.randn(2, 4, cfg.d_model, dtype=torch.float64)
    with torch.no_grad():
        out = attn(x)
        for b in range(2):
            for i in range(4):
                total = attn.b_O.clone()
                for h in range(cfg.n_heads):
                    q = x[b, i] @ attn.W_Q[h] + attn.b_Q[h]
                    keys = [x[b, j] @ attn.W_K[h] + attn.b_K[h] for j in range(i + 1)]
                    values = [x[b, j] @ attn.W_V[h] + attn.b_V[h] for j in range(i + 1)]
                    weights = torch.softmax(torch.stack([q @ key for key in keys]) / math.sqrt(cfg.d_head), 0)
                    z = sum(w * v for w, v in zip(weights, values))
                    total = total + z @ attn.W_O[h]
                torch.testing.assert_close(out[b, i], total, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("cfg_name", ["small", "odd"])
def test_ch1_transformer_equals_transformerlens(cfg_name):
    from circuitlab.ch1.equivalence import load_tl_weights
    from circuitlab.ch1.grading_support import tl_twin_of

    cfg = CH1_CONFIGS[cfg_name]
    tl_model = tl_twin_of(cfg_name)
    model = load_tl_weights(ch1.DemoTransformer(cfg), tl_model).eval()
    tokens = torch.randint(0, cfg.d_vocab, (2, cfg.n_ctx))
    with torch.no_grad():
        torch.testing.assert_close(model(tokens), tl_model(tokens), atol=1e-5, rtol=1e-5)


def test_ch1_next_token_loss_is_cross_entropy():
    logits, tokens = torch.randn(3, 5, 7), torch.randint(0, 7, (3, 5))
    expected = F.cross_entropy(logits[:, :-1].reshape(-1, 7), tokens[:, 1:].reshape(-1))
    torch.testing.assert_close(ch1.next_token_loss(logits, tokens), expected)


def test_ch1_train_step_is_one_sgd_step():
    cfg = CH1_CONFIGS["wide"]
    model = reference_module("DemoTransformer", cfg, seed=3).train()
    tokens = torch.randint(0, cfg.d_vocab, (2, 6))
    params = list(model.parameters())
    grads = torch.autograd.grad(F.cross_entropy(model(tokens)[:, :-1].flatten(0, 1), tokens[:, 1:].flatten()), params)
    expected = [p.detach() - 0.1 * g for p, g in zip(params, grads)]
    for p in params:
        p.grad = torch.ones_like(p)  # leftover gradients must not count
    ch1.train_step(model, torch.optim.SGD(params, lr=0.1), tokens)
    for p, want in zip(params, expected):
        torch.testing.assert_close(p.detach(), want, atol=1e-6, rtol=1e-5)


def test_ch1_top_k_and_top_p_brute_force():
    torch.manual_seed(4)
    logits = torch.randn(4, 9)
    logits[0, 3] = logits[0, 5]  # a tie
    for k in (1, 3, 9):
        out = ch1.top_k_filter(logits, k)
        for row in range(4):
            kth = sorted(logits[row].tolist(), reverse=True)[k - 1]
            assert [bool(v) for v in torch.isfinite(out[row])] == [v >= kth for v in logits[row].tolist()]
    for p in (0.2, 0.5, 0.95):
        out = ch1.top_p_filter(logits, p)
        probs = logits.double().softmax(-1)
        for row in range(4):
            for token in range(9):
                above = float(probs[row][probs[row] > probs[row, token]].sum())
                if abs(above - p) > 1e-6 and not bool((probs[row] == probs[row, token]).sum() > 1):
                    assert bool(torch.isfinite(out[row, token])) == (above < p), (p, row, token)


def test_ch1_beam_search_is_exhaustive_when_wide_enough():
    """With a beam as wide as the vocabulary, two steps of beam search find the best of all continuations."""
    model = sampling_model(5)
    prompt = torch.tensor([3, 1, 4])
    d_vocab = CH1_CONFIGS["small"].d_vocab
    with torch.no_grad():
        best = max(
            (sum(float(model(torch.cat([prompt, torch.tensor(pair[:i], dtype=torch.long)])[None])[0, -1].log_softmax(-1)[pair[i]])
                 for i in range(2)), pair)
            for pair in itertools.product(range(d_vocab), repeat=2)
        )
    sequence, score = ch1.beam_search(model, prompt, 2, d_vocab)
    assert sequence[3:].tolist() == list(best[1])
    assert score == pytest.approx(best[0], abs=1e-4)


@pytest.mark.parametrize("cfg_name", list(CH1_CONFIGS))
def test_ch1_kv_cache_equals_greedy(cfg_name):
    model = sampling_model(6, cfg_name)
    prompt = torch.randint(0, CH1_CONFIGS[cfg_name].d_vocab, (2, 3))
    assert torch.equal(ch1.generate_with_kv_cache(model, prompt, 4), ch1.greedy_decode(model, prompt, 4))


# --------------------------------------------------------------------------- chapter 2 (induction heads)
# Each check recomputes a reference's quantity with explicit loops, dense matrices, or an identity the
# model itself guarantees (its cached activations), on the trained model and random ones with biases.

from circuitlab.ch2 import models as ch2_models  # noqa: E402
from circuitlab.ch2 import reference as ch2  # noqa: E402


def _ch2_random_pattern(batch: int = 2, heads: int = 3, seq: int = 6) -> torch.Tensor:
    torch.manual_seed(3)
    scores = torch.randn(batch, heads, seq, seq)
    return scores.masked_fill(torch.triu(torch.ones(seq, seq, dtype=torch.bool), 1), -torch.inf).softmax(-1)


def test_ch2_detectors_brute_force():
    pattern = _ch2_random_pattern()
    batch, heads, seq, _ = pattern.shape
    for h in range(heads):
        current = sum(float(pattern[b, h, i, i]) for b in range(batch) for i in range(seq)) / (batch * seq)
        previous = sum(float(pattern[b, h, i, i - 1]) for b in range(batch) for i in range(1, seq)) / (batch * (seq - 1))
        first = sum(float(pattern[b, h, i, 0]) for b in range(batch) for i in range(seq)) / (batch * seq)
        assert float(ch2.current_attn_score(pattern)[h]) == pytest.approx(current, abs=1e-6)
        assert float(ch2.prev_attn_score(pattern)[h]) == pytest.approx(previous, abs=1e-6)
        assert float(ch2.first_attn_score(pattern)[h]) == pytest.approx(first, abs=1e-6)


@pytest.mark.parametrize("name", ["shipped", "random"])
def test_ch2_attention_pattern_is_the_models(name):
    _, _, cache = ch2_models.cached_run(name)
    for layer in range(ch2_models.model_named(name).cfg.n_layers):
        mine = ch2.attention_pattern(cache["q", layer][1], cache["k", layer][1])
        assert torch.allclose(mine, cache["pattern", layer][1], atol=1e-6)


def test_ch2_repeated_tokens_are_torch_randint():
    torch.manual_seed(5)
    tokens = ch2.repeated_tokens(3, 4, 2, 9, 0)
    torch.manual_seed(5)
    half = torch.randint(2, 9, (3, 4))
    assert tokens.dtype == torch.long
    assert tokens.tolist() == [[0, *row, *row] for row in half.tolist()]


def test_ch2_token_log_probs_loop():
    torch.manual_seed(6)
    logits, tokens = torch.randn(2, 5, 7), torch.randint(0, 7, (2, 5))
    out = ch2.token_log_probs(logits, tokens)
    for b in range(2):
        for j in range(4):
            row = logits[b, j].double()
            expected = float(row[tokens[b, j + 1]] - row.exp().sum().log())
            assert float(out[b, j]) == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("name", ["shipped", "random"])
def test_ch2_induction_scores_loop(name):
    model = ch2_models.model_named(name)
    half_len = 5
    tokens = ch2_models.repeated_inputs(name, 2, half_len)
    scores = ch2.induction_scores(model, tokens, half_len)
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens)
    for layer in range(model.cfg.n_layers):
        pattern = cache["pattern", layer]
        for h in range(model.cfg.n_heads):
            values = [float(pattern[b, h, half_len + i, i + 1]) for b in range(2) for i in range(1, half_len + 1)]
            assert float(scores[layer, h]) == pytest.approx(sum(values) / len(values), abs=1e-6)


@pytest.mark.parametrize("name", ["shipped", "random", "wide"])
def test_ch2_logit_attribution_adds_up_to_the_logits(name):
    """Components + the bias terms (every layer's b_O through the same LayerNorm, and b_U) = the correct logit."""
    model = ch2_models.model_named(name)
    tokens, logits, cache = ch2_models.cached_run(name)
    attribution = ch2.logit_attribution(model, cache, tokens)
    bias = model.b_O.sum(0)
    scale = cache["ln_final.hook_scale"][:, :-1]
    bias_logits = ((bias - bias.mean()) / scale) @ model.W_U + model.b_U
    bias_term = bias_logits.gather(-1, tokens[:, 1:, None])[..., 0]
    correct = logits[:, :-1].gather(-1, tokens[:, 1:, None])[..., 0]
    assert torch.allclose(attribution.sum(-1) + bias_term, correct, atol=1e-4)


@pytest.mark.parametrize("name", ["shipped", "random", "wide"])
def test_ch2_logit_lens_last_stage_is_the_output(name):
    model = ch2_models.model_named(name)
    tokens, logits, cache = ch2_models.cached_run(name)
    lens = ch2.logit_lens(model, cache, tokens)
    assert torch.allclose(lens[-1], ch2.token_log_probs(logits, tokens), atol=1e-4)


@pytest.mark.parametrize("name", ["shipped", "random", "wide"])
def test_ch2_decomposed_keys_rebuild_the_cached_keys(name):
    model = ch2_models.model_named(name)
    _, _, cache = ch2_models.cached_run(name)
    scale = cache["blocks.1.ln1.hook_scale"]
    b_O = model.b_O[0]
    for head in range(model.cfg.n_heads):
        keys = ch2.decompose_keys(model, cache, head)
        bias = ((b_O - b_O.mean()) / scale) @ model.W_K[1, head] + model.b_K[1, head]
        assert torch.allclose(keys.sum(0) + bias, cache["k", 1][:, :, head], atol=1e-4)


def test_ch2_ablation_scores_match_zeroed_weights():
    """Zeroing a head's z is zeroing its columns of the output projection: ablate through a copy's weights."""
    import copy

    name, half_len = "random", 4
    model = ch2_models.model_named(name)
    tokens = ch2_models.repeated_inputs(name, 2, half_len)
    scores = ch2.ablation_scores(model, tokens, half_len)
    with torch.no_grad():
        baseline = -ch2.token_log_probs(model(tokens), tokens)[:, half_len + 1:].mean()
        d_head = model.cfg.d_head
        for layer, head in [(0, 0), (1, 2), (2, 1)]:
            edited = copy.deepcopy(model)
            out_proj = edited.blocks[layer].attn.o.weight  # (d_model, n_heads * d_head)
            out_proj[:, head * d_head:(head + 1) * d_head] = 0.0
            loss = -ch2.token_log_probs(edited(tokens), tokens)[:, half_len + 1:].mean()
            assert float(scores[layer, head]) == pytest.approx(float(loss - baseline), abs=1e-5)


@pytest.mark.parametrize("name", ["shipped", "wide"])
def test_ch2_circuits_with_dense_matrices(name):
    model = ch2_models.model_named(name)
    with torch.no_grad():
        norm = torch.linalg.matrix_norm
        ov = [model.W_V[0, h] @ model.W_O[0, h] for h in range(model.cfg.n_heads)]
        qk_t = [(model.W_Q[1, h] @ model.W_K[1, h].T).T for h in range(model.cfg.n_heads)]
        dense = torch.tensor([[float(norm(a @ b) / (norm(a) * norm(b))) for b in qk_t] for a in ov])
        assert torch.allclose(ch2.k_composition_scores(model), dense, atol=1e-5)
        full = model.W_E @ (model.W_V[1, 0] @ model.W_O[1, 0]) @ model.W_U
        hits = sum(int(full[i].argmax()) == i for i in range(full.shape[0]))
        accuracy = ch2.full_ov_top1(model, 1, 0)
        assert isinstance(accuracy, float) and accuracy == pytest.approx(hits / full.shape[0], abs=1e-9)
        assert isinstance(ch2.composition_score(model.OV[0, 0], model.QK[1, 0].T), float)



def test_ch2_copying_score_on_known_spectra():
    from transformer_lens import FactoredMatrix

    torch.manual_seed(0)
    basis = torch.linalg.qr(torch.randn(7, 3))[0]
    for eigenvalues, expected in [([2.0, 1.0, 0.5], 1.0), ([-1.0, -3.0, -0.1], -1.0), ([1.0, -1.0, 2.0], 0.5)]:
        matrix = FactoredMatrix(basis @ torch.diag(torch.tensor(eigenvalues)), basis.T)
        assert ch2.copying_score(matrix) == pytest.approx(expected, abs=1e-5)
    # A rotation by 90 degrees in a plane: eigenvalues +-i, sum 0.
    rotation = torch.tensor([[0.0, -1.0], [1.0, 0.0]])
    plane = basis[:, :2]
    assert ch2.copying_score(FactoredMatrix(plane @ rotation, plane.T)) == pytest.approx(0.0, abs=1e-5)


def test_ch2_top_singular_share_on_known_spectra_and_dense_svd():
    from transformer_lens import FactoredMatrix

    torch.manual_seed(0)
    left, right = torch.linalg.qr(torch.randn(9, 3))[0], torch.linalg.qr(torch.randn(6, 3))[0]
    matrix = FactoredMatrix(left @ torch.diag(torch.tensor([4.0, 2.0, 1.0])), right.T)  # singular values 4, 2, 1
    for k, expected in [(0, 0.0), (1, 16 / 21), (2, 20 / 21), (3, 1.0), (7, 1.0)]:
        assert ch2.top_singular_share(matrix, k) == pytest.approx(expected, abs=1e-6)
    model = ch2_models.model_named("wide")
    full = model.W_E @ model.OV[1, 2] @ model.W_U
    dense = torch.linalg.svdvals(full.AB) ** 2
    share = ch2.top_singular_share(full, 3)
    assert isinstance(share, float) and share == pytest.approx((dense[:3].sum() / dense.sum()).item(), abs=1e-5)
    for bad in [(matrix, -1), (FactoredMatrix(torch.zeros(4, 2), torch.zeros(2, 4)), 1)]:
        with pytest.raises(ValueError):
            ch2.top_singular_share(*bad)


@pytest.mark.parametrize("name", ["shipped", "random"])
def test_ch2_qk_circuits_with_dense_loops(name):
    model = ch2_models.model_named(name)
    with torch.no_grad():
        layer, head = model.cfg.n_layers - 1, 1
        pos = (model.W_pos - model.W_pos.mean(-1, keepdim=True)) / 0.3
        wq, wk = model.W_Q[layer, head], model.W_K[layer, head]
        pattern = ch2.positional_pattern(model, layer, head, 0.3)
        for q in [0, 3, model.cfg.n_ctx - 1]:
            logits = torch.tensor([float((pos[q] @ wq) @ (pos[k] @ wk)) / model.cfg.d_head ** 0.5 for k in range(q + 1)])
            assert torch.allclose(pattern[q, :q + 1], logits.softmax(-1), atol=1e-5)
            assert float(pattern[q, q + 1:].abs().sum()) == 0.0
        circuit = ch2.induction_qk_circuit(model, 2, 1)
        assert circuit.mdim <= model.cfg.d_head
        for a, b in [(0, 0), (5, 17), (model.cfg.d_vocab - 1, 3)]:
            query = model.W_E[a] @ model.W_Q[1, 1]
            key = (model.W_E[b] @ model.W_V[0, 2] @ model.W_O[0, 2]) @ model.W_K[1, 1]
            assert float(circuit.AB[a, b]) == pytest.approx(float(query @ key), rel=1e-4, abs=1e-4)


@pytest.mark.parametrize("name", ["shipped", "random"])
def test_ch2_composition_scores_pair_by_pair(name):
    model = ch2_models.model_named(name)
    norm = torch.linalg.matrix_norm
    with torch.no_grad():
        for kind in "qkv":
            scores = ch2.composition_scores(model, kind)
            for w in range(model.cfg.n_heads):
                for r in range(model.cfg.n_heads):
                    writer = model.W_V[0, w] @ model.W_O[0, w]
                    qk = model.W_Q[1, r] @ model.W_K[1, r].T
                    reader = {"q": qk, "k": qk.T, "v": model.W_V[1, r] @ model.W_O[1, r]}[kind]
                    expected = norm(writer @ reader) / (norm(writer) * norm(reader))
                    assert float(scores[w, r]) == pytest.approx(float(expected), abs=1e-5)
        assert torch.allclose(ch2.composition_scores(model, "k"), ch2.k_composition_scores(model), atol=1e-5)
    with pytest.raises(ValueError):
        ch2.composition_scores(model, "o")


@pytest.mark.parametrize("name", ["shipped", "wide"])
def test_ch2_ablated_induction_scores_match_an_edited_cache(name):
    """Mean-ablating through hooks equals patching the mean in by hand and recomputing layer 1's pattern."""
    model = ch2_models.model_named(name)
    half_len = 6
    tokens = ch2_models.repeated_inputs(name, 3, half_len)
    with torch.no_grad():
        assert torch.allclose(ch2.induction_scores_ablated(model, tokens, half_len, []),
                              ch2.induction_scores(model, tokens, half_len)[1], atol=1e-6)
        heads = [0, 2]
        _, cache = model.run_with_cache(tokens)
        z = cache["z", 0].clone()
        z[:, :, heads] = z[:, :, heads].mean(0, keepdim=True)
        # Layer 1's input: the residual stream after layer 0 with the ablated heads' outputs swapped.
        delta = torch.einsum("bshd,hdm->bsm", z - cache["z", 0], model.W_O[0])
        resid = cache["blocks.1.hook_resid_pre"] + delta
        normed = (resid - resid.mean(-1, keepdim=True))
        normed = normed / (normed.pow(2).mean(-1, keepdim=True) + model.cfg.eps).sqrt()
        q = torch.einsum("bsm,hmd->bshd", normed, model.W_Q[1]) + model.b_Q[1]
        k = torch.einsum("bsm,hmd->bshd", normed, model.W_K[1]) + model.b_K[1]
        pattern = torch.stack([ch2.attention_pattern(q[b], k[b]) for b in range(tokens.shape[0])])
        seq = tokens.shape[1]
        expected = torch.stack([pattern[:, :, i, i - half_len + 1] for i in range(half_len + 1, seq)], -1).mean((0, -1))
        assert torch.allclose(ch2.induction_scores_ablated(model, tokens, half_len, heads), expected, atol=1e-5)

# --------------------------------------------------------------------------- chapter 1: sampling, penalty, EOS beams


def test_ch1_sample_categorical_frequencies_and_seeding():
    """Frequencies within 6 standard errors of the softmax over 20000 rows; -inf never drawn; the seed decides."""
    logits = torch.tensor([0.5, float("-inf"), -1.0, 2.0, 0.0])
    probs = logits.double().softmax(-1)
    draws = ch1.sample_categorical(logits.expand(20_000, -1), torch.Generator().manual_seed(0))
    assert draws.dtype == torch.long and draws.shape == (20_000,)
    frequencies = torch.bincount(draws, minlength=5).double() / 20_000
    assert frequencies[1] == 0
    assert ((frequencies - probs).abs() <= 6 * (probs * (1 - probs) / 20_000).sqrt() + 1e-4).all()
    again = ch1.sample_categorical(logits.expand(20_000, -1), torch.Generator().manual_seed(0))
    other = ch1.sample_categorical(logits.expand(20_000, -1), torch.Generator().manual_seed(1))
    assert torch.equal(draws, again) and not torch.equal(draws, other)


def test_ch1_frequency_penalty_loop():
    """Subtracting the penalty once per occurrence, with Python loops, gives the same logits and dtype."""
    torch.manual_seed(8)
    logits = torch.randn(3, 6, dtype=torch.float64)
    tokens = torch.randint(0, 6, (3, 10))
    expected = logits.clone()
    for row in range(3):
        for token in tokens[row].tolist():
            expected[row, token] -= 0.3
    out = ch1.frequency_penalty(logits, tokens, 0.3)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, expected)
    assert torch.equal(ch1.frequency_penalty(logits, tokens, 0.0), logits)


def test_ch1_beam_search_with_eos_is_exhaustive_when_wide_enough():
    """A beam as wide as the vocabulary finds the best of all continuations of at most 2 tokens that stop at EOS."""
    from circuitlab.ch1.graders.test_beam_search_with_eos import eos_model

    model = eos_model("small", 126, 2.0)
    prompt, d_vocab = torch.tensor([3, 1, 4]), CH1_CONFIGS["small"].d_vocab
    eos = d_vocab - 1

    def log_prob(new: list[int]) -> float:
        with torch.no_grad():
            sequence = torch.cat([prompt, torch.tensor(new, dtype=torch.long)])
            log_probs = model(sequence[None])[0].log_softmax(-1)
        return sum(float(log_probs[len(prompt) - 1 + i, t]) for i, t in enumerate(new))

    continuations = [[eos]] + [[a, b] for a in range(d_vocab) if a != eos for b in range(d_vocab)]
    best = max(continuations, key=log_prob)
    sequence, score = ch1.beam_search_with_eos(model, prompt, 2, d_vocab, eos)
    assert sequence[3:].tolist() == best and score == pytest.approx(log_prob(best), abs=1e-4)


def test_ch1_beam_search_with_eos_grader_cases_are_what_they_say():
    """Each "EOS wins" case ends early with EOS; each "EOS loses" case has a finished beam that a longer one beats."""
    from circuitlab.ch1.graders.test_beam_search_with_eos import CASES, PROMPT_LEN, _beams_with, eos_case

    for name, cfg_name, seed, boost, n_new, width in CASES:
        model, prompt, eos = eos_case(cfg_name, seed, boost)
        sequence, _ = ch1.beam_search_with_eos(model, prompt, n_new, width, eos)
        if name.startswith("EOS wins"):
            assert int(sequence[-1]) == eos and sequence.shape[0] < PROMPT_LEN + n_new + 1, name
            assert not torch.equal(sequence, ch1.beam_search(model, prompt, n_new, width)[0][: sequence.shape[0]]), name
        if name.startswith("EOS loses"):
            first_finished = _beams_with(model, prompt, n_new, width, eos, first_finished=True)[1]
            assert int(first_finished[-1]) == eos and int(sequence[-1]) != eos, name


# --------------------------------------------------------------------------- chapter 0: indexing and a stable softmax
# Each against torch's own function, or a loop; inputs mix moderate entries, entries near ±1000 and -inf.


def _ch0_stability_inputs() -> list[tuple[torch.Tensor, int]]:
    torch.manual_seed(31)
    moderate = 3 * torch.randn(3, 4, 5, dtype=torch.float64)
    large = torch.randn(4, 6) + torch.tensor([1000.0, -1000.0, 0.0, 500.0])[:, None]
    masked = torch.randn(3, 5)
    masked[0, 1:3] = float("-inf")
    return [(moderate, 0), (moderate, 1), (moderate, -1), (large, -1), (large, 0), (masked, 1)]


def test_ch0_logsumexp_and_log_softmax_are_torchs():
    from circuitlab.ch0 import reference as ch0

    for x, dim in _ch0_stability_inputs():
        torch.testing.assert_close(ch0.logsumexp(x, dim), torch.logsumexp(x, dim))
        # x - logsumexp(x) rounds like |x|: 1e-3 is a few float32 ulps at 1000
        atol = 1e-3 if x.dtype == torch.float32 else 1e-9
        torch.testing.assert_close(ch0.log_softmax(x, dim), torch.log_softmax(x, dim), atol=atol, rtol=1e-6)
    fully_masked = torch.full((2, 3), float("-inf"))
    assert torch.equal(ch0.logsumexp(fully_masked, 1), torch.logsumexp(fully_masked, 1))


def test_ch0_logsumexp_gradient_is_the_softmax():
    from circuitlab.ch0 import reference as ch0

    x = (torch.randn(3, 7, dtype=torch.float64) + 1000.0).requires_grad_(True)
    ch0.logsumexp(x, 1).sum().backward()
    torch.testing.assert_close(x.grad, torch.softmax(x.detach(), 1))


def test_ch0_cross_entropy_is_torchs():
    from circuitlab.ch0 import reference as ch0

    torch.manual_seed(32)
    for shape in [(5, 7), (2, 4, 6), (4, 1), (1, 3)]:
        logits = (3 * torch.randn(*shape) + 1000.0).requires_grad_(True)
        targets = torch.randint(0, shape[-1], shape[:-1])
        mine = ch0.cross_entropy(logits, targets)
        theirs = torch.nn.functional.cross_entropy(logits.reshape(-1, shape[-1]), targets.reshape(-1))
        torch.testing.assert_close(mine, theirs, atol=1e-3, rtol=1e-6)
        (grad_mine,) = torch.autograd.grad(mine, logits)
        (grad_theirs,) = torch.autograd.grad(theirs, logits)
        torch.testing.assert_close(grad_mine, grad_theirs, atol=1e-6, rtol=1e-4)
    with pytest.raises(TypeError, match="int32"):
        ch0.cross_entropy(torch.randn(2, 3), torch.tensor([0, 1], dtype=torch.int32))


def test_ch0_pick_targets_and_final_logits_by_loop():
    from circuitlab.ch0 import reference as ch0

    torch.manual_seed(33)
    log_probs = torch.randn(3, 4, 5).log_softmax(-1)
    targets = torch.randint(0, 5, (3, 4))
    picked = ch0.pick_targets(log_probs, targets)
    assert picked.shape == (3, 4)
    for b in range(3):
        for s in range(4):
            assert picked[b, s] == log_probs[b, s, targets[b, s]]
    with pytest.raises(TypeError, match="int32"):
        ch0.pick_targets(log_probs, targets.int())
    end_pos = torch.tensor([3, 0, 2])
    final = ch0.final_logits(log_probs, end_pos)
    assert torch.equal(final, torch.stack([log_probs[b, int(end_pos[b])] for b in range(3)]))
