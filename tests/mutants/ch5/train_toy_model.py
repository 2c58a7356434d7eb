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


@mutant(hint="pass lr=lr")
def ignores_lr(model, probability, importance, steps=2000, batch_size=512, lr=3e-3,
               batch_fn=generate_batch, loss_fn=importance_weighted_loss, progress=False):
    optimizer = torch.optim.Adam(model.parameters())  # lr left at its default
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


@mutant(hint="new optimizer is created at every step")
def optimizer_inside_loop(model, probability, importance, steps=2000, batch_size=512, lr=3e-3,
                          batch_fn=generate_batch, loss_fn=importance_weighted_loss, progress=False):
    losses = []
    for _ in range(steps):
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        features = batch_fn(probability, batch_size)
        loss = loss_fn(model(features), features, importance)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@mutant(hint="plain SGD")
def sgd(model, probability, importance, steps=2000, batch_size=512, lr=3e-3,
        batch_fn=generate_batch, loss_fn=importance_weighted_loss, progress=False):
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        features = batch_fn(probability, batch_size)
        loss = loss_fn(model(features), features, importance)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@mutant(hint="before training")
def zero_grad_after_step(model, probability, importance, steps=2000, batch_size=512, lr=3e-3,
                         batch_fn=generate_batch, loss_fn=importance_weighted_loss, progress=False):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        features = batch_fn(probability, batch_size)
        loss = loss_fn(model(features), features, importance)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return losses


@mutant(hint="computed before")
def records_loss_after_step(model, probability, importance, steps=2000, batch_size=512, lr=3e-3,
                            batch_fn=generate_batch, loss_fn=importance_weighted_loss, progress=False):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        features = batch_fn(probability, batch_size)
        loss = loss_fn(model(features), features, importance)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            losses.append(loss_fn(model(features), features, importance).item())
    return losses


@mutant(hint="divided by the number of instances")
def per_instance_average(model, probability, importance, steps=2000, batch_size=512, lr=3e-3,
                         batch_fn=generate_batch, loss_fn=importance_weighted_loss, progress=False):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        features = batch_fn(probability, batch_size)
        loss = loss_fn(model(features), features, importance)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item() / probability.shape[0])
    return losses


@mutant(hint="the updates differ")
def betas_changed(model, probability, importance, steps=2000, batch_size=512, lr=3e-3,
                  batch_fn=generate_batch, loss_fn=importance_weighted_loss, progress=False):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.5, 0.9))
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
def set_to_none_and_float(model, probability, importance, steps=2000, batch_size=512, lr=3e-3,
                          batch_fn=generate_batch, loss_fn=importance_weighted_loss, progress=False):
    optimizer = torch.optim.Adam(params=list(model.parameters()), lr=lr)
    model.train()
    losses = []
    step = 0
    while step < steps:
        optimizer.zero_grad(set_to_none=True)
        batch = batch_fn(probability, batch_size)
        loss = loss_fn(model(batch), batch, importance)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        step += 1
    return losses
