"""Grader for ch4.train_model: a short run on a tiny model, compared with reference runs (and known mistakes)."""
import copy
from functools import lru_cache

import torch

from circuitlab.threads import using as using_threads
from circuitlab.grading.testing import expect, expect_close, expect_tensor, run_learner, submitted

P, EPOCHS, EVAL_EVERY = 11, 20, 5
SETTINGS = dict(lr=1e-2, weight_decay=1.0, warmup_steps=5, eval_every=EVAL_EVERY)
KEYS = ("epoch", "train_loss", "test_loss", "test_accuracy", "weight_norm")


@lru_cache(maxsize=None)
def _initial_model():
    from circuitlab.ch4.model import make_grokking_model

    return make_grokking_model(p=P, seed=0, d_model=32, n_heads=2, d_mlp=64)


@lru_cache(maxsize=None)
def _data():
    from circuitlab.ch4.reference import make_dataset

    return make_dataset(P, 0.5, seed=0)


def _logits_fn(model, tokens):
    from circuitlab.ch4.model import last_position_logits

    return last_position_logits(model, tokens)


def _one_thread():
    # Twenty steps of a tiny model: a second thread only adds synchronisation (and waiting, on a busy machine).
    return using_threads(1)


@lru_cache(maxsize=None)
def _variant_run(warmup="right", decoupled=True, weight_decay=1.0, train_rows="train", zero_grad=True):
    """The reference loop with one thing changed; returns the trained model's logits on every pair."""
    model = copy.deepcopy(_initial_model())
    tokens, labels, train, _ = _data()
    rows = train if train_rows == "train" else torch.arange(len(labels))
    params = [p for p in model.parameters() if p.requires_grad]
    if decoupled:
        optimizer = torch.optim.AdamW(params, lr=SETTINGS["lr"], weight_decay=weight_decay, betas=(0.9, 0.98))
    else:
        optimizer = torch.optim.Adam(params, lr=SETTINGS["lr"], weight_decay=weight_decay, betas=(0.9, 0.98))
    shift = {"right": 1, "late": 0}.get(warmup, None)
    factor = (lambda s: min(1.0, (s + shift) / SETTINGS["warmup_steps"])) if shift is not None else (lambda s: 1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    with _one_thread():
        _variant_steps(model, tokens, labels, rows, optimizer, scheduler, zero_grad)
    with torch.no_grad():
        return _logits_fn(model, tokens)[:, -1]


def _variant_steps(model, tokens, labels, rows, optimizer, scheduler, zero_grad):
    from circuitlab.ch4.reference import last_position_loss

    for _ in range(EPOCHS):
        loss = last_position_loss(_logits_fn(model, tokens[rows]), labels[rows])
        if zero_grad:
            optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()


# The submission's run, shared by the two checks of one grading (the first check always runs it afresh;
# the submission is kept so that its id cannot be reused by another object).
_LAST_RUN: dict = {}


def _learner_run(fresh: bool = False):
    learner_fn = submitted()
    if not fresh and _LAST_RUN.get("fn") is learner_fn:
        return _LAST_RUN["result"]
    model = copy.deepcopy(_initial_model())
    tokens, labels, train, test = _data()
    with _one_thread():
        history = run_learner(learner_fn, model, tokens, labels, train, test, EPOCHS, _logits_fn, **SETTINGS,
                              time_limit=30.0)
    with torch.no_grad():
        logits = _logits_fn(model, tokens)[:, -1]
    _LAST_RUN.clear()
    _LAST_RUN.update(fn=learner_fn, result=(model, history, logits))
    return model, history, logits


def test_trained_model_matches_reference():
    """after 20 epochs the model computes what the reference loop's model computes"""
    _, _, logits = _learner_run(fresh=True)
    mistakes = {
        "Your model trained on every pair: the test pairs leaked into training. Index the training rows "
        "(tokens[train_indices], labels[train_indices]) for the loss.": _variant_run(train_rows="all"),
        "Your warmup is missing: step s should use lr * min(1, (s + 1) / warmup_steps) (a LambdaLR scheduler, "
        "stepped after each optimizer step).": _variant_run(warmup="none"),
        "Your warmup starts one step late: step s (from 0) should use lr * min(1, (s + 1) / warmup_steps); "
        "yours gives the first step a learning rate of 0.": _variant_run(warmup="late"),
        "You used Adam with weight_decay, which adds an L2 term to the gradient; use AdamW, whose weight decay "
        "shrinks the weights directly (and is what makes the model grok).": _variant_run(decoupled=False),
        "No weight decay was applied: pass weight_decay to AdamW.": _variant_run(weight_decay=0.0),
        "Gradients accumulate across epochs: call optimizer.zero_grad() every step.": _variant_run(zero_grad=False),
    }
    expect_close(logits, _variant_run(), atol=2e-3, rtol=1e-3, what="the trained model's logits",
                 mistakes=mistakes, hint="Check the optimiser (AdamW, betas (0.9, 0.98)), the warmup and the "
                 "order zero_grad, backward, step, scheduler.step.")


def test_stops_when_asked():
    """with stop_at_test_accuracy, training stops at the first evaluation that reaches it"""
    model = copy.deepcopy(_initial_model())
    tokens, labels, train, test = _data()
    with _one_thread():
        history = run_learner(submitted(), model, tokens, labels, train, test, EPOCHS, _logits_fn, **SETTINGS,
                              stop_at_test_accuracy=0.0, time_limit=30.0)
    epochs = list(history.get("epoch", [])) if isinstance(history, dict) else history
    expect(epochs == [EVAL_EVERY],
           "With stop_at_test_accuracy=0.0 every evaluation reaches the target, so training should stop right "
           f"after the first one (history['epoch'] == [{EVAL_EVERY}]); yours recorded {epochs!r}.")


def test_history():
    """the history records epoch, train and test loss, test accuracy and weight norm every eval_every epochs"""
    model, history, _ = _learner_run()
    expect(isinstance(history, dict), f"Return the history as a dict of lists, not {type(history).__name__}.")
    missing = [k for k in KEYS if k not in history]
    expect(not missing, f"The history lacks the keys {missing}.")
    expect(list(history["epoch"]) == list(range(EVAL_EVERY, EPOCHS + 1, EVAL_EVERY)),
           f"With n_epochs={EPOCHS} and eval_every={EVAL_EVERY}, record at epochs {list(range(EVAL_EVERY, EPOCHS + 1, EVAL_EVERY))}; "
           f"yours recorded at {list(history['epoch'])}.")
    from circuitlab.ch4.reference import last_position_loss

    tokens, labels, train, test = _data()
    with torch.no_grad():
        final_test = float(last_position_loss(_logits_fn(model, tokens[test]), labels[test]))
        final_train = float(last_position_loss(_logits_fn(model, tokens[train]), labels[train]))
        final_accuracy = float((_logits_fn(model, tokens[test])[:, -1].argmax(-1) == labels[test]).float().mean())
        norm = float(torch.cat([p.detach().flatten() for p in model.parameters()]).norm())
    last = {k: float(history[k][-1]) for k in KEYS[1:]}
    expect(abs(last["train_loss"] - final_train) <= 1e-4 * max(1.0, final_train),
           "The last train_loss entry should be the training loss of the model after the last epoch "
           f"(expected {final_train:.5g}, got {last['train_loss']:.5g}).")
    expect(abs(last["test_loss"] - final_test) <= 1e-4 * max(1.0, final_test),
           f"The last test_loss entry should be the loss on the test rows after the last epoch (expected "
           f"{final_test:.5g}, got {last['test_loss']:.5g}). Evaluate on tokens[test_indices].")
    expect(abs(last["test_accuracy"] - final_accuracy) <= 1e-6,
           f"The last test_accuracy entry should be the fraction of test rows whose largest logit is the label "
           f"(expected {final_accuracy:.4g}, got {last['test_accuracy']:.4g}).")
    expect(abs(last["weight_norm"] - norm) <= 1e-3 * norm,
           f"weight_norm should be the L2 norm of all parameters together, sqrt(sum of squares) (expected "
           f"{norm:.5g}, got {last['weight_norm']:.5g}).")
