"""Small helpers shared by the subject-specific tests."""

from __future__ import annotations

import torch
from hypothesis import strategies as st

from npext.testing import FLOAT_DTYPES, eps

HALF_DTYPES = (torch.float16, torch.bfloat16)
ALL_DTYPES = HALF_DTYPES + tuple(FLOAT_DTYPES)


def rounded_tolerance(tolerance: dict, dtype: torch.dtype) -> dict:
    """A compute-dtype tolerance plus the final rounding to ``dtype``."""
    return {"rtol": tolerance["rtol"] + eps(dtype), "atol": tolerance["atol"]}


def nonempty_subsets(n: int):
    return st.sets(st.integers(0, n - 1), min_size=1).map(sorted)
