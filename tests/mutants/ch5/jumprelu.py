"""Mutants and alternatives for ch5.jumprelu."""
import torch

from circuitlab.grading.meta import alternative, mutant


def _function(threshold_grad_sign=-1.0, window_halfwidth=0.5, threshold_grad=True, gate_pre=True):
    class JumpReLU(torch.autograd.Function):
        @staticmethod
        def forward(ctx, pre, threshold, bandwidth):
            ctx.save_for_backward(pre, threshold)
            ctx.bandwidth = bandwidth
            return pre * (pre > threshold)

        @staticmethod
        def backward(ctx, grad_out):
            pre, threshold = ctx.saved_tensors
            eps = ctx.bandwidth
            grad_pre = grad_out * (pre > threshold) if gate_pre else grad_out
            if not threshold_grad:
                return grad_pre, None, None
            window = ((pre - threshold).abs() < eps * window_halfwidth).to(pre.dtype)
            grad_t = (grad_out * threshold_grad_sign * threshold / eps * window).sum_to_size(threshold.shape)
            return grad_pre, grad_t, None

    return JumpReLU


@mutant(hint="threshold receives no gradient")
def no_threshold_gradient(pre, threshold, bandwidth=0.05):
    return _function(threshold_grad=False).apply(pre, threshold, bandwidth)


@mutant(hint="wrong sign")
def flipped_sign(pre, threshold, bandwidth=0.05):
    return _function(threshold_grad_sign=1.0).apply(pre, threshold, bandwidth)


@mutant(hint="window is too wide")
def wide_window(pre, threshold, bandwidth=0.05):
    return _function(window_halfwidth=1.0).apply(pre, threshold, bandwidth)


@mutant(hint="plain ReLU")
def plain_relu(pre, threshold, bandwidth=0.05):
    return torch.relu(pre) + 0 * threshold


@mutant(hint="passes everywhere")
def ungated_pre_gradient(pre, threshold, bandwidth=0.05):
    return _function(gate_pre=False).apply(pre, threshold, bandwidth)


class _Step(torch.autograd.Function):
    """Heaviside step H(pre - threshold) with the rectangle pseudo-derivative (for the threshold only)."""

    @staticmethod
    def forward(ctx, pre, threshold, bandwidth):
        ctx.save_for_backward(pre, threshold)
        ctx.bandwidth = bandwidth
        return (pre > threshold).to(pre.dtype)

    @staticmethod
    def backward(ctx, grad_out):
        pre, threshold = ctx.saved_tensors
        window = ((pre - threshold).abs() < ctx.bandwidth / 2).to(pre.dtype)
        return None, (grad_out * -window / ctx.bandwidth).sum_to_size(threshold.shape), None


@alternative
def gate_times_pre(pre, threshold, bandwidth=0.05):
    # The jump of height t at pre = t gets its gradient from the step's pseudo-derivative times t;
    # pre itself sees only the (constant) gate.
    gate = _Step.apply(pre, threshold, bandwidth)
    return pre * gate.detach() + threshold.detach() * (gate - gate.detach())


def _boundary_function(gate_ge=False, closed_window=False, sum_first_axis_only=False):
    class JumpReLU(torch.autograd.Function):
        @staticmethod
        def forward(ctx, pre, threshold, bandwidth):
            ctx.save_for_backward(pre, threshold)
            ctx.bandwidth = bandwidth
            gate = pre >= threshold if gate_ge else pre > threshold
            return pre * gate

        @staticmethod
        def backward(ctx, grad_out):
            pre, threshold = ctx.saved_tensors
            eps = ctx.bandwidth
            gate = pre >= threshold if gate_ge else pre > threshold
            distance = (pre - threshold).abs()
            window = (distance <= eps / 2 if closed_window else distance < eps / 2).to(pre.dtype)
            full = grad_out * (-threshold / eps) * window
            if sum_first_axis_only:
                grad_t = full.sum(0) if full.ndim > 1 else full
            else:
                grad_t = full.sum_to_size(threshold.shape)
            return grad_out * gate, grad_t, None

    return JumpReLU


@mutant(hint="strict), not >=")
def gate_at_or_above(pre, threshold, bandwidth=0.05):
    return _boundary_function(gate_ge=True).apply(pre, threshold, bandwidth)


@mutant(hint="window includes its edges")
def closed_window(pre, threshold, bandwidth=0.05):
    return _boundary_function(closed_window=True).apply(pre, threshold, bandwidth)


@mutant(hint="second call")
def remembers_first_bandwidth(pre, threshold, bandwidth=0.05):
    if not hasattr(remembers_first_bandwidth, "bandwidth"):
        remembers_first_bandwidth.bandwidth = bandwidth
    return _function().apply(pre, threshold, remembers_first_bandwidth.bandwidth)


class _ReshapingJumpReLU(torch.autograd.Function):
    """Flattens the leading axes itself and sums the threshold's gradient over the flat batch."""

    @staticmethod
    def forward(ctx, pre, threshold, bandwidth):
        flat = pre.reshape(-1, pre.shape[-1])
        ctx.save_for_backward(flat, threshold)
        ctx.bandwidth, ctx.shape = bandwidth, pre.shape
        return torch.where(flat > threshold, flat, torch.zeros_like(flat)).reshape(pre.shape)

    @staticmethod
    def backward(ctx, grad_out):
        flat, threshold = ctx.saved_tensors
        grad = grad_out.reshape(flat.shape)
        on = (flat > threshold).to(flat.dtype)
        window = (torch.abs(flat - threshold) < ctx.bandwidth / 2).to(flat.dtype)
        grad_threshold = -(threshold / ctx.bandwidth) * (grad * window).sum(0)
        return (grad * on).reshape(ctx.shape), grad_threshold, None


@alternative
def flattened_batch(pre, threshold, bandwidth=0.05):
    return _ReshapingJumpReLU.apply(pre, threshold, bandwidth)
