"""Grader for ch0.cross_entropy."""
import pytest
import torch
import torch.nn.functional as F

from circuitlab.ch0.grading_support import (
    expect_gradient_like_torch, expect_refuses_dtype, magnitude_atol, naive_logsumexp,
)
from circuitlab.grading.testing import expect_close, expect_tensor, fail, run_learner, seeded, submitted

NEG_INF = float("-inf")


def _torch_loss(logits, targets, reduction="mean"):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction=reduction)


def _picked(values, targets):
    return values.gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def _mistakes(logits, targets):
    log_probs = torch.log_softmax(logits, -1)
    per_position = -_picked(log_probs, targets)
    n_classes = logits.shape[-1]
    unstable = {}
    naive = naive_logsumexp(logits, -1)
    if not torch.isfinite(naive).all():
        unstable["Not stable: exp(logits) over- or underflowed (logits near ±1000), so the loss is inf or NaN. "
                 "Use a log_softmax built on a max-shifted logsumexp."] = \
            (naive - _picked(logits, targets)).mean()
        with torch.no_grad():
            by_hand = logits.exp() / logits.exp().sum(-1, keepdim=True)
        unstable["Not stable: the softmax as it reads, exp(x) / sum(exp(x)), gives NaN once exp over- or "
                 "underflows (logits near ±1000). Use a log_softmax built on a max-shifted "
                 "logsumexp."] = -_picked(by_hand.log(), targets).mean()
    mistakes = {}
    if targets.numel() > 1:
        mistakes["You summed the losses; cross-entropy takes the mean over every position."] = per_position.sum()
    if n_classes > 1:
        mistakes["You averaged over the classes too (the mean of every log-probability); pick only each "
                 "target's entry, then average over positions."] = -log_probs.mean()
        mistakes["You left out log_softmax: the loss is minus the log-probability of the target, not minus its "
                 "logit."] = -_picked(logits, targets).mean()
        mistakes["You averaged probabilities, not log-probabilities: take the log (log_softmax) before "
                 "picking the target's entry."] = -_picked(log_probs.exp(), targets).mean()
    mistakes["The sign is flipped: the loss is minus the mean log-probability of the targets (it is >= 0)."] = \
        -per_position.mean()
    if logits.ndim == 2 and targets.shape[0] > 1:
        mistakes["log_probs[:, targets] picks every target for every row (an N x N table); pick one per row: "
                 "log_probs[torch.arange(N), targets] or gather."] = -log_probs[:, targets].mean()
    # An infinite loss (a masked class read where it should not be) could come from several of these mistakes:
    # only a finite candidate is specific enough to name.
    return {**unstable, **{hint: value for hint, value in mistakes.items() if torch.isfinite(value).all()}}


def _grade(logits, targets, where):
    out = run_learner(submitted(), logits, targets)
    what = f"cross_entropy output ({where})"
    if isinstance(out, float):
        fail(f"{what} is a Python float; return the 0-dim tensor itself, without .item(): .item() cuts the loss "
             "from the autograd graph, so loss.backward() could not reach the logits.")
    if isinstance(out, torch.Tensor) and out.shape == targets.shape and targets.ndim > 0:
        fail(f"{what} has shape {tuple(out.shape)}: one loss per position. Return their mean, a 0-dim tensor.")
    expect_tensor(out, what=what)
    if out.ndim != 0:
        fail(f"{what} has shape {tuple(out.shape)}; the loss is a 0-dim tensor (the mean over every position).")
    expected = _torch_loss(logits, targets)
    expect_close(out, expected, what=what, mistakes=_mistakes(logits, targets), atol=magnitude_atol(logits),
                 rtol=1e-5)
    expect_tensor(out, dtype=logits.dtype, what=what)


def _inputs(shape, dtype, seed, scale=2.0):
    with seeded(seed):
        logits = scale * torch.randn(*shape, dtype=dtype)
        targets = torch.randint(0, shape[-1], shape[:-1])
    return logits, targets


# logits shape and dtype: (N, C), batch 1, (batch, seq, vocab), a single class (loss 0), float64.
SHAPES = [((5, 7), torch.float32), ((1, 3), torch.float32), ((2, 4, 6), torch.float32), ((4, 1), torch.float32),
          ((1, 1, 5), torch.float64), ((3, 2, 4), torch.float64), ((6, 6), torch.float32)]


@pytest.mark.parametrize("shape, dtype", SHAPES)
def test_matches_torch(shape, dtype):
    """a 0-dim tensor in logits's dtype, equal to F.cross_entropy over every position"""
    logits, targets = _inputs(shape, dtype, seed=sum(shape))
    _grade(logits, targets, f"logits of shape {shape}, {dtype}, targets of shape {tuple(targets.shape)}")


@pytest.mark.parametrize("centre", [1000.0, -1000.0])
def test_large_logits(centre):
    """stays finite and right for logits near 1000 and near -1000, ties included"""
    logits, targets = _inputs((4, 5), torch.float32, seed=21, scale=3.0)
    logits = logits + centre
    logits[0] = centre  # a tie across every class
    _grade(logits, targets, f"logits of shape (4, 5) near {centre:g}, row 0 all equal to {centre:g}")


def test_far_apart_logits():
    """a target 1000 below the top logit costs about 1000 nats, not inf"""
    logits = torch.tensor([[1000.0, 0.0, 990.0], [3.0, 1.0, 2.0]])
    targets = torch.tensor([1, 0])
    _grade(logits, targets, "logits [[1000, 0, 990], [3, 1, 2]], targets [1, 0]")


def test_masked_classes():
    """-inf logits on classes other than the target are allowed"""
    logits, targets = _inputs((3, 6), torch.float32, seed=22)
    for row, target in enumerate(targets.tolist()):
        logits[row, (target + 1) % 6] = NEG_INF
        logits[row, (target + 3) % 6] = NEG_INF
    _grade(logits, targets, "logits of shape (3, 6) with two -inf classes per row, none of them a target")


@pytest.mark.parametrize("dtype", [torch.int32, torch.float32], ids=["int32", "float"])
def test_refuses_other_target_dtypes(dtype):
    """targets that are not torch.long raise an error naming their dtype"""
    logits, targets = _inputs((3, 4), torch.float32, seed=23)
    expect_refuses_dtype(submitted(), (logits, targets.to(dtype)), dtype, what="cross_entropy")


@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 7)])
def test_gradient(shape):
    """loss.backward() reaches the logits with F.cross_entropy's gradient"""
    logits, targets = _inputs(shape, torch.float32, seed=24)
    expect_gradient_like_torch(submitted(), _torch_loss, logits, targets, what="cross_entropy",
                               context=f"logits of shape {shape}")
