"""Laws of the building blocks, edge-case pins, dtypes and torch.func on the module."""

import numpy as np
import pytest
import torch
from hypothesis import example, given, strategies as st
from torch.testing import assert_close

import npext
from npext.conv import _ConvolveFull, _CorrelateValid
from npext.fft import _RFFT2, _RFFT2Adjoint
from strategies import ConvCase, FFTCase, conv_cases, fft_cases, float_tensors, image_shapes
from strategies.cases import hermitian_half_spectrum
from tests.properties import inner, properties_for
from tests.registry import CONV, RFFT2_ABS, fft_tolerance, sum_tolerance


def conv_case(image, filter, dtype=torch.float64):
    """A fixed ConvCase with deterministic, non-symmetric values in [-1, 1]."""
    def ramp(shape):
        n = int(np.prod(shape)) if shape else 1
        return torch.linspace(-1, 1, n + 2, dtype=dtype)[1:-1].reshape(shape) * (-1) ** torch.arange(n).reshape(shape)

    out = (image[0] - filter[0] + 1, image[1] - filter[1] + 1)
    return ConvCase(ramp(image), ramp(filter), torch.full((1, 1), 0.25, dtype=dtype), ramp(out))


def fft_case(shape):
    height, width = shape
    half = (height, width // 2 + 1)
    magnitude = np.linspace(0.5, 2.0, half[0] * half[1]).reshape(half)
    phase = np.linspace(-3.0, 3.0, half[0] * half[1]).reshape(half)
    x = np.fft.irfft2(hermitian_half_spectrum(magnitude, phase, width), s=shape, norm="ortho")
    return FFTCase(torch.from_numpy(x), torch.ones(half, dtype=torch.float64))


@given(case=conv_cases(mixed_dtypes=True))
@example(case=conv_case((1, 7), (1, 3)))   # thin 1xN
@example(case=conv_case((7, 1), (3, 1)))   # thin Nx1
@example(case=conv_case((5, 6), (5, 6)))   # filter equal to the input: 1x1 output
@example(case=conv_case((1, 1), (1, 1)))   # the smallest case
@example(case=conv_case((4, 7), (2, 5)))   # non-square, odd width
def test_conv_every_property_on_pinned_edge_cases(case):
    for _, check in properties_for(CONV):
        check(CONV, case)


@given(case=fft_cases())
@example(case=fft_case((1, 1)))
@example(case=fft_case((1, 6)))
@example(case=fft_case((5, 1)))
@example(case=fft_case((3, 5)))   # odd width: no Nyquist column
@example(case=fft_case((4, 8)))   # even: a Nyquist column, and a Nyquist row
def test_fft_every_property_on_pinned_edge_cases(case):
    for _, check in properties_for(RFFT2_ABS):
        check(RFFT2_ABS, case)


@given(shape=image_shapes(), data=st.data())
def test_rfft2_and_its_adjoint_pass_the_dot_product_test(shape, data):
    """<R x, G> = <x, R^T G>: the halving of the interior columns is exactly right."""
    x = data.draw(float_tensors(shape), label="x")
    spectrum = data.draw(float_tensors((shape[0], shape[1] // 2 + 1, 2)), label="G")
    tol = fft_tolerance(torch.float64, x.numel())
    lhs, rhs = inner(_RFFT2.apply(x), spectrum), inner(x, _RFFT2Adjoint.apply(spectrum, shape[1]))
    assert_close(lhs, rhs, rtol=tol["rtol"], atol=tol["atol"] * x.numel())


@given(case=conv_cases(dtypes=(torch.float64,)))
def test_correlate_and_convolve_are_adjoint(case):
    """<corr(x, k), g> = <x, conv_full(g, k)>: the pair that makes up the conv backward."""
    x, k, g = case.input, case.filter, case.grad_output
    tol = sum_tolerance(torch.float64, x.numel() ** 2)
    assert_close(inner(_CorrelateValid.apply(x, k), g), inner(x, _ConvolveFull.apply(g, k)), **tol)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@given(data=st.data())
def test_half_precision_is_computed_in_float32_and_cast_back(dtype, data):
    """float16 / bfloat16 compute in float32: the result is the float64 answer rounded.

    The tolerance is the dtype's rounding (eps) plus float32's error bound for the sum.
    """
    case = data.draw(conv_cases(dtypes=(dtype,)))
    inputs = [a.detach().clone().requires_grad_() for a in case.args]
    out = npext.ScipyConv2dFunction.apply(*inputs)
    assert out.dtype == dtype
    grads = torch.autograd.grad(out, inputs, case.grad_output)
    exact_inputs = [a.double().detach().requires_grad_() for a in case.args]
    exact = CONV.oracle(*exact_inputs)
    exact_grads = torch.autograd.grad(exact, exact_inputs, case.grad_output.double())
    tol = dict(rtol=torch.finfo(dtype).eps, atol=sum_tolerance(torch.float32, case.input.numel())["atol"])
    assert_close(out.double(), exact, **tol)
    for grad, want, arg in zip(grads, exact_grads, case.args):
        assert grad.dtype == arg.dtype
        assert_close(grad.double(), want, **tol)


@pytest.mark.parametrize(
    "dtypes, expected",
    [
        ((torch.float64, torch.float32, torch.float32), torch.float64),  # the tutorial's gradcheck
        ((torch.float32, torch.float64, torch.float32), torch.float64),
        ((torch.float32, torch.float32, torch.float64), torch.float64),  # a 0-d float64 bias too
        ((torch.float16, torch.float32, torch.float32), torch.float32),
        ((torch.bfloat16, torch.float16, torch.bfloat16), torch.float32),
    ],
)
def test_output_dtype_follows_torch_promotion(dtypes, expected):
    x, w, b = (torch.ones(shape, dtype=d) for shape, d in zip([(3, 3), (2, 2), ()], dtypes))
    assert npext.ScipyConv2dFunction.apply(x, w, b).dtype == expected
    assert torch.promote_types(torch.promote_types(dtypes[0], dtypes[1]), dtypes[2]) == expected


@given(case=conv_cases(dtypes=(torch.float64,)), batch=st.integers(1, 3))
def test_module_under_vmap_equals_loop(case, batch):
    module = npext.ScipyConv2d(*case.filter.shape).double()
    images = torch.stack([case.input * (i + 1) for i in range(batch)])
    assert_close(torch.func.vmap(module)(images), torch.stack([module(im) for im in images]), rtol=0, atol=0)


@given(case=conv_cases(dtypes=(torch.float64,)))
def test_torch_func_grad_through_module_matches_oracle(case):
    """torch.func.grad of a scalar loss through ScipyConv2d (functional_call) equals the oracle's."""
    module = npext.ScipyConv2d(*case.filter.shape).double()
    params = {"filter": case.filter, "bias": case.bias.reshape(1, 1)}

    def loss(params, image):
        return (torch.func.functional_call(module, params, (image,)) * case.grad_output).sum()

    def oracle_loss(params, image):
        return (CONV.oracle(image, params["filter"], params["bias"]) * case.grad_output).sum()

    grads = torch.func.grad(loss, argnums=(0, 1))(params, case.input)
    expected = torch.func.grad(oracle_loss, argnums=(0, 1))(params, case.input)
    tol = sum_tolerance(torch.float64, case.input.numel())
    assert_close(grads, expected, **tol)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (run by tools/device_check.sh)")
@pytest.mark.parametrize("entry", [CONV, RFFT2_ABS], ids=lambda e: e.name)
def test_cuda_round_trip(entry):
    """A CUDA tensor is computed on the host; the output and gradients come back to CUDA."""
    case = (conv_case((6, 7), (3, 2)) if entry is CONV else fft_case((5, 6)))
    cpu_inputs = [a.clone().requires_grad_() for a in case.args]
    cuda_inputs = [a.cuda().requires_grad_() for a in case.args]
    out_cpu, out_cuda = entry.apply(*cpu_inputs), entry.apply(*cuda_inputs)
    assert out_cuda.device.type == "cuda"
    grads_cpu = torch.autograd.grad(out_cpu, cpu_inputs, case.grad_output)
    grads_cuda = torch.autograd.grad(out_cuda, cuda_inputs, case.grad_output.cuda())
    # NumPy computes on the host either way; only torch's own reductions (the
    # bias gradient's sum) run on the GPU, in another order: the usual tolerance
    tol = entry.tolerance(torch.float64, *case.args)
    assert_close(out_cuda.cpu(), out_cpu, **tol)
    for g_cpu, g_cuda in zip(grads_cpu, grads_cuda):
        assert g_cuda.device.type == "cuda"
        assert_close(g_cuda.cpu(), g_cpu, **tol)
