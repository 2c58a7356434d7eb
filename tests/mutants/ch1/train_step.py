"""Mutants and alternatives for ch1.train_step."""
import torch

from circuitlab.ch1.reference import next_token_loss
from circuitlab.grading.meta import alternative, mutant


@mutant(hint="zero_grad")
def no_zero_grad(model, optimizer, tokens):
    loss = next_token_loss(model(tokens), tokens)
    loss.backward()
    optimizer.step()
    return loss.item()


@mutant(hint="Python float")
def returns_tensor(model, optimizer, tokens):
    loss = next_token_loss(model(tokens), tokens)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss


@mutant(hint="Call optimizer.step() after loss.backward()")
def steps_before_backward(model, optimizer, tokens):
    loss = next_token_loss(model(tokens), tokens)
    optimizer.zero_grad()
    optimizer.step()
    loss.backward()
    return loss.item()


@mutant(hint="did not change")
def forgets_the_step(model, optimizer, tokens):
    loss = next_token_loss(model(tokens), tokens)
    optimizer.zero_grad()
    loss.backward()
    return loss.item()


@alternative
def zero_grad_first(model, optimizer, tokens):
    optimizer.zero_grad(set_to_none=True)
    logits = model(tokens)
    loss = next_token_loss(logits, tokens)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


@mutant(hint="0-dim")
def returns_a_detached_tensor(model, optimizer, tokens):
    loss = next_token_loss(model(tokens), tokens)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.detach()


@mutant(hint="loss computed before the update")
def returns_the_loss_after_the_update(model, optimizer, tokens):
    loss = next_token_loss(model(tokens), tokens)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        return next_token_loss(model(tokens), tokens).item()


@mutant(hint="eval mode")
def evaluates_in_eval_mode(model, optimizer, tokens):
    model.eval()
    loss = next_token_loss(model(tokens), tokens)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


@mutant(hint="differs")
def doubled_loss(model, optimizer, tokens):
    """A loss that is off by a factor: AdamW hides it, plain SGD does not."""
    loss = next_token_loss(model(tokens), tokens)
    optimizer.zero_grad()
    (2 * loss).backward()
    optimizer.step()
    return loss.item()


@mutant(hint="zero_grad")
def zero_grad_after_backward(model, optimizer, tokens):
    loss = next_token_loss(model(tokens), tokens)
    loss.backward()
    optimizer.zero_grad()
    optimizer.step()
    return loss.item()


@alternative
def zeroing_the_model(model, optimizer, tokens):
    model.train()
    model.zero_grad()
    loss = next_token_loss(model(tokens), tokens)
    loss.backward()
    optimizer.step()
    return loss.detach().item()
