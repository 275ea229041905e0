"""Dtypes, memory layouts and finite float tensors: npext.testing's public strategies.

They live in ``npext.testing`` (users build their own cases from them); this
module re-exports them for npext's own case strategies.
"""

from npext.testing import FLOAT_DTYPES, LAYOUTS, float_dtypes, float_tensors, grid_tensors, layouts, with_layout

__all__ = [
    "FLOAT_DTYPES",
    "LAYOUTS",
    "float_dtypes",
    "float_tensors",
    "grid_tensors",
    "layouts",
    "with_layout",
]
