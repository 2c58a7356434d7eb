"""Mutants and alternatives for ch4.train_model."""
import torch

from circuitlab.grading.meta import alternative, mutant


def _loss(logits, labels):
    return -logits[:, -1].double().log_softmax(-1).gather(-1, labels[:, None]).mean()


def _loop(model, tokens, labels, train_indices, test_indices, n_epochs, logits_fn, lr, weight_decay,
          warmup_steps, eval_every, *, optimizer_cls=torch.optim.AdamW, warmup_shift=1, use_warmup=True,
          stop_at_test_accuracy=None, rows="train", zero_grad=True):
    optimizer = optimizer_cls(model.parameters(), lr=lr, weight_decay=weight_decay, betas=(0.9, 0.98))
    factor = (lambda s: min(1.0, (s + warmup_shift) / warmup_steps)) if use_warmup else (lambda s: 1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    fit = train_indices if rows == "train" else torch.arange(len(labels))
    history = {k: [] for k in ("epoch", "train_loss", "test_loss", "test_accuracy", "weight_norm")}
    for epoch in range(1, n_epochs + 1):
        loss = _loss(logits_fn(model, tokens[fit]), labels[fit])
        if zero_grad:
            optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        if epoch % eval_every == 0:
            with torch.no_grad():
                test_logits = logits_fn(model, tokens[test_indices])
                history["epoch"].append(epoch)
                history["train_loss"].append(_loss(logits_fn(model, tokens[train_indices]), labels[train_indices]).item())
                history["test_loss"].append(_loss(test_logits, labels[test_indices]).item())
                history["test_accuracy"].append((test_logits[:, -1].argmax(-1) == labels[test_indices]).float().mean().item())
                history["weight_norm"].append(torch.cat([p.flatten() for p in model.parameters()]).norm().item())
            if stop_at_test_accuracy is not None and history["test_accuracy"][-1] >= stop_at_test_accuracy:
                break
    return history


@mutant(hint="test pairs leaked")
def trains_on_everything(*args, **kwargs):
    return _loop(*args, **kwargs, rows="all")


@mutant(hint="use AdamW")
def adam_with_l2(*args, **kwargs):
    return _loop(*args, **kwargs, optimizer_cls=torch.optim.Adam)


@mutant(hint="warmup is missing")
def no_warmup(*args, **kwargs):
    return _loop(*args, **kwargs, use_warmup=False)


@mutant(hint="one step late")
def warmup_late(*args, **kwargs):
    return _loop(*args, **kwargs, warmup_shift=0)


@mutant(hint="zero_grad")
def accumulates_gradients(*args, **kwargs):
    return _loop(*args, **kwargs, zero_grad=False)


@mutant(hint="stop_at_test_accuracy")
def never_stops(*args, stop_at_test_accuracy=None, **kwargs):
    return _loop(*args, **kwargs)


@mutant(hint="history['test_loss']")
def test_loss_on_train(*args, **kwargs):
    history = _loop(*args, **kwargs)
    history["test_loss"] = list(history["train_loss"])
    return history


@alternative
def manual_learning_rate(model, tokens, labels, train_indices, test_indices, n_epochs, logits_fn, lr=2e-2,
                         weight_decay=1.0, warmup_steps=10, eval_every=10, stop_at_test_accuracy=None):
    """Sets the learning rate by hand instead of with a scheduler."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, betas=(0.9, 0.98))
    train_x, train_y = tokens[train_indices], labels[train_indices]
    test_x, test_y = tokens[test_indices], labels[test_indices]
    history = {"epoch": [], "train_loss": [], "test_loss": [], "test_accuracy": [], "weight_norm": []}
    for step in range(n_epochs):
        for group in optimizer.param_groups:
            group["lr"] = lr * min(1.0, (step + 1) / warmup_steps)
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(logits_fn(model, train_x)[:, -1].double(), train_y).backward()
        optimizer.step()
        if (step + 1) % eval_every == 0:
            with torch.no_grad():
                test_logits = logits_fn(model, test_x)[:, -1].double()
                history["epoch"].append(step + 1)
                history["train_loss"].append(
                    torch.nn.functional.cross_entropy(logits_fn(model, train_x)[:, -1].double(), train_y).item())
                history["test_loss"].append(torch.nn.functional.cross_entropy(test_logits, test_y).item())
                history["test_accuracy"].append((test_logits.argmax(-1) == test_y).double().mean().item())
                history["weight_norm"].append(sum(p.pow(2).sum() for p in model.parameters()).sqrt().item())
                if stop_at_test_accuracy is not None and history["test_accuracy"][-1] >= stop_at_test_accuracy:
                    return history
    return history


@mutant(hint="Python floats")
def stores_tensors(*args, **kwargs):
    history = _loop(*args, **kwargs)
    history["train_loss"] = [torch.tensor(v, dtype=torch.float64) for v in history["train_loss"]]
    return history


@mutant(hint="leaked into the first step")
def zero_grad_after_the_step(model, tokens, labels, train_indices, test_indices, n_epochs, logits_fn, lr=2e-2,
                             weight_decay=1.0, warmup_steps=10, eval_every=10, stop_at_test_accuracy=None):
    # The usual order on a fresh model, but gradients left on the model reach the first step.
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, betas=(0.9, 0.98))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / warmup_steps))
    history = {k: [] for k in ("epoch", "train_loss", "test_loss", "test_accuracy", "weight_norm")}
    for epoch in range(1, n_epochs + 1):
        _loss(logits_fn(model, tokens[train_indices]), labels[train_indices]).backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        if epoch % eval_every == 0:
            with torch.no_grad():
                test_logits = logits_fn(model, tokens[test_indices])
                history["epoch"].append(epoch)
                history["train_loss"].append(_loss(logits_fn(model, tokens[train_indices]), labels[train_indices]).item())
                history["test_loss"].append(_loss(test_logits, labels[test_indices]).item())
                history["test_accuracy"].append((test_logits[:, -1].argmax(-1) == labels[test_indices]).float().mean().item())
                history["weight_norm"].append(torch.cat([p.flatten() for p in model.parameters()]).norm().item())
    return history


@mutant(hint="leave the reference loop's path at step")
def default_betas(model, tokens, labels, train_indices, test_indices, n_epochs, logits_fn, lr=2e-2,
                 weight_decay=1.0, warmup_steps=10, eval_every=10, stop_at_test_accuracy=None):
    """AdamW's default betas (0.9, 0.999): the first step is the same, the later ones drift."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / warmup_steps))
    history = {k: [] for k in ("epoch", "train_loss", "test_loss", "test_accuracy", "weight_norm")}
    for epoch in range(1, n_epochs + 1):
        optimizer.zero_grad()
        _loss(logits_fn(model, tokens[train_indices]), labels[train_indices]).backward()
        optimizer.step()
        scheduler.step()
        if epoch % eval_every == 0:
            with torch.no_grad():
                test_logits = logits_fn(model, tokens[test_indices])
                history["epoch"].append(epoch)
                history["train_loss"].append(_loss(logits_fn(model, tokens[train_indices]), labels[train_indices]).item())
                history["test_loss"].append(_loss(test_logits, labels[test_indices]).item())
                history["test_accuracy"].append((test_logits[:, -1].argmax(-1) == labels[test_indices]).float().mean().item())
                history["weight_norm"].append(torch.cat([p.flatten() for p in model.parameters()]).norm().item())
    return history


@mutant(hint="history['weight_norm']")
def squared_weight_norm(*args, **kwargs):
    history = _loop(*args, **kwargs)
    history["weight_norm"] = [v ** 2 for v in history["weight_norm"]]
    return history
