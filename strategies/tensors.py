"""Dtypes, memory layouts and finite float tensors."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

FLOAT_DTYPES = (torch.float32, torch.float64)

#: How a tensor is laid out in memory; the values are the same in each.
LAYOUTS = ("contiguous", "transposed", "strided")


def float_dtypes(dtypes=FLOAT_DTYPES) -> st.SearchStrategy[torch.dtype]:
    """One of ``dtypes`` (float32 and float64 by default)."""
    if not dtypes:
        raise ValueError("dtypes must name at least one dtype")
    return st.sampled_from(tuple(dtypes))


def layouts(choices=LAYOUTS) -> st.SearchStrategy[str]:
    """A memory layout: 'contiguous', 'transposed' or 'strided'."""
    unknown = set(choices) - set(LAYOUTS)
    if unknown or not choices:
        raise ValueError(f"layouts must be a non-empty subset of {LAYOUTS}, got {choices!r}")
    return st.sampled_from(tuple(choices))


def with_layout(array: np.ndarray, dtype: torch.dtype, layout: str) -> torch.Tensor:
    """``array``'s values as a 2-D tensor of ``dtype`` laid out as ``layout``.

    'transposed' is the transpose of a contiguous (W, H) tensor and 'strided'
    every other column of a (H, 2W) one: same values, non-contiguous memory.
    """
    values = torch.as_tensor(np.asarray(array)).to(dtype)
    if layout == "contiguous":
        return values.contiguous()
    if layout == "transposed":
        return values.t().contiguous().t()
    if layout == "strided":
        wide = torch.zeros(values.shape[0], 2 * values.shape[1], dtype=dtype)
        wide[:, ::2] = values
        return wide[:, ::2]
    raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")


@st.composite
def float_tensors(draw, shape, *, dtype=torch.float64, layout="contiguous", bound: float = 1.0):
    """A tensor of ``shape`` with finite values in [-bound, bound].

    ``dtype`` and ``layout`` may be strategies. Values are exactly
    representable in float32, so one case gives the same values in every dtype.
    """
    if not bound > 0:
        raise ValueError(f"bound must be > 0, got {bound!r}")
    elements = st.floats(-bound, bound, allow_nan=False, allow_infinity=False, width=32)
    array = draw(hnp.arrays(np.float32, shape, elements=elements))
    if isinstance(dtype, st.SearchStrategy):
        dtype = draw(dtype)
    if isinstance(layout, st.SearchStrategy):
        layout = draw(layout)
    return with_layout(array, dtype, layout)
