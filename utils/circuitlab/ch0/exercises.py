"""Chapter 0 exercises: metadata shown in the notebook and used by the graders."""
from circuitlab.grading.registry import Exercise

EXERCISES = [
    Exercise(
        id="ch0.split_heads", title="Split the residual dimension into heads (rearrange)", reference="split_heads",
        points=1, difficulty=1, importance=4, minutes=5,
        hints=[
            "The output keeps batch and position first and splits the last axis in two.",
            "In an einops pattern, `(n_heads d_head)` on the left names one axis made of two; the order "
            "inside the brackets says which index varies fastest.",
            "rearrange(x, 'batch pos (n_heads d_head) -> batch pos n_heads d_head', n_heads=n_heads)",
        ],
    ),
    Exercise(
        id="ch0.average_pattern", title="Average attention over batch and heads (reduce)", reference="average_pattern",
        points=1, difficulty=1, importance=3, minutes=5,
        hints=[
            "Two axes disappear and two stay: which ones?",
            "reduce(pattern, 'batch head q k -> q k', 'mean')",
        ],
    ),
    Exercise(
        id="ch0.broadcast_positions", title="Give every sequence the same positional embedding (repeat)",
        reference="broadcast_positions", points=1, difficulty=1, importance=3, minutes=5,
        hints=[
            "A new axis appears on the left; the others are unchanged.",
            "repeat(pos_embed, 'pos d -> batch pos d', batch=batch)",
        ],
    ),
    Exercise(
        id="ch0.batched_matmul", title="Batched matrix product (einsum)", reference="batched_matmul",
        points=1, difficulty=1, importance=4, minutes=5,
        hints=[
            "Give each axis a name; the axis that is summed over is the one missing from the output.",
            "einsum(a, b, 'batch i j, batch j k -> batch i k')",
        ],
    ),
    Exercise(
        id="ch0.attention_scores", title="Attention scores from queries and keys (einsum)", reference="attention_scores",
        points=2, difficulty=2, importance=5, minutes=10,
        hints=[
            "Each query position is dotted with each key position, per batch and per head: d_head is summed over.",
            "The output is ordered batch, head, query position, key position. Divide by the square root of d_head.",
            "einsum(q, k, 'batch q_pos head d, batch k_pos head d -> batch head q_pos k_pos') / d_head ** 0.5",
        ],
    ),
    Exercise(
        id="ch0.previous_token_pattern", title="Build a previous-token attention pattern",
        reference="previous_token_pattern", points=1, difficulty=2, importance=3, minutes=10,
        hints=[
            "Row i is where query position i looks. Each row must sum to 1.",
            "Position 0 has no previous token, so it attends to itself.",
            "Start from zeros; set [i, i - 1] = 1 for i >= 1 and [0, 0] = 1 (torch.diag_embed or indexing with arange).",
        ],
    ),
    Exercise(
        id="ch0.loss_curve", title="A loss curve with plotly", reference="loss_curve",
        points=1, difficulty=1, importance=2, minutes=10,
        hints=[
            "plotly.graph_objects.Figure with one go.Scatter trace; x is the step number.",
            "fig.update_layout(xaxis_title=..., yaxis_title=..., title=...); fig.update_yaxes(type='log').",
        ],
    ),
    Exercise(
        id="ch0.pick_targets", title="Each position's log-probability of its target (gather)",
        reference="pick_targets", points=1, difficulty=2, importance=5, minutes=10,
        hints=[
            "torch.gather(input, dim, index) needs index to have as many axes as input: give targets a trailing "
            "axis of size 1, gather along the vocabulary axis, then remove that axis (and only that one).",
            "Check the dtype first: if targets.dtype != torch.long: raise TypeError(f\"... not {targets.dtype}\").",
            "log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)",
        ],
    ),
    Exercise(
        id="ch0.final_logits", title="The logits at each prompt's last real token (advanced indexing)",
        reference="final_logits", points=1, difficulty=2, importance=4, minutes=10,
        hints=[
            "Two index tensors of the same shape, one per axis, pick one entry per pair: x[rows, cols][i] = "
            "x[rows[i], cols[i]].",
            "The rows are 0, 1, ..., batch - 1 (torch.arange); the columns are end_pos.",
            "logits[torch.arange(logits.shape[0]), end_pos]",
        ],
    ),
    Exercise(
        id="ch0.logsumexp", title="A logsumexp that survives large inputs", reference="logsumexp",
        points=2, difficulty=2, importance=5, minutes=15,
        hints=[
            "log(sum(exp(x))) = m + log(sum(exp(x - m))) for any number m. Which m keeps every exp(x - m) <= 1?",
            "Take m as the max over dim, per slice (keepdim=True so it broadcasts), not the max of the whole tensor.",
            "A slice of only -inf has m = -inf and x - m = NaN there: use m = 0 for such slices "
            "(torch.where(torch.isfinite(m), m, 0)).",
        ],
    ),
    Exercise(
        id="ch0.log_softmax", title="log-softmax by hand", reference="log_softmax",
        points=1, difficulty=2, importance=5, minutes=10,
        hints=[
            "log(softmax(x)_i) = x_i - log(sum_j exp(x_j)): there is no division and no log of a tiny number.",
            "Use your logsumexp over dim, and put the reduced axis back (unsqueeze(dim)) so it broadcasts.",
        ],
    ),
    Exercise(
        id="ch0.cross_entropy", title="Cross-entropy by hand", reference="cross_entropy",
        points=2, difficulty=2, importance=5, minutes=10,
        hints=[
            "The loss is the mean, over every position of the batch, of minus the log-probability of its target.",
            "log_softmax over the class axis, pick each target's entry with gather (as in pick_targets), "
            "negate, average.",
            "Check targets.dtype first, as in pick_targets; return the 0-dim tensor itself, not .item().",
        ],
    ),
]
