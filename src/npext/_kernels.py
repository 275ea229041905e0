"""Every NumPy/SciPy computation in npext, once: the linear kernels.

Four linear maps make up both Functions and all their derivatives. Each
takes tensors with any leading batch dimensions (broadcast like NumPy's)
over the last two, and computes the whole batch in as few SciPy calls as it
can:

* ``correlate_valid(x, k)``   (..., H, W), (..., kh, kw) -> (..., H-kh+1, W-kw+1)
* ``convolve_full(g, k)``     (..., h, w), (..., kh, kw) -> (..., h+kh-1, w+kw-1)
* ``rfft2(x)``                (..., H, W) -> (..., H, W//2+1, 2): real and imaginary parts
* ``rfft2_adjoint(G, width)`` (..., H, W//2+1, 2) -> (..., H, width): the adjoint of rfft2

On torch >= 2.4 each is a ``torch.library.custom_op`` in the ``npext``
namespace, with a fake kernel (shapes, dtype, device and strides without
data: what torch.compile, export and FakeTensorMode trace with), a vmap rule
and an autograd formula, so ``torch.compile`` treats it as one opaque node
and never tries to trace SciPy. On older torch they are plain functions: the
Functions built on them run eagerly exactly the same.

Correlation and convolution choose their method by size, as
``scipy.signal.choose_conv_method`` does, but with a fixed, documented rule
(``uses_fft``) so that results, and the tolerances the tests derive for
them, do not depend on timings or on the SciPy version.
"""

from __future__ import annotations

import numpy as np
import scipy.fft
import torch
from scipy.signal import convolve2d, correlate2d, fftconvolve

from ._bridge import batched_call, from_numpy, result_dtype, to_numpy

#: A correlation or convolution whose direct sum has at least this many
#: products (kernel elements x output elements, per image) is computed by FFT.
#: Measured on a 2-core x86_64 (SciPy 1.17): the FFT overtakes correlate2d
#: between 64x64 images with 3x3 filters (35k products) and 5x5 (90k).
FFT_FROM_PRODUCTS = 1 << 16

HAS_CUSTOM_OPS = hasattr(torch.library, "custom_op")  # torch >= 2.4


def direct_products(image_shape, kernel_shape, mode: str) -> int:
    """Products a direct 2-D correlation/convolution of one image sums, for 'valid' or 'full'."""
    (h, w), (kh, kw) = image_shape[-2:], kernel_shape[-2:]
    if mode == "valid":
        return (h - kh + 1) * (w - kw + 1) * kh * kw
    return h * w * kh * kw


def uses_fft(image_shape, kernel_shape, mode: str) -> bool:
    """Whether the kernels compute this correlation/convolution by FFT (else by direct sums)."""
    return direct_products(image_shape, kernel_shape, mode) >= FFT_FROM_PRODUCTS


# ------------------------------------------------------------ NumPy bodies


def _batched_pairs(a: np.ndarray, b: np.ndarray):
    """Broadcast the leading dims of a and b; return (batch shape, flat 2-D views of each)."""
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a = np.broadcast_to(a, batch + a.shape[-2:]).reshape((-1, *a.shape[-2:]))
    b = np.broadcast_to(b, batch + b.shape[-2:]).reshape((-1, *b.shape[-2:]))
    return batch, a, b


def _leading_ones(a: np.ndarray, ndim: int) -> np.ndarray:
    return a.reshape((1,) * (ndim - a.ndim) + a.shape)


def _direct_or_fft(x, k, mode: str, direct, flip: bool) -> np.ndarray:
    """``direct(x, k, mode)`` per image, or fftconvolve over the last two axes (broadcasting)."""
    if uses_fft(x.shape, k.shape, mode):
        ndim = max(x.ndim, k.ndim)
        x, k = _leading_ones(x, ndim), _leading_ones(k, ndim)
        # correlation is convolution with the kernel flipped in both axes
        return fftconvolve(x, k[..., ::-1, ::-1] if flip else k, mode=mode, axes=(-2, -1))
    batch, xs, ks = _batched_pairs(x, k)
    if not batch:
        return direct(xs[0], ks[0], mode=mode)
    out = np.stack([direct(xi, ki, mode=mode) for xi, ki in zip(xs, ks, strict=False)])
    return out.reshape(batch + out.shape[-2:])


def _correlate_valid(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    dtype = result_dtype(x, k)
    out = _direct_or_fft(to_numpy(x, dtype), to_numpy(k, dtype), "valid", correlate2d, flip=True)
    return from_numpy(out, x, dtype)


def _convolve_full(g: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    dtype = result_dtype(g, k)
    out = _direct_or_fft(to_numpy(g, dtype), to_numpy(k, dtype), "full", convolve2d, flip=False)
    return from_numpy(out, g, dtype)


def interior_columns(width: int) -> slice:
    """Columns of a half spectrum whose mirror image the full spectrum also holds."""
    return slice(1, (width + 1) // 2)


def _rfft2(x: torch.Tensor) -> torch.Tensor:
    # scipy.fft computes float32 in float32 (numpy.fft before 2.0 used float64)
    spectrum = scipy.fft.rfft2(to_numpy(x, x.dtype), axes=(-2, -1))
    return from_numpy(np.stack([spectrum.real, spectrum.imag], axis=-1), x, x.dtype)


def _rfft2_adjoint(grad_spectrum: torch.Tensor, width: int) -> torch.Tensor:
    """The adjoint of rfft2 (see fft.py): irfft2 of the half spectrum, interior columns halved."""
    dtype = grad_spectrum.dtype
    parts = to_numpy(grad_spectrum, dtype)
    spectrum = parts[..., 0] + 1j * parts[..., 1]  # a new array: safe to scale in place
    spectrum[..., interior_columns(width)] *= 0.5
    height = spectrum.shape[-2]
    out = scipy.fft.irfft2(spectrum, s=(height, width), axes=(-2, -1), norm="forward")
    return from_numpy(out, grad_spectrum, dtype)


# ------------------------------------------------------------ shapes, for fake kernels


def _broadcast_batch(a: torch.Tensor, b: torch.Tensor) -> tuple:
    return tuple(torch.broadcast_shapes(a.shape[:-2], b.shape[:-2]))


def _empty(like: torch.Tensor, shape, dtype) -> torch.Tensor:
    # the real kernels return new contiguous tensors on like's device
    return like.new_empty(shape, dtype=dtype)


def _correlate_valid_fake(x, k):
    out = (x.shape[-2] - k.shape[-2] + 1, x.shape[-1] - k.shape[-1] + 1)
    return _empty(x, _broadcast_batch(x, k) + out, result_dtype(x, k))


def _convolve_full_fake(g, k):
    out = (g.shape[-2] + k.shape[-2] - 1, g.shape[-1] + k.shape[-1] - 1)
    return _empty(g, _broadcast_batch(g, k) + out, result_dtype(g, k))


def _rfft2_fake(x):
    return _empty(x, (*tuple(x.shape[:-1]), x.shape[-1] // 2 + 1, 2), x.dtype)


def _rfft2_adjoint_fake(grad_spectrum, width):
    return _empty(
        grad_spectrum, (*tuple(grad_spectrum.shape[:-3]), grad_spectrum.shape[-3], width), grad_spectrum.dtype
    )


# ------------------------------------------------------------ registration

# (name, schema, NumPy body, fake kernel, dims each argument keeps after its batch dims)
_KERNELS = {
    "correlate_valid": ("(Tensor x, Tensor k) -> Tensor", _correlate_valid, _correlate_valid_fake, (2, 2)),
    "convolve_full": ("(Tensor g, Tensor k) -> Tensor", _convolve_full, _convolve_full_fake, (2, 2)),
    "rfft2": ("(Tensor x) -> Tensor", _rfft2, _rfft2_fake, (2,)),
    "rfft2_adjoint": ("(Tensor grad_spectrum, SymInt width) -> Tensor", _rfft2_adjoint, _rfft2_adjoint_fake, (3, None)),
}


def _define(name, schema, body, fake, core_dims):
    if not HAS_CUSTOM_OPS:
        return body
    # the schema is spelled out: annotations are strings in this module
    op = torch.library.custom_op(f"npext::{name}", body, mutates_args=(), schema=schema)
    op.register_fake(fake)

    def vmap_rule(info, in_dims, *args):
        # the kernel batches natively over leading dims: one call for the whole batch
        return batched_call(op, in_dims, args, core_dims)

    op.register_vmap(vmap_rule)
    return op


correlate_valid = _define("correlate_valid", *_KERNELS["correlate_valid"])
convolve_full = _define("convolve_full", *_KERNELS["convolve_full"])
rfft2 = _define("rfft2", *_KERNELS["rfft2"])
rfft2_adjoint = _define("rfft2_adjoint", *_KERNELS["rfft2_adjoint"])


def register_autograd(op, function) -> None:
    """Give ``op`` the backward of the Function built on it (one formula, two registrations).

    The Functions (conv.py, fft.py) are what npext's public code calls: their
    backward, jvp and vmap work under torch.func. A custom op's own autograd
    does not run under torch.func transforms, but registering it makes each op
    differentiable on its own (and lets torch.library.opcheck test it).
    """
    if HAS_CUSTOM_OPS:
        op.register_autograd(function.backward, setup_context=function.setup_context)
