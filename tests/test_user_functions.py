"""Users' Functions of every kind, declared through the public contract: correct ones pass, wrong ones fail.

The Functions are in ``tests/user_functions.py``, their declarations in
``tests/user_registry.py``. Each wrong version makes one mistake users make
(and PyTorch's own test Functions once made: a sort whose values are the
unsorted input); each must fail the property made for it, on a property's
assertion and not inside the engine, and the correct version must pass that
very case (``hunt``'s control).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from npext.testing import hunt, property_tests
from tests import user_functions as uf
from tests.helpers import run_page_block
from tests.user_registry import ADD, CUBE, EXP_, I0, LOGSUMEXP, MUL, SCALED_CUMSUM, SOLVE, SORT, TAKE, USER_ENTRIES

test_numpy_cube = property_tests(CUBE)
test_numpy_sort = property_tests(SORT)
test_numpy_take = property_tests(TAKE)
test_numpy_exp_ = property_tests(EXP_)
test_numpy_mul = property_tests(MUL)
test_numpy_scaled_cumsum = property_tests(SCALED_CUMSUM)
test_numpy_i0 = property_tests(I0)
test_numpy_logsumexp = property_tests(LOGSUMEXP)
test_numpy_solve = property_tests(SOLVE)
test_numpy_add = property_tests(ADD)

assert len(USER_ENTRIES) == 10, "a new user entry needs its line above"

# (correct entry, wrong Function, the property made for its mistake)
WRONG_VERSIONS = [
    (SORT, uf.SortReturnsInputUnsorted, "forward_matches_oracle"),
    (CUBE, uf.CubeIgnoresSecondGradOutput, "gradients_match_oracle"),
    (SORT, uf.SortIndicesLeftDifferentiable, "outputs_require_grad_as_declared"),
    (TAKE, uf.TakeBackwardUsesInd, "gradients_match_oracle"),
    (EXP_, uf.ExpInplaceReturnsCopy, "modifies_its_arguments_in_place"),
    (EXP_, uf.ExpInplaceForgetsMarkDirty, "modifies_its_arguments_in_place"),
    (ADD, uf.AddGradientAliasesGradOutput, "gradients_do_not_alias"),
    (MUL, uf.MulBroadcastMean, "broadcasting_matches_oracle"),
    (MUL, uf.MulBroadcastSumsAxis0, "broadcasting_matches_oracle"),
    (SCALED_CUMSUM, uf.BackwardReadsGradOutputAsContiguous, "noncontiguous_matches_contiguous"),
    pytest.param(
        SCALED_CUMSUM,
        uf.DefaultArgumentMisread,
        "default_arguments_match_explicit",
        marks=pytest.mark.skipif(
            uf.APPLY_BINDS_DEFAULTS,
            reason="this torch binds forward's defaults before setup_context (torch >= 2.1): the misread cannot happen",
        ),
    ),
    (I0, uf.I0GradientInFloat32, "gradients_match_oracle"),
    (SOLVE, uf.SolveGradientInFloat32, "gradients_match_oracle"),
]


def _id(version):
    _, wrong, prop = getattr(version, "values", version)
    return f"{wrong.__name__}-{prop}"


@pytest.mark.parametrize("entry, wrong, prop", WRONG_VERSIONS, ids=[_id(v) for v in WRONG_VERSIONS])
def test_a_wrong_version_fails_the_property_made_for_it(entry, wrong, prop):
    result = hunt(entry.with_apply(wrong.apply, name=wrong.__name__), prop, control=entry)
    assert result.caught, f"{wrong.__name__} survived {prop}"
    assert not result.control_failed, f"the correct {entry.name} fails the case that caught {wrong.__name__}"
    # a property's own verdict (or the Function's own error, as a reshape that cannot fit
    # a broadcast gradient), never a broken declaration or an error inside the engine
    assert result.error.startswith(("AssertionError", "GradcheckError", "RuntimeError")), result.error


# ---------------------------------------------------------------- the docs' example of several outputs

README = run_page_block("docs/check-your-own.md", "several-outputs")
test_readme_numpy_sort = README["test_numpy_sort"]


class SortValuesUnsorted(README["NumpySort"]):
    """PyTorch's NumpySort mistake: the values output is the input itself, unsorted."""

    @staticmethod
    def forward(x):
        a = x.detach().cpu().numpy()
        indices = np.argsort(a, axis=-1, kind="stable")
        return torch.tensor(a), torch.from_numpy(indices)


def test_the_readme_sort_with_unsorted_values_fails_as_the_readme_shows():
    entry = README["SORT"].with_apply(SortValuesUnsorted.apply, name="NumpySortUnsorted")
    result = hunt(entry, "forward_matches_oracle", control=README["SORT"])
    assert result.caught and not result.control_failed
    assert result.error.startswith("AssertionError: NumpySortUnsorted: output 0 (values) differs from the oracle")
