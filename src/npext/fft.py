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
from .ops import KernelFunction, batched_call, save_inputs


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
        return _RFFT2Adjoint.apply(grad, ctx.width).sum_to_size(ctx.shape)

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
        return _RFFT2.apply(grad), None

    @staticmethod
    def jvp(ctx, tangent_grad_spectrum, _):
        return _RFFT2Adjoint.apply(tangent_grad_spectrum, ctx.width)


def _magnitude(parts: torch.Tensor) -> torch.Tensor:
    """|X| from its real and imaginary parts (torch's norm: its gradient at X = 0 is 0)."""
    return torch.linalg.vector_norm(parts, dim=-1)


def _phase(parts: torch.Tensor) -> torch.Tensor:
    """The unit phase X / |X| as parts, 0 where X = 0 (torch.abs's subgradient)."""
    magnitude = _magnitude(parts)
    # dividing by 1 where |X| = 0 keeps NaN out of the graph for double backward
    safe = torch.where(magnitude > 0, magnitude, torch.ones_like(magnitude))
    return parts / safe.unsqueeze(-1)


def _input_phase(input: torch.Tensor) -> torch.Tensor:
    """The unit phase of rfft2(input), computed again, in the compute dtype, through the differentiable ``_RFFT2``.

    What backward and jvp both multiply by (``RFFT2AbsFunction`` says why X
    is not saved): in float32 for half inputs, whose phase would carry
    float16's error into every entry.
    """
    return _phase(_RFFT2.apply(input.to(compute_dtype(input.dtype))))


class RFFT2AbsFunction(KernelFunction):
    """``|rfft2(input)|`` with the mathematically correct backward.

    ``input`` is a real (H, W) tensor; the output is (H, W // 2 + 1). The
    gradient is the rfft2 adjoint of ``grad_output * X / |X|`` (see the module
    docstring for the derivation). The backward is built from Functions that
    are themselves differentiable, so higher derivatives are exact away from
    the kink of ``|X|`` at X = 0.

    The backward computes X again rather than saving it: with ``setup_context``
    (which torch.func needs) only the inputs and the output reach the
    backward, and returning X as a second output would change what
    ``apply`` returns. One more FFT of the input costs less than the rest of
    the backward (benchmarks/bench.py).
    """

    @staticmethod
    def forward(input):
        check_real_tensor("input", input, ndim=2)
        parts = rfft2(input.to(compute_dtype(input.dtype)))
        return _magnitude(parts).to(input.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        save_inputs(ctx, inputs)

    # backward and jvp compute in the compute dtype too (_input_phase), and round once

    @staticmethod
    def backward(ctx, grad_output):
        (input,) = ctx.saved_tensors
        grad_spectrum = grad_output.unsqueeze(-1) * _input_phase(input)  # promotes to the compute dtype
        return _RFFT2Adjoint.apply(grad_spectrum, input.shape[1])  # input is (H, W)

    @staticmethod
    def jvp(ctx, tangent_input):
        (input,) = ctx.saved_tensors
        spectrum = _RFFT2.apply(tangent_input.to(compute_dtype(input.dtype)))  # a float64 tangent on float32 too
        return (_input_phase(input) * spectrum).sum(-1).to(input.dtype)

    @classmethod
    def vmap(cls, info, in_dims, input):
        (example,) = (input.select(in_dims[0], 0),)
        check_real_tensor("input", example, ndim=2)
        # one SciPy call for the batch, in the compute dtype as forward's (a
        # float16 spectrum rounded before the norm would round twice); the
        # norm's own derivatives are the ones above (parts / |X|, 0 at X = 0)
        parts, _ = batched_call(_RFFT2.apply, in_dims, (input.to(compute_dtype(input.dtype)),), (2,))
        return _magnitude(parts).to(input.dtype), 0


def rfft2_abs(input: torch.Tensor) -> torch.Tensor:  # pragma: no mutate block (see ScipyConv2d.forward)
    """``|rfft2(input)|`` for a real (H, W) tensor, with the correct gradient."""
    return RFFT2AbsFunction.apply(input)


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
        return RFFT2AbsFunction.forward(input)

    @staticmethod
    def backward(ctx, grad_output):
        result = np.fft.irfft2(to_numpy(grad_output, grad_output.dtype))
        return from_numpy(result, grad_output, grad_output.dtype)


def incorrect_fft(input: torch.Tensor) -> torch.Tensor:
    """The tutorial's ``incorrect_fft``: ``|rfft2(input)|`` with ``BadFFTFunction``'s wrong gradient."""
    return BadFFTFunction.apply(input)
