"""The yardstick: the plainest *correct* Function for each of npext's, as a user writes it by hand.

The tutorial's two Functions, corrected and nothing more: the same SciPy
kernels npext calls, NumPy in and out, no argument checks, no dtype rules
(float32 and float64 only, on the CPU), no torch.func, double backward or
torch.compile support. What npext costs above these is what a user pays for
its correctness machinery (``ours/plain`` in bench.py). ``check`` compares
both with torch's own gradients: a yardstick that is wrong measures nothing.
"""

from __future__ import annotations

import numpy as np
import scipy.fft
import torch
from scipy.signal import convolve2d, correlate2d


class PlainRFFT2Abs(torch.autograd.Function):
    """|rfft2(x)| for a real (H, W) tensor: the spectrum is kept for the backward."""

    @staticmethod
    def forward(ctx, input):
        spectrum = scipy.fft.rfft2(input.detach().numpy())
        magnitude = np.abs(spectrum)
        ctx.spectrum, ctx.magnitude, ctx.shape = spectrum, magnitude, input.shape
        return torch.from_numpy(magnitude)

    @staticmethod
    def backward(ctx, grad_output):
        # the adjoint of rfft2 applied to grad_output * X / |X| (0 where X = 0)
        scale = np.divide(grad_output.numpy(), ctx.magnitude, out=np.zeros_like(ctx.magnitude), where=ctx.magnitude > 0)
        grad_spectrum = ctx.spectrum * scale
        grad_spectrum[:, 1 : (ctx.shape[1] + 1) // 2] *= 0.5  # irfft2 counts interior columns twice
        return torch.from_numpy(scipy.fft.irfft2(grad_spectrum, s=tuple(ctx.shape), norm="forward"))


class PlainScipyConv2d(torch.autograd.Function):
    """correlate2d(input, filter, 'valid') + bias, with SciPy's direct kernels, gradients in each input's dtype."""

    @staticmethod
    def forward(ctx, input, filter, bias):
        x, k = input.detach().numpy(), filter.detach().numpy()
        ctx.x, ctx.k, ctx.bias_shape = x, k, bias.shape
        return torch.from_numpy(correlate2d(x, k, mode="valid") + bias.item()).to(input.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        g = grad_output.numpy()
        grad_input = torch.from_numpy(convolve2d(g, ctx.k, mode="full"))
        grad_filter = torch.from_numpy(correlate2d(ctx.x, g, mode="valid"))
        return grad_input, grad_filter, grad_output.sum().reshape(ctx.bias_shape)


def check() -> None:
    """Both against torch's own ops, forward and every gradient, in float32 and float64 (raises if wrong)."""
    import torch.nn.functional as F

    gen = torch.Generator().manual_seed(0)
    for dtype, rtol in ((torch.float64, 1e-10), (torch.float32, 1e-4)):
        for shape in ((8, 8), (7, 9)):
            x = torch.randn(shape, dtype=dtype, generator=gen, requires_grad=True)
            g = torch.randn(shape[0], shape[1] // 2 + 1, dtype=dtype, generator=gen)
            ours = PlainRFFT2Abs.apply(x)
            theirs = torch.fft.rfft2(x).abs()
            torch.testing.assert_close(ours, theirs, rtol=rtol, atol=rtol)
            torch.testing.assert_close(*(torch.autograd.grad(y, x, g) for y in (ours, theirs)), rtol=rtol, atol=rtol)
        x = torch.randn(9, 8, dtype=dtype, generator=gen, requires_grad=True)
        w = torch.randn(3, 2, dtype=dtype, generator=gen, requires_grad=True)
        b = torch.randn(1, 1, dtype=dtype, generator=gen, requires_grad=True)
        g = torch.randn(7, 7, dtype=dtype, generator=gen)
        ours = PlainScipyConv2d.apply(x, w, b)
        theirs = F.conv2d(x[None, None], w[None, None], b.reshape(1))[0, 0]
        torch.testing.assert_close(ours, theirs, rtol=rtol, atol=rtol)
        for a, t in zip(*(torch.autograd.grad(y, (x, w, b), g) for y in (ours, theirs)), strict=True):
            torch.testing.assert_close(a, t, rtol=rtol, atol=rtol)
