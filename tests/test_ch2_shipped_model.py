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
