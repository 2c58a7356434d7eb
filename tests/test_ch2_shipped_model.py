"""The measured claims about the shipped chapter-2 model (issue 4), checked on the checkpoint itself."""
from __future__ import annotations

from functools import lru_cache, partial

import pytest
import torch

from circuitlab.ch2 import reference as ref
from circuitlab.ch2.models import shipped_model
from circuitlab.data.repeated import repeated_halves
from circuitlab.models import CHECKPOINT_DIR, read_metadata

HALF_LEN = 20


@lru_cache(maxsize=1)
@torch.no_grad()  # local, so tests that train later in the same process still get gradients
def _measurements() -> dict:
    model = shipped_model()
    tokens = repeated_halves(32, HALF_LEN, 2, model.cfg.d_vocab, model.tokenizer.bos_token_id,
                             torch.Generator().manual_seed(2024))
    induction = ref.induction_scores(model, tokens, HALF_LEN)
    _, cache = model.run_with_cache(tokens, names_filter=lambda n: n.endswith("hook_pattern"))
    previous = ref.prev_attn_score(cache["blocks.0.attn.hook_pattern"])
    return {"model": model, "tokens": tokens, "induction": induction, "previous": previous}


def _half_losses(model, tokens, hooks) -> tuple[float, float]:
    logits = model.run_with_hooks(tokens, fwd_hooks=hooks)
    loss = -ref.token_log_probs(logits, tokens)
    return loss[:, 1:HALF_LEN].mean().item(), loss[:, HALF_LEN + 1:].mean().item()


def test_checkpoint_records_its_recipe_and_results():
    metadata = read_metadata(CHECKPOINT_DIR / "attn_only_2l")
    assert metadata["command"].startswith("python -m circuitlab.ch2.training")
    for key in ("recipe", "final_metrics", "corpus_fingerprint", "training_seconds"):
        assert key in metadata, key


def test_tokenizer_round_trips_text():
    model = shipped_model()
    text = "The with statement wraps a block in a context manager."
    tokens = model.to_tokens(text)
    assert tokens[0, 0].item() == model.tokenizer.bos_token_id
    assert model.to_string(tokens[0, 1:]) == text


def test_a_layer1_head_has_induction_score_at_least_half():
    assert _measurements()["induction"][1].max().item() >= 0.5


def test_previous_token_head_k_composes_with_the_induction_head_above_random():
    m = _measurements()
    model = m["model"]
    induction_head = int(m["induction"][1].argmax())
    previous_head = int(m["previous"].argmax())
    assert m["previous"].max().item() >= 0.5
    score = ref.composition_score(model.OV[0, previous_head], model.QK[1, induction_head].T)
    generator = torch.Generator().manual_seed(0)
    d_model, d_head = model.cfg.d_model, model.cfg.d_head

    def random_factored():
        from transformer_lens import FactoredMatrix
        return FactoredMatrix(torch.randn(d_model, d_head, generator=generator), torch.randn(d_head, d_model, generator=generator))

    baseline = torch.tensor([ref.composition_score(random_factored(), random_factored().T) for _ in range(200)])
    assert score > baseline.quantile(0.99).item()
    assert score > 1.5 * baseline.mean().item()


def _mean_ablate(z, hook, heads: list[int], means: torch.Tensor):
    z = z.clone()
    z[:, :, heads] = means[:, heads]
    return z


@pytest.mark.parametrize("which", ["induction heads", "previous-token head"])
def test_ablating_the_circuit_hurts_the_repeated_half_only(which):
    """Zero-ablating the previous-token head, or mean-ablating the layer-1 induction heads together
    (there are several, and each alone is partly backed up by the others), raises the repeated-half
    loss by more than a nat and changes the first-half loss by less than 0.25 nats."""
    m = _measurements()
    model, tokens = m["model"], m["tokens"]
    clean_first, clean_repeated = _half_losses(model, tokens, [])
    if which == "previous-token head":
        hooks = [("blocks.0.attn.hook_z", partial(ref.ablate_head_hook, head=int(m["previous"].argmax())))]
    else:
        heads = torch.nonzero(m["induction"][1] >= 0.5)[:, 0].tolist()
        _, cache = model.run_with_cache(tokens, names_filter=lambda n: n == "blocks.1.attn.hook_z")
        means = cache["blocks.1.attn.hook_z"].mean(0)
        hooks = [("blocks.1.attn.hook_z", partial(_mean_ablate, heads=heads, means=means))]
    first, repeated = _half_losses(model, tokens, hooks)
    assert repeated - clean_repeated > 1.0, "ablation should raise the repeated-half loss by more than a nat"
    assert abs(first - clean_first) < 0.25, "ablation should barely change the first-half loss"


def _random_composition_baseline(d_model: int, d_head: int, n: int = 1000) -> torch.Tensor:
    from transformer_lens import FactoredMatrix

    generator = torch.Generator().manual_seed(0)

    def random_factored():
        return FactoredMatrix(torch.randn(n, d_model, d_head, generator=generator),
                              torch.randn(n, d_head, d_model, generator=generator))

    write, read = random_factored(), random_factored()
    return (write @ read).norm() / (write.norm() * read.norm())


@torch.no_grad()
def test_k_composition_stands_out_among_the_three_kinds():
    """Section 7: more (writer, reader) pairs K-compose above the random 99th percentile than Q- or V-compose."""
    model = _measurements()["model"]
    threshold = _random_composition_baseline(model.cfg.d_model, model.cfg.d_head).quantile(0.99).item()
    above = {kind: int((ref.composition_scores(model, kind) > threshold).sum()) for kind in "qkv"}
    assert above["k"] > above["q"] and above["k"] > above["v"], above


@torch.no_grad()
def test_ablating_the_previous_token_heads_flattens_the_induction_stripe():
    """Section 7: mean-ablating the layer-0 heads with previous-token score >= 0.4 more than halves the mean
    induction score of the layer-1 induction heads; ablating every other layer-0 head costs less than half
    as much."""
    m = _measurements()
    model, tokens, induction, previous = m["model"], m["tokens"], m["induction"], m["previous"]
    previous_heads = torch.nonzero(previous >= 0.4)[:, 0].tolist()
    others = [h for h in range(model.cfg.n_heads) if h not in previous_heads]
    induction_heads = torch.nonzero(induction[1] >= 0.5)[:, 0].tolist()
    assert previous_heads and induction_heads
    clean = induction[1, induction_heads].mean().item()
    without_previous = ref.induction_scores_ablated(model, tokens, HALF_LEN, previous_heads)[induction_heads].mean().item()
    without_others = ref.induction_scores_ablated(model, tokens, HALF_LEN, others)[induction_heads].mean().item()
    assert without_previous < 0.5 * clean
    assert clean - without_others < 0.5 * (clean - without_previous)


@torch.no_grad()
def test_induction_heads_copy_and_match_through_the_previous_token_head():
    """Section 7: every head with induction score >= 0.5 has an eigenvalue copying score above 0.9, and its
    token QK circuit through the previous-token head has its diagonal as the row maximum far above chance."""
    m = _measurements()
    model, induction, previous = m["model"], m["induction"], m["previous"]
    ordinary = torch.arange(2, model.cfg.d_vocab)
    prev_head = int(previous.argmax())
    for head in torch.nonzero(induction[1] >= 0.5)[:, 0].tolist():
        assert ref.copying_score(model.W_E @ model.OV[1, head] @ model.W_U) > 0.9
        circuit = ref.induction_qk_circuit(model, prev_head, head).AB[ordinary][:, ordinary]
        top1 = (circuit.argmax(-1) == torch.arange(len(ordinary))).float().mean().item()
        assert top1 > 100 / len(ordinary)


@torch.no_grad()
def test_the_previous_token_heads_positional_circuit_finds_the_previous_position():
    """Section 7: from W_pos alone (scaled by layer 0's mean LayerNorm scale), the previous-token head puts more
    than twice the layer-0 median of its attention on the previous position."""
    m = _measurements()
    model, tokens, previous = m["model"], m["tokens"], m["previous"]
    _, cache = model.run_with_cache(tokens, names_filter="blocks.0.ln1.hook_scale")
    scale = cache["blocks.0.ln1.hook_scale"].mean().item()
    queries = torch.arange(1, model.cfg.n_ctx)
    on_previous = torch.stack([ref.positional_pattern(model, 0, h, scale)[queries, queries - 1].mean()
                               for h in range(model.cfg.n_heads)])
    assert on_previous[int(previous.argmax())] > 2 * on_previous.median()
