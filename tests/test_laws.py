"""The laws, and every property, on pinned edge cases; the building blocks' adjoint identities.

Hypothesis draws shapes at random; the edge cases that matter are pinned
here with @example so that every run tries them: 1xN, Nx1, a filter as large
as the input, 1x1, odd and even widths (with and without a Nyquist column).
"""

import torch
from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st
from torch.testing import assert_close

from npext.testing import inner, properties_for, sum_tolerance
from strategies import conv_cases, fft_cases, float_tensors, image_shapes
from tests.laws import fft_tolerance
from tests.pinned_cases import conv_case, fft_case
from tests.registry import CONV, CONVOLVE_FULL, CORRELATE_VALID, RFFT2, RFFT2_ABS, RFFT2_ADJOINT


# Only the pinned examples: test_properties.py draws the random cases for every property.
@settings(phases=[Phase.explicit])
@given(case=conv_cases(mixed_dtypes=True))
@example(case=conv_case((1, 7), (1, 3)))  # thin 1xN
@example(case=conv_case((7, 1), (3, 1)))  # thin Nx1
@example(case=conv_case((5, 6), (5, 6)))  # filter equal to the input: 1x1 output
@example(case=conv_case((1, 1), (1, 1)))  # the smallest case
@example(case=conv_case((4, 7), (2, 5)))  # non-square, odd width
def test_conv_every_property_on_pinned_edge_cases(case):
    for prop in properties_for(CONV):
        prop.check(CONV, case)


@settings(phases=[Phase.explicit])
@given(case=fft_cases())
@example(case=fft_case((1, 1)))
@example(case=fft_case((1, 6)))
@example(case=fft_case((5, 1)))
@example(case=fft_case((3, 5)))  # odd width: no Nyquist column
@example(case=fft_case((4, 8)))  # even: a Nyquist column, and a Nyquist row
def test_fft_every_property_on_pinned_edge_cases(case):
    for prop in properties_for(RFFT2_ABS):
        prop.check(RFFT2_ABS, case)


@given(shape=image_shapes(), data=st.data())
def test_rfft2_and_its_adjoint_pass_the_dot_product_test(shape, data):
    """<R x, G> = <x, R^T G>: the halving of the interior columns is exactly right."""
    x = data.draw(float_tensors(shape), label="x")
    spectrum = data.draw(float_tensors((shape[0], shape[1] // 2 + 1, 2)), label="G")
    tol = fft_tolerance(torch.float64, x.numel())
    lhs, rhs = inner(RFFT2.apply(x), spectrum), inner(x, RFFT2_ADJOINT.apply(spectrum, shape[1]))
    assert_close(lhs, rhs, rtol=tol["rtol"], atol=tol["atol"] * x.numel())


@given(case=conv_cases(dtypes=(torch.float64,)))
def test_correlate_and_convolve_are_adjoint(case):
    """<corr(x, k), g> = <x, conv_full(g, k)>: the pair that makes up the conv backward."""
    x, k, g = case.input, case.filter, case.grad_output
    tol = sum_tolerance(torch.float64, x.numel() ** 2)
    assert_close(inner(CORRELATE_VALID.apply(x, k), g), inner(x, CONVOLVE_FULL.apply(g, k)), **tol)
