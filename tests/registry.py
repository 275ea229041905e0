"""npext's Functions under test, declared once with the public ``npext.testing`` API.

Every generic property of ``npext.testing`` runs over ``ENTRIES``
(``test_properties.py``), and each family's laws (``laws.py``) run as extra
properties of its entries. Besides the public Functions, the building blocks
their backwards are made of are entries too: each is a Function in its own
right (its backward and jvp run in double backward and forward-over-reverse),
so each gets the whole contract.

This module and the catalogue (``mutants.py``) are the only places in the
tests that name npext's internals.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

import npext
from npext._bridge import compute_dtype  # noqa: F401 (the dtype NumPy computes in: half-precision tolerances)
from npext._kernels import uses_fft
from npext.conv import _ConvolveFull, _CorrelateValid
from npext.fft import _RFFT2, _RFFT2Adjoint
from npext.testing import GRID_STEP, FunctionUnderTest, eps, sum_tolerance
from npext.testing.properties.compile import COMPILE_SKIP_REASON
from strategies import (
    conv_cases,
    convolve_cases,
    correlate_cases,
    fft_cases,
    fft_spectrum_cases,
    rfft2_adjoint_cases,
    rfft2_cases,
)
from strategies.shapes import SMALL_MAX_SIDE
from tests.laws import CONV_LAWS, FFT_LAWS, fft_tolerance

# Every npext Function supports everything: a backward built from Functions
# (any order), a jvp staticmethod and a vmap staticmethod.
# compile needs torch.library.custom_op (torch >= 2.4) and Dynamo on this Python
# (COMPILE_SKIP_REASON): elsewhere the compile properties are skipped, with the
# flag named in the reason
SUPPORTS_ALL = {
    "supports_gradgrad": True,
    "supports_forward_ad": True,
    "supports_vmap": True,
    "supports_compile": COMPILE_SKIP_REASON is None,
}


def _conv_oracle(input, filter, bias):
    return F.conv2d(input[None, None], filter[None, None])[0, 0] + bias.reshape(())


# ------------------------------------------------------------ tolerances of the bilinear maps
#
# One tolerance covers a case's output and every gradient, so it is the
# loosest of theirs, derived per element (not from the input's size):
#
# * direct sums: an element that sums m products of values in [-1, 1] is off
#   by at most m * eps times the sum of |products| <= m (recursive summation;
#   the oracle, in float64, adds its own): ``sum_tolerance(dtype, m)``, with m
#   the most products any one result element sums (kh*kw for the output and
#   the input gradient, oh*ow for the filter and bias gradients).
# * exact: values on the 1/16 grid (large cases: every tensor, grad_output
#   included, is drawn by grid_tensors) make every product a multiple of 2**-8,
#   and a sum of m of them is exact while m * 2**8 fits the mantissa (2**24 in
#   float32): then every summation order gives the same bits, ours and the
#   float64 oracle's alike, and the tolerance is zero: a one-ulp error fails.
# * FFT: a correlation computed through an FFT of size N errs by about
#   eps * log2(N) * ||a||_2 * ||b||_2 in every element (not by a direct sum's
#   bound, and never exactly): with values in [-1, 1], ||a||_2 <= sqrt(a.numel()).
#   10 is a generous constant for that bound, as in laws.fft_tolerance.

FFT_ERROR_CONSTANT = 10


def _on_grid(*tensors) -> bool:
    return all(torch.equal(t.double() / GRID_STEP, (t.double() / GRID_STEP).round()) for t in tensors)


def bilinear_tolerance(dtype, *, terms: int, calls, grid_tensors=(), large: bool = False) -> dict:
    """The tolerance for every result of a case whose kernels make ``calls``.

    ``calls``: (a_shape, b_shape, mode) of each correlation/convolution the
    forward and backward make; ``terms``: the most products one result
    element sums; ``grid_tensors``: the case's arguments, which decide
    exactness for a ``large`` case (whose grad_output is on the grid too).
    """
    fft_calls = [(a, b) for a, b, mode in calls if uses_fft(a, b, mode)]
    mantissa = {torch.float32: 24, torch.float64: 53}.get(dtype, 0)
    exact_sums = terms * GRID_STEP**-2 < 2.0**mantissa
    if large and exact_sums and _on_grid(*grid_tensors):
        tol = {"rtol": 0.0, "atol": 0.0}  # the direct sums (and the bias's) are exact
    else:
        tol = sum_tolerance(dtype, terms)
    if fft_calls:
        size = max(math.prod(a) * math.prod(b) for a, b in fft_calls)
        points = max(math.prod(a) + math.prod(b) for a, b in fft_calls)
        tol["atol"] += FFT_ERROR_CONSTANT * math.log2(2 * points) * eps(dtype) * math.sqrt(size)
    return tol


def _is_large(image) -> bool:
    # a side past the small class's is a large case: every tensor on the grid
    return max(image.shape) > SMALL_MAX_SIDE


def _correlation_tolerance(dtype, x, k, *rest):
    """For x (H, W) correlated with k: the output, grad_x = full(g, k), grad_k = valid(x, g)."""
    (h, w), (kh, kw) = x.shape, k.shape
    out = (h - kh + 1, w - kw + 1)
    calls = [(x.shape, k.shape, "valid"), (out, k.shape, "full"), (x.shape, out, "valid")]
    terms = max(kh * kw, out[0] * out[1])
    return bilinear_tolerance(dtype, terms=terms, calls=calls, grid_tensors=(x, k, *rest), large=_is_large(x))


def _conv_tolerance(dtype, input, filter, bias):
    return _correlation_tolerance(dtype, input, filter, bias)


def _fft_oracle(input):
    return torch.fft.rfft2(input).abs()


def _fft_tolerance(dtype, input):
    return fft_tolerance(dtype, input.numel())


def _fft_with_spectrum_oracle(input):
    spectrum = torch.fft.rfft2(input)
    return spectrum.abs(), torch.view_as_real(spectrum)


CONV = FunctionUnderTest(
    name="ScipyConv2dFunction",
    apply=npext.ScipyConv2dFunction.apply,
    cases=conv_cases,
    oracle=_conv_oracle,
    tolerance=_conv_tolerance,
    extra_properties=CONV_LAWS,
    case_options={"mixed_dtypes": True},
    **SUPPORTS_ALL,
)

RFFT2_ABS = FunctionUnderTest(
    name="rfft2_abs",
    apply=npext.rfft2_abs,
    cases=fft_cases,
    oracle=_fft_oracle,
    tolerance=_fft_tolerance,
    extra_properties=FFT_LAWS,
    **SUPPORTS_ALL,
)

#: The Function itself: |X| and the spectrum X it keeps for its backward, both differentiable.
RFFT2_ABS_WITH_SPECTRUM = FunctionUnderTest(
    name="RFFT2AbsFunction",
    apply=npext.RFFT2AbsFunction.apply,
    cases=fft_spectrum_cases,
    oracle=_fft_with_spectrum_oracle,
    tolerance=_fft_tolerance,
    output_names=("magnitude", "spectrum"),
    **SUPPORTS_ALL,
)

#: The tutorial's FFT: the same declaration with its wrong backward.
BAD_FFT = RFFT2_ABS.with_apply(npext.BadFFTFunction.apply, name="BadFFTFunction")


# ------------------------------------------------------------ the building blocks


def _correlate_oracle(x, k):
    return F.conv2d(x[None, None], k[None, None])[0, 0]


def _convolve_oracle(g, k):
    # conv_transpose2d scatters g through k: the full convolution
    return F.conv_transpose2d(g[None, None], k[None, None])[0, 0]


def _convolution_tolerance(dtype, g, k):
    """For g (h, w) convolved with k: the output, grad_g = valid(G, k), grad_k = valid(G, g)."""
    (h, w), (kh, kw) = g.shape, k.shape
    out = (h + kh - 1, w + kw - 1)
    calls = [(g.shape, k.shape, "full"), (out, k.shape, "valid"), (out, g.shape, "valid")]
    return bilinear_tolerance(dtype, terms=max(kh * kw, h * w), calls=calls, grid_tensors=(g, k), large=_is_large(g))


def _rfft2_oracle(x):
    return torch.view_as_real(torch.fft.rfft2(x))


def _rfft2_adjoint_oracle(spectrum, width):
    """The adjoint of rfft2 as torch's own autograd sees it: the vjp of _rfft2_oracle at any x."""
    x = torch.zeros(spectrum.shape[0], width, dtype=spectrum.dtype)
    _, vjp = torch.func.vjp(_rfft2_oracle, x)
    return vjp(spectrum)[0]


def _rfft2_tolerance(dtype, x):
    return fft_tolerance(dtype, x.numel())


def _rfft2_adjoint_tolerance(dtype, spectrum, width):
    return fft_tolerance(dtype, spectrum.shape[0] * width)


CORRELATE_VALID = FunctionUnderTest(
    name="_CorrelateValid",
    apply=_CorrelateValid.apply,
    cases=correlate_cases,
    oracle=_correlate_oracle,
    tolerance=_correlation_tolerance,
    case_options={"mixed_dtypes": True},
    **SUPPORTS_ALL,
)

CONVOLVE_FULL = FunctionUnderTest(
    name="_ConvolveFull",
    apply=_ConvolveFull.apply,
    cases=convolve_cases,
    oracle=_convolve_oracle,
    tolerance=_convolution_tolerance,
    case_options={"mixed_dtypes": True},
    **SUPPORTS_ALL,
)

RFFT2 = FunctionUnderTest(
    name="_RFFT2",
    apply=_RFFT2.apply,
    cases=rfft2_cases,
    oracle=_rfft2_oracle,
    tolerance=_rfft2_tolerance,
    **SUPPORTS_ALL,
)

RFFT2_ADJOINT = FunctionUnderTest(
    name="_RFFT2Adjoint",
    apply=_RFFT2Adjoint.apply,
    cases=rfft2_adjoint_cases,
    oracle=_rfft2_adjoint_oracle,
    tolerance=_rfft2_adjoint_tolerance,
    **SUPPORTS_ALL,
)

#: The public Functions: the catalogue's mutants are wrong versions of these.
FUNCTIONS = (CONV, RFFT2_ABS, RFFT2_ABS_WITH_SPECTRUM)
#: The Functions the public ones' backwards are made of.
BUILDING_BLOCKS = (CORRELATE_VALID, CONVOLVE_FULL, RFFT2, RFFT2_ADJOINT)
#: Everything the generic properties run on.
ENTRIES = FUNCTIONS + BUILDING_BLOCKS
