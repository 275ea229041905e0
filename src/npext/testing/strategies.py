"""Generic Hypothesis strategies: shapes, dtypes, memory layouts and float tensors.

Small composable pieces in the manner of ``hypothesis.extra.numpy``; each
checks its arguments and says what it draws. Build a Function's case
strategy from them (see ``npext.testing.Case``).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

#: The dtypes ``float_dtypes`` draws from by default.
FLOAT_DTYPES = (torch.float32, torch.float64)

#: How a tensor is laid out in memory; the values are the same in each.
LAYOUTS = ("contiguous", "transposed", "strided")


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def shapes(ndim: int = 2, *, min_side: int = 1, max_side: int = 8) -> st.SearchStrategy[tuple[int, ...]]:
    """Shapes of ``ndim`` dimensions, each side in [min_side, max_side].

    Sides shrink towards ``min_side``, so a failure is reported on the
    smallest shape that shows it (thin 1xN and Nx1 shapes come up early).
    """
    _check_int("ndim", ndim, 0)
    _check_int("min_side", min_side, 0)
    _check_int("max_side", max_side, min_side)
    side = st.integers(min_side, max_side)
    return st.tuples(*[side] * ndim)


def float_dtypes(dtypes=FLOAT_DTYPES) -> st.SearchStrategy[torch.dtype]:
    """One of ``dtypes`` (float32 and float64 by default)."""
    dtypes = tuple(dtypes)
    if not dtypes:
        raise ValueError("dtypes must name at least one dtype")
    for dtype in dtypes:
        if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            raise ValueError(f"dtypes must be real floating torch dtypes, got {dtype!r}")
    return st.sampled_from(dtypes)


def layouts(choices=LAYOUTS) -> st.SearchStrategy[str]:
    """A memory layout: 'contiguous', 'transposed' or 'strided' (see ``with_layout``)."""
    unknown = set(choices) - set(LAYOUTS)
    if unknown or not choices:
        raise ValueError(f"layouts must be a non-empty subset of {LAYOUTS}, got {choices!r}")
    return st.sampled_from(tuple(choices))


def with_layout(array, dtype: torch.dtype, layout: str) -> torch.Tensor:
    """``array``'s values as a tensor of ``dtype`` laid out in memory as ``layout``.

    * 'contiguous': row-major;
    * 'transposed': the dimensions of a contiguous tensor of the reversed
      shape, permuted back (for 2-D: the transpose of a contiguous (W, H)
      tensor). Only a tensor of two or more dimensions is non-contiguous so;
    * 'strided': every other element along the last dimension of a tensor
      twice as wide.

    The values are the same in every layout; a Function that reads memory as
    if it were contiguous gives different results on the last two.
    """
    values = torch.as_tensor(np.asarray(array)).to(dtype)
    if layout == "contiguous":
        return values.contiguous()
    if layout == "transposed":
        reverse = tuple(reversed(range(values.dim())))
        return values.permute(reverse).contiguous().permute(reverse)
    if layout == "strided":
        if values.dim() == 0:
            return values.clone()
        wide = torch.zeros(*values.shape[:-1], 2 * values.shape[-1], dtype=dtype)
        wide[..., ::2] = values
        return wide[..., ::2]
    raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")


def _check_dtype(dtype) -> None:
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ValueError(f"dtype must be a real floating torch dtype, got {dtype!r}")


def float_tensors(
    shape, *, dtype=torch.float64, layout="contiguous", bound: float = 1.0
) -> st.SearchStrategy[torch.Tensor]:
    """Tensors of ``shape`` with finite values in [-bound, bound].

    ``dtype`` (a real floating torch dtype) and ``layout`` (one of
    ``LAYOUTS``) may each be a value or a strategy, e.g. ``float_dtypes()``
    and ``layouts()``. The values are exactly representable in float32, so
    one case has the same values in float32 and float64, and a float32
    result can be compared with a float64 oracle's. Values shrink towards 0.
    """
    return _float_tensors(_checked_tensor_args(shape, dtype, layout, bound), dtype, layout, bound)


def _checked_tensor_args(shape, dtype, layout, bound) -> tuple:
    """The shape as a tuple, after checking the arguments float_tensors and grid_tensors share."""
    if not bound > 0:
        raise ValueError(f"bound must be > 0, got {bound!r}")
    shape = tuple(shape)
    for side in shape:
        _check_int("every side of shape", side, 0)
    if not isinstance(dtype, st.SearchStrategy):
        _check_dtype(dtype)
    if not isinstance(layout, st.SearchStrategy) and layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    return shape


def _laid_out(draw, array, dtype, layout) -> torch.Tensor:
    """``array`` as a tensor of ``dtype`` in ``layout``, either of which may be a strategy to draw."""
    if isinstance(dtype, st.SearchStrategy):
        dtype = draw(dtype)
        _check_dtype(dtype)
    if isinstance(layout, st.SearchStrategy):
        layout = draw(layout)
    return with_layout(array, dtype, layout)


@st.composite
def _float_tensors(draw, shape, dtype, layout, bound):
    elements = st.floats(-bound, bound, allow_nan=False, allow_infinity=False, width=32)
    array = draw(hnp.arrays(np.float32, shape, elements=elements))
    return _laid_out(draw, array, dtype, layout)


#: The spacing of ``grid_tensors``' values by default: multiples of 1/16.
GRID_STEP = 2.0**-4


def grid_tensors(
    shape, *, dtype=torch.float64, layout="contiguous", step: float = GRID_STEP, bound: float = 1.0
) -> st.SearchStrategy[torch.Tensor]:
    """Tensors of ``shape`` with values that are multiples of ``step`` in [-bound, bound].

    For large inputs. With ``step`` a power of two, a product of two values
    is a multiple of step**2, and a sum of m such products is exact in a
    float format as long as m * bound**2 / step**2 fits its mantissa (2**24
    for float32, 2**53 for float64): any summation order then gives the same
    bits, so a direct-sum result can be compared with an oracle exactly, at
    any size. The values come from a NumPy generator seeded by one drawn
    integer: fast for any shape, and shrinking goes to seed 0 (the shape,
    drawn separately, is what shrinks to the smallest failing size).
    """
    shape = _checked_tensor_args(shape, dtype, layout, bound)
    if not (step > 0 and math.frexp(step)[0] == 0.5):
        raise ValueError(f"step must be a power of two, got {step!r}")
    return _grid_tensors(shape, dtype, layout, step, bound)


@st.composite
def _grid_tensors(draw, shape, dtype, layout, step, bound):
    seed = draw(st.integers(0, 2**32 - 1), label="seed")
    steps = int(bound / step)
    array = np.random.default_rng(seed).integers(-steps, steps, size=shape, endpoint=True) * step
    return _laid_out(draw, array, dtype, layout)
