"""Dtypes: torch's promotion, half precision computed in float32, the building blocks' own dtypes.

The generic properties (``output_dtype``, ``gradients_match_oracle``) cover
float32 and float64, mixed; these add float16 and bfloat16, which NumPy
computes in float32 before the result is cast back, and pin the promotion
table.
"""

import itertools

import pytest
import torch
import torch.autograd.forward_ad as fwAD
from hypothesis import given
from hypothesis import strategies as st
from torch.testing import assert_close

import npext
from npext.testing import float_tensors, promoted_dtype, sum_tolerance
from strategies import conv_cases, fft_cases
from tests.helpers import ALL_DTYPES, rounded_tolerance
from tests.laws import fft_tolerance
from tests.registry import CONV, CONVOLVE_FULL, CORRELATE_VALID, RFFT2, RFFT2_ADJOINT, compute_dtype


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
    tol = {"rtol": torch.finfo(dtype).eps, "atol": sum_tolerance(torch.float32, case.input.numel())["atol"]}
    assert_close(out.double(), exact, **tol)
    for grad, want, arg in zip(grads, exact_grads, case.args, strict=False):
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
    x, w, b = (torch.ones(shape, dtype=d) for shape, d in zip([(3, 3), (2, 2), ()], dtypes, strict=False))
    assert npext.ScipyConv2dFunction.apply(x, w, b).dtype == expected
    assert torch.promote_types(torch.promote_types(dtypes[0], dtypes[1]), dtypes[2]) == expected


# The conv backward is made of _CorrelateValid and _ConvolveFull, the FFT's of
# _RFFT2 and _RFFT2Adjoint: their dtype contract is checked on its own, since
# the Functions cast the blocks' results (which would hide a wrong dtype).
CONV_BLOCKS = [CORRELATE_VALID, CONVOLVE_FULL]


@pytest.mark.parametrize("block", CONV_BLOCKS, ids=[block.name for block in CONV_BLOCKS])
@given(case=conv_cases(dtypes=ALL_DTYPES, mixed_dtypes=True))
def test_conv_blocks_compute_in_the_promoted_dtype(block, case):
    """Output in torch's promotion of both arguments' dtypes, half precision included."""
    args = (case.input, case.filter)
    dtype = promoted_dtype(args)
    output = block.apply(*args)
    assert output.dtype == dtype, f"{block.name}: output {output.dtype}, expected {dtype}"
    expected = block.oracle(*(a.double() for a in args))
    tol = rounded_tolerance(sum_tolerance(compute_dtype(dtype), case.input.numel()), dtype)
    assert_close(output.double(), expected, **tol, msg=lambda m: f"{block.name}: output\n{m}")


@given(case=fft_cases(dtypes=ALL_DTYPES), data=st.data())
def test_fft_blocks_compute_in_their_arguments_dtype(case, data):
    """_RFFT2 and _RFFT2Adjoint return their argument's dtype, half precision included."""
    x = case.input
    height, width = x.shape
    dtype = x.dtype
    tol = fft_tolerance(compute_dtype(dtype), x.numel())
    spectrum = RFFT2.apply(x)
    assert spectrum.dtype == dtype, f"_RFFT2: {spectrum.dtype} for a {dtype} input"
    assert_close(spectrum.double(), RFFT2.oracle(x.double()), **rounded_tolerance(tol, dtype))
    grad_spectrum = data.draw(float_tensors((height, width // 2 + 1, 2), dtype=dtype), label="grad_spectrum")
    adjoint = RFFT2_ADJOINT.apply(grad_spectrum, width)
    assert adjoint.dtype == dtype, f"_RFFT2Adjoint: {adjoint.dtype} for a {dtype} spectrum"
    assert_close(adjoint.double(), RFFT2_ADJOINT.oracle(grad_spectrum.double(), width), **rounded_tolerance(tol, dtype))


# ------------------------------------------------ every dtype combination, every mode
#
# Hypothesis draws mixed dtypes above, but a rule wrong for one combination
# (the bias alone float64, the input alone the widest, ...) waits for the draw
# that hits it. These tables run every combination of the four dtypes, on
# tiny inputs, through every way a Function runs: the forward, rounded once
# from the compute dtype; backward; forward AD; vmap over each argument.

# (input, filter, bias) of the conv; (a, k) of its building blocks
CONV_COMBOS = list(itertools.product(ALL_DTYPES, repeat=3))
PAIR_COMBOS = list(itertools.product(ALL_DTYPES, repeat=2))


def _ids(combos):
    return ["-".join(str(d).removeprefix("torch.") for d in combo) for combo in combos]


def _tensors(shapes, dtypes):
    generator = torch.Generator().manual_seed(0)
    return tuple(torch.randn(s, generator=generator).to(d) for s, d in zip(shapes, dtypes, strict=True))


def _output_tangent(apply, args, index, tangent):
    """The output's tangent with only argument ``index`` dual, with ``tangent``."""
    with fwAD.dual_level():
        duals = [fwAD.make_dual(a, tangent) if i == index else a for i, a in enumerate(args)]
        return fwAD.unpack_dual(apply(*duals)).tangent


def _assert_vmap_is_the_loop(apply, args, in_dims):
    """vmap over the arguments batched at 0 equals the loop, dtype and bits."""
    batched = [torch.stack([a, -a]) if d == 0 else a for a, d in zip(args, in_dims, strict=True)]
    actual = torch.func.vmap(apply, in_dims=in_dims)(*batched)
    expected = torch.stack(
        [apply(*[a[i] if d == 0 else a for a, d in zip(batched, in_dims, strict=True)]) for i in (0, 1)]
    )
    assert actual.dtype == expected.dtype, f"vmap in_dims={in_dims}: {actual.dtype}, the loop {expected.dtype}"
    assert torch.equal(actual, expected), f"vmap in_dims={in_dims} is not the loop bit for bit"


def _assert_dtypes_in_every_mode(apply, args, vmap_in_dims):
    dtypes = [a.dtype for a in args]
    dtype = promoted_dtype(args)  # the output's; each gradient in its argument's
    compute = compute_dtype(dtype)
    output = apply(*args)
    assert output.dtype == dtype
    # rounded once: the call on the same values in the compute dtype, then cast
    assert torch.equal(output, apply(*(a.to(compute) for a in args)).to(dtype))
    # the gradients too, bit for bit: autograd casts them to each argument's
    # dtype, so what this catches is a backward that computes narrower than
    # the compute dtype (the FFT's did: its phase came from a float16
    # spectrum). A lossy step both runs share, like the tutorial's
    # .to(torch.float), is the oracle's to catch (TutorialFloat32Cast).
    grad_output = torch.randn(output.shape, generator=torch.Generator().manual_seed(1)).to(dtype)
    leaves = [a.clone().requires_grad_() for a in args]
    grads = torch.autograd.grad(apply(*leaves), leaves, grad_output)
    wide = [a.to(compute).requires_grad_() for a in args]
    exact = torch.autograd.grad(apply(*wide), wide, grad_output.to(compute))
    for index, (grad, want, arg) in enumerate(zip(grads, exact, args, strict=True)):
        assert torch.equal(grad, want.to(arg.dtype)), (
            f"gradient {index} is not the {compute} one rounded once to {arg.dtype}"
        )
    # forward AD casts nothing: the tangent's dtype and bits are the jvp's own
    generator = torch.Generator().manual_seed(2)
    for index in range(len(args)):
        for tangent_dtype in (dtypes[index], torch.float64):  # a wider tangent reaches jvp as it is
            tangent = torch.randn(args[index].shape, generator=generator).to(tangent_dtype)
            got = _output_tangent(apply, args, index, tangent)
            assert got.dtype == dtype, f"tangent of argument {index} ({tangent_dtype}): output's {got.dtype}"
            want = _output_tangent(apply, [a.to(compute) for a in args], index, tangent.to(compute)).to(dtype)
            assert torch.equal(got, want), f"tangent of argument {index} ({tangent_dtype}) is not rounded once"
    for in_dims in vmap_in_dims:
        _assert_vmap_is_the_loop(apply, args, in_dims)


@pytest.mark.parametrize("dtypes", CONV_COMBOS, ids=_ids(CONV_COMBOS))
def test_conv_every_dtype_combination_in_every_mode(dtypes):
    args = _tensors([(5, 6), (2, 3), (1, 1)], dtypes)
    in_dims = [(0, None, None), (None, 0, None), (None, None, 0), (0, 0, 0)]
    _assert_dtypes_in_every_mode(CONV.apply, args, in_dims)


@pytest.mark.parametrize("block", CONV_BLOCKS, ids=[block.name for block in CONV_BLOCKS])
@pytest.mark.parametrize("dtypes", PAIR_COMBOS, ids=_ids(PAIR_COMBOS))
def test_conv_blocks_every_dtype_combination_in_every_mode(block, dtypes):
    args = _tensors([(5, 6), (2, 3)], dtypes)
    _assert_dtypes_in_every_mode(block.apply, args, [(0, None), (None, 0), (0, 0)])


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=_ids([(d,) for d in ALL_DTYPES]))
def test_rfft2_abs_every_dtype_in_every_mode(dtype):
    (x,) = _tensors([(5, 6)], [dtype])
    _assert_dtypes_in_every_mode(npext.rfft2_abs, (x,), [(0,)])
