"""Mutants and alternatives for ch4.ablate_neurons_loss."""
import copy

import torch

from circuitlab.grading.meta import alternative, mutant

POST = "blocks.0.mlp.hook_post"


def _last_loss(logits, labels, dtype=torch.float64):
    return -logits[:, -1].to(dtype).log_softmax(-1).gather(-1, labels[:, None]).mean().double()


def _run(model, tokens, edit):
    def hook(post, hook):
        return edit(post)

    with torch.no_grad():
        return model.run_with_hooks(tokens, fwd_hooks=[(POST, hook)])


def _zero(mask):
    def edit(post):
        post[:, :, mask] = 0.0
        return post
    return edit


@mutant(hint="zeroed the other neurons")
def complement(model, tokens, labels, neurons):
    return _last_loss(_run(model, tokens, _zero(~neurons)), labels)


@mutant(hint="replaced the neurons by their mean")
def mean_ablation(model, tokens, labels, neurons):
    def edit(post):
        post[:, :, neurons] = post[:, :, neurons].mean(0, keepdim=True)
        return post
    return _last_loss(_run(model, tokens, edit), labels)


@mutant(hint="every position")
def loss_on_every_position(model, tokens, labels, neurons):
    logits = _run(model, tokens, _zero(neurons)).double()
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.repeat_interleave(logits.shape[1]))


@mutant(hint="float32")
def in_float32(model, tokens, labels, neurons):
    return _last_loss(_run(model, tokens, _zero(neurons)), labels, dtype=torch.float32)


@mutant(hint="without any ablation")
def hook_edits_a_copy(model, tokens, labels, neurons):
    def edit(post):
        post = post.clone()
        post[:, :, neurons] = 0.0  # the clone is changed, but the original is returned
        return None
    return _last_loss(_run(model, tokens, edit), labels)


@mutant(hint="left hooks")
def hook_left_behind(model, tokens, labels, neurons):
    def hook(post, hook):
        post[:, :, neurons] = 0.0
        return post

    model.add_hook(POST, hook)
    with torch.no_grad():
        return _last_loss(model(tokens), labels)


@mutant(hint="Python float")
def returns_a_float(model, tokens, labels, neurons):
    return _last_loss(_run(model, tokens, _zero(neurons)), labels).item()


@alternative
def before_the_relu(model, tokens, labels, neurons):
    """Zeroing the pre-activations zeroes the neurons too (ReLU(0) = 0)."""
    def hook(pre, hook):
        pre[:, :, neurons] = 0.0
        return pre

    with torch.no_grad():
        logits = model.run_with_hooks(tokens, fwd_hooks=[("blocks.0.mlp.hook_pre", hook)])
    return _last_loss(logits, labels)


@alternative
def on_a_copy_with_zeroed_weights(model, tokens, labels, neurons):
    """Zero the neurons' output weights in a copy of the model: the same effect, no hooks."""
    ablated = copy.deepcopy(model)
    with torch.no_grad():
        ablated.blocks[0].mlp.W_out[neurons] = 0.0
        return _last_loss(ablated(tokens), labels)
