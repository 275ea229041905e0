"""Small helpers shared by the subject-specific tests."""

from __future__ import annotations

import math
import re
from pathlib import Path

import torch
from hypothesis import strategies as st

from npext.testing import FLOAT_DTYPES, eps

HALF_DTYPES = (torch.float16, torch.bfloat16)
ALL_DTYPES = HALF_DTYPES + tuple(FLOAT_DTYPES)


def filled(shape, dtype=torch.float32) -> torch.Tensor:
    """A tensor of ``shape`` holding evenly spaced values from -1 to 1, row-major, in ``dtype``."""
    return torch.linspace(-1, 1, math.prod(shape)).reshape(shape).to(dtype)


def rounded_tolerance(tolerance: dict, dtype: torch.dtype) -> dict:
    """A compute-dtype tolerance plus the final rounding to ``dtype``."""
    return {"rtol": tolerance["rtol"] + eps(dtype), "atol": tolerance["atol"]}


def nonempty_subsets(n: int):
    return st.sets(st.integers(0, n - 1), min_size=1).map(sorted)


ROOT = Path(__file__).resolve().parent.parent


def page_block(page: str, name: str) -> str:
    """The Python code block between ``<!-- name:start -->`` and ``<!-- name:end -->`` of a page (README.md,
    docs/...): tests run the examples exactly as the pages show them."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = (ROOT / page).read_text(encoding="utf-8")
    assert start in text and end in text, f"{page} lacks the markers {start} / {end}"
    match = re.search(r"```python\n(.*?)```", text.split(start, 1)[1].split(end, 1)[0], re.DOTALL)
    assert match, f"no ```python block between the markers {start} / {end} of {page}"
    return match.group(1)


def run_page_block(page: str, name: str) -> dict:
    """Run a page's block (``page_block``) as a module of its own and return its namespace."""
    namespace = {"__name__": f"page_{name.replace('-', '_')}"}
    exec(compile(page_block(page, name), f"{page} ({name})", "exec"), namespace)
    return namespace
