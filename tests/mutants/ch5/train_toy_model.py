"""Mutants and alternatives for ch5.train_toy_model."""
import torch

from circuitlab.ch5.reference import generate_batch, importance_weighted_loss
from circuitlab.grading.meta import alternative, mutant


@mutant(hint="parameters did not change")
def never_steps(model, probability, importance, steps=2000, batch_size=512, lr=3e-3,
                batch_fn=generate_batch, loss_fn=importance_weighted_loss, progress=False):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        features = batch_fn(probability, batch_size)
        loss = loss_fn(model(features), features, importance)
        optimizer.zero_grad()
        loss.backward()
        losses.append(loss.item())
    return losses


@mutant(hint="once per step")
def one_batch_for_all_steps(model, probability, importance, steps=2000, batch_size=512, lr=3e-3,
                            batch_fn=generate_batch, loss_fn=importance_weighted_loss, progress=False):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    features = batch_fn(probability, batch_size)
    losses = []
    for _ in range(steps):
        loss = loss_fn(model(features), features, importance)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@mutant(hint="Gradients were not zeroed")
def no_zero_grad(model, probability, importance, steps=2000, batch_size=512, lr=3e-3,
                 batch_fn=generate_batch, loss_fn=importance_weighted_loss, progress=False):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        features = batch_fn(probability, batch_size)
        loss = loss_fn(model(features), features, importance)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@mutant(hint="loss went up")
def gradient_ascent(model, probability, importance, steps=2000, batch_size=512, lr=3e-3,
                    batch_fn=generate_batch, loss_fn=importance_weighted_loss, progress=False):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        features = batch_fn(probability, batch_size)
        loss = loss_fn(model(features), features, importance)
        optimizer.zero_grad()
        (-loss).backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@mutant(hint="loss.item()")
def keeps_tensors(model, probability, importance, steps=2000, batch_size=512, lr=3e-3,
                  batch_fn=generate_batch, loss_fn=importance_weighted_loss, progress=False):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        features = batch_fn(probability, batch_size)
        loss = loss_fn(model(features), features, importance)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss)
    return losses


@mutant(hint="lr argument")
def ignores_lr(model, probability, importance, steps=2000, batch_size=512, lr=3e-3,
               batch_fn=generate_batch, loss_fn=importance_weighted_loss, progress=False):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    losses = []
    for _ in range(steps):
        features = batch_fn(probability, batch_size)
        loss = loss_fn(model(features), features, importance)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@alternative
def zero_grad_first_with_tqdm(model, probability, importance, steps=2000, batch_size=512, lr=3e-3,
                              batch_fn=generate_batch, loss_fn=importance_weighted_loss, progress=False):
    from tqdm.auto import tqdm

    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in tqdm(range(steps), disable=not progress):
        optimizer.zero_grad(set_to_none=False)
        features = batch_fn(probability, batch_size)
        loss = loss_fn(model(features), features, importance)
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    return losses
