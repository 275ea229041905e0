"""Every NumPy/SciPy computation in npext, once: the linear kernels.

Four linear maps make up both Functions and all their derivatives (with
``rfft2_abs``, the forward of ``|rfft2|`` in one call), each an
``npext.ops`` kernel (the custom op ``npext::<name>``). Each takes tensors
with leading batch dimensions (broadcast like NumPy's) over the last two,
and computes the whole batch in as few SciPy calls as it can:

* ``correlate_valid(x, k)``   (..., H, W), (..., kh, kw) -> (..., H-kh+1, W-kw+1)
* ``convolve_full(g, k)``     (..., h, w), (..., kh, kw) -> (..., h+kh-1, w+kw-1)
* ``rfft2(x)``                (..., H, W) -> (..., H, W//2+1, 2): real and imaginary parts
* ``rfft2_abs(x)``            (..., H, W) -> (|rfft2(x)|, rfft2(x) as parts): one transform for both
* ``rfft2_adjoint(G, width)`` (..., H, W//2+1, 2) -> (..., H, width): the adjoint of rfft2

Each computes in float64 for float64 and in float32 for narrower floats,
and returns torch's promotion of its arguments' dtypes, rounded once.

Correlation and convolution choose their method by size, as
``scipy.signal.choose_conv_method`` does, but with a fixed, documented rule
(``method``: a cost model of one image's shapes, with constants measured
once; see below) so that results, and the tolerances the tests derive for
them, do not depend on timings, the batch size or the SciPy version. Small
problems go to SciPy's compiled direct sum, larger ones with few filter taps
(or, for grad_filter, few output positions) to a NumPy loop over those, and
large filters on large images to the FFT.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import scipy.fft
import torch
from scipy.signal import convolve2d, correlate2d

from ._bridge import result_dtype
from .ops import kernel

# ------------------------------------------------------------ choosing the method
#
# A correlation or convolution is computed one of four ways, all exact direct
# sums except the FFT:
#
# * "scipy":     SciPy's compiled direct sum (correlate2d/convolve2d), image by image;
# * "taps":      a NumPy loop over the kh*kw filter taps, each pass one
#                multiply-add vectorised over the whole output (and the batch);
# * "positions": a NumPy loop over the output positions (valid) or over the
#                elements of the smaller operand (full), each pass one window's
#                products summed (valid) or one scaled copy of the other operand
#                added (full): the loop for a filter nearly as large as the image,
#                as in grad_filter = correlate_valid(x, grad_output);
# * "fft":       real FFTs, as scipy.signal.fftconvolve computes them.
#
# ``method`` picks the cheapest under a cost model of the shapes of one image
# (never of timings, the dtype or the batch size), so that a batched call
# computes every image exactly as the unbatched call does: vmap equals a
# Python loop bit for bit, and each result's error bound follows from its
# shapes. The constants were measured on the shared 2-core x86_64 this
# project is developed on (NumPy 2.4, SciPy 1.17, float32 and float64, with
# other jobs running, so they are rounded: the model only has to rank methods
# whose costs differ by more than that noise), in nanoseconds:

#: SciPy's direct sum: about 10 us a call plus 4 ns a product (2.7 to 4.5 measured).
SCIPY_CALL_NS = 10_000
SCIPY_NS_PER_PRODUCT = 4
#: The NumPy loops: about 5 us a pass of the Python loop (3.5 to 10 measured)
#: plus 1.2 ns a product (0.8 to 1.4 measured; float32 is the faster end).
LOOP_PASS_NS = 5_000
LOOP_NS_PER_PRODUCT = 1.2
#: The FFT (``_fft_convolve``: three real 2-D transforms): about 80 us a call
#: (65 to 100 measured; scipy.signal.fftconvolve's argument handling made it
#: 150 to 230) plus 2.5 ns a point per log2(points), counting the points of the
#: full output (h+kh-1) x (w+kw-1) that the transforms pad to a fast length
#: (0.6 to 2.8 measured; float32 is the faster end).
FFT_CALL_NS = 80_000
FFT_NS_PER_POINT_LOG2 = 2.5

METHODS = ("scipy", "taps", "positions", "fft")


def _sizes(image_shape, kernel_shape, mode: str):
    """(kernel taps, output positions or image elements, products, FFT points) of one image."""
    (h, w), (kh, kw) = tuple(image_shape[-2:]), tuple(kernel_shape[-2:])
    taps = kh * kw
    others = (h - kh + 1) * (w - kw + 1) if mode == "valid" else h * w
    return taps, others, taps * others, (h + kh - 1) * (w + kw - 1)


def direct_products(image_shape, kernel_shape, mode: str) -> int:
    """Products a direct 2-D correlation/convolution of one image sums, for 'valid' or 'full'."""
    return _sizes(image_shape, kernel_shape, mode)[2]


def method_costs(image_shape, kernel_shape, mode: str) -> dict:
    """The modelled nanoseconds of each method for one image (see the constants above)."""
    taps, others, products, points = _sizes(image_shape, kernel_shape, mode)
    loop = LOOP_NS_PER_PRODUCT * products
    return {
        "scipy": SCIPY_CALL_NS + SCIPY_NS_PER_PRODUCT * products,
        # only the loop over the fewer of the two is ever run
        "taps": LOOP_PASS_NS * taps + loop if taps <= others else math.inf,
        "positions": LOOP_PASS_NS * others + loop if others < taps else math.inf,
        "fft": FFT_CALL_NS + FFT_NS_PER_POINT_LOG2 * points * math.log2(points),
    }


def method(image_shape, kernel_shape, mode: str) -> str:
    """How the kernels compute this 'valid' correlation or 'full' convolution: one of ``METHODS``.

    The cheapest under ``method_costs`` (ties go to the earlier, direct,
    method). The NumPy loop runs over the filter taps when there are no more
    of them than output positions ('valid') or image elements ('full'), and
    over those otherwise: ``"taps"`` and ``"positions"`` name which.
    """
    return _method(tuple(image_shape[-2:]), tuple(kernel_shape[-2:]), mode)


@functools.lru_cache(maxsize=1024)
def _method(image_shape: tuple, kernel_shape: tuple, mode: str) -> str:
    # cached: a model of the shapes alone, asked three times per forward + backward
    costs = method_costs(image_shape, kernel_shape, mode)
    return min(METHODS, key=costs.__getitem__)


def uses_fft(image_shape, kernel_shape, mode: str) -> bool:
    """Whether the kernels compute this correlation/convolution by FFT (else by direct sums)."""
    return method(image_shape, kernel_shape, mode) == "fft"


# ------------------------------------------------------------ SciPy's compiled routines
#
# At small sizes SciPy's public wrappers cost as much as the work they wrap:
# scipy.fft.rfft2 and irfft2 spend 4-5 us a call in Python (normalising their
# arguments, dispatching to a backend) around pocketfft's C++ transform,
# which takes 3 us at 32x32; correlate2d and convolve2d spend 1-2 us around
# their compiled direct sum (13 us for 32x32 with a 3x3 filter). The kernels
# call those routines as the wrappers call them, with the arguments the
# wrappers pass for theirs, through SciPy's private modules (the transforms'
# moved from _pocketfft to _duccfft in SciPy 1.18): where a module
# is missing, or answers otherwise than the public function on a small
# check at import, the kernels call the public function. Both give the same
# bits. The transforms so bypass scipy.fft.set_backend: a backend a user
# sets (pyFFTW, say) no longer computes npext's transforms.


def _same_as_public(check):
    """``check()``'s routine if it gives the public function's bits; None if not, or if the import fails."""
    try:
        routine, same = check()
    except Exception:  # private modules: any change to them means the public route
        return None
    return routine if same else None


def _pocketfft_check():  # pragma: no mutate block (its example is any example: tests pin what it gates)
    try:
        from scipy.fft._duccfft import pyduccfft as pypocketfft  # SciPy >= 1.18: pocketfft's successor, in ducc
    except ImportError:
        from scipy.fft._pocketfft import pypocketfft  # SciPy 1.4 to 1.17

    x = np.array([[1.0, -2.0, 0.5], [3.0, 0.25, -1.0]])
    spectrum = pypocketfft.r2c(x, _LAST_TWO)  # forward, unnormalised, one thread: its defaults
    back = pypocketfft.c2r(spectrum, _LAST_TWO, 3, False)  # the inverse, unnormalised
    public = scipy.fft.irfft2(spectrum, s=(2, 3), norm="forward")
    return pypocketfft, np.array_equal(spectrum, scipy.fft.rfft2(x)) and np.array_equal(back, public)


def _direct_sum_check():  # pragma: no mutate block (as _pocketfft_check)
    from scipy.signal import _sigtools

    x = np.array([[1.0, -2.0, 0.5], [3.0, 0.25, -1.0], [0.5, 2.0, -0.75]])
    k = np.array([[0.5, -1.0], [2.0, 0.25]])
    # arguments: flip (1, its default: convolve), mode (2, its default: full), boundary (0: fill) and fill value (0)
    valid = np.array_equal(_sigtools._convolve2d(x, k, 0, _VALID), correlate2d(x, k, mode="valid"))
    full = np.array_equal(_sigtools._convolve2d(x, k), convolve2d(x, k, mode="full"))
    return _sigtools._convolve2d, valid and full


_LAST_TWO = (-2, -1)
#: scipy.signal's code for mode "valid" (its _valfrommode)
_VALID = 0
_POCKETFFT = _same_as_public(_pocketfft_check)
_DIRECT_SUM = _same_as_public(_direct_sum_check)
_FFT_REAL = (np.dtype(np.float32), np.dtype(np.float64))
_FFT_COMPLEX = (np.dtype(np.complex64), np.dtype(np.complex128))


def _rfft2(x: np.ndarray) -> np.ndarray:
    """scipy.fft.rfft2(x), over the last two axes: float32 computed in float32 (numpy.fft before 2.0 used float64)."""
    if _POCKETFFT is not None and x.dtype in _FFT_REAL and x.size:
        return _POCKETFFT.r2c(x, _LAST_TWO)
    return scipy.fft.rfft2(x)


def _irfft2(spectrum: np.ndarray, width: int) -> np.ndarray:
    """scipy.fft.irfft2 with norm 'forward' (no 1/(H*W)) of a half spectrum, over the last two axes."""
    if _POCKETFFT is not None and spectrum.dtype in _FFT_COMPLEX and spectrum.size:
        return _POCKETFFT.c2r(spectrum, _LAST_TWO, width, False)
    return scipy.fft.irfft2(spectrum, s=(spectrum.shape[-2], width), norm="forward")


def _correlate2d_valid(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """correlate2d(x, k, 'valid') for 2-D x and k."""
    if _DIRECT_SUM is not None and x.shape[0] >= k.shape[0] and x.shape[1] >= k.shape[1]:  # else SciPy swaps them
        return _DIRECT_SUM(x, k, 0, _VALID)  # no flip: correlate
    return correlate2d(x, k, mode="valid")


def _convolve2d_full(g: np.ndarray, k: np.ndarray) -> np.ndarray:
    """convolve2d(g, k, 'full') for 2-D g and k."""
    if _DIRECT_SUM is not None:
        return _DIRECT_SUM(g, k)  # flip and mode full: its defaults, as convolve2d's
    return convolve2d(g, k)  # mode "full": its default


# ------------------------------------------------------------ NumPy bodies


def _batched_pairs(a: np.ndarray, b: np.ndarray):
    """Broadcast the leading dims of a and b; return (batch shape, flat 2-D views of each)."""
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    count = math.prod(batch)
    a = np.broadcast_to(a, batch + a.shape[-2:]).reshape((count, *a.shape[-2:]))
    b = np.broadcast_to(b, batch + b.shape[-2:]).reshape((count, *b.shape[-2:]))
    return batch, a, b


def _weights(k: np.ndarray):
    """k's elements for scaling whole arrays: Python floats for one 2-D k (cheaper), else (..., 1, 1) views.

    A Python float times a float32 array is computed in float32 (NumPy 2's
    promotion), and k's float32 values are exact as floats: both forms give
    the same products, bit for bit.
    """
    if k.ndim == 2:
        return k.tolist()
    return [[k[..., a, b, None, None] for b in range(k.shape[-1])] for a in range(k.shape[-2])]


def _loop_valid(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """The valid correlation by a NumPy loop over the taps of k or the output positions, the fewer.

    x and k share one dtype (``_compute``'s callers convert both), the result's.
    """
    kh, kw = k.shape[-2:]
    oh, ow = x.shape[-2] - kh + 1, x.shape[-1] - kw + 1
    batch = np.broadcast_shapes(x.shape[:-2], k.shape[:-2])
    out = np.empty_like(x, order="C", shape=(*batch, oh, ow))  # x's dtype; C order for the views below
    if kh * kw <= oh * ow:
        # out = sum over taps (a, b) of k[a, b] * x[a:a+oh, b:b+ow], taps in row-major order
        weights, scaled = _weights(k), np.empty_like(out)
        for a in range(kh):
            for b in range(kw):
                window = x[..., a : a + oh, b : b + ow]
                if a == b == 0:
                    np.multiply(window, weights[0][0], out=out)
                else:
                    np.multiply(window, weights[a][b], out=scaled)
                    out += scaled
        return out
    # out[i, j] = the sum of x[i:i+kh, j:j+kw] * k, one window per pass; NumPy
    # sums each image's products along one contiguous axis, pairwise, in the
    # same order whatever the batch
    products = np.empty_like(out, shape=(*batch, kh, kw))
    flat = products.reshape((*batch, kh * kw))
    for i in range(oh):
        for j in range(ow):
            np.multiply(x[..., i : i + kh, j : j + kw], k, out=products)
            out[..., i, j] = flat.sum(axis=-1)
    return out


def _loop_full(g: np.ndarray, k: np.ndarray) -> np.ndarray:
    """The full convolution by a NumPy loop over the elements of the smaller operand.

    out[a:a+h, b:b+w] += s[a, b] * big for each element (a, b) of the smaller
    operand s (convolution commutes; k on a tie), in row-major order. g and k
    share one dtype, the result's.
    """
    small, big = (k, g) if k.shape[-2] * k.shape[-1] <= g.shape[-2] * g.shape[-1] else (g, k)
    (sh, sw), (h, w) = small.shape[-2:], big.shape[-2:]
    batch = np.broadcast_shapes(g.shape[:-2], k.shape[:-2])
    out = np.zeros_like(g, shape=(*batch, h + sh - 1, w + sw - 1))
    weights, scaled = _weights(small), np.empty_like(out, shape=(*batch, h, w))
    for a in range(sh):
        for b in range(sw):
            np.multiply(big, weights[a][b], out=scaled)
            out[..., a : a + h, b : b + w] += scaled
    return out


def _fft_convolve(x: np.ndarray, k: np.ndarray, mode: str) -> np.ndarray:
    """The 'full' or 'valid' convolution of x with k over the last two axes, by real FFTs (broadcasting).

    What ``fftconvolve(x, k, mode, axes=(-2, -1))`` computes, the same way
    (transforms padded to ``next_fast_len``), without its argument handling:
    that cost ~100 us a call, most of a small image's FFT convolution.
    """
    (h, w), (kh, kw) = x.shape[-2:], k.shape[-2:]
    full = (h + kh - 1, w + kw - 1)
    padded = tuple(scipy.fft.next_fast_len(n, real=True) for n in full)
    # scipy.fft's 2-D transforms work on the last two axes: the rest is the batch
    spectrum = scipy.fft.rfft2(x, padded) * scipy.fft.rfft2(k, padded)
    out = scipy.fft.irfft2(spectrum, padded)
    if mode == "full":
        return out[..., : full[0], : full[1]]
    return out[..., kh - 1 : h, kw - 1 : w]


def _scipy_direct(x, k, direct) -> np.ndarray:
    """``direct(x, k)`` image by image over the broadcast batch."""
    if x.ndim == k.ndim == 2:
        return direct(x, k)
    batch, xs, ks = _batched_pairs(x, k)
    out = np.stack([direct(xi, ki) for xi, ki in zip(xs, ks, strict=True)])
    return out.reshape(batch + out.shape[-2:])


def _compute(x, k, mode: str) -> np.ndarray:
    """The valid correlation of x with k (mode 'valid') or full convolution of x with k ('full')."""
    how = method(x.shape, k.shape, mode)
    valid = mode == "valid"
    if how == "fft":
        # correlation is convolution with the kernel flipped in both axes
        return _fft_convolve(x, k[..., ::-1, ::-1] if valid else k, mode)
    if how == "scipy":
        return _scipy_direct(x, k, _correlate2d_valid if valid else _convolve2d_full)
    return _loop_valid(x, k) if valid else _loop_full(x, k)


# ------------------------------------------------------------ the kernels (npext.ops)


def _broadcast_batch(a: torch.Tensor, b: torch.Tensor) -> tuple:
    """The broadcast batch dims of a and b (torch.broadcast_shapes costs 5 us: only for two batches)."""
    if a.dim() > 2 < b.dim():
        return tuple(torch.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
    return tuple(a.shape[:-2] or b.shape[:-2])


def _correlate_valid_fake(x, k):
    out = (x.shape[-2] - k.shape[-2] + 1, x.shape[-1] - k.shape[-1] + 1)
    return x.new_empty(_broadcast_batch(x, k) + out, dtype=result_dtype(x, k))


def _convolve_full_fake(g, k):
    out = (g.shape[-2] + k.shape[-2] - 1, g.shape[-1] + k.shape[-1] - 1)
    return g.new_empty(_broadcast_batch(g, k) + out, dtype=result_dtype(g, k))


@kernel("npext::correlate_valid", fake=_correlate_valid_fake, core_dims=(2, 2))
def correlate_valid(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    return _compute(x, k, "valid")


@kernel("npext::convolve_full", fake=_convolve_full_fake, core_dims=(2, 2))
def convolve_full(g: np.ndarray, k: np.ndarray) -> np.ndarray:
    return _compute(g, k, "full")


def _correlate_valid_backward_fake(grad, x, k):
    dtype = result_dtype(grad, x, k)
    batch = tuple(torch.broadcast_shapes(grad.shape[:-2], x.shape[:-2], k.shape[:-2]))
    return grad.new_empty((*batch, *x.shape[-2:]), dtype=dtype), grad.new_empty((*batch, *k.shape[-2:]), dtype=dtype)


@kernel("npext::correlate_valid_backward", fake=_correlate_valid_backward_fake, core_dims=(2, 2, 2))
def correlate_valid_backward(grad: np.ndarray, x: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(convolve_full(grad, k), correlate_valid(x, grad)): both gradients of correlate_valid(x, k) in one call.

    For a first-order backward (its own derivatives are not defined), where
    it saves a call; each result is computed as its own kernel computes it.
    """
    if grad.ndim == x.ndim == k.ndim == 2:  # one example (the common case): no batch to broadcast
        return _compute(grad, k, "full"), _compute(x, grad, "valid")
    batch = np.broadcast_shapes(grad.shape[:-2], x.shape[:-2], k.shape[:-2])
    return _with_batch(_compute(grad, k, "full"), batch), _with_batch(_compute(x, grad, "valid"), batch)


def _with_batch(result: np.ndarray, batch: tuple) -> np.ndarray:
    """``result`` for every example of ``batch``: one result is each example's where its batch is smaller
    (the filter's gradient when only the filter is batched does not depend on which filter)."""
    return result if result.shape[:-2] == batch else np.broadcast_to(result, batch + result.shape[-2:])


def interior_columns(width: int) -> slice:
    """Columns of a half spectrum whose mirror image the full spectrum also holds."""
    return slice(1, (width + 1) // 2)


def _parts(spectrum: np.ndarray) -> np.ndarray:
    """A complex array's real and imaginary parts as a trailing dim of 2: a view, no copy."""
    real = spectrum.real.dtype
    return np.ascontiguousarray(spectrum).view(real).reshape((*spectrum.shape, 2))


def _rfft2_fake(x):
    return x.new_empty((*x.shape[:-1], x.shape[-1] // 2 + 1, 2))


@kernel("npext::rfft2", fake=_rfft2_fake, core_dims=(2,))
def rfft2(x: np.ndarray) -> np.ndarray:
    return _parts(_rfft2(x))


def _rfft2_abs_fake(x):
    parts = _rfft2_fake(x)
    return parts.new_empty(parts.shape[:-1]), parts


@kernel("npext::rfft2_abs", fake=_rfft2_abs_fake, core_dims=(2,))
def rfft2_abs(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(|X|, X as parts) for X = rfft2(x): one transform, and |X| by NumPy's hypot, as torch.abs computes it."""
    spectrum = _rfft2(x)
    return np.abs(spectrum), _parts(spectrum)


def _halved(parts: np.ndarray, width: int) -> np.ndarray:
    """A copy of a half spectrum's parts with the interior columns halved: irfft2 counts them twice."""
    halved = np.array(parts)  # a copy: the caller's parts stay as they are
    halved[..., interior_columns(width), :] *= 0.5  # on the real parts: cheaper than a complex product
    return halved


def _as_complex(parts: np.ndarray) -> np.ndarray:
    """The complex array whose real and imaginary parts ``parts`` holds in its last dim: a view where it can be."""
    return np.ascontiguousarray(parts).view(np.result_type(parts.dtype, np.complex64))[..., 0]


def _rfft2_adjoint_fake(grad_spectrum, width):
    return grad_spectrum.new_empty((*grad_spectrum.shape[:-2], width))


@kernel("npext::rfft2_adjoint", fake=_rfft2_adjoint_fake, core_dims=(3, None))
def rfft2_adjoint(grad_spectrum: np.ndarray, width: int) -> np.ndarray:
    """The adjoint of rfft2 (see fft.py): irfft2 of the half spectrum, interior columns halved."""
    return _irfft2(_as_complex(_halved(grad_spectrum, width)), width)


def _rfft2_abs_backward_fake(grad_magnitude, magnitude, parts, width):
    batch = torch.broadcast_shapes(grad_magnitude.shape[:-2], magnitude.shape[:-2], parts.shape[:-3])
    return parts.new_empty((*batch, parts.shape[-3], width), dtype=result_dtype(grad_magnitude, magnitude, parts))


@kernel("npext::rfft2_abs_backward", fake=_rfft2_abs_backward_fake, core_dims=(2, 2, 3, None))
def rfft2_abs_backward(grad_magnitude: np.ndarray, magnitude: np.ndarray, parts: np.ndarray, width: int) -> np.ndarray:
    """``rfft2_adjoint(parts * grad_magnitude / magnitude)``, 0 where the magnitude is: |rfft2|'s backward in one go.

    For a first-order backward only (its own derivatives are not defined):
    the phase's division, the halving and the product each make one pass.
    """
    scale = np.zeros(np.broadcast_shapes(grad_magnitude.shape, magnitude.shape), magnitude.dtype)
    np.divide(grad_magnitude, magnitude, out=scale, where=magnitude > 0)
    scale[..., interior_columns(width)] *= 0.5
    return _irfft2(_as_complex(parts) * scale, width)  # the product is a new array
