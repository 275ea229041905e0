"""The NumPy bridge (src/npext/_bridge.py): the compute dtype, flipped views, the result's device, interop.

The one place where tensors cross into NumPy: these test its helpers
directly, so this file (with the registry and the catalogue) names npext's
internals.
"""

import numpy as np
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from npext import _bridge
from strategies import image_shapes
from tests.helpers import ALL_DTYPES


@given(dtype=st.sampled_from(ALL_DTYPES), source=st.sampled_from(ALL_DTYPES), shape=image_shapes(max_side=3))
def test_numpy_computes_in_float64_for_float64_and_in_float32_otherwise(dtype, source, shape):
    """The bridge's rule, in both its helpers: compute_dtype says it, to_numpy does it."""
    expected = torch.float64 if dtype == torch.float64 else torch.float32
    assert _bridge.compute_dtype(dtype) == expected
    assert _bridge.to_numpy(torch.zeros(shape, dtype=source), dtype).dtype == np.dtype(
        np.float64 if dtype == torch.float64 else np.float32
    )


@given(shape=image_shapes(), axes=st.sampled_from([(0,), (1,), (0, 1)]), dtype=st.sampled_from(ALL_DTYPES))
@example(shape=(1, 1), axes=(0, 1), dtype=torch.float64)  # NumPy calls this view contiguous
def test_from_numpy_takes_flipped_views(shape, axes, dtype):
    """A flipped view has negative strides, which torch refuses: from_numpy still gives its values."""
    array = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    view = np.flip(array, axes)
    result = _bridge.from_numpy(view, torch.empty(0), dtype)
    assert result.dtype == dtype
    assert torch.equal(result, torch.from_numpy(view.copy()).to(dtype))


@given(shape=image_shapes(max_side=3), dtype=st.sampled_from(ALL_DTYPES))
def test_from_numpy_returns_on_the_device_of_like(shape, dtype):
    """The result goes to ``like``'s device (meta stands in for CUDA on a CPU-only machine)."""
    like = torch.empty(0, device="meta")
    result = _bridge.from_numpy(np.zeros(shape), like, dtype)
    assert result.device == like.device and result.dtype == dtype and tuple(result.shape) == shape


def test_numpy_interop_check_passes_where_torch_and_numpy_exchange_arrays():
    """The import-time check refuses only a broken pairing: here it must pass, not raise.

    (mutmut imports npext once, before it switches a mutant on, so the
    import itself cannot catch a check that raises on every torch.)
    """
    _bridge.check_numpy_interop()


def test_torch_without_numpy_interop_is_refused_at_import(monkeypatch):
    """torch 2.0-2.2 beside NumPy 2 cannot convert arrays: say so instead of failing later."""

    def unavailable(array):
        raise RuntimeError("Numpy is not available")

    monkeypatch.setattr(_bridge.torch, "from_numpy", unavailable)
    with pytest.raises(ImportError, match=r"torch before 2.3 needs numpy<2"):
        _bridge.check_numpy_interop()
