"""Gradients at the edges of the domain (a bias of any number of dimensions, |rfft2(x)| = 0) and the routes
a backward takes (one kernel for a first-order backward, the differentiable one else, half inputs).

(Gradients in general, including with only some arguments requiring grad,
are the generic properties' business: ``test_properties.py``.)
"""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import npext
from npext.testing import assert_matches, float_dtypes, float_tensors
from strategies import conv_cases, fft_cases, image_shapes
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


# ------------------------------------------------------------ the first-order backward's one kernel


def _counting(monkeypatch, module, name, calls):
    kernel = getattr(module, name)

    def counted(*args):
        calls.append(name)
        return kernel(*args)

    monkeypatch.setattr(module, name, counted)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_first_order_fft_backward_runs_one_kernel_and_a_double_backward_none(monkeypatch, dtype):
    """rfft2_abs forward + backward: the forward's kernel once, the fused backward kernel once (the spectrum saved,
    not computed again); with create_graph the differentiable route, which the fused kernel is not."""
    calls = []
    for name in ("_rfft2_abs", "_rfft2_abs_backward"):
        _counting(monkeypatch, npext.fft, name, calls)
    x = torch.linspace(-1, 2, 35, dtype=dtype).reshape(5, 7).requires_grad_()
    out = npext.rfft2_abs(x)
    torch.autograd.grad(out, x, torch.ones_like(out))
    assert calls == ["_rfft2_abs", "_rfft2_abs_backward"]
    calls.clear()
    out = npext.rfft2_abs(x)
    (grad,) = torch.autograd.grad(out, x, torch.ones_like(out), create_graph=True)
    assert calls == ["_rfft2_abs"] and grad.requires_grad


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_first_order_conv_backward_runs_one_kernel_for_both_gradients(monkeypatch, dtype):
    calls = []
    for name in ("correlate_valid", "correlate_valid_backward"):
        _counting(monkeypatch, npext.conv, name, calls)
    shapes = ((6, 7), (2, 3), (1, 1))
    args = [torch.linspace(-1, 1, n * m, dtype=dtype).reshape(n, m).requires_grad_() for n, m in shapes]
    out = CONV.apply(*args)
    torch.autograd.grad(out, args, torch.ones_like(out))
    assert calls == ["correlate_valid", "correlate_valid_backward"]


@given(case=fft_cases(dtypes=(torch.float16, torch.bfloat16)), data=st.data())
def test_rfft2_abs_double_backward_of_a_half_input_is_the_float32_one(case, data):
    """A half input's backward computes the spectrum again in float32, differentiably: its second derivative
    is the float32 input's, to half precision (the half spectrum it returned is not used). fft_cases keep
    the spectrum clear of 0, where |X| has its kink."""
    dtype = case.input.dtype
    v = data.draw(float_tensors(tuple(case.input.shape), dtype=dtype), label="direction")

    def hessian_times_v(x):
        x = x.detach().requires_grad_()
        out = npext.rfft2_abs(x)
        (grad,) = torch.autograd.grad(out, x, torch.ones_like(out), create_graph=True)
        (second,) = torch.autograd.grad(grad, x, v.to(x.dtype))
        return second.float()

    half, single = hessian_times_v(case.input), hessian_times_v(case.input.float())
    scale = single.abs().max().item() + 1
    torch.testing.assert_close(half, single, rtol=0, atol=32 * torch.finfo(dtype).eps * scale)


@given(data=st.data())
def test_grad_of_vmap_of_rfft2_abs_is_the_loop_of_grads_for_non_square_images(data):
    """The batched Function the vmap rule calls has its own backward (width from the last dim, not dim 1)."""
    height, width = data.draw(st.sampled_from([(3, 5), (4, 7), (6, 3)]), label="shape")
    x = data.draw(float_tensors((2, height, width), dtype=torch.float64), label="x")
    batched = torch.func.grad(lambda t: torch.func.vmap(npext.rfft2_abs)(t).sum())(x)
    looped = torch.stack([torch.func.grad(lambda t: npext.rfft2_abs(t).sum())(xi) for xi in x])
    torch.testing.assert_close(batched, looped, rtol=1e-12, atol=1e-12)
