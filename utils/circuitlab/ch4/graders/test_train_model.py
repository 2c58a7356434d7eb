"""Grader for ch4.train_model: a short run on a tiny model, compared with reference runs (and known mistakes)."""
import copy
from functools import lru_cache

import torch

from circuitlab.threads import using as using_threads
from circuitlab.grading.lent import WeightRecorder, grokking_logits as _logits_fn
from circuitlab.grading.testing import expect, expect_close, fail, run_learner, seeded, submitted

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


def _one_thread():
    # Twenty steps of a tiny model: a second thread only adds synchronisation (and waiting, on a busy machine).
    return using_threads(1)


@lru_cache(maxsize=None)
def _variant_run(warmup="right", decoupled=True, weight_decay=1.0, train_rows="train", zero_grad=True,
                 leftover=False):
    """The reference loop with one thing changed; returns the trained model's logits on every pair."""
    model = copy.deepcopy(_initial_model())
    if leftover:
        _with_leftover_gradients(model)
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
        _variant_steps(model, tokens, labels, rows, optimizer, scheduler, zero_grad, zero_after=leftover)
    with torch.no_grad():
        return _logits_fn(model, tokens)[:, -1]


def _variant_steps(model, tokens, labels, rows, optimizer, scheduler, zero_grad, zero_after=False):
    from circuitlab.ch4.reference import last_position_loss

    for _ in range(EPOCHS):
        loss = last_position_loss(_logits_fn(model, tokens[rows]), labels[rows])
        if zero_grad and not zero_after:
            optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        if zero_after:
            optimizer.zero_grad()


def _with_leftover_gradients(model):
    """The model as a notebook may hand it over: gradients left on it from earlier work (they must not leak
    into the first step)."""
    with seeded(5):
        for parameter in model.parameters():
            if parameter.requires_grad:
                parameter.grad = torch.randn_like(parameter)
    return model


def _run(fn, what: str):
    model = _with_leftover_gradients(copy.deepcopy(_initial_model()))
    tokens, labels, train, test = _data()
    recorder = WeightRecorder()
    with _one_thread():
        history = run_learner(fn, model, tokens, labels, train, test, EPOCHS, recorder, **SETTINGS,
                              time_limit=30.0, what=what)
    final = torch.cat([p.detach().flatten() for p in model.parameters()]).clone()
    if not recorder.states or not torch.equal(recorder.states[-1], final):
        recorder.states.append(final)
    with torch.no_grad():
        logits = _logits_fn(model, tokens)[:, -1]
    return model, history, logits, recorder.states


@lru_cache(maxsize=None)
def _reference_run():
    from circuitlab.ch4.reference import train_model

    return _run(train_model, "the reference loop")


# The submission's run, shared by the checks of one grading (the first check always runs it afresh;
# the submission is kept so that its id cannot be reused by another object).
_LAST_RUN: dict = {}


def _learner_run(fresh: bool = False):
    learner_fn = submitted()
    if not fresh and _LAST_RUN.get("fn") is learner_fn:
        return _LAST_RUN["result"]
    result = _run(learner_fn, f"your train_model ({EPOCHS} epochs of a 1-layer model, p={P}, seed 0)")
    _LAST_RUN.clear()
    _LAST_RUN.update(fn=learner_fn, result=result)
    return result


def test_trained_model_matches_reference():
    """after 20 epochs the model computes what the reference loop's model computes"""
    _, _, logits, _ = _learner_run(fresh=True)
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
    mistakes["The gradients the model arrived with leaked into the first step: zero the gradients before each "
             "backward (optimizer.zero_grad() first in the epoch), not only after the step."] = _variant_run(
                 leftover=True)
    expect_close(logits, _reference_run()[2], atol=1e-5, rtol=1e-4, what="the trained model's logits",
                 mistakes=mistakes, hint="Check the optimiser (AdamW, betas (0.9, 0.98)), the warmup and the "
                 "order zero_grad, backward, step, scheduler.step.")


def test_steps_match_reference():
    """step by step, the weights follow the reference loop's (same seed, same data)"""
    *_, states = _learner_run()
    *_, want = _reference_run()
    for step, (mine, theirs) in enumerate(zip(states, want)):
        gap = float((mine - theirs).norm() / theirs.norm())
        if gap > 1e-5:
            before = "the starting weights" if step == 0 else f"the first {step} step{'s' if step > 1 else ''}"
            fail(f"Your weights leave the reference loop's path at step {step + 1}: up to {before} they agree, "
                 f"then they differ by {gap:.2g} (relative L2 norm). Every epoch should be one AdamW step on the "
                 "training rows, with the learning rate of that step.")
    expect(len(states) == len(want),
           f"Your loop went through {len(states) - 1} different sets of weights; the reference, one step per epoch "
           f"for {EPOCHS} epochs, goes through {len(want) - 1}. Take exactly one optimiser step per epoch.")


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
    model, history, _, _ = _learner_run()
    _, want, _, _ = _reference_run()
    expect(isinstance(history, dict), f"Return the history as a dict of lists, not {type(history).__name__}.")
    missing = [k for k in KEYS if k not in history]
    expect(not missing, f"The history lacks the keys {missing}.")
    expect(list(history["epoch"]) == list(range(EVAL_EVERY, EPOCHS + 1, EVAL_EVERY)),
           f"With n_epochs={EPOCHS} and eval_every={EVAL_EVERY}, record at epochs {list(range(EVAL_EVERY, EPOCHS + 1, EVAL_EVERY))}; "
           f"yours recorded at {list(history['epoch'])}.")
    for key in KEYS:
        wrong = [v for v in history[key] if not isinstance(v, (int, float)) or isinstance(v, bool)
                 or (key == "epoch" and not isinstance(v, int))]
        if wrong:
            kind = "Python ints" if key == "epoch" else "Python floats"
            fail(f"history[{key!r}] should hold {kind}; it holds {type(wrong[0]).__name__} "
                 f"({wrong[0]!r:.60}). Append loss.item() (a tensor would also keep its autograd graph alive).")
    meaning = {
        "train_loss": "the loss on the training rows after the update",
        "test_loss": "the loss on the test rows (tokens[test_indices]) after the update",
        "test_accuracy": "the fraction of test rows whose largest last-position logit is the label",
        "weight_norm": "the L2 norm of all parameters together, sqrt(sum of squares)",
    }
    for key in KEYS[1:]:
        for i, (mine, theirs) in enumerate(zip(history[key], want[key])):
            # Relative: late in training losses are tiny, and an absolute tolerance would accept anything.
            if abs(mine - theirs) > 1e-5 * abs(theirs) + 1e-12:
                fail(f"history[{key!r}][{i}] (epoch {want['epoch'][i]}) is {mine:.7g}; the reference loop records "
                     f"{theirs:.7g}. It should be {meaning[key]}.")
