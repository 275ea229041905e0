"""Forward-mode AD with tangents for only some arguments, and tangents of another dtype.

The generic properties check forward AD (gradcheck's check_forward_ad, the
jvp properties) with a tangent for every argument in its primal's dtype.
These add what callers also do: tangents for only some arguments (torch
hands a Function's jvp zeros for the others), mixed dtypes, and tangents of
another dtype than their primal. The output's tangent must have the
output's dtype and the oracle's value.
"""

from __future__ import annotations

import pytest
import torch
import torch.autograd.forward_ad as fwAD
from hypothesis import given
from hypothesis import strategies as st
from torch.testing import assert_close

import npext
from npext.testing import FLOAT_DTYPES, float_dtypes, float_tensors, promoted_dtype, sum_tolerance
from strategies import conv_cases, fft_cases
from tests.helpers import nonempty_subsets
from tests.laws import fft_tolerance
from tests.registry import CONV, CONVOLVE_FULL, CORRELATE_VALID, RFFT2_ABS


def jvp_with_some_tangents(apply, args, tangents):
    """Forward AD where only the arguments whose tangent is not None are dual.

    torch hands a Function's jvp zeros for the others (materialize_grads).
    """
    with fwAD.dual_level():
        duals = [a if t is None else fwAD.make_dual(a, t) for a, t in zip(args, tangents, strict=False)]
        output, tangent = fwAD.unpack_dual(apply(*duals))
    return output, tangent


def oracle_jvp(oracle, args, tangents):
    """The oracle's tangent in float64 (a missing tangent is a zero one)."""
    args = tuple(a.double() for a in args)
    tangents = tuple(torch.zeros_like(a) if t is None else t.double() for a, t in zip(args, tangents, strict=False))
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

# The building blocks of the conv backward (and of its jvp).
CONV_BLOCKS = [CORRELATE_VALID, CONVOLVE_FULL]


@pytest.mark.parametrize("block", CONV_BLOCKS, ids=[block.name for block in CONV_BLOCKS])
@pytest.mark.parametrize(
    "cases, tangent_dtypes",
    [
        (conv_cases(mixed_dtypes=True), FLOAT_DTYPES),
        (FLOAT32_CONV_CASES, WIDER_TANGENTS),
    ],
    ids=["mixed", "wider_tangents"],
)
@given(data=st.data())
def test_conv_blocks_forward_ad_in_the_outputs_dtype(block, cases, tangent_dtypes, data):
    """The output's tangent has the output's dtype and the oracle's value, whatever the tangents' dtypes."""
    case = data.draw(cases, label="case")
    args = (case.input, case.filter)
    tangents = data.draw(some_tangents(args, tangent_dtypes), label="tangents")
    output, tangent = jvp_with_some_tangents(block.apply, args, tangents)
    assert tangent.dtype == output.dtype == promoted_dtype(args), (
        f"{block.name}: tangent {tangent.dtype}, output {output.dtype}, arguments {[a.dtype for a in args]}"
    )
    tol = sum_tolerance(least_precise(output, *args, *tangents), 2 * case.input.numel())
    assert_close(
        tangent.double(), oracle_jvp(block.oracle, args, tangents), **tol, msg=lambda m: f"{block.name}: tangent\n{m}"
    )


@pytest.mark.parametrize(
    "cases, tangent_dtypes",
    [
        (conv_cases(mixed_dtypes=True), FLOAT_DTYPES),
        (FLOAT32_CONV_CASES, WIDER_TANGENTS),
    ],
    ids=["mixed", "wider_tangents"],
)
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
    assert_close(
        tangent.double(), oracle_jvp(RFFT2_ABS.oracle, (x,), (t,)), rtol=tol["rtol"], atol=tol["atol"] * x.numel()
    )


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_rfft2_abs_function_gives_each_output_its_tangent_in_its_dtype(dtype):
    """RFFT2AbsFunction's two outputs (|X| and X), each in the input's dtype: so are their tangents."""
    x = torch.linspace(-1, 2, 35).reshape(5, 7).to(dtype)
    outputs, tangents = torch.func.jvp(npext.RFFT2AbsFunction.apply, (x,), (torch.ones_like(x),))
    assert [o.dtype for o in outputs] == [t.dtype for t in tangents] == [dtype, dtype]
