"""npext.testing checked as a user would use it: Functions that are not npext's.

Everything here is written against the public contract only (``Case``,
``FunctionUnderTest``, ``float_tensors``, ``property_tests``, ``hunt``):
two NumPy-backed Functions a user might write, a cumulative sum and a
matmul, pass every property that applies to them, and each of their
realistic wrong versions is caught, by the property that should catch it.
Then the engine's own promises: skip reasons that name the flag, a property
table that takes new properties (the compile properties to come), failure
reports that name the gradient and show the minimal example, and the
generic strategies' argument checks.
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest
import torch
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from torch.autograd.function import once_differentiable

from npext import ops
from npext.testing import (
    PROPERTIES,
    Case,
    FunctionUnderTest,
    Property,
    default_tolerance,
    float_dtypes,
    float_tensors,
    grid_tensors,
    hunt,
    layouts,
    normwise,
    plus,
    properties_for,
    property_tests,
    scaled,
    shapes,
    sum_tolerance,
    with_layout,
)

# ---------------------------------------------------------------- a user's Functions


def _to_numpy(tensor):
    return tensor.detach().cpu().numpy()


def _reverse_cumsum(g):
    return np.flip(np.cumsum(np.flip(g, 0), axis=0), 0).copy()


class NumpyCumsum(torch.autograd.Function):
    """Cumulative sum along dimension 0, in NumPy; a NumPy backward, so once differentiable."""

    @staticmethod
    def forward(ctx, x):
        return torch.from_numpy(np.cumsum(_to_numpy(x), axis=0))

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        # the adjoint of a cumulative sum is the cumulative sum from the other end
        return torch.from_numpy(_reverse_cumsum(_to_numpy(grad_output)))


class NumpyMatmul(torch.autograd.Function):
    """a @ b in NumPy (2-D), once differentiable."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return torch.from_numpy(_to_numpy(a) @ _to_numpy(b))

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        a, b = (_to_numpy(t) for t in ctx.saved_tensors)
        g = _to_numpy(grad_output)
        return torch.from_numpy(g @ b.T), torch.from_numpy(a.T @ g)


@st.composite
def cumsum_cases(draw, *, dtypes=(torch.float32, torch.float64), **options):
    shape = draw(st.tuples(st.integers(1, 6), st.integers(1, 6)), label="shape")
    dtype = draw(st.sampled_from(dtypes), label="dtype")
    x = draw(float_tensors(shape, dtype=dtype, layout=layouts()), label="x")
    return Case(args=(x,), grad_output=draw(float_tensors(shape, dtype=dtype), label="grad_output"))


@st.composite
def matmul_cases(draw, *, dtypes=(torch.float32, torch.float64), **options):
    m, k, n = draw(st.tuples(st.integers(1, 5), st.integers(1, 5), st.integers(1, 5)), label="m, k, n")
    dtype = draw(st.sampled_from(dtypes), label="dtype")
    a = draw(float_tensors((m, k), dtype=dtype, layout=layouts()), label="a")
    b = draw(float_tensors((k, n), dtype=dtype, layout=layouts()), label="b")
    return Case(args=(a, b), grad_output=draw(float_tensors((m, n), dtype=dtype), label="grad_output"))


CUMSUM = FunctionUnderTest(
    name="NumpyCumsum",
    apply=NumpyCumsum.apply,
    cases=cumsum_cases,
    oracle=lambda x: torch.cumsum(x, 0),
)

MATMUL = FunctionUnderTest(
    name="NumpyMatmul",
    apply=NumpyMatmul.apply,
    cases=matmul_cases,
    oracle=torch.matmul,
    supports_gradgrad=False,
    supports_forward_ad=False,
    supports_vmap=False,
    supports_compile=False,
)

# pytest collects one test per property: test_numpy_cumsum[output_shape], ...
test_numpy_cumsum = property_tests(CUMSUM)
test_numpy_matmul = property_tests(MATMUL)


# ---------------------------------------------------------------- their wrong versions


class MatmulMissingTranspose(NumpyMatmul):
    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        a, b = (_to_numpy(t) for t in ctx.saved_tensors)
        g = _to_numpy(grad_output)
        return torch.from_numpy(g @ b), torch.from_numpy(a.T @ g)  # b, not b.T


class MatmulGradientAveraged(NumpyMatmul):
    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        a, b = (_to_numpy(t) for t in ctx.saved_tensors)
        g = _to_numpy(grad_output)
        # b's gradient averaged over the rows of a, as if they were a batch
        return torch.from_numpy(g @ b.T), torch.from_numpy(a.T @ g / a.shape[0])


class MatmulNeedsInputGradMixedUp(NumpyMatmul):
    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        a, b = (_to_numpy(t) for t in ctx.saved_tensors)
        g = _to_numpy(grad_output)
        # skips the gradients nobody asked for, but looks up the wrong argument
        grad_a = torch.from_numpy(g @ b.T) if ctx.needs_input_grad[1] else None
        grad_b = torch.from_numpy(a.T @ g) if ctx.needs_input_grad[0] else None
        return grad_a, grad_b


class CumsumGradientScaled(NumpyCumsum):
    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        g = _to_numpy(grad_output)
        return torch.from_numpy(_reverse_cumsum(g) / g.shape[0])  # a mean, not a sum


class CumsumForgetsToReverse(NumpyCumsum):
    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        return torch.from_numpy(np.cumsum(_to_numpy(grad_output), axis=0))


class CumsumWithoutOnceDifferentiable(NumpyCumsum):
    @staticmethod
    def backward(ctx, grad_output):
        # right values, but NumPy is invisible to autograd: second derivatives silently zero
        return torch.from_numpy(_reverse_cumsum(_to_numpy(grad_output)))


class MatmulGradientInFloat32(NumpyMatmul):
    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        # "NumPy is faster in float32": float64 inputs get float32-accurate gradients
        a, b, g = (_to_numpy(t).astype(np.float32) for t in (*ctx.saved_tensors, grad_output))
        return torch.from_numpy(g @ b.T), torch.from_numpy(a.T @ g)


class CumsumOutputAlwaysFloat64(NumpyCumsum):
    @staticmethod
    def forward(ctx, x):
        return torch.from_numpy(np.cumsum(_to_numpy(x), axis=0, dtype=np.float64))


class CumsumWritesGradOutputInPlace(NumpyCumsum):
    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        g = grad_output.detach().numpy()  # a view of grad_output
        g[...] = _reverse_cumsum(g)  # "saves an allocation"
        return grad_output


_KEPT = {}  # one gradient buffer per shape and dtype, kept between calls


class CumsumKeepsGradientBuffer(NumpyCumsum):
    """To save an allocation, every backward writes into one kept buffer and returns it."""

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        g = _to_numpy(grad_output)
        out = _KEPT.setdefault((g.shape, g.dtype), np.empty_like(g))
        out[...] = _reverse_cumsum(g)
        return torch.from_numpy(out)


class CumsumUntestedJvp(NumpyCumsum):
    """A jvp added but never declared, so never checked: and wrong (it forgets the sum)."""

    @staticmethod
    def forward(x):
        return torch.from_numpy(np.cumsum(_to_numpy(x), axis=0))

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def jvp(ctx, tangent):
        return tangent


# (entry, wrong Function, flags changed in the declaration, properties that must catch it)
WRONG_VERSIONS = [
    (MATMUL, MatmulMissingTranspose, {}, {"gradients_match_oracle", "gradcheck_float64"}),
    (MATMUL, MatmulGradientAveraged, {}, {"gradients_match_oracle", "gradcheck_float64"}),
    (MATMUL, MatmulNeedsInputGradMixedUp, {}, {"gradients_of_only_the_arguments_that_ask"}),
    (CUMSUM, CumsumGradientScaled, {}, {"gradients_match_oracle", "gradcheck_float64"}),
    (CUMSUM, CumsumForgetsToReverse, {}, {"gradients_match_oracle", "gradcheck_float64"}),
    (CUMSUM, CumsumWithoutOnceDifferentiable, {}, {"double_backward_raises"}),
    (MATMUL, MatmulGradientInFloat32, {}, {"gradients_match_oracle"}),
    (CUMSUM, CumsumOutputAlwaysFloat64, {}, {"output_dtype"}),
    (CUMSUM, CumsumWritesGradOutputInPlace, {}, {"inputs_unmodified"}),
    (CUMSUM, CumsumUntestedJvp, {}, {"forward_ad_raises"}),
    (CUMSUM, CumsumKeepsGradientBuffer, {}, {"gradients_do_not_alias"}),
    # a once-differentiable backward declared differentiable
    (MATMUL, NumpyMatmul, {"supports_gradgrad": True}, {"second_derivatives"}),
]


def _declare(entry, wrong, changes):
    return replace(entry.with_apply(wrong.apply, name=wrong.__name__), **changes)


@pytest.mark.parametrize(
    "entry, wrong, changes, expected",
    WRONG_VERSIONS,
    ids=[w.__name__ + "".join(f"-{k}" for k in c) for _, w, c, _ in WRONG_VERSIONS],
)
def test_a_users_wrong_version_is_caught(entry, wrong, changes, expected):
    declared = _declare(entry, wrong, changes)
    # only the properties meant for it: a property that passes would search all its examples
    missed = [name for name in sorted(expected) if not hunt(declared, name).caught]
    assert not missed, f"{wrong.__name__} survived {missed}"


@pytest.mark.parametrize(
    "entry, wrong, only",
    [
        (CUMSUM, CumsumWithoutOnceDifferentiable, "double_backward_raises"),
        (MATMUL, MatmulNeedsInputGradMixedUp, "gradients_of_only_the_arguments_that_ask"),
    ],
    ids=["silently_zero_second_derivatives", "needs_input_grad_mixed_up"],
)
def test_some_mistakes_only_one_property_can_see(entry, wrong, only):
    """Right values wherever every argument requires grad: only one property can tell."""
    declared = _declare(entry, wrong, {})
    caught = {prop.name for prop in properties_for(declared) if hunt(declared, prop).caught}
    assert caught == {only}


@pytest.mark.parametrize("entry", [CUMSUM, MATMUL], ids=lambda e: e.name)
def test_a_users_correct_version_survives_the_same_hunt(entry):
    false_catches = [result for prop in properties_for(entry) if (result := hunt(entry, prop)).caught]
    assert not false_catches, f"{entry.name} wrongly flagged: {false_catches}"


def test_hunt_checks_a_catch_against_the_correct_version_on_the_same_case():
    """hunt(..., control=): a catch is the wrong version's only if the correct one passes that case."""
    wrong = _declare(CUMSUM, CumsumGradientScaled, {})
    result = hunt(wrong, "gradients_match_oracle", control=CUMSUM)
    assert result.caught and not result.control_failed
    # a control that fails the case too puts the blame on the property
    blamed = hunt(wrong, "gradients_match_oracle", control=wrong)
    assert blamed.caught and blamed.control_failed


def test_hunt_refuses_a_property_the_flags_rule_out():
    with pytest.raises(ValueError, match="NumpyCumsum declares supports_vmap=False"):
        hunt(CUMSUM, "vmap_matches_loop")
    with pytest.raises(ValueError, match="no property named 'no_such_property'"):
        hunt(CUMSUM, "no_such_property")


# ---------------------------------------------------------------- reports


def test_a_failure_names_the_gradient_and_shows_the_minimal_example():
    """The failing test prints Hypothesis' minimal example, with the labelled draw, and says what differs."""
    test = property_tests(_declare(MATMUL, MatmulGradientAveraged, {}))
    with pytest.raises(AssertionError) as info:
        test(property_name="gradients_match_oracle")
    message = str(info.value)
    report = "\n".join(getattr(info.value, "__notes__", []))
    assert message.startswith("MatmulGradientAveraged: gradient of argument 1 (b) differs from the oracle")
    assert "beyond the allowed error" in message and "times the allowed error" in message
    # Hypothesis' heading: "Falsifying example" before 6.1xx, "Failing test case" since
    assert "Falsifying example" in report or "Failing test case" in report
    assert "test_matmul_gradient_averaged(" in report and "property_name='gradients_match_oracle'" in report
    assert "Draw 1 (case): Case(args=(tensor(" in report
    # no explain phase: it cannot comment on a case drawn inside the test, and ran ~300 examples to say so
    assert "varied" not in report, report
    if Phase.shrink not in settings.default.phases:
        return  # the mutation profile does not shrink
    # shrunk to the smallest case that shows a mean is not a sum: a of two rows, one column
    assert re.search(r"Draw 1 \(case\): Case\(args=\(tensor\(\[\[[-\d.e]+\],\s+\[[-\d.e]+\]\]\)", report), report


def _skip_reasons(test):
    (mark,) = [m for m in test.pytestmark if m.name == "parametrize"]
    return {
        param.id: next((m.kwargs["reason"] for m in param.marks if m.name == "skip"), None) for param in mark.args[1]
    }


def test_properties_that_do_not_apply_are_skipped_with_the_flag_named():
    reasons = _skip_reasons(property_tests(CUMSUM))
    assert reasons["vmap_matches_loop"] == (
        "NumpyCumsum declares supports_vmap=False; vmap_matches_loop applies to supports_vmap=True"
    )
    assert "supports_gradgrad=False" in reasons["second_derivatives"]
    assert reasons["batched_jvp_matches_loop"] == (
        "NumpyCumsum declares supports_vmap=False, supports_forward_ad=False; "
        "batched_jvp_matches_loop applies to supports_vmap=True, supports_forward_ad=True"
    )
    for runs in ("gradients_match_oracle", "double_backward_raises", "forward_ad_raises", "gradcheck_float64"):
        assert reasons[runs] is None, runs
    assert list(reasons) == [prop.name for prop in PROPERTIES], "one test per property, none dropped"


def test_a_new_property_declares_its_flag_and_is_skipped_without_it():
    """How a property plugs in (as the compile ones do): a Property with requires=, added to the table."""
    calls = []
    compiled = Property(
        "a_new_compile_property", lambda entry, case: calls.append(case), requires={"supports_compile": True}
    )
    table = (*PROPERTIES, compiled)
    # where this torch cannot compile at all, the reason says that too
    here = f" (and here {ops.COMPILE_SKIP_REASON})" if ops.COMPILE_SKIP_REASON else ""
    assert _skip_reasons(property_tests(CUMSUM, properties=table))["a_new_compile_property"] == (
        f"NumpyCumsum declares supports_compile=False{here}; a_new_compile_property applies to supports_compile=True"
    )
    compilable = replace(CUMSUM, supports_compile=True)
    assert _skip_reasons(property_tests(compilable, properties=table))["a_new_compile_property"] is None
    assert hunt(compilable, compiled, max_examples=3).caught is False and len(calls) == 3


def test_extra_properties_run_after_the_generic_ones():
    law = Property("sums_the_first_row_once", lambda entry, case: None)
    names = [prop.name for prop in properties_for(replace(CUMSUM, extra_properties=(law,)))]
    assert names[-1] == "sums_the_first_row_once" and "gradients_match_oracle" in names


def test_property_tests_are_named_after_the_entry():
    assert property_tests(CUMSUM).__name__ == "test_numpy_cumsum"
    assert property_tests(replace(CUMSUM, name="_RFFT2Adjoint")).__name__ == "test_rfft2_adjoint"


# ---------------------------------------------------------------- tolerances and strategies


def _rows_cumsum_cases(side, dtype):
    @st.composite
    def cases(draw, **options):
        x = draw(float_tensors((side, side), dtype=dtype), label="x")
        return Case((x,), draw(float_tensors((side, side), dtype=dtype), label="grad_output"))

    return cases


def _cumsum_off_by(r):
    class CumsumGradientOff(NumpyCumsum):
        @staticmethod
        @once_differentiable
        def backward(ctx, grad_output):
            return torch.from_numpy(_reverse_cumsum(_to_numpy(grad_output)) * (1 + r))

    return CumsumGradientOff


@pytest.mark.parametrize(
    "dtype, r",
    [(torch.float32, 1e-4), (torch.float64, 1e-9)],
    ids=["float32-1e-4", "float64-1e-9"],
)
def test_the_default_tolerance_stays_sharp_at_large_sizes(dtype, r):
    """A gradient off by a relative 1e-4 in float32 (1e-9 in float64) is caught at 48x48.

    The former default (rtol = 4 n eps, atol = 4 n**2 eps with n every input
    element) allowed a float32 gradient of this size an error of 1.1: a
    cumsum's gradient, about 5 in size, could be almost anything. The
    per-element bound allows each element what it sums.
    """
    entry = replace(CUMSUM, cases=_rows_cumsum_cases(48, dtype))
    assert hunt(entry, "gradients_match_oracle", max_examples=3).caught is False
    wrong = entry.with_apply(_cumsum_off_by(r).apply, name="CumsumGradientOff")
    assert hunt(wrong, "gradients_match_oracle", max_examples=3, control=entry).caught


def test_tolerance_helpers_compose():
    scale = torch.tensor([1.0, 4.0])
    base = default_tolerance.allowed(scale, torch.float64)
    assert torch.allclose(
        scaled(10).allowed(scale, torch.float64) - 4 * torch.finfo(torch.float64).tiny,
        10 * (base - 4 * torch.finfo(torch.float64).tiny),
    )
    assert torch.equal(normwise().allowed(scale, torch.float64), base.max().expand(2))
    assert torch.allclose(plus(atol=1e-3).allowed(scale, torch.float64), base + 1e-3)
    assert sum_tolerance(torch.float32, 10) == {"rtol": 10 * 4 * 2.0**-23, "atol": 100 * 4 * 2.0**-23}
    with pytest.raises(ValueError, match="factor must be > 0"):
        scaled(0)


@given(shape=shapes(3, max_side=4), layout=layouts(), dtype=float_dtypes(), data=st.data())
def test_with_layout_keeps_the_values_in_every_layout(shape, layout, dtype, data):
    values = data.draw(float_tensors(shape, dtype=dtype), label="values")
    laid_out = with_layout(values.numpy(), dtype, layout)
    assert torch.equal(laid_out, values) and laid_out.dtype == dtype
    if layout != "contiguous" and values.numel() > 1 and sorted(shape)[-2] > 1:
        assert not laid_out.is_contiguous()


@given(data=st.data(), side=st.integers(1, 200), dtype=float_dtypes())
def test_grid_tensors_make_sums_of_products_exact_at_any_size(data, side, dtype):
    """The promise the exact (zero) tolerances rest on: on the grid, float32 sums equal float64's.

    Catches a grid that is not one (a step that is not a power of two, values past the bound).
    """
    a = data.draw(grid_tensors((side, side), dtype=dtype), label="a")
    b = data.draw(grid_tensors((side, side), dtype=dtype), label="b")
    assert torch.equal(a.double() * 16, (a.double() * 16).round()) and a.abs().max() <= 1
    exact = (a.double() * b.double()).sum(dim=1)
    assert torch.equal((a * b).sum(dim=1).double(), exact)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: float_tensors((2, -1)), "every side of shape must be an int >= 0"),
        (lambda: float_tensors((2, 2), bound=0), "bound must be > 0"),
        (lambda: float_dtypes([torch.int64]), "real floating torch dtypes"),
        (lambda: float_dtypes([]), "at least one dtype"),
        (lambda: layouts(["diagonal"]), "non-empty subset"),
        (lambda: shapes(2, min_side=3, max_side=2), "max_side must be an int >= 3"),
        (lambda: grid_tensors((2, 2), step=0.1), "step must be a power of two"),
        (lambda: grid_tensors((2, 2), bound=-1), "bound must be > 0"),
    ],
)
def test_strategies_check_their_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_function_under_test_needs_callables():
    with pytest.raises(TypeError, match="must be callable"):
        FunctionUnderTest(name="x", apply=3, cases=cumsum_cases, oracle=torch.cumsum)


def test_the_margins_plugin_prints_how_close_each_property_ran_to_its_bound(pytester):
    pytester.makepyfile(
        test_user="""
        from tests.test_npext_testing import CUMSUM
        from npext.testing import property_tests
        test_numpy_cumsum = property_tests(CUMSUM)
        """
    )
    result = pytester.runpytest_inprocess(
        "-p", "npext.testing.pytest_plugin", "--npext-margins", "-k", "gradients_match_oracle", "-p", "no:xdist"
    )
    result.assert_outcomes(passed=1)
    (line,) = [line for line in result.outlines if line.startswith("NumpyCumsum") and "gradients_match_oracle" in line]
    ratio = float(line.split()[1])
    assert 0 <= ratio < 1, line
