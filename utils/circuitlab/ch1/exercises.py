"""Chapter 1 exercises: metadata shown in the notebook and used by the graders."""
from circuitlab.grading.registry import Exercise

EXERCISES = [
    Exercise(
        id="ch1.layer_norm", title="LayerNorm", reference="LayerNorm", points=2, difficulty=2, importance=4, minutes=10,
        hints=[
            "Statistics are taken over the last axis (d_model) only, with keepdim=True so they broadcast back.",
            "The variance divides by n, not n - 1: x.var(dim=-1, keepdim=True, unbiased=False). "
            "Epsilon goes inside the square root.",
            "(x - mean) / sqrt(var + eps) * self.w + self.b",
        ],
    ),
    Exercise(
        id="ch1.embed", title="Token embedding", reference="Embed", points=1, difficulty=1, importance=3, minutes=5,
        hints=[
            "Row t of W_E is the vector of token t: indexing a tensor with a tensor of ids picks rows.",
            "self.W_E[tokens] has shape (batch, seq, d_model).",
        ],
    ),
    Exercise(
        id="ch1.pos_embed", title="Positional embedding", reference="PosEmbed", points=1, difficulty=1, importance=3,
        minutes=5,
        hints=[
            "The output depends on where a token is, not on which token it is: only tokens.shape matters.",
            "W_pos has n_ctx rows but a sequence may be shorter: take the first seq rows, then repeat over the batch.",
            "einops.repeat(self.W_pos[:seq], 'seq d -> batch seq d', batch=batch)",
        ],
    ),
    Exercise(
        id="ch1.causal_mask", title="Causal mask", reference="apply_causal_mask", points=2, difficulty=2,
        importance=5, minutes=10,
        hints=[
            "Query i may look at keys 0..i. The entries to hide are those with key index > query index.",
            "torch.triu(torch.ones(q, k, dtype=torch.bool), diagonal=1) is True exactly there.",
            "attn_scores.masked_fill(mask, IGNORE): not in place, and not 0 (softmax would still give weight to 0).",
        ],
    ),
    Exercise(
        id="ch1.attention", title="Multi-head attention", reference="Attention", points=4, difficulty=4,
        importance=5, minutes=30,
        hints=[
            "Four einsums: x to q, k and v per head; q with k to scores; pattern with v to z; z with W_O to the output "
            "(summing over heads).",
            "Scale the scores by 1/sqrt(d_head) before masking; softmax over the last axis (keys), so each query's "
            "weights sum to 1.",
            "scores = einsum(q, k, 'b q h dh, b k h dh -> b h q k') / sqrt(d_head); "
            "pattern = apply_causal_mask(scores).softmax(-1); z = einsum(pattern, v, 'b h q k, b k h dh -> b q h dh')",
        ],
    ),
    Exercise(
        id="ch1.mlp", title="MLP", reference="MLP", points=2, difficulty=2, importance=4, minutes=10,
        hints=[
            "Up-project with W_in and b_in, apply the nonlinearity, down-project with W_out and b_out.",
            "GPT-2 uses the tanh approximation of GELU: torch.nn.functional.gelu(x, approximate='tanh').",
        ],
    ),
    Exercise(
        id="ch1.transformer_block", title="Transformer block (pre-norm residual)", reference="TransformerBlock",
        points=2, difficulty=2, importance=5, minutes=10,
        hints=[
            "Each sublayer reads a LayerNorm-ed copy of the residual stream and adds its output back to the stream.",
            "resid_mid = resid_pre + attn(ln1(resid_pre)); resid_post = resid_mid + mlp(ln2(resid_mid))",
        ],
    ),
    Exercise(
        id="ch1.unembed", title="Unembedding", reference="Unembed", points=1, difficulty=1, importance=3, minutes=5,
        hints=[
            "A matrix product with W_U (d_model, d_vocab) plus b_U. Return logits: no softmax.",
        ],
    ),
    Exercise(
        id="ch1.transformer", title="The full transformer", reference="DemoTransformer", points=3, difficulty=2,
        importance=5, minutes=15,
        hints=[
            "The residual stream starts as token embedding plus positional embedding.",
            "Run every block in order, then ln_final, then unembed.",
        ],
    ),
    Exercise(
        id="ch1.next_token_loss", title="Next-token cross-entropy", reference="next_token_loss", points=2,
        difficulty=2, importance=5, minutes=10,
        hints=[
            "The logits at position i predict the token at position i + 1, so the last position has no target.",
            "log_probs = logits[:, :-1].log_softmax(-1); pick the entry of tokens[:, 1:] with gather; "
            "average the negative.",
        ],
    ),
    Exercise(
        id="ch1.train_step", title="One training step", reference="train_step", points=2, difficulty=2,
        importance=4, minutes=10,
        hints=[
            "Forward, loss, clear old gradients, backward, update: in that order.",
            "PyTorch adds new gradients to .grad; optimizer.zero_grad() clears them. Return loss.item().",
        ],
    ),
    Exercise(
        id="ch1.greedy_decode", title="Greedy decoding", reference="greedy_decode", points=2, difficulty=2,
        importance=4, minutes=10,
        hints=[
            "Only the logits at the last position predict the next token.",
            "Loop n_new times: next = model(tokens)[:, -1].argmax(-1, keepdim=True); tokens = torch.cat([tokens, next], -1).",
        ],
    ),
    Exercise(
        id="ch1.sample_categorical", title="Sampling a token", reference="sample_categorical", points=2,
        difficulty=2, importance=4, minutes=10,
        hints=[
            "Turn each row of logits into probabilities with a softmax over the vocabulary (dim=-1).",
            "torch.multinomial(probs, num_samples=1, generator=generator) draws one index per row; pass the "
            "generator, or the global RNG is used and a seed no longer reproduces the draws.",
            "multinomial returns shape (batch, 1): take [:, 0] (a bare .squeeze() breaks batch 1).",
        ],
    ),
    Exercise(
        id="ch1.apply_temperature", title="Temperature", reference="apply_temperature", points=1, difficulty=1,
        importance=3, minutes=5,
        hints=[
            "Temperature rescales logits, before any softmax: logits / temperature.",
        ],
    ),
    Exercise(
        id="ch1.top_k", title="Top-k filtering", reference="top_k_filter", points=2, difficulty=2, importance=3,
        minutes=10,
        hints=[
            "Find the k-th largest logit of each row: logits.topk(k, dim=-1).values[..., -1:].",
            "Keep every logit >= that value (ties at the boundary are all kept) and write -inf into the others.",
        ],
    ),
    Exercise(
        id="ch1.top_p", title="Top-p (nucleus) filtering", reference="top_p_filter", points=3, difficulty=3,
        importance=3, minutes=15,
        hints=[
            "Sort the probabilities in descending order and take their cumulative sum.",
            "A token is kept if the mass of the tokens ranked strictly above it is below p; so the token that "
            "crosses p is kept.",
            "Compute the drop mask in sorted order, then put it back in vocabulary order with scatter (or by "
            "indexing with argsort of the order).",
        ],
    ),
    Exercise(
        id="ch1.frequency_penalty", title="Frequency penalty", reference="frequency_penalty", points=2,
        difficulty=2, importance=3, minutes=10,
        hints=[
            "Build counts of shape (batch, d_vocab): counts[b, v] is how often token v occurs in tokens[b].",
            "torch.zeros_like(logits).scatter_add(-1, tokens, torch.ones_like(tokens, dtype=logits.dtype)) "
            "counts repeats; indexing assignment (x[rows, tokens] -= penalty) applies a repeated token only once.",
            "Return logits - penalty * counts: a new tensor, the logits' dtype.",
        ],
    ),
    Exercise(
        id="ch1.beam_search", title="Beam search", reference="beam_search", points=3, difficulty=4, importance=3,
        minutes=25,
        hints=[
            "Keep beam_width sequences and their summed log-probabilities; start with one beam (the prompt), score 0.",
            "Each step: scores[:, None] + log_softmax(last logits) gives every (beam, token) extension; take the "
            "top beam_width of the flattened table.",
            "Recover beam and token from a flat index with // d_vocab and % d_vocab.",
        ],
    ),
    Exercise(
        id="ch1.beam_search_with_eos", title="Beam search that stops at EOS", reference="beam_search_with_eos",
        points=3, difficulty=4, importance=2, minutes=25, bonus=True,
        hints=[
            "Split the kept beams into finished (last new token is eos_token) and growing; extend only the growing.",
            "The candidates of a step are the finished beams, with their scores unchanged, plus every extension of "
            "every growing beam; keep the beam_width best.",
            "A finished beam adds nothing more to its score, not even for later steps; after n_new steps (or when "
            "every kept beam has finished) return the best beam of the pool.",
        ],
    ),
    Exercise(
        id="ch1.kv_cache", title="Greedy decoding with a KV cache", reference="generate_with_kv_cache", points=3,
        difficulty=5, importance=2, minutes=40, bonus=True,
        hints=[
            "Keys and values of a past position never change: store them per layer and append one position per step.",
            "A new token at absolute position n_past uses W_pos[n_past] and may attend to every cached key.",
            "Run the prompt once to fill the cache; then each step feeds only the newest token, of shape (batch, 1).",
        ],
    ),
]
