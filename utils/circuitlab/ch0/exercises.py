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
]
