"""The Functions under test, declared once (in the manner of PyTorch's OpInfo).

Every generic property in ``properties.py`` runs over ``FUNCTIONS``. To put
your own Function under test, add one ``FunctionUnderTest`` here with a case
strategy (see ``strategies/``) whose cases have ``.args`` and ``.grad_output``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable

import torch
import torch.nn.functional as F

import npext
from strategies import conv_cases, fft_cases


@dataclass(frozen=True)
class FunctionUnderTest:
    """One Function and everything the generic properties need to know of it.

    name:          label in test ids and reports
    apply:         the Function's ``apply`` (positional tensor arguments)
    cases:         ``cases(**options)`` -> strategy of cases with .args, .grad_output;
                   options: dtypes, layout_choices, max_side (and mixed_dtypes where
                   ``mixed_dtypes`` is True)
    oracle:        the same map in plain torch, differentiable by torch's autograd
    output_shape:  args -> the output's shape
    tolerance:     (dtype, args) -> dict(rtol=, atol=) for comparing a result of
                   that dtype with the oracle's float64 result
    any_order:     the backward is itself differentiable (gradgradcheck applies)
    mixed_dtypes:  the arguments may have different dtypes (torch's promotion applies)
    family:        which Function-specific laws apply ('conv' or 'fft')
    """

    name: str
    apply: Callable[..., torch.Tensor]
    cases: Callable
    oracle: Callable[..., torch.Tensor]
    output_shape: Callable[..., tuple]
    tolerance: Callable[..., dict]
    family: str
    any_order: bool = True
    mixed_dtypes: bool = False

    def with_apply(self, apply, name=None):
        return replace(self, apply=apply, name=name or self.name)


def eps(dtype: torch.dtype) -> float:
    return torch.finfo(dtype).eps


def sum_tolerance(dtype: torch.dtype, n_terms: int) -> dict:
    """Tolerance for sums of n_terms products of values in [-1, 1].

    Such a sum is at most n_terms in size, and a float sum of n terms is off
    by at most n * eps times the sum of their sizes: n_terms**2 * eps. The
    factor 4 covers the oracle's own rounding and the bias addition. For
    float64 and 64 terms that is 3.6e-12: a 1e-5 relative error fails.
    """
    e = 4 * eps(dtype)
    return dict(rtol=n_terms * e, atol=n_terms * n_terms * e)


def fft_tolerance(dtype: torch.dtype, n_points: int) -> dict:
    """Tolerance for FFT-based results on fft_cases (|X| <= 2 sqrt(n), |g| <= 1).

    A floating FFT's error is about log2(n) * eps times the 2-norm of the
    transform, here at most 2 n; 10 is a generous constant for that bound.
    """
    e = 10 * math.log2(2 * n_points) * eps(dtype)
    return dict(rtol=e, atol=2 * n_points * e)


def _conv_oracle(input, filter, bias):
    return F.conv2d(input[None, None], filter[None, None])[0, 0] + bias.reshape(())


def _conv_output_shape(input, filter, bias):
    return (input.shape[0] - filter.shape[0] + 1, input.shape[1] - filter.shape[1] + 1)


def _conv_tolerance(dtype, input, filter, bias):
    return sum_tolerance(dtype, input.numel())


def _fft_oracle(input):
    return torch.fft.rfft2(input).abs()


def _fft_output_shape(input):
    return (input.shape[0], input.shape[1] // 2 + 1)


def _fft_tolerance(dtype, input):
    return fft_tolerance(dtype, input.numel())


CONV = FunctionUnderTest(
    name="ScipyConv2dFunction",
    apply=npext.ScipyConv2dFunction.apply,
    cases=conv_cases,
    oracle=_conv_oracle,
    output_shape=_conv_output_shape,
    tolerance=_conv_tolerance,
    family="conv",
    mixed_dtypes=True,
)

RFFT2_ABS = FunctionUnderTest(
    name="RFFT2AbsFunction",
    apply=npext.RFFT2AbsFunction.apply,
    cases=fft_cases,
    oracle=_fft_oracle,
    output_shape=_fft_output_shape,
    tolerance=_fft_tolerance,
    family="fft",
)

#: The tutorial's FFT: the same declaration with its wrong backward.
BAD_FFT = RFFT2_ABS.with_apply(npext.BadFFTFunction.apply, name="BadFFTFunction")

FUNCTIONS = (CONV, RFFT2_ABS)
