"""The users' Functions of ``tests/user_functions.py``, declared through the public contract only.

Each is declared as a user would: a case strategy built from
``npext.testing``'s strategies (and ``hypothesis.extra.numpy`` where that
does the job), the oracle next to the Function, and every flag the Function
supports. Between them they cover what a user's Function can be: several
outputs (``CUBE``), integer outputs marked non-differentiable (``SORT``),
integer tensor arguments (``TAKE``), a write in place (``EXP_``),
broadcasting (``MUL``), default and keyword arguments (``SCALED_CUMSUM``),
transcendental maps (``I0``, ``LOGSUMEXP``), a linear solve (``SOLVE``).
"""

from __future__ import annotations

import torch
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from npext.testing import Case, FunctionUnderTest, float_dtypes, float_tensors, layouts
from tests import user_functions as uf

#: Every flag these Functions support: their backwards are built from torch ops and
#: from the Functions themselves (differentiable twice), each has jvp and vmap.
#: No custom ops: torch.compile would break the graph at the NumPy call.
SUPPORTS = {"supports_gradgrad": True, "supports_forward_ad": True, "supports_vmap": True}


def _side(large: bool, small_max: int = 5, large_max: int = 12):
    return st.integers(1, large_max if large else small_max)


def _shape2(draw, large):
    return draw(st.tuples(_side(large), _side(large)), label="shape")


def _tensor(draw, shape, dtype, label, **options):
    return draw(float_tensors(shape, dtype=dtype, layout=layouts(), **options), label=label)


def _grad(draw, shape, dtype, label="grad_output"):
    return draw(float_tensors(shape, dtype=dtype), label=label)


@st.composite
def cube_cases(draw, *, large=False, **options):
    shape = _shape2(draw, large)
    dtype = draw(float_dtypes(), label="dtype")
    x = _tensor(draw, shape, dtype, "x")
    return Case((x,), (_grad(draw, shape, dtype, "grad x**3"), _grad(draw, shape, dtype, "grad 3x**2")))


def _distinct(draw, shape, dtype, label):
    """Values on a 1/64 grid in [-1, 1], all different: sorting is then a fixed permutation near the case,
    so finite differences see a smooth map (a tie is a kink)."""
    count = shape[0] * shape[1]
    values = draw(
        hnp.arrays("float64", shape, elements=st.integers(-64, 64).map(lambda i: i / 64), unique=True), label=label
    )
    assert values.size == count
    return torch.from_numpy(values).to(dtype)


@st.composite
def sort_cases(draw, *, large=False, **options):
    shape = _shape2(draw, large)
    dtype = draw(float_dtypes(), label="dtype")
    x = _distinct(draw, shape, dtype, "x")
    dim = draw(st.sampled_from([0, 1, -1]), label="dim")
    return Case((x, dim), (_grad(draw, shape, dtype), None, None))


@st.composite
def take_cases(draw, *, large=False, **options):
    shape = _shape2(draw, large)
    dtype = draw(float_dtypes(), label="dtype")
    x = _tensor(draw, shape, dtype, "x")
    dim = draw(st.sampled_from([0, 1]), label="dim")
    permutation = torch.tensor(draw(st.permutations(range(shape[dim])), label="permutation"))
    view = [1, 1]
    view[dim] = shape[dim]
    ind = permutation.reshape(view).expand(shape).contiguous()
    return Case((x, ind, torch.argsort(ind, dim=dim), dim), _grad(draw, shape, dtype))


@st.composite
def exp_cases(draw, *, large=False, **options):
    shape = _shape2(draw, large)
    dtype = draw(float_dtypes(), label="dtype")
    return Case((_tensor(draw, shape, dtype, "x"),), _grad(draw, shape, dtype))


@st.composite
def mul_cases(draw, *, large=False, **options):
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4), label="shapes")
    dtype = draw(float_dtypes(), label="dtype")
    x = draw(float_tensors(shapes.input_shapes[0], dtype=dtype), label="x")
    y = draw(float_tensors(shapes.input_shapes[1], dtype=dtype), label="y")
    return Case((x, y), _grad(draw, shapes.result_shape, dtype))


@st.composite
def scaled_cumsum_cases(draw, *, large=False, **options):
    """Defaults left out, passed positionally or by keyword: ``apply(x)``, ``apply(x, 0)``, ``apply(x, scale=2.0)``."""
    shape = _shape2(draw, large)
    dtype = draw(float_dtypes(), label="dtype")
    x = _tensor(draw, shape, dtype, "x")
    dim = draw(st.sampled_from([None, 0, 1, -1]), label="dim")
    scale = draw(st.sampled_from([None, 0.5, 2.0]), label="scale")
    args, kwargs = [x], {}
    if dim is not None:
        args.append(dim)
    if scale is not None:
        # keywords need a torch whose apply takes them; older ones take positions only
        if dim is not None and (not uf.APPLY_TAKES_KEYWORDS or draw(st.booleans(), label="scale positional")):
            args.append(scale)
        elif uf.APPLY_TAKES_KEYWORDS:
            kwargs["scale"] = scale
    return Case(tuple(args), _grad(draw, shape, dtype), kwargs)


@st.composite
def i0_cases(draw, *, large=False, **options):
    shape = _shape2(draw, large)
    dtype = draw(float_dtypes(), label="dtype")
    return Case((_tensor(draw, shape, dtype, "x", bound=4.0),), _grad(draw, shape, dtype))


@st.composite
def logsumexp_cases(draw, *, large=False, **options):
    shape = _shape2(draw, large)
    dtype = draw(float_dtypes(), label="dtype")
    return Case((_tensor(draw, shape, dtype, "x", bound=3.0),), _grad(draw, shape[:1], dtype))


@st.composite
def solve_cases(draw, *, large=False, **options):
    """A well-conditioned A: n + 1 on the diagonal plus noise in [-1, 1]; b a vector or a matrix.

    Each diagonal entry is at least n, more than the n - 1 others of its row
    add up to: strictly diagonally dominant, so never singular (with n alone,
    a 1x1 A of noise -1 is zero).
    """
    n = draw(_side(large), label="n")
    dtype = draw(float_dtypes(), label="dtype")
    noise = _tensor(draw, (n, n), dtype, "noise")
    A = noise + (n + 1) * torch.eye(n, dtype=dtype)
    b_shape = draw(st.sampled_from([(n,), (n, 2)]), label="b shape")
    b = _tensor(draw, b_shape, dtype, "b")
    return Case((A, b), _grad(draw, b_shape, dtype))


@st.composite
def add_cases(draw, *, large=False, **options):
    shape = _shape2(draw, large)
    dtype = draw(float_dtypes(), label="dtype")
    return Case((_tensor(draw, shape, dtype, "x"), _tensor(draw, shape, dtype, "y")), _grad(draw, shape, dtype))


CUBE = FunctionUnderTest(
    "NumpyCube", uf.NumpyCube.apply, cube_cases, uf.cube_oracle, output_names=("cube", "derivative"), **SUPPORTS
)
SORT = FunctionUnderTest(
    "NumpySort",
    uf.NumpySort.apply,
    sort_cases,
    uf.sort_oracle,
    output_names=("values", "indices", "inverse"),
    **SUPPORTS,
)
TAKE = FunctionUnderTest("NumpyTake", uf.NumpyTake.apply, take_cases, uf.take_oracle, **SUPPORTS)
EXP_ = FunctionUnderTest("NumpyExp_", uf.NumpyExp_.apply, exp_cases, uf.exp__oracle, modifies=(0,), **SUPPORTS)
MUL = FunctionUnderTest("NumpyMul", uf.NumpyMul.apply, mul_cases, uf.mul_oracle, supports_broadcasting=True, **SUPPORTS)
SCALED_CUMSUM = FunctionUnderTest(
    "NumpyScaledCumsum", uf.NumpyScaledCumsum.apply, scaled_cumsum_cases, uf.scaled_cumsum_oracle, **SUPPORTS
)
I0 = FunctionUnderTest("NumpyI0", uf.NumpyI0.apply, i0_cases, uf.i0_oracle, **SUPPORTS)
LOGSUMEXP = FunctionUnderTest(
    "NumpyLogsumexp", uf.NumpyLogsumexp.apply, logsumexp_cases, uf.logsumexp_oracle, **SUPPORTS
)
SOLVE = FunctionUnderTest("NumpySolve", uf.NumpySolve.apply, solve_cases, uf.solve_oracle, **SUPPORTS)
ADD = FunctionUnderTest(
    "NumpyAdd", uf.NumpyAdd.apply, add_cases, uf.add_oracle, supports_broadcasting=False, **SUPPORTS
)

USER_ENTRIES = (CUBE, SORT, TAKE, EXP_, MUL, SCALED_CUMSUM, I0, LOGSUMEXP, SOLVE, ADD)
