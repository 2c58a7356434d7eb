"""Objects the graders hand to a learner's code to watch how it uses them.

They live here, outside the graders, because sealed grading sends what a grader passes to the
student's kernel by pickling it: a pickled object names its class, and the kernel must be able to
import that class (the graders themselves are not visible there). What they record comes back as
plain data (attributes of plain types, a module's buffers), never as code.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn


# --------------------------------------------------------------------------- ch1.kv_cache


def _record_positions(module: nn.Module, inputs: Any, output: Tensor) -> None:
    calls = int(module.seen_calls)
    if calls < module.seen_positions.numel():
        module.seen_positions[calls] = output.shape[1]
    module.seen_calls += 1


def watch_positions(module: nn.Module, capacity: int = 64) -> Any:
    """Record how many positions each forward pass of ``module`` sees (in buffers, which travel as data).

    Returns the hook's handle; read the record with :func:`positions_seen`, then call :func:`unwatch`."""
    module.register_buffer("seen_positions", torch.zeros(capacity, dtype=torch.long), persistent=True)
    module.register_buffer("seen_calls", torch.zeros((), dtype=torch.long), persistent=True)
    return module.register_forward_hook(_record_positions)


def positions_seen(module: nn.Module) -> list[int]:
    calls = min(int(module.seen_calls), module.seen_positions.numel())
    return [int(n) for n in module.seen_positions[:calls]]


def unwatch(module: nn.Module, handle: Any) -> None:
    handle.remove()
    for name in ("seen_positions", "seen_calls"):
        module._buffers.pop(name, None)


# --------------------------------------------------------------------------- ch4.train_model


def grokking_logits(model: nn.Module, tokens: Tensor) -> Tensor:
    """The logits_fn chapter 4's loop is given: the logits at the last position."""
    from circuitlab.ch4.model import last_position_logits

    return last_position_logits(model, tokens)


class WeightRecorder:
    """A logits_fn that also records the model's weights each time they have changed since its last call:
    the sequence of weights the loop stepped through, whatever else it evaluates in between."""

    def __init__(self) -> None:
        self.states: list[Tensor] = []

    def __call__(self, model: nn.Module, tokens: Tensor) -> Tensor:
        flat = torch.cat([p.detach().flatten() for p in model.parameters()]).clone()
        if not self.states or not torch.equal(self.states[-1], flat):
            self.states.append(flat)
        return grokking_logits(model, tokens)


# --------------------------------------------------------------------------- ch5.train_toy_model


@dataclass
class BatchLossRecorder:
    """Hands out fixed batches and watches how a training loop uses batch_fn and loss_fn."""

    model: nn.Module
    batches: list
    batch_sizes: list = field(default_factory=list)
    loss_calls: int = 0
    stale_at: list = field(default_factory=list)  # loss calls at whose backward old gradients were present

    def batch_fn(self, probability: Tensor, batch_size: int) -> Tensor:
        from circuitlab.ch5 import reference as ref

        self.batch_sizes.append(batch_size)
        index = len(self.batch_sizes) - 1
        if index < len(self.batches):
            return self.batches[index].clone()
        return ref.generate_batch(probability, batch_size)

    def loss_fn(self, output: Tensor, features: Tensor, importance: Tensor) -> Tensor:
        from circuitlab.ch5 import reference as ref

        call = self.loss_calls
        self.loss_calls += 1
        loss = ref.importance_weighted_loss(output, features, importance)
        if loss.requires_grad:
            loss.register_hook(lambda grad: self._check_cleared(call, grad))
        return loss

    def _check_cleared(self, call: int, grad: Tensor) -> Tensor:
        # Runs during backward, before this step's gradients reach the parameters.
        if any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in self.model.parameters()):
            self.stale_at.append(call)
        return grad
