"""Chapter 2 exercises: metadata shown in the notebook and used by the graders."""
from circuitlab.grading.registry import Exercise

EXERCISES = [
    Exercise(
        id="ch2.verify_pattern", title="Recompute an attention pattern from q and k", reference="attention_pattern",
        points=2, difficulty=2, importance=4, minutes=10,
        hints=[
            "Scores are q·k over d_head for every (query, key) pair, per head, divided by sqrt(d_head).",
            "Mask keys after the query with -inf before the softmax: torch.triu(..., diagonal=1) marks them.",
            "einsum(q, k, 'q_pos head d, k_pos head d -> head q_pos k_pos') / d_head ** 0.5, then masked_fill "
            "and softmax(dim=-1).",
        ],
    ),
    Exercise(
        id="ch2.current_attn_detector", title="Current-token score of each head", reference="current_attn_score",
        points=1, difficulty=1, importance=3, minutes=5,
        hints=[
            "Attention from position i to position i sits on the main diagonal of the (q, k) matrix.",
            "pattern.diagonal(dim1=-2, dim2=-1) has shape (batch, head, pos); average over batch and pos (position 0 "
            "included).",
        ],
    ),
    Exercise(
        id="ch2.prev_attn_detector", title="Previous-token score of each head", reference="prev_attn_score",
        points=1, difficulty=1, importance=4, minutes=5,
        hints=[
            "Attention from i to i - 1 sits one below the main diagonal: which offset is that?",
            "pattern.diagonal(offset=-1, dim1=-2, dim2=-1) holds seq - 1 entries per head (query 0 has no "
            "previous token); average them.",
        ],
    ),
    Exercise(
        id="ch2.first_attn_detector", title="First-token (BOS) score of each head", reference="first_attn_score",
        points=1, difficulty=1, importance=3, minutes=5,
        hints=[
            "Attention to position 0 is the first column of the (q, k) matrix: the key axis is the last one.",
            "pattern[..., 0] has shape (batch, head, q); average over batch and q.",
        ],
    ),
    Exercise(
        id="ch2.repeated_tokens", title="Repeated random tokens", reference="repeated_tokens",
        points=1, difficulty=1, importance=4, minutes=10,
        hints=[
            "Draw one random half per row with torch.randint(low, high, (batch, half_len)).",
            "Concatenate a column of BOS, the half and the same half again along dim 1.",
        ],
    ),
    Exercise(
        id="ch2.token_log_probs", title="Log-probability of each actual next token", reference="token_log_probs",
        points=2, difficulty=2, importance=4, minutes=10,
        hints=[
            "The logits at position j predict the token at j + 1: drop the last position of the logits and the "
            "first token.",
            "log_softmax over the vocabulary, then gather the entries of the next tokens.",
            "logits[:, :-1].log_softmax(-1).gather(-1, tokens[:, 1:, None])[..., 0]",
        ],
    ),
    Exercise(
        id="ch2.induction_score_hook", title="Induction scores with a hook", reference="induction_scores",
        points=3, difficulty=3, importance=5, minutes=20,
        hints=[
            "A hook on blocks.{layer}.attn.hook_pattern receives (batch, head, q, k); write the layer's scores "
            "into a tensor defined outside the hook.",
            "The query at position half_len + i holds a copy of the token at i; induction attends to i + 1: the "
            "diagonal with offset -(half_len - 1).",
            "That diagonal starts with two first-half queries (at half_len - 1 and half_len): drop them before "
            "averaging. It goes by position, so a token repeated within the first half changes nothing.",
        ],
    ),
    Exercise(
        id="ch2.logit_attribution", title="Direct logit attribution per head", reference="logit_attribution",
        points=3, difficulty=3, importance=5, minutes=25,
        hints=[
            "A head's output is z @ W_O: einsum over d_head with model.W_O[layer] (shape head, d_head, d_model).",
            "The final LayerNorm is linear once its scale is fixed: centre each component over d_model and divide "
            "by cache['ln_final.hook_scale'].",
            "Dot each normalised component at position j with model.W_U[:, tokens[:, j + 1]].",
        ],
    ),
    Exercise(
        id="ch2.logit_lens", title="The logit lens", reference="logit_lens",
        points=2, difficulty=2, importance=3, minutes=15,
        hints=[
            "Stack the residual stream before each layer and after the last one.",
            "Normalise each stage as the final LayerNorm would if the stream ended there: centre it over d_model "
            "and divide by sqrt(mean of squares + model.cfg.eps); then @ model.W_U + model.b_U.",
            "Finish as in token_log_probs: log_softmax, drop the last position, gather the next tokens.",
        ],
    ),
    Exercise(
        id="ch2.ablate_head_hook", title="A hook that ablates one head", reference="ablate_head_hook",
        points=2, difficulty=2, importance=4, minutes=10,
        hints=[
            "hook_z has shape (batch, seq, head, d_head): the head axis is the third one.",
            "z[:, :, head, :] = 0 (or = replacement, which broadcasts over the batch); return z.",
        ],
    ),
    Exercise(
        id="ch2.ablation_scores", title="Ablation scores on repeated tokens", reference="ablation_scores",
        points=3, difficulty=3, importance=4, minutes=20,
        hints=[
            "Loss on the repeated half = minus the mean of token_log_probs over entries half_len + 1 onwards.",
            "For each (layer, head), run model.run_with_hooks with your hook on blocks.{layer}.attn.hook_z "
            "(functools.partial fixes head and replacement).",
            "For mean ablation, replacement is that head's z averaged over the batch: "
            "cache['z', layer][:, :, head].mean(0).",
        ],
    ),
    Exercise(
        id="ch2.full_ov_top1", title="Copying accuracy of a head's full OV circuit", reference="full_ov_top1",
        points=2, difficulty=3, importance=4, minutes=15,
        hints=[
            "model.W_E @ model.OV[layer, head] @ model.W_U is a FactoredMatrix from source token to output logit.",
            "Its .AB is the (d_vocab, d_vocab) matrix; row i is what attending to token i does to the logits.",
            "(matrix.argmax(dim=-1) == torch.arange(d_vocab)).float().mean().item()",
        ],
    ),
    Exercise(
        id="ch2.decompose_qk", title="Decompose an induction head's keys", reference="decompose_keys",
        points=3, difficulty=4, importance=4, minutes=25,
        hints=[
            "Layer 1's input is embed + pos_embed + each layer-0 head's z @ W_O (+ biases, left out here).",
            "Layer 1's LayerNorm is linear per position once you use its cached scale: centre each component and "
            "divide by cache['blocks.1.ln1.hook_scale'].",
            "einsum(normalised, model.W_K[1, head], 'component b s d_model, d_model d_head -> component b s d_head')",
        ],
    ),
    Exercise(
        id="ch2.composition_score", title="Composition score", reference="composition_score",
        points=2, difficulty=2, importance=4, minutes=10,
        hints=[
            "FactoredMatrix has .norm() (Frobenius) and supports @.",
            "(write @ read).norm() / (write.norm() * read.norm()), as a Python float.",
        ],
    ),
    Exercise(
        id="ch2.k_composition", title="K-composition between the two layers", reference="k_composition_scores",
        points=2, difficulty=3, importance=4, minutes=15,
        hints=[
            "A layer-0 head writes x @ OV; a layer-1 key reads it through the key side of QK = W_Q W_K^T.",
            "The key side is the right-hand factor, so the reading matrix is model.QK[1, reader].T.",
            "Entry [writer, reader] is the composition score of model.OV[0, writer] with model.QK[1, reader].T.",
        ],
    ),
    Exercise(
        id="ch2.copying_score", title="Eigenvalue copying score of a FactoredMatrix", reference="copying_score",
        points=2, difficulty=2, importance=3, minutes=10,
        hints=[
            "matrix.eigenvalues gives the (complex) eigenvalues from the small factor product B @ A, without "
            "building the big matrix.",
            "Divide their sum by the sum of their absolute values (complex modulus: .abs()), then take the real part.",
            "(eig.sum() / eig.abs().sum()).real.item()",
        ],
    ),
    Exercise(
        id="ch2.top_singular_share", title="How much of a circuit lies in its top singular directions",
        reference="top_singular_share", points=2, difficulty=2, importance=3, minutes=10,
        hints=[
            "matrix.S gives the singular values from the factors, largest first; the squared Frobenius norm is "
            "the sum of their squares.",
            "Square them, sum the first k, divide by the sum of all; check k < 0 and a zero total first (ValueError).",
            "s2 = matrix.S ** 2; return (s2[:k].sum() / s2.sum()).item()",
        ],
    ),
    Exercise(
        id="ch2.positional_pattern", title="The positional QK circuit of a head", reference="positional_pattern",
        points=2, difficulty=2, importance=4, minutes=15,
        hints=[
            "Centre model.W_pos over d_model and divide it by ln_scale; then positions @ model.QK[layer, head] @ "
            "positions.T is a FactoredMatrix (n_ctx x n_ctx): take .AB.",
            "Divide by sqrt(d_head) before the softmax, as the model does.",
            "Mask keys after the query (torch.triu(..., diagonal=1)) with -inf, then softmax over the last axis (keys).",
        ],
    ),
    Exercise(
        id="ch2.induction_qk_circuit", title="The token x token QK circuit through K-composition",
        reference="induction_qk_circuit",
        points=3, difficulty=3, importance=4, minutes=20,
        hints=[
            "The key side is what the previous-token head writes: model.W_E @ model.OV[0, prev_head].",
            "The query side is a plain token embedding: model.W_E @ model.QK[1, induction_head] @ (key side).T.",
            "Keep everything a FactoredMatrix (tensor @ FactoredMatrix stays one); never call .AB.",
        ],
    ),
    Exercise(
        id="ch2.composition_scores", title="Q-, K- and V-composition, all head pairs at once",
        reference="composition_scores",
        points=3, difficulty=3, importance=4, minutes=20,
        hints=[
            "Writers are model.OV[0] (a FactoredMatrix of shape (head, d_model, d_model)); readers are model.QK[1] "
            "(q), model.QK[1].T (k) or model.OV[1] (v).",
            "writers[:, None] @ readers[None, :] broadcasts to (head0, head1, d_model, d_model), still factored.",
            "Its .norm() is (head0, head1); divide by writers.norm()[:, None] * readers.norm()[None, :].",
        ],
    ),
    Exercise(
        id="ch2.induction_scores_ablated", title="Induction scores with the previous-token head ablated",
        reference="induction_scores_ablated",
        points=3, difficulty=3, importance=4, minutes=20,
        hints=[
            "First a clean run_with_cache for blocks.0.attn.hook_z, to get each head's mean z over the batch.",
            "Then one run_with_hooks with two hooks: one on blocks.0.attn.hook_z that writes the means into the listed "
            "heads, one on blocks.1.attn.hook_pattern that records the induction stripe.",
            "The stripe is pattern.diagonal(offset=-(half_len - 1), dim1=-2, dim2=-1)[..., 2:], averaged over batch "
            "and queries.",
        ],
    ),
]
