"""Chapter 1: the training script runs end to end on a tiny setting, and training lowers the loss."""
import math

import torch

from circuitlab.ch1 import reference as ref
from circuitlab.ch1.lm_data import random_batch, token_splits, windows
from circuitlab.ch1.train_lm import cosine_schedule, main


def test_training_script_runs_on_a_tiny_setting():
    results = main(["--steps", "3", "--no-save"])
    assert math.isfinite(results["validation_loss"])
    assert results["validation_loss"] < math.log(2048) + 0.5
    assert results["train_tokens"] > 10 * results["validation_tokens"] > 0


def test_a_few_steps_lower_the_validation_loss():
    torch.manual_seed(0)
    cfg = ref.TransformerConfig(d_model=32, n_layers=1, n_heads=2, d_head=16, d_mlp=64, d_vocab=2048, n_ctx=32)
    model = ref.DemoTransformer(cfg)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    splits = token_splits()
    held_out = windows(splits.validation, 32)[:16]
    with torch.no_grad():
        before = ref.next_token_loss(model(held_out), held_out).item()
    generator = torch.Generator().manual_seed(0)
    for _ in range(30):
        ref.train_step(model, optimizer, random_batch(splits.train, 8, 32, generator))
    with torch.no_grad():
        after = ref.next_token_loss(model(held_out), held_out).item()
    assert after < before - 0.5, (before, after)


def test_schedule_warms_up_then_decays():
    multiplier = cosine_schedule(100, warmup_steps=10)
    assert multiplier(0) < multiplier(5) < multiplier(9) <= 1.0
    assert multiplier(9) > multiplier(50) > multiplier(90) > multiplier(100)
    assert abs(multiplier(100) - 0.1) < 1e-9


def test_windows_and_batches_have_the_right_shape():
    stream = torch.arange(100)
    assert windows(stream, 30).shape == (3, 30)
    batch = random_batch(stream, 4, 10, torch.Generator().manual_seed(0))
    assert batch.shape == (4, 10) and torch.equal(batch[:, 1:] - batch[:, :-1], torch.ones(4, 9, dtype=torch.long))
