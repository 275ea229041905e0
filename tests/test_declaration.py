"""A broken declaration is reported in our words, before any property runs, and never counted as a catch.

Each mistake below is one a new user makes (tried as one would): a strategy
that draws a tensor instead of a ``Case``, a grad_output or an oracle of the
wrong shape, an ``apply`` that hands back a NumPy array, a grad_output for
an integer output. Before ``check_declaration`` each surfaced as torch's or
Python's own error inside a property (``AttributeError: 'Tensor' object has
no attribute 'args'``, ``Mismatch in shape: grad_output[0]``), and ``hunt``
counted it as the property catching a bug.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from hypothesis import strategies as st

from npext.testing import Case, DeclarationError, FunctionUnderTest, check_declaration, hunt, property_tests
from tests.test_npext_testing import CUMSUM, cumsum_cases


@st.composite
def tensors_not_cases(draw, **options):
    return draw(cumsum_cases()).args[0]


@st.composite
def grad_output_one_row_short(draw, **options):
    case = draw(cumsum_cases())
    x = case.args[0]
    return Case(case.args, torch.zeros(x.shape[0] + 1, x.shape[1], dtype=x.dtype))


@st.composite
def grad_output_for_the_indices(draw, **options):
    x = draw(cumsum_cases()).args[0]
    return Case((x,), (torch.ones_like(x), torch.ones_like(x)))


class ReturnsNumpy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return np.cumsum(x.detach().numpy(), axis=0)  # torch.from_numpy forgotten

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output


def _sort_oracle(x):
    return torch.sort(x, dim=0)


MISTAKES = {
    "a tensor instead of a Case": (
        replace(CUMSUM, cases=tensors_not_cases),
        r"cases must draw Case objects \(or objects with \.args and \.grad_output\), got Tensor",
    ),
    "a grad_output of the wrong shape": (
        replace(CUMSUM, cases=grad_output_one_row_short),
        r"the case's grad_output has shape \(\d+, \d+\) but the oracle's output has shape",
    ),
    "an oracle of the wrong shape": (
        replace(CUMSUM, oracle=lambda x: torch.cumsum(x, 0).sum(0)),
        r"the case's grad_output has shape \(\d+, \d+\) but the oracle's output has shape \(\d+,\)",
    ),
    "an apply that returns a NumPy array": (
        CUMSUM.with_apply(ReturnsNumpy.apply),
        r"apply must return a torch.Tensor or a tuple of them, got ndarray \(convert with torch.from_numpy\)",
    ),
    "a grad_output for an integer output": (
        FunctionUnderTest("Sort", apply=_sort_oracle, cases=grad_output_for_the_indices, oracle=_sort_oracle),
        r"gives a grad_output 1 for output 1, which the oracle returns as torch.int64: .* give None for it",
    ),
    "fewer outputs than the oracle": (
        FunctionUnderTest(
            "SortValues",
            apply=lambda x: torch.sort(x, dim=0).values,
            cases=lambda **o: cumsum_cases().map(lambda c: Case(c.args, (c.grad_output, None))),
            oracle=_sort_oracle,
        ),
        r"apply returns 1 output\(s\) and the oracle 2",
    ),
}


@pytest.mark.parametrize("mistake", MISTAKES)
def test_hunt_reports_a_broken_declaration_instead_of_a_catch(mistake):
    entry, message = MISTAKES[mistake]
    with pytest.raises(DeclarationError, match=message):
        hunt(entry, "gradients_match_oracle", max_examples=5)


@pytest.mark.parametrize("mistake", MISTAKES)
def test_property_tests_report_a_broken_declaration_by_the_field_at_fault(mistake):
    entry, message = MISTAKES[mistake]
    test = property_tests(entry)
    with pytest.raises(DeclarationError, match=message):
        test(property_name="output_shape")


def test_a_correct_declaration_passes_the_check():
    case = Case((torch.ones(2, 3),), torch.ones(2, 3))
    check_declaration(CUMSUM, case)  # no error
    check_declaration(CUMSUM, case)  # apply is checked once per entry; the case every time


def test_a_wrong_output_shape_is_the_functions_bug_not_the_declarations():
    """apply's outputs are the Function's business: a wrong shape is a catch, by output_shape."""

    class DropsLastRow(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return torch.from_numpy(np.cumsum(x.detach().numpy(), axis=0)[:-1].copy())

        @staticmethod
        def backward(ctx, grad_output):
            return None

    result = hunt(CUMSUM.with_apply(DropsLastRow.apply, name="DropsLastRow"), "output_shape")
    assert result.caught and "DropsLastRow: the output has shape" in result.error
