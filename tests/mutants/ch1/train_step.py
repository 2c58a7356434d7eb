"""Mutants and alternatives for ch1.train_step."""
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
