"""|rfft2(x)|: the tutorial's wrong backward and the right one.

The forward of both Functions is ``abs(rfft2(x))`` for a real (H, W) input;
the output is the half spectrum, (H, W // 2 + 1).

The right backward, for y = |X| with X = rfft2(x) and incoming gradient g:

1. d|X| / dX is the unit phase X / |X|, so the gradient on the spectrum is
   g * X / |X|  (set to 0 where X = 0, the subgradient torch.abs uses);
2. rfft2 is linear, so its backward is its adjoint. rfft2 keeps only the
   columns 0 .. W // 2 of the full DFT, so the adjoint is the full inverse
   DFT of the zero-padded half spectrum, unnormalised, real part taken.
   ``irfft2`` computes that only after halving the interior columns, because
   it assumes Hermitian symmetry and counts each interior column twice (its
   mirror image is implied); the DC column and, for even W, the Nyquist
   column have no mirror. ``s=(H, W)`` is needed, or an odd W comes back
   one column short.

The tutorial's backward, ``irfft2(g)``, skips step 1, the scaling and the
halving, and ``s``: wrong values for every width and the wrong shape for odd
widths. It is kept, as ``BadFFTFunction``, as the suite's negative control.

Real and imaginary parts travel as a trailing dimension of size 2, so that
autograd only ever sees real tensors: ``_RFFT2`` and ``_RFFT2Adjoint`` are
linear Functions that are each other's backward, which makes the correct
backward differentiable to any order. Both take leading batch dimensions,
so every vmap rule here calls SciPy once for the whole batch.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.autograd import Function

from ._bridge import check_real_tensor, compute_dtype, from_numpy, to_numpy
from ._kernels import rfft2, rfft2_adjoint
from ._kernels import rfft2_abs as _rfft2_abs
from ._kernels import rfft2_abs_backward as _rfft2_abs_backward
from .ops import KernelFunction, forward_ad_may_run, may_be_differentiated


class _RFFT2(KernelFunction):
    """x (..., H, W) -> rfft2(x) as real and imaginary parts, (..., H, W // 2 + 1, 2)."""

    kernel = rfft2

    @staticmethod
    def setup_context(ctx, inputs, output):
        (x,) = inputs
        ctx.width = x.shape[-1]
        ctx.shape = x.shape

    @staticmethod
    def backward(ctx, grad):
        # autograd casts a gradient to its input's dtype (conv.py)
        return _RFFT2Adjoint.call(grad, ctx.width).sum_to_size(ctx.shape)

    @staticmethod
    def jvp(ctx, tangent_x):
        return _RFFT2.apply(tangent_x)


class _RFFT2Adjoint(KernelFunction):
    """The adjoint of ``_RFFT2``: (..., H, W // 2 + 1, 2) -> (..., H, W) for the given W."""

    kernel = rfft2_adjoint

    @staticmethod
    def setup_context(ctx, inputs, output):
        _, ctx.width = inputs

    @staticmethod
    def backward(ctx, grad):
        return _RFFT2.call(grad), None

    @staticmethod
    def jvp(ctx, tangent_grad_spectrum, _):
        return _RFFT2Adjoint.apply(tangent_grad_spectrum, ctx.width)


def _magnitude(parts: torch.Tensor) -> torch.Tensor:
    """|X| from its real and imaginary parts (torch's norm: its gradient at X = 0 is 0)."""
    return torch.linalg.vector_norm(parts, dim=-1)


def _safe(magnitude: torch.Tensor) -> torch.Tensor:
    """|X|, 1 where X = 0: parts / it is the unit phase X / |X|, and 0 where X = 0 (torch.abs's subgradient).

    Dividing by 1 there, not masking after, keeps NaN out of the graph for double backward.
    """
    return torch.where(magnitude > 0, magnitude, torch.ones_like(magnitude))


def _differentiable_spectrum(input: torch.Tensor):
    """(|X|, X) for X = rfft2(input), in the compute dtype, through differentiable Functions (torch's norm)."""
    parts = _RFFT2.apply(input.to(compute_dtype(input.dtype)))
    return _magnitude(parts), parts


class RFFT2AbsFunction(KernelFunction):
    """``|rfft2(input)|`` with the mathematically correct backward, and the spectrum it comes from.

    ``apply(input)``: ``input`` is a real (H, W) tensor; returns ``(|X|, X)`` for
    X = rfft2(input): ``|X|`` is (H, W // 2 + 1), X its real and imaginary parts,
    (H, W // 2 + 1, 2). ``rfft2_abs(input)`` is ``|X|`` alone. The gradient is the
    rfft2 adjoint of ``grad_|X| * X / |X| + grad_X`` (see the module docstring
    for the derivation).

    Why X is an output: with ``setup_context``, which torch.func needs, only
    inputs and outputs reach the backward (PyTorch's own NumpySort returns its
    indices for that reason). Saved as an output, X is not computed again,
    which would cost a third transform where forward and adjoint need one
    each; the backward makes one pass over the spectrum (``X * grad / |X|``,
    with the saved ``|X|``) and the adjoint's transform. X is differentiable like
    ``|X|``, so that in double backward the phase's own dependence on the input
    flows back through it. The backward is built from Functions that are
    themselves differentiable, so higher derivatives are exact away from the
    kink of ``|X|`` at X = 0. The jvp computes X again (torch.func's jvp
    cannot read saved outputs): forward mode pays one more transform.

    Half inputs are computed in float32, and ``|X|`` and X each rounded once to
    the input's dtype; their backward saves the input instead and computes X
    again, in float32: a phase from the half X would carry half's error into
    every entry of the gradient.
    """

    @staticmethod
    def forward(input):
        check_real_tensor("input", input, ndim=2)
        return _rfft2_abs(input)  # computed in the compute dtype, each output rounded once to input's

    @staticmethod
    def setup_context(ctx, inputs, output):
        (input,) = inputs
        ctx.width = input.shape[-1]
        ctx.set_materialize_grads(False)  # rfft2_abs uses |X| alone: no zeros for X's gradient
        if output[1].dtype == compute_dtype(input.dtype):
            ctx.save_for_backward(*output)  # |X| and X, as computed (see the class docstring)
        else:
            ctx.save_for_backward(input)  # half: X is computed again, in float32 (see the class docstring)
        if forward_ad_may_run():
            # torch.func's jvp cannot read outputs saved for forward (torch 2.13 hands jvp |X| alone):
            # the jvp computes X again from the input
            ctx.save_for_forward(input)

    @staticmethod
    def backward(ctx, grad_magnitude, grad_parts):
        if grad_magnitude is None and grad_parts is None:  # neither output used (no grads materialized)
            return None
        # a first-order backward (the common case) runs one kernel; a double backward, or one under a
        # transform, the differentiable Functions and torch operations, the same maths
        differentiable = grad_parts is not None or may_be_differentiated()
        magnitude, parts = RFFT2AbsFunction._spectrum(ctx.saved_tensors, differentiable)
        if not differentiable:
            # the phase, the halving and the adjoint as NumPy passes: torch's elementwise ops cost more
            # per pass, and five of them more per call
            return _rfft2_abs_backward(grad_magnitude, magnitude, parts, ctx.width)
        grad_spectrum = grad_parts  # None unless X itself was used (double backward)
        if grad_magnitude is not None:
            scale = grad_magnitude / _safe(magnitude)  # X * grad / |X|
            from_magnitude = parts * scale.unsqueeze(-1)
            grad_spectrum = from_magnitude if grad_parts is None else from_magnitude + grad_parts
        return _RFFT2Adjoint.call(grad_spectrum, ctx.width)

    @staticmethod
    def _spectrum(saved, differentiable: bool):
        """(|X|, X) in the compute dtype: as saved, or for a half input computed again from it."""
        if len(saved) == 2:
            return saved
        (input,) = saved
        if not differentiable:
            return _rfft2_abs(input.to(compute_dtype(input.dtype)))
        return _differentiable_spectrum(input)

    @staticmethod
    def jvp(ctx, tangent_input):
        (input,) = ctx.saved_tensors
        magnitude, parts = _differentiable_spectrum(input)
        tangent_parts = _RFFT2.apply(tangent_input.to(parts.dtype))  # a float64 tangent on float32 too
        phase = parts / _safe(magnitude).unsqueeze(-1)
        return (phase * tangent_parts).sum(-1).to(input.dtype), tangent_parts.to(input.dtype)

    @classmethod
    def vmap(cls, info, in_dims, input):
        check_real_tensor("input", input.select(in_dims[0], 0), ndim=2)
        # one SciPy call for the batch, computed as forward's (the same kernel: vmap equals a loop bit for bit)
        return _RFFT2AbsBatched.vmap(info, in_dims, input)


class _RFFT2AbsBatched(RFFT2AbsFunction):
    """``RFFT2AbsFunction`` over leading batch dims, the Function its vmap rule calls once for a batch.

    Its kernel is its forward and, batched by the kernel's core dims, its vmap rule (vmap of vmap).
    """

    kernel = _rfft2_abs


def rfft2_abs(input: torch.Tensor) -> torch.Tensor:  # pragma: no mutate block (see ScipyConv2d.forward)
    """``|rfft2(input)|`` for a real (H, W) tensor, with the correct gradient."""
    return RFFT2AbsFunction.apply(input)[0]


class BadFFTFunction(Function):
    """The tutorial's FFT layer: right forward, knowingly WRONG backward.

    Its backward returns ``irfft2(grad_output)``. That misses the phase
    ``X / |X|`` of the derivative of ``|X|``, the DFT's scaling and the halving of the
    interior columns of the half spectrum (so its values are wrong for every
    width), and it omits ``s=``, so for an odd width the gradient has one
    column too few and autograd rejects it. It is kept as the tutorial wrote
    it, on the static-method API, as the suite's negative control: the tests
    prove they find it wrong. Use ``RFFT2AbsFunction`` / ``rfft2_abs``.
    Its forward is ``RFFT2AbsFunction``'s, so only the backward differs; that
    backward calls NumPy directly, the one NumPy call outside a kernel,
    so it runs eagerly only.
    """

    @staticmethod
    def forward(ctx, input):
        return RFFT2AbsFunction.forward(input)[0]

    @staticmethod
    def backward(ctx, grad_output):
        result = np.fft.irfft2(to_numpy(grad_output, grad_output.dtype))
        return from_numpy(result, grad_output, grad_output.dtype)


def incorrect_fft(input: torch.Tensor) -> torch.Tensor:
    """The tutorial's ``incorrect_fft``: ``|rfft2(input)|`` with ``BadFFTFunction``'s wrong gradient."""
    return BadFFTFunction.apply(input)
