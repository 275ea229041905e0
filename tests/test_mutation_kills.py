"""Sharper properties, each written for mutants that mutmut found surviving the suite.

``python tools/mutation_gate.py --run`` mutates src/npext and runs the suite
(less the catalogue test) against each mutant. Every property here was shown
to fail on at least one mutant that the rest of the suite let through, and
passes on the real code; ``tools/equivalent_mutants.txt`` says why each
remaining survivor is equivalent (README, Mutation testing).

The gaps they close:

* only some arguments require grad (the usual case: the input is data);
* forward-mode AD with tangents for only some arguments, mixed dtypes, and
  tangents of another dtype than their primal;
* half precision in the FFT path and in the building blocks;
* the building blocks' own dtype contract (the Functions cast their results,
  which hid it);
* |X| = 0, where the phase is torch.abs's subgradient 0;
* NumPy warnings (a deprecated call is tomorrow's error);
* the tutorial's negative control kept exactly as the tutorial wrote it;
* error messages that begin with the argument's name;
* the NumPy bridge's helpers: compute dtype, flipped views, the result's device.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import torch
import torch.autograd.forward_ad as fwAD
import torch.nn.functional as F
from hypothesis import example, given, strategies as st
from torch.testing import assert_close

import npext
from npext import _bridge
from npext._bridge import compute_dtype
from npext.conv import _ConvolveFull, _CorrelateValid
from npext.fft import _RFFT2, _RFFT2Adjoint
from strategies import FLOAT_DTYPES, conv_cases, conv_shapes, fft_cases, float_dtypes, float_tensors, image_shapes
from tests.properties import assert_matches, leaves, promoted_dtype
from tests.registry import CONV, FUNCTIONS, RFFT2_ABS, eps, fft_tolerance, sum_tolerance

HALF_DTYPES = (torch.float16, torch.bfloat16)
ALL_DTYPES = HALF_DTYPES + tuple(FLOAT_DTYPES)


def rounded_tolerance(tolerance: dict, dtype: torch.dtype) -> dict:
    """A compute-dtype tolerance plus the final rounding to ``dtype``."""
    return dict(rtol=tolerance["rtol"] + eps(dtype), atol=tolerance["atol"])


def nonempty_subsets(n: int):
    return st.sets(st.integers(0, n - 1), min_size=1).map(sorted)


# ---------------------------------------------------------------- building blocks
#
# The conv backward is made of _CorrelateValid and _ConvolveFull, the FFT's of
# _RFFT2 and _RFFT2Adjoint. Each is a Function in its own right (its backward
# and jvp run in double backward and forward-over-reverse), so each gets the
# contract of a Function: the promoted dtype, gradients for only the arguments
# that ask, and tangents for only the arguments that have one.


def _correlate_oracle(x, k):
    return F.conv2d(x[None, None], k[None, None])[0, 0]


def _convolve_oracle(g, k):
    # conv_transpose2d scatters g through k: the full convolution
    return F.conv_transpose2d(g[None, None], k[None, None])[0, 0]


def _full_shape(x, k):
    return (x.shape[0] + k.shape[0] - 1, x.shape[1] + k.shape[1] - 1)


def _valid_shape(x, k):
    return (x.shape[0] - k.shape[0] + 1, x.shape[1] - k.shape[1] + 1)


# (name, apply, oracle, output shape); both take a ConvCase's (input, filter),
# whose dtypes conv_cases(mixed_dtypes=True) draws independently.
CONV_BLOCKS = [
    ("_CorrelateValid", _CorrelateValid.apply, _correlate_oracle, _valid_shape),
    ("_ConvolveFull", _ConvolveFull.apply, _convolve_oracle, _full_shape),
]
CONV_BLOCK_IDS = [block[0] for block in CONV_BLOCKS]


@pytest.mark.parametrize("name, apply, oracle, output_shape", CONV_BLOCKS, ids=CONV_BLOCK_IDS)
@given(case=conv_cases(dtypes=ALL_DTYPES, mixed_dtypes=True))
def test_conv_blocks_compute_in_the_promoted_dtype(name, apply, oracle, output_shape, case):
    """Output in torch's promotion of both arguments' dtypes, half precision included."""
    args = (case.input, case.filter)
    dtype = promoted_dtype(args)
    output = apply(*args)
    assert output.dtype == dtype, f"{name}: output {output.dtype}, expected {dtype}"
    expected = oracle(*(a.double() for a in args))
    tol = rounded_tolerance(sum_tolerance(compute_dtype(dtype), case.input.numel()), dtype)
    assert_close(output.double(), expected, **tol, msg=lambda m: f"{name}: output\n{m}")


@pytest.mark.parametrize("name, apply, oracle, output_shape", CONV_BLOCKS, ids=CONV_BLOCK_IDS)
@given(case=conv_cases(mixed_dtypes=True), data=st.data())
def test_conv_blocks_give_gradients_to_the_arguments_that_ask(name, apply, oracle, output_shape, case, data):
    """With only some arguments requiring grad, each that does gets the oracle's gradient."""
    args = (case.input, case.filter)
    wanted = data.draw(nonempty_subsets(len(args)), label="requires_grad")
    cotangent = data.draw(float_tensors(output_shape(*args), dtype=promoted_dtype(args)), label="cotangent")
    inputs = [a.detach().clone().requires_grad_(i in wanted) for i, a in enumerate(args)]
    grads = torch.autograd.grad(apply(*inputs), [inputs[i] for i in wanted], cotangent)
    exact = leaves(args, torch.float64)
    expected = torch.autograd.grad(oracle(*exact), exact, cotangent.double())
    tol = sum_tolerance(torch.float32, case.input.numel())
    for i, grad in zip(wanted, grads):
        assert grad.dtype == args[i].dtype, f"{name}: gradient {i} is {grad.dtype}, argument {args[i].dtype}"
        assert_close(grad.double(), expected[i], **tol, msg=lambda m: f"{name}: gradient {i}\n{m}")


def jvp_with_some_tangents(apply, args, tangents):
    """Forward AD where only the arguments whose tangent is not None are dual.

    torch hands a Function's jvp zeros for the others (materialize_grads).
    """
    with fwAD.dual_level():
        duals = [a if t is None else fwAD.make_dual(a, t) for a, t in zip(args, tangents)]
        output, tangent = fwAD.unpack_dual(apply(*duals))
    return output, tangent


def oracle_jvp(oracle, args, tangents):
    """The oracle's tangent in float64 (a missing tangent is a zero one)."""
    args = tuple(a.double() for a in args)
    tangents = tuple(torch.zeros_like(a) if t is None else t.double() for a, t in zip(args, tangents))
    return torch.func.jvp(oracle, args, tangents)[1]


def least_precise(*tensors) -> torch.dtype:
    """The dtype a tangent's value is good to.

    A float32 tangent is worked with in float32, and make_dual casts a
    tangent to its primal's dtype where their layouts differ, so: the least
    precise of the primals, the tangents and the output.
    """
    dtypes = [t.dtype for t in tensors if t is not None]
    return min(dtypes, key=lambda dtype: torch.finfo(dtype).bits)


@st.composite
def some_tangents(draw, args, dtypes=FLOAT_DTYPES):
    """Tangents for a non-empty subset of args, each of a dtype drawn from dtypes (its primal's or not)."""
    have = draw(nonempty_subsets(len(args)), label="tangents_for")
    return [
        draw(float_tensors(tuple(a.shape), dtype=float_dtypes(dtypes)), label=f"tangent_{i}") if i in have else None
        for i, a in enumerate(args)
    ]


# A tangent wider than its primal (float64 on float32) reaches the Function
# as it is only where both are laid out alike (else make_dual casts it).
FLOAT32_CONV_CASES = conv_cases(dtypes=(torch.float32,), layout_choices=("contiguous",))
WIDER_TANGENTS = (torch.float64,)


@pytest.mark.parametrize("name, apply, oracle, output_shape", CONV_BLOCKS, ids=CONV_BLOCK_IDS)
@pytest.mark.parametrize("cases, tangent_dtypes", [
    (conv_cases(mixed_dtypes=True), FLOAT_DTYPES),
    (FLOAT32_CONV_CASES, WIDER_TANGENTS),
], ids=["mixed", "wider_tangents"])
@given(data=st.data())
def test_conv_blocks_forward_ad_in_the_outputs_dtype(name, apply, oracle, output_shape, cases, tangent_dtypes, data):
    """The output's tangent has the output's dtype and the oracle's value, whatever the tangents' dtypes."""
    case = data.draw(cases, label="case")
    args = (case.input, case.filter)
    tangents = data.draw(some_tangents(args, tangent_dtypes), label="tangents")
    output, tangent = jvp_with_some_tangents(apply, args, tangents)
    assert tangent.dtype == output.dtype == promoted_dtype(args), (
        f"{name}: tangent {tangent.dtype}, output {output.dtype}, arguments {[a.dtype for a in args]}"
    )
    tol = sum_tolerance(least_precise(output, *args, *tangents), 2 * case.input.numel())
    assert_close(tangent.double(), oracle_jvp(oracle, args, tangents), **tol,
                 msg=lambda m: f"{name}: tangent\n{m}")


def _rfft2_oracle(x):
    return torch.view_as_real(torch.fft.rfft2(x))


def _rfft2_adjoint_oracle(grad_spectrum, width):
    x = torch.zeros(grad_spectrum.shape[0], width, dtype=torch.float64, requires_grad=True)
    return torch.autograd.grad(_rfft2_oracle(x), x, grad_spectrum.double())[0]


@given(case=fft_cases(dtypes=ALL_DTYPES), data=st.data())
def test_fft_blocks_compute_in_their_arguments_dtype(case, data):
    """_RFFT2 and _RFFT2Adjoint return their argument's dtype, half precision included."""
    x = case.input
    height, width = x.shape
    dtype = x.dtype
    tol = fft_tolerance(compute_dtype(dtype), x.numel())
    spectrum = _RFFT2.apply(x)
    assert spectrum.dtype == dtype, f"_RFFT2: {spectrum.dtype} for a {dtype} input"
    assert_close(spectrum.double(), _rfft2_oracle(x.double()), **rounded_tolerance(tol, dtype))
    grad_spectrum = data.draw(float_tensors((height, width // 2 + 1, 2), dtype=dtype), label="grad_spectrum")
    adjoint = _RFFT2Adjoint.apply(grad_spectrum, width)
    assert adjoint.dtype == dtype, f"_RFFT2Adjoint: {adjoint.dtype} for a {dtype} spectrum"
    assert_close(adjoint.double(), _rfft2_adjoint_oracle(grad_spectrum, width), **rounded_tolerance(tol, dtype))


# ---------------------------------------------------------------- the Functions


@given(case=conv_cases(mixed_dtypes=True), data=st.data())
def test_conv_gradients_of_only_the_arguments_that_ask(case, data):
    """Most callers' input is data: the filter's and bias's gradients without the input's, and so on."""
    wanted = data.draw(nonempty_subsets(3), label="requires_grad")
    inputs = [a.detach().clone().requires_grad_(i in wanted) for i, a in enumerate(case.args)]
    output = CONV.apply(*inputs)
    grads = torch.autograd.grad(output, [inputs[i] for i in wanted], case.grad_output.to(output.dtype))
    exact = leaves(case.args, torch.float64)
    expected = torch.autograd.grad(CONV.oracle(*exact), exact, case.grad_output.double())
    for i, grad in zip(wanted, grads):
        assert grad.dtype == case.args[i].dtype and grad.shape == case.args[i].shape
        assert_matches(grad, expected[i], CONV, case.args, f"gradient {i}")


@pytest.mark.parametrize("cases, tangent_dtypes", [
    (conv_cases(mixed_dtypes=True), FLOAT_DTYPES),
    (FLOAT32_CONV_CASES, WIDER_TANGENTS),
], ids=["mixed", "wider_tangents"])
@given(data=st.data())
def test_conv_forward_ad_in_the_outputs_dtype(cases, tangent_dtypes, data):
    """Forward AD with tangents for only some arguments, of any dtype: the output's dtype, the oracle's value."""
    case = data.draw(cases, label="case")
    tangents = data.draw(some_tangents(case.args, tangent_dtypes), label="tangents")
    output, tangent = jvp_with_some_tangents(CONV.apply, case.args, tangents)
    assert tangent.dtype == output.dtype == promoted_dtype(case.args), (
        f"tangent {tangent.dtype}, output {output.dtype}, arguments {[a.dtype for a in case.args]}"
    )
    tol = sum_tolerance(least_precise(output, *case.args, *tangents), 2 * case.input.numel())
    assert_close(tangent.double(), oracle_jvp(CONV.oracle, case.args, tangents), **tol)


@given(case=fft_cases(layout_choices=("contiguous",)), tangent_dtype=float_dtypes(), data=st.data())
def test_rfft2_abs_forward_ad_in_the_outputs_dtype(case, tangent_dtype, data):
    """A tangent of another dtype than the input still gives the output's tangent in the output's dtype."""
    x = case.input
    t = data.draw(float_tensors(tuple(x.shape), dtype=tangent_dtype), label="tangent")
    output, tangent = jvp_with_some_tangents(RFFT2_ABS.apply, (x,), (t,))
    assert tangent.dtype == output.dtype == x.dtype, f"tangent {tangent.dtype}, output {output.dtype}"
    tol = fft_tolerance(least_precise(output, x, t), x.numel())
    assert_close(tangent.double(), oracle_jvp(RFFT2_ABS.oracle, (x,), (t,)),
                 rtol=tol["rtol"], atol=tol["atol"] * x.numel())


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


@pytest.mark.parametrize("entry", FUNCTIONS, ids=[e.name for e in FUNCTIONS])
@given(data=st.data())
def test_no_warnings_forward_backward_double_backward_and_forward_ad(entry, data):
    """NumPy and torch have nothing to warn about (a deprecated call is a future error).

    Except torch's own use of its deprecated torch.jit.script when torch.func
    pieces load, which pyproject.toml's filterwarnings ignores too.
    """
    options = {"mixed_dtypes": True} if entry.mixed_dtypes else {}
    case = data.draw(entry.cases(**options), label="case")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated")
        inputs = leaves(case.args)
        output = entry.apply(*inputs)
        grads = torch.autograd.grad(output, inputs, case.grad_output.to(output.dtype), create_graph=True)
        second = sum(g.double().sum() for g in grads if g.requires_grad)
        torch.autograd.grad(second, inputs, allow_unused=True)
        torch.func.jvp(entry.apply, tuple(a.detach() for a in case.args), tuple(a.detach() for a in case.args))
    assert not caught, [f"{w.category.__name__}: {w.message}" for w in caught]


# ---------------------------------------------------------------- the tutorial's negative control


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


# ---------------------------------------------------------------- error messages


def _corrupt(value: torch.Tensor, how: str, ndim_checked: bool):
    if how == "not a tensor":
        return value.tolist()
    if how == "integer dtype":
        return value.long()
    if how == "empty":
        return value.reshape(-1)[:0].reshape((0,) + tuple(value.shape[1:])) if value.dim() else value.reshape(0)
    assert ndim_checked
    return value[None]  # one dimension too many


@given(shapes=conv_shapes(), argument=st.integers(0, 2),
       how=st.sampled_from(["not a tensor", "integer dtype", "empty", "too many dims"]))
def test_conv_error_messages_begin_with_the_arguments_name(shapes, argument, how):
    """'input must ...', 'filter must ...', 'bias must ...': the argument is named first, as itself."""
    name = ("input", "filter", "bias")[argument]
    if name == "bias" and how == "too many dims":
        how = "empty"  # a bias may have any number of dimensions
    args = [torch.zeros(shapes[0]), torch.zeros(shapes[1]), torch.zeros(1, 1)]
    args[argument] = _corrupt(args[argument], how, ndim_checked=name != "bias")
    with pytest.raises((TypeError, ValueError)) as info:
        CONV.apply(*args)
    assert re.match(rf"{name} must ", str(info.value)), f"{how} {name}: {info.value}"


@given(image=image_shapes(max_side=6), extra=st.tuples(st.integers(0, 3), st.integers(0, 3)).filter(any))
def test_conv_filter_larger_than_input_message_says_why(image, extra):
    filter_shape = (image[0] + extra[0], image[1] + extra[1])
    dim = 0 if extra[0] else 1
    with pytest.raises(ValueError) as info:
        CONV.apply(torch.zeros(image), torch.zeros(filter_shape), torch.zeros(1, 1))
    assert str(info.value) == (
        f"filter of shape {filter_shape} is larger than input of shape {image} in dimension {dim}; "
        "a 'valid' correlation needs the filter to fit inside the input"
    )


@pytest.mark.parametrize("function", [npext.rfft2_abs, npext.incorrect_fft], ids=["rfft2_abs", "incorrect_fft"])
@given(shape=image_shapes(max_side=4), how=st.sampled_from(["not a tensor", "integer dtype", "empty", "too many dims"]))
def test_fft_error_messages_begin_with_the_arguments_name(function, shape, how):
    with pytest.raises((TypeError, ValueError)) as info:
        function(_corrupt(torch.zeros(shape), how, ndim_checked=True))
    assert re.match(r"input must ", str(info.value)), f"{how}: {info.value}"


# ---------------------------------------------------------------- the NumPy bridge


@given(dtype=st.sampled_from(ALL_DTYPES), source=st.sampled_from(ALL_DTYPES), shape=image_shapes(max_side=3))
def test_numpy_computes_in_float64_for_float64_and_in_float32_otherwise(dtype, source, shape):
    """The bridge's rule, in both its helpers: compute_dtype says it, to_numpy does it."""
    expected = torch.float64 if dtype == torch.float64 else torch.float32
    assert _bridge.compute_dtype(dtype) == expected
    assert _bridge.to_numpy(torch.zeros(shape, dtype=source), dtype).dtype == np.dtype(
        np.float64 if dtype == torch.float64 else np.float32
    )


@given(shape=image_shapes(), axes=st.sampled_from([(0,), (1,), (0, 1)]), dtype=st.sampled_from(ALL_DTYPES))
@example(shape=(1, 1), axes=(0, 1), dtype=torch.float64)  # NumPy calls this view contiguous
def test_from_numpy_takes_flipped_views(shape, axes, dtype):
    """A flipped view has negative strides, which torch refuses: from_numpy still gives its values."""
    array = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    view = np.flip(array, axes)
    result = _bridge.from_numpy(view, torch.empty(0), dtype)
    assert result.dtype == dtype
    assert torch.equal(result, torch.from_numpy(view.copy()).to(dtype))


@given(shape=image_shapes(max_side=3), dtype=st.sampled_from(ALL_DTYPES))
def test_from_numpy_returns_on_the_device_of_like(shape, dtype):
    """The result goes to ``like``'s device (meta stands in for CUDA on a CPU-only machine)."""
    like = torch.empty(0, device="meta")
    result = _bridge.from_numpy(np.zeros(shape), like, dtype)
    assert result.device == like.device and result.dtype == dtype and tuple(result.shape) == shape


def test_numpy_interop_check_passes_where_torch_and_numpy_exchange_arrays():
    """The import-time check refuses only a broken pairing: here it must pass, not raise.

    (mutmut imports npext once, before it switches a mutant on, so the
    import itself cannot catch a check that raises on every torch.)
    """
    _bridge.check_numpy_interop()
