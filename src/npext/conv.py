"""Valid 2-D cross-correlation with a bias, computed by SciPy.

``ScipyConv2dFunction`` is the tutorial's layer rebuilt so that every
gradient is right and it composes with torch.func and torch.compile. Its
backward is made of two small linear Functions that are each other's
adjoints, so the backward is itself differentiable, to any order:

* ``_CorrelateValid(x, k)``  y = correlate2d(x, k, 'valid')
  backward: dx = _ConvolveFull(dy, k), dk = _CorrelateValid(x, dy)
* ``_ConvolveFull(g, k)``    y = convolve2d(g, k, 'full')
  backward: dg = _CorrelateValid(dy, k), dk = _CorrelateValid(dy, g)

Both take leading batch dimensions (broadcast like NumPy's), which is what
lets every vmap rule here call SciPy once for a whole batch. Both are
``npext.ops`` Functions over a kernel of ``_kernels``, as a user writes one.
"""

from __future__ import annotations

import torch
from torch import nn

from ._bridge import cast, check_real_tensor, compute_dtype, result_dtype
from ._kernels import convolve_full, correlate_valid, correlate_valid_backward
from .ops import KernelFunction, batched_call, may_be_differentiated, save_inputs

# Two rules of torch's that keep these methods short, on every torch 2.x:
#
# * autograd casts each gradient a backward returns to its input's dtype, so
#   a backward may return the promoted dtype (what it must not do is round
#   lower first, like the tutorial's .to(torch.float) on a float64 filter);
#   forward AD casts nothing, so a jvp returns the output's dtype itself;
# * a jvp gets a zero tangent, never None, for an argument without one.


def _bilinear_jvp(function, a, b, tangent_a, tangent_b):
    """The tangent of ``function.apply(a, b)``, bilinear: both terms in the compute dtype, rounded once.

    The kernels promote, so one argument of each term in the compute dtype is
    enough; a wider tangent (float64 on float32) is rounded to it first.
    """
    dtype = result_dtype(a, b)
    compute = compute_dtype(dtype)
    return (function.apply(tangent_a.to(compute), b) + function.apply(a, tangent_b.to(compute))).to(dtype)


class _CorrelateValid(KernelFunction):
    """correlate2d(x, k, 'valid') over the last two dims; callers guarantee k fits inside x."""

    kernel = correlate_valid

    @staticmethod
    def setup_context(ctx, inputs, output):
        save_inputs(ctx, inputs)

    @staticmethod
    def backward(ctx, grad):
        x, k = ctx.saved_tensors
        grad_x = grad_k = None
        if ctx.needs_input_grad[0]:
            grad_x = _ConvolveFull.call(grad, k).sum_to_size(x.shape)
        if ctx.needs_input_grad[1]:
            grad_k = _CorrelateValid.call(x, grad).sum_to_size(k.shape)
        return grad_x, grad_k

    @staticmethod
    def jvp(ctx, tangent_x, tangent_k):
        return _bilinear_jvp(_CorrelateValid, *ctx.saved_tensors, tangent_x, tangent_k)


class _ConvolveFull(KernelFunction):
    """convolve2d(g, k, 'full') over the last two dims: the adjoint of correlating with k."""

    kernel = convolve_full

    @staticmethod
    def setup_context(ctx, inputs, output):
        save_inputs(ctx, inputs)

    @staticmethod
    def backward(ctx, grad):
        g, k = ctx.saved_tensors
        grad_g = grad_k = None
        if ctx.needs_input_grad[0]:
            grad_g = _CorrelateValid.call(grad, k).sum_to_size(g.shape)
        if ctx.needs_input_grad[1]:
            grad_k = _CorrelateValid.call(grad, g).sum_to_size(k.shape)
        return grad_g, grad_k

    @staticmethod
    def jvp(ctx, tangent_g, tangent_k):
        return _bilinear_jvp(_ConvolveFull, *ctx.saved_tensors, tangent_g, tangent_k)


def check_conv_args(input, filter, bias) -> None:
    """Raise a clear error unless the arguments fit a valid correlation plus bias."""
    check_real_tensor("input", input, ndim=2)
    check_real_tensor("filter", filter, ndim=2)
    check_real_tensor("bias", bias)
    for dim in (0, 1):
        if filter.shape[dim] > input.shape[dim]:
            raise ValueError(
                f"filter of shape {tuple(filter.shape)} is larger than input of shape "
                f"{tuple(input.shape)} in dimension {dim}; a 'valid' correlation needs "
                "the filter to fit inside the input"
            )
    if bias.numel() != 1:
        raise ValueError(
            f"bias must have exactly one element (shape (1, 1), (1,) or ()), got shape {tuple(bias.shape)}"
        )


def _correlate_plus_bias(input, filter, bias):
    """correlate(input, filter) + bias (0-d), in the compute dtype, rounded once to the promoted dtype.

    The kernel promotes, so the input in the compute dtype puts the
    correlation there, and adding bias (never wider) keeps it there.
    """
    dtype = result_dtype(input, filter, bias)
    out = correlate_valid(cast(input, compute_dtype(dtype)), filter)
    return cast(out.add_(bias), dtype)  # out is the kernel's own, new tensor


class ScipyConv2dFunction(KernelFunction):
    """``correlate2d(input, filter, 'valid') + bias`` with exact gradients.

    ``input`` is (H, W), ``filter`` (kh, kw) with kh <= H and kw <= W, and
    ``bias`` one element; the output is (H - kh + 1, W - kw + 1) in the
    promoted dtype of the three. Gradients, each in its input's dtype:

    * input:  the full *convolution* of grad_output with the filter, which is
      the full correlation with the filter flipped in both axes;
    * filter: the valid correlation of the input with grad_output;
    * bias:   the sum of grad_output (every output element adds the bias once).
    """

    @staticmethod
    def forward(input, filter, bias):
        check_conv_args(input, filter, bias)
        # a bias of at most 2 dims adds in place as it is (a reshape costs a view's 1 us)
        return _correlate_plus_bias(input, filter, bias if bias.dim() <= 2 else bias.reshape(()))

    @staticmethod
    def setup_context(ctx, inputs, output):
        save_inputs(ctx, inputs)

    @staticmethod
    def backward(ctx, grad_output):
        input, filter, bias = ctx.saved_tensors
        grad_input = grad_filter = grad_bias = None
        needs_input, needs_filter, needs_bias = ctx.needs_input_grad
        if needs_input and needs_filter and not may_be_differentiated():
            # a first-order backward (the common case): both from one kernel call, as the two below compute them
            grad_input, grad_filter = correlate_valid_backward(grad_output, input, filter)
        else:  # differentiable Functions: double backward, transforms, or one gradient alone
            if needs_input:
                grad_input = _ConvolveFull.call(grad_output, filter)
            if needs_filter:
                grad_filter = _CorrelateValid.call(input, grad_output)
        if needs_bias:
            grad_bias = grad_output.sum().reshape(bias.shape)
        return grad_input, grad_filter, grad_bias

    @staticmethod
    def jvp(ctx, tangent_input, tangent_filter, tangent_bias):
        input, filter, bias = ctx.saved_tensors
        dtype = result_dtype(input, filter, bias)
        compute = compute_dtype(dtype)
        return (
            _CorrelateValid.apply(tangent_input.to(compute), filter)
            + _CorrelateValid.apply(input, tangent_filter.to(compute))
            + tangent_bias.reshape(())
        ).to(dtype)

    @classmethod
    def vmap(cls, info, in_dims, input, filter, bias):
        # the checks see one example; then one SciPy call for the whole batch,
        # built from the differentiable blocks so transforms below still work
        check_conv_args(
            *(a if d is None else a.select(d, 0) for a, d in zip((input, filter, bias), in_dims, strict=True))
        )
        # in the compute dtype and rounded once, as forward's _correlate_plus_bias
        dtype = result_dtype(input, filter, bias)
        bias = bias.reshape(()) if in_dims[2] is None else bias.movedim(in_dims[2], 0).reshape(-1, 1, 1)
        (out, _) = batched_call(_CorrelateValid.apply, in_dims[:2], (input.to(compute_dtype(dtype)), filter), (2, 2))
        return (out + bias).to(dtype), 0


class ScipyConv2d(nn.Module):
    """The tutorial's layer: a learnable (filter_width, filter_height) filter and a (1, 1) bias."""

    def __init__(self, filter_width: int, filter_height: int):
        super().__init__()
        for name, size in (("filter_width", filter_width), ("filter_height", filter_height)):
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise ValueError(f"{name} must be a positive int, got {size!r}")
        self.filter = nn.Parameter(torch.randn(filter_width, filter_height))
        self.bias = nn.Parameter(torch.randn(1, 1))

    # Dynamo traces this (and fft.rfft2_abs) as Python bytecode, unlike the
    # Functions' methods, and mutmut's stats run wraps every mutated function in
    # a trampoline that sets a ContextVar, which fullgraph compilation refuses:
    # these one-line wrappers are left unmutated (their only mutants pass None).
    def forward(self, input):  # pragma: no mutate block
        return ScipyConv2dFunction.apply(input, self.filter, self.bias)
