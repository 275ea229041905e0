"""Gradients at the edges of the domain: a bias of any number of dimensions, |rfft2(x)| = 0.

(Gradients in general, including with only some arguments requiring grad,
are the generic properties' business: ``test_properties.py``.)
"""

import torch
from hypothesis import given
from hypothesis import strategies as st

import npext
from npext.testing import assert_matches, float_dtypes, float_tensors
from strategies import conv_cases, image_shapes
from tests.registry import CONV, RFFT2_ABS

BIAS_DIMS = st.integers(0, 4)


@given(case=conv_cases(), bias_dims=BIAS_DIMS)
def test_conv_takes_a_bias_of_any_number_of_dims(case, bias_dims):
    """Any one-element bias is valid (shape (), (1,), (1, 1), (1, 1, 1), ...), and is added once."""
    bias = case.bias.reshape((1,) * bias_dims).detach().clone().requires_grad_()
    x, w = (a.detach().clone().requires_grad_() for a in (case.input, case.filter))
    output = CONV.apply(x, w, bias)
    expected = CONV.oracle(x.double(), w.double(), bias.double())
    assert_matches(output, expected, CONV, case.args, "the output")
    (grad_bias,) = torch.autograd.grad(output, bias, case.grad_output.to(output.dtype))
    assert grad_bias.shape == bias.shape


@given(shape=image_shapes(), dtype=float_dtypes(), data=st.data())
def test_rfft2_abs_where_the_spectrum_vanishes_is_torch_abs_subgradient(shape, dtype, data):
    """At X = 0 the phase is 0 (torch.abs's subgradient): gradient and tangent 0, never NaN."""
    x = torch.zeros(shape, dtype=dtype, requires_grad=True)
    g = data.draw(float_tensors((shape[0], shape[1] // 2 + 1), dtype=dtype), label="grad_output")
    (grad,) = torch.autograd.grad(npext.rfft2_abs(x), x, g)
    exact = torch.zeros(shape, dtype=torch.float64, requires_grad=True)
    (expected,) = torch.autograd.grad(RFFT2_ABS.oracle(exact), exact, g.double())
    assert torch.equal(grad.double(), expected), f"gradient at X = 0: {grad}"
    t = data.draw(float_tensors(shape, dtype=dtype), label="tangent")
    _, tangent = torch.func.jvp(npext.rfft2_abs, (x.detach(),), (t,))
    assert torch.equal(tangent, torch.zeros_like(tangent)), f"tangent at X = 0: {tangent}"
