"""Valid 2-D cross-correlation with a bias, computed by SciPy.

``ScipyConv2dFunction`` is the tutorial's layer rebuilt so that every
gradient is right and it composes with torch.func. Its backward is made of
two small linear Functions that are each other's adjoints, so the backward
is itself differentiable, to any order:

* ``_CorrelateValid(x, k)``  y = correlate2d(x, k, 'valid')
  backward: dx = _ConvolveFull(dy, k), dk = _CorrelateValid(x, dy)
* ``_ConvolveFull(g, k)``    y = convolve2d(g, k, 'full')
  backward: dg = _CorrelateValid(dy, k), dk = _CorrelateValid(dy, g)
"""

from __future__ import annotations

import torch
from scipy.signal import convolve2d, correlate2d
from torch import nn
from torch.autograd import Function

from ._bridge import check_real_tensor, from_numpy, result_dtype, to_numpy, vmap_by_loop


def _sum_defined(*terms):
    """Sum of the terms that are not None (tangents of inputs without one)."""
    total = None
    for term in terms:
        if term is not None:
            total = term if total is None else total + term
    return total


class _CorrelateValid(Function):
    """correlate2d(x, k, 'valid'); callers guarantee k fits inside x."""

    @staticmethod
    def forward(x, k):
        dtype = result_dtype(x, k)
        out = correlate2d(to_numpy(x, dtype), to_numpy(k, dtype), mode="valid")
        return from_numpy(out, x, dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)
        ctx.save_for_forward(*inputs)

    @staticmethod
    def backward(ctx, grad):
        x, k = ctx.saved_tensors
        grad_x = grad_k = None
        if ctx.needs_input_grad[0]:
            grad_x = _ConvolveFull.apply(grad, k).to(x.dtype)
        if ctx.needs_input_grad[1]:
            grad_k = _CorrelateValid.apply(x, grad).to(k.dtype)
        return grad_x, grad_k

    @staticmethod
    def jvp(ctx, tangent_x, tangent_k):
        x, k = ctx.saved_tensors
        return _sum_defined(
            None if tangent_x is None else _CorrelateValid.apply(tangent_x, k),
            None if tangent_k is None else _CorrelateValid.apply(x, tangent_k),
        ).to(result_dtype(x, k))

    @classmethod
    def vmap(cls, info, in_dims, x, k):
        return vmap_by_loop(cls.apply, info.batch_size, in_dims, x, k)


class _ConvolveFull(Function):
    """convolve2d(g, k, 'full'): the adjoint of correlating with k."""

    @staticmethod
    def forward(g, k):
        dtype = result_dtype(g, k)
        out = convolve2d(to_numpy(g, dtype), to_numpy(k, dtype), mode="full")
        return from_numpy(out, g, dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)
        ctx.save_for_forward(*inputs)

    @staticmethod
    def backward(ctx, grad):
        g, k = ctx.saved_tensors
        grad_g = grad_k = None
        if ctx.needs_input_grad[0]:
            grad_g = _CorrelateValid.apply(grad, k).to(g.dtype)
        if ctx.needs_input_grad[1]:
            grad_k = _CorrelateValid.apply(grad, g).to(k.dtype)
        return grad_g, grad_k

    @staticmethod
    def jvp(ctx, tangent_g, tangent_k):
        g, k = ctx.saved_tensors
        return _sum_defined(
            None if tangent_g is None else _ConvolveFull.apply(tangent_g, k),
            None if tangent_k is None else _ConvolveFull.apply(g, tangent_k),
        ).to(result_dtype(g, k))

    @classmethod
    def vmap(cls, info, in_dims, g, k):
        return vmap_by_loop(cls.apply, info.batch_size, in_dims, g, k)


def check_conv_args(input, filter, bias) -> None:
    """Raise a clear error unless the arguments fit a valid correlation plus bias."""
    check_real_tensor("input", input, ndim=2)
    check_real_tensor("filter", filter, ndim=2)
    check_real_tensor("bias", bias)
    for dim, (size_filter, size_input) in enumerate(zip(filter.shape, input.shape)):
        if size_filter > size_input:
            raise ValueError(
                f"filter of shape {tuple(filter.shape)} is larger than input of shape "
                f"{tuple(input.shape)} in dimension {dim}; a 'valid' correlation needs "
                "the filter to fit inside the input"
            )
    if bias.numel() != 1:
        raise ValueError(
            f"bias must have exactly one element (shape (1, 1), (1,) or ()), "
            f"got shape {tuple(bias.shape)}"
        )


class ScipyConv2dFunction(Function):
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
        dtype = result_dtype(input, filter, bias)
        out = correlate2d(to_numpy(input, dtype), to_numpy(filter, dtype), mode="valid")
        out += to_numpy(bias, dtype).reshape(())
        return from_numpy(out, input, dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)
        ctx.save_for_forward(*inputs)

    @staticmethod
    def backward(ctx, grad_output):
        input, filter, bias = ctx.saved_tensors
        grad_input = grad_filter = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_input = _ConvolveFull.apply(grad_output, filter).to(input.dtype)
        if ctx.needs_input_grad[1]:
            grad_filter = _CorrelateValid.apply(input, grad_output).to(filter.dtype)
        if ctx.needs_input_grad[2]:
            grad_bias = grad_output.sum().reshape(bias.shape).to(bias.dtype)
        return grad_input, grad_filter, grad_bias

    @staticmethod
    def jvp(ctx, tangent_input, tangent_filter, tangent_bias):
        input, filter, bias = ctx.saved_tensors
        return _sum_defined(
            None if tangent_input is None else _CorrelateValid.apply(tangent_input, filter),
            None if tangent_filter is None else _CorrelateValid.apply(input, tangent_filter),
            None if tangent_bias is None else tangent_bias.reshape(()),
        ).to(result_dtype(input, filter, bias))

    @classmethod
    def vmap(cls, info, in_dims, input, filter, bias):
        return vmap_by_loop(cls.apply, info.batch_size, in_dims, input, filter, bias)


class ScipyConv2d(nn.Module):
    """The tutorial's layer: a learnable (filter_width, filter_height) filter and a (1, 1) bias."""

    def __init__(self, filter_width: int, filter_height: int):
        super().__init__()
        for name, size in (("filter_width", filter_width), ("filter_height", filter_height)):
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise ValueError(f"{name} must be a positive int, got {size!r}")
        self.filter = nn.Parameter(torch.randn(filter_width, filter_height))
        self.bias = nn.Parameter(torch.randn(1, 1))

    def forward(self, input):
        return ScipyConv2dFunction.apply(input, self.filter, self.bias)
