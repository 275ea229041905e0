"""|rfft2(x)| with NumPy: the tutorial's wrong backward and the right one.

The forward of both Functions is ``abs(numpy.fft.rfft2(x))`` for a real
(H, W) input; the output is the half spectrum, (H, W // 2 + 1).

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
backward differentiable to any order.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.autograd import Function

from ._bridge import check_real_tensor, from_numpy, result_dtype, to_numpy, vmap_by_loop


def _interior_columns(width: int) -> slice:
    """Columns of a half spectrum whose mirror image the full spectrum also holds."""
    return slice(1, (width + 1) // 2)


class _RFFT2(Function):
    """x (H, W) -> rfft2(x) as real and imaginary parts, (H, W // 2 + 1, 2)."""

    @staticmethod
    def forward(x):
        dtype = result_dtype(x)
        spectrum = np.fft.rfft2(to_numpy(x, dtype))
        return from_numpy(np.stack([spectrum.real, spectrum.imag], axis=-1), x, dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        (x,) = inputs
        ctx.width = x.shape[-1]
        ctx.dtype = x.dtype

    @staticmethod
    def backward(ctx, grad):
        return _RFFT2Adjoint.apply(grad, ctx.width).to(ctx.dtype)

    @staticmethod
    def jvp(ctx, tangent_x):
        return _RFFT2.apply(tangent_x)

    @classmethod
    def vmap(cls, info, in_dims, x):
        return vmap_by_loop(cls.apply, info.batch_size, in_dims, x)


class _RFFT2Adjoint(Function):
    """The adjoint of ``_RFFT2``: (H, W // 2 + 1, 2) -> (H, W) for the given W."""

    @staticmethod
    def forward(grad_spectrum, width):
        dtype = result_dtype(grad_spectrum)
        parts = to_numpy(grad_spectrum, dtype)
        spectrum = parts[..., 0] + 1j * parts[..., 1]
        spectrum[:, _interior_columns(width)] *= 0.5
        height = spectrum.shape[0]
        out = np.fft.irfft2(spectrum, s=(height, width), norm="forward")
        return from_numpy(out, grad_spectrum, dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        grad_spectrum, ctx.width = inputs
        ctx.dtype = grad_spectrum.dtype

    @staticmethod
    def backward(ctx, grad):
        return _RFFT2.apply(grad).to(ctx.dtype), None

    @staticmethod
    def jvp(ctx, tangent_grad_spectrum, _):
        return _RFFT2Adjoint.apply(tangent_grad_spectrum, ctx.width)

    @classmethod
    def vmap(cls, info, in_dims, grad_spectrum, width):
        return vmap_by_loop(cls.apply, info.batch_size, in_dims, grad_spectrum, width)


def _magnitude_and_phase(x):
    """|rfft2(x)| and the unit phase X / |X| (0 where X = 0), as differentiable tensors."""
    parts = _RFFT2.apply(x)
    magnitude = parts.square().sum(-1).sqrt()
    # X = 0 gives |X| = 0 and the phase 0 (torch.abs's subgradient); dividing by
    # 1 there instead of 0 keeps NaN out of the graph for double backward.
    safe = torch.where(magnitude > 0, magnitude, torch.ones_like(magnitude))
    return magnitude, parts / safe.unsqueeze(-1)


class RFFT2AbsFunction(Function):
    """``|numpy.fft.rfft2(input)|`` with the mathematically correct backward.

    ``input`` is a real (H, W) tensor; the output is (H, W // 2 + 1). The
    gradient is the rfft2 adjoint of grad_output * X / |X| (see the module
    docstring for the derivation). The backward is built from Functions that
    are themselves differentiable, so higher derivatives are exact away from
    the kink of |X| at X = 0.
    """

    @staticmethod
    def forward(input):
        check_real_tensor("input", input, ndim=2)
        dtype = result_dtype(input)
        return from_numpy(np.abs(np.fft.rfft2(to_numpy(input, dtype))), input, dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)
        ctx.save_for_forward(*inputs)

    @staticmethod
    def backward(ctx, grad_output):
        (input,) = ctx.saved_tensors
        _, phase = _magnitude_and_phase(input)
        grad_spectrum = grad_output.unsqueeze(-1) * phase
        return _RFFT2Adjoint.apply(grad_spectrum, input.shape[-1]).to(input.dtype)

    @staticmethod
    def jvp(ctx, tangent_input):
        (input,) = ctx.saved_tensors
        _, phase = _magnitude_and_phase(input)
        return (phase * _RFFT2.apply(tangent_input)).sum(-1).to(input.dtype)

    @classmethod
    def vmap(cls, info, in_dims, input):
        return vmap_by_loop(cls.apply, info.batch_size, in_dims, input)


def rfft2_abs(input: torch.Tensor) -> torch.Tensor:
    """``|rfft2(input)|`` for a real (H, W) tensor, with the correct gradient."""
    return RFFT2AbsFunction.apply(input)


class BadFFTFunction(Function):
    """The tutorial's FFT layer: right forward, knowingly WRONG backward.

    Its backward returns ``irfft2(grad_output)``. That misses the phase
    X / |X| of the derivative of |X|, the DFT's scaling and the halving of the
    interior columns of the half spectrum (so its values are wrong for every
    width), and it omits ``s=``, so for an odd width the gradient has one
    column too few and autograd rejects it. It is kept as the tutorial wrote
    it, on the static-method API, as the suite's negative control: the tests
    prove they find it wrong. Use ``RFFT2AbsFunction`` / ``rfft2_abs``.
    """

    @staticmethod
    def forward(ctx, input):
        check_real_tensor("input", input, ndim=2)
        dtype = result_dtype(input)
        return from_numpy(np.abs(np.fft.rfft2(to_numpy(input, dtype))), input, dtype)

    @staticmethod
    def backward(ctx, grad_output):
        result = np.fft.irfft2(to_numpy(grad_output, grad_output.dtype))
        return from_numpy(result, grad_output, grad_output.dtype)


def incorrect_fft(input: torch.Tensor) -> torch.Tensor:
    """The tutorial's ``incorrect_fft``: |rfft2(input)| with ``BadFFTFunction``'s wrong gradient."""
    return BadFFTFunction.apply(input)
