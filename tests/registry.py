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

import torch
import torch.nn.functional as F

import npext
from npext._bridge import compute_dtype  # noqa: F401 (the dtype NumPy computes in: half-precision tolerances)
from npext._kernels import HAS_CUSTOM_OPS
from npext.conv import _ConvolveFull, _CorrelateValid
from npext.fft import _RFFT2, _RFFT2Adjoint
from npext.testing import FunctionUnderTest, sum_tolerance
from strategies import conv_cases, convolve_cases, correlate_cases, fft_cases, rfft2_adjoint_cases, rfft2_cases
from tests.laws import CONV_LAWS, FFT_LAWS, fft_tolerance

# Every npext Function supports everything: a backward built from Functions
# (any order), a jvp staticmethod and a vmap staticmethod.
# compile needs torch.library.custom_op (torch >= 2.4): before it the compile
# properties are skipped, with the flag named in the reason
SUPPORTS_ALL = {
    "supports_gradgrad": True,
    "supports_forward_ad": True,
    "supports_vmap": True,
    "supports_compile": HAS_CUSTOM_OPS,
}


def _conv_oracle(input, filter, bias):
    return F.conv2d(input[None, None], filter[None, None])[0, 0] + bias.reshape(())


def _conv_tolerance(dtype, input, filter, bias):
    return sum_tolerance(dtype, input.numel())


def _fft_oracle(input):
    return torch.fft.rfft2(input).abs()


def _fft_tolerance(dtype, input):
    return fft_tolerance(dtype, input.numel())


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
    name="RFFT2AbsFunction",
    apply=npext.RFFT2AbsFunction.apply,
    cases=fft_cases,
    oracle=_fft_oracle,
    tolerance=_fft_tolerance,
    extra_properties=FFT_LAWS,
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


def _block_tolerance(dtype, a, k):
    # each element sums at most a.numel() products (k fits inside a)
    return sum_tolerance(dtype, a.numel())


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
    tolerance=_block_tolerance,
    case_options={"mixed_dtypes": True},
    **SUPPORTS_ALL,
)

CONVOLVE_FULL = FunctionUnderTest(
    name="_ConvolveFull",
    apply=_ConvolveFull.apply,
    cases=convolve_cases,
    oracle=_convolve_oracle,
    tolerance=_block_tolerance,
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
FUNCTIONS = (CONV, RFFT2_ABS)
#: The Functions the public ones' backwards are made of.
BUILDING_BLOCKS = (CORRELATE_VALID, CONVOLVE_FULL, RFFT2, RFFT2_ADJOINT)
#: Everything the generic properties run on.
ENTRIES = FUNCTIONS + BUILDING_BLOCKS
