"""The tutorial's BadFFTFunction is wrong, and the suite finds it, minimally.

Hypothesis' ``find`` searches fft_cases for a counterexample and shrinks it;
the tests assert what the minimal ones are: a wrong gradient value on the
smallest even width, and a gradient of the wrong shape on odd widths. And
the negative control stays exactly the tutorial's: its forward right in
every dtype, its backward the tutorial's irfft2.
"""

import numpy as np
import torch
from hypothesis import Phase, find, given, settings
from torch.testing import assert_close

import npext
from npext.testing.properties import gradients_match_oracle
from strategies import fft_cases
from tests.helpers import ALL_DTYPES, rounded_tolerance
from tests.laws import fft_tolerance
from tests.registry import BAD_FFT, RFFT2_ABS, compute_dtype

SEARCH = settings(
    max_examples=200, derandomize=True, database=None, deadline=None, phases=[Phase.generate, Phase.shrink]
)


def wrong_gradient(case):
    try:
        gradients_match_oracle(BAD_FFT, case)
    except AssertionError:
        return True
    return False


def gradient_of_wrong_shape(case):
    try:
        gradients_match_oracle(BAD_FFT, case)
    except (RuntimeError, ValueError):  # autograd's shape check, or NumPy's for width 1
        return True
    return False


def test_bad_fft_has_wrong_gradient_values_on_even_widths():
    even = fft_cases(dtypes=(torch.float64,), layout_choices=("contiguous",)).filter(
        lambda case: case.input.shape[1] % 2 == 0
    )
    minimal = find(even, wrong_gradient, settings=SEARCH)
    assert tuple(minimal.input.shape) == (1, 2), minimal
    print("minimal even-width counterexample:", minimal)


def test_bad_fft_returns_gradient_of_wrong_shape_on_odd_widths():
    odd = fft_cases(dtypes=(torch.float64,), layout_choices=("contiguous",)).filter(
        lambda case: case.input.shape[1] % 2 == 1
    )
    minimal = find(odd, gradient_of_wrong_shape, settings=SEARCH)
    assert tuple(minimal.input.shape) == (1, 1), minimal


def test_bad_fft_wrong_shape_message_on_odd_width():
    x = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    y = BAD_FFT.apply(x)
    try:
        y.backward(torch.ones_like(y))
    except RuntimeError as error:
        assert "invalid gradient" in str(error) and "[4, 4]" in str(error)
    else:
        raise AssertionError("BadFFTFunction's gradient for width 5 was accepted")


def test_every_even_width_is_wrong():
    """Not a shrinking artefact: for each even width the tutorial's gradient is off."""
    for width in (2, 4, 6, 8):
        case = find(
            fft_cases(dtypes=(torch.float64,), min_side=width, max_side=width),
            wrong_gradient,
            settings=settings(SEARCH, phases=[Phase.generate], max_examples=20),
        )
        assert case.input.shape[1] == width


def test_correct_function_agrees_where_bad_one_does_not():
    case = find(fft_cases(dtypes=(torch.float64,), min_side=2, max_side=2), wrong_gradient, settings=SEARCH)
    gradients_match_oracle(RFFT2_ABS, case)  # raises if the correct one were wrong too


@given(case=fft_cases(dtypes=ALL_DTYPES))
def test_incorrect_fft_has_the_right_forward_in_every_dtype(case):
    """Only BadFFTFunction's backward is wrong: its forward is rfft2_abs's, bit for bit, dtype and all."""
    good, bad = npext.rfft2_abs(case.input), npext.incorrect_fft(case.input)
    assert good.dtype == bad.dtype == case.input.dtype, f"{good.dtype}, {bad.dtype} for {case.input.dtype}"
    assert torch.equal(good, bad)
    tol = fft_tolerance(compute_dtype(good.dtype), case.input.numel())
    assert_close(good.double(), RFFT2_ABS.oracle(case.input.double()), **rounded_tolerance(tol, good.dtype))


@given(case=fft_cases().filter(lambda case: case.input.shape[1] % 2 == 0))
def test_incorrect_fft_backward_is_exactly_the_tutorials_irfft2(case):
    """The negative control stays the tutorial's: irfft2(grad_output), in grad_output's precision."""
    x = case.input.detach().clone().requires_grad_()
    (grad,) = torch.autograd.grad(npext.incorrect_fft(x), x, case.grad_output)
    tutorial = torch.from_numpy(np.fft.irfft2(case.grad_output.numpy())).to(x.dtype)
    assert grad.dtype == x.dtype
    assert torch.equal(grad, tutorial), f"max difference {(grad - tutorial).abs().max()}"
