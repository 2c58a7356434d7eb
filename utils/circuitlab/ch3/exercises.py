"""Chapter 3 exercises: metadata shown in the notebook and used by the graders."""
from circuitlab.grading.registry import Exercise

EXERCISES = [
    Exercise(
        id="ch3.ioi_prompts", title="Fill an IOI template, in both orders, with its ABC twin", reference="make_ioi_prompt",
        points=1, difficulty=1, importance=3, minutes=8,
        hints=[
            "ABBA means the first clause names IO first; BABA names S first. The second clause always repeats S.",
            "template.format(A=..., B=..., S=..., P=place, O=obj) fills every slot at once.",
            "The corrupted prompt is the same call with S=c: only the second mention of S changes.",
        ],
    ),
    Exercise(
        id="ch3.single_token_names", title="Keep the names that are a single token", reference="single_token_names",
        points=1, difficulty=1, importance=3, minutes=5,
        hints=[
            "Inside a sentence a name follows a space, and BPE tokenizers give ' Mary' and 'Mary' different tokens.",
            "tokenizer.encode(text, add_special_tokens=False) gives the ids without a BOS token.",
            "One id is not enough: a word-level tokenizer encodes every unknown word as tokenizer.unk_token_id, "
            "so keep a name when its single id is not that one.",
        ],
    ),
    Exercise(
        id="ch3.logit_diff", title="The logit difference metric", reference="logit_diff",
        points=1, difficulty=1, importance=5, minutes=8,
        hints=[
            "The prompts are right-padded: read the logits at end_pos[i] for prompt i, not at position -1.",
            "logits[torch.arange(batch), end_pos] is (batch, vocab); index it again with (arange, io_tokens).",
        ],
    ),
    Exercise(
        id="ch3.patching_metric", title="Normalise the metric: corrupted = 0, clean = 1", reference="normalised_logit_diff",
        points=1, difficulty=1, importance=4, minutes=5,
        hints=[
            "A linear map that sends corrupt_diff to 0 and clean_diff to 1.",
            "(diff - corrupt_diff) / (clean_diff - corrupt_diff)",
        ],
    ),
    Exercise(
        id="ch3.residual_dla", title="Direct logit attribution through the final LayerNorm scale",
        reference="residual_to_logit_diff", points=2, difficulty=2, importance=4, minutes=12,
        hints=[
            "The final LayerNorm divides each token's residual vector by a scale the model computed from the "
            "whole vector; cache['ln_final.hook_scale'] holds it, shape (batch, seq, 1).",
            "Take each prompt's scale at its end position, divide the stack by it, then dot with that prompt's "
            "direction and average over the batch.",
            "einops.einsum(stack / scale, directions, 'comp batch d, batch d -> comp batch').mean(-1)",
        ],
    ),
    Exercise(
        id="ch3.patch_residual", title="Activation patching: the residual stream by layer and position",
        reference="patch_residual", points=2, difficulty=2, importance=5, minutes=15,
        hints=[
            "Run the *corrupted* tokens; the hook copies the *clean* residual stream in at one position.",
            "model.run_with_hooks(tokens, fwd_hooks=[(name, hook)]) removes its hooks when it returns, so hooks "
            "never pile up between runs.",
            "Inside the hook: resid[:, pos] = clean_cache[hook.name][:, pos]; return resid.",
        ],
    ),
    Exercise(
        id="ch3.patch_head_output", title="Activation patching: each head's output", reference="patch_head_output",
        points=2, difficulty=2, importance=5, minutes=10,
        hints=[
            "hook_z is (batch, pos, head, d_head): a head's output before W_O.",
            "Patch every position of one head: z[:, :, head] = clean_cache[hook.name][:, :, head].",
        ],
    ),
    Exercise(
        id="ch3.patch_head_pattern", title="Activation patching: each head's attention pattern",
        reference="patch_head_pattern", points=1, difficulty=2, importance=4, minutes=8,
        hints=[
            "hook_pattern is (batch, head, query, key): the head axis comes second here.",
            "pattern[:, head] = clean_cache[hook.name][:, head]",
        ],
    ),
    Exercise(
        id="ch3.patch_head_by_position", title="Activation patching: each head at each position",
        reference="patch_head_by_position", points=2, difficulty=2, importance=4, minutes=10,
        hints=[
            "Three loops: layer, head, position. Each run patches one head at one position and nothing else.",
            "hook_z is (batch, pos, head, d_head): z[:, pos, head] = clean_cache[hook.name][:, pos, head].",
            "The grid is (n_layers, n_heads, seq): TransformerLens's get_act_patch_attn_head_out_by_pos returns "
            "(layer, pos, head), so do not copy its order.",
        ],
    ),
    Exercise(
        id="ch3.path_patch_to_final", title="Path patching: each head to the final residual stream",
        reference="path_patch_to_final", points=3, difficulty=3, importance=5, minutes=20,
        hints=[
            "Run the *clean* tokens. On every layer's hook_z, return the clean cache's z, except for the sender "
            "head, which gets the corrupted cache's z.",
            "Pinning the other heads is the point: otherwise the sender's change would also reach the output "
            "through later heads, and you would be measuring activation patching again.",
            "One hook for all layers: pass a function of the hook name as the hook point, and use hook.layer().",
        ],
    ),
    Exercise(
        id="ch3.path_patch_to_heads", title="Path patching: each head to the queries, keys or values of receivers",
        reference="path_patch_to_heads", points=3, difficulty=4, importance=4, minutes=25,
        hints=[
            "Two runs per sender. First: clean tokens, every head pinned to its clean z except the sender "
            "(corrupted z); record the receivers' hook_q (or hook_k, hook_v).",
            "Second: clean tokens, nothing pinned; only the receiver heads' q (k, v) are replaced by what you "
            "recorded. The metric of this run is the result.",
            "hook_q is (batch, pos, head, d_head); patch only the receiver heads of that layer.",
        ],
    ),
    Exercise(
        id="ch3.path_patch_at_positions", title="Path patching between two token positions",
        reference="path_patch_at_positions", points=3, difficulty=4, importance=4, minutes=20,
        hints=[
            "The same two runs as path_patch_to_heads; only where the corrupted values go changes. Run 1: every "
            "head pinned to its clean z, the sender's corrupted z only at (prompt i, sender_pos[i]). Run 2: the "
            "receivers' q (k, v) replaced only at (prompt i, receiver_pos[i]).",
            "Pair each prompt with its own position: x[torch.arange(batch), pos, head] is one entry per prompt, "
            "while x[:, pos, head] takes every listed position in every prompt.",
            "A boolean mask of shape (batch, seq, 1, 1), True at (i, sender_pos[i]), turns freeze_heads_except's "
            "output into the position-specific one: torch.where(mask, frozen, clean_cache[hook.name]).",
        ],
    ),
    Exercise(
        id="ch3.mean_ablate_except", title="Mean-ablate everything outside a circuit", reference="mean_ablate_except",
        points=2, difficulty=3, importance=5, minutes=15,
        hints=[
            "Every head NOT in the circuit gets replaced; the circuit's heads run normally.",
            "means[layer] is (seq, head, d_head): one mean per position and head, broadcast over the batch.",
            "One hook on every hook_z: z[:, :, ablated_heads] = means[hook.layer()][:, ablated_heads].",
        ],
    ),
    Exercise(
        id="ch3.attribution_patching", title="Bonus: attribution patching, a gradient estimate of head patching",
        reference="attribution_patching", points=2, difficulty=4, importance=3, minutes=20, bonus=True,
        hints=[
            "Estimate metric(corrupt run with a clean head) - metric(corrupt run) by a first-order Taylor "
            "expansion around the corrupted run.",
            "In a hook, keep z and return a copy that stays in the graph (z.clone(), no detach, so later layers "
            "still read it); torch.autograd.grad(metric, those copies) gives the full gradients at the corrupted "
            "run. Or cache z with a forward hook and its gradient with a backward hook.",
            "Score = sum over batch, positions and d_head of (z_clean - z_corrupt) * grad, per head.",
        ],
    ),
]
