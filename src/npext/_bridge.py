"""The one place where tensors cross into NumPy and back.

Every Function in npext checks its arguments, converts tensors to NumPy and
returns results through these helpers, so none of them repeats the rules:

* arguments are real floating tensors, checked with messages that name them;
* NumPy computes in float64 for float64 and in float32 for every narrower
  float (NumPy has no bfloat16, and float16 sums lose too much), and results
  are cast to the dtype torch's type promotion gives;
* tensors on another device are computed on the host and the result goes
  back to the device of the first input;
* inputs are never written to (NumPy views of them are only read).
"""

from __future__ import annotations

import importlib

import numpy as np
import torch

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def check_numpy_interop() -> None:
    """Fail at import, in our words, where this torch cannot exchange arrays with NumPy.

    torch 2.0-2.2 were built against NumPy 1 and declare no NumPy requirement,
    so an installer may pair them with NumPy 2; every tensor <-> array
    conversion then fails with "Numpy is not available".
    """
    try:
        torch.from_numpy(np.zeros(1))
    except RuntimeError as error:
        raise ImportError(
            f"npext needs torch to exchange arrays with NumPy, and torch {torch.__version__} "
            f"cannot with NumPy {np.__version__} ({error}); torch before 2.3 needs numpy<2"
        ) from error


check_numpy_interop()


#: Whether importing npext imports torch._dynamo too (``preload_dynamo_on_torch_2_3``).
PRELOADS_DYNAMO = torch.__version__.startswith("2.3.")


def preload_dynamo_on_torch_2_3() -> None:
    """Import torch._dynamo now on torch 2.3, before any torch.func transform runs.

    torch 2.3 imports it lazily the first time a custom Function runs under a
    transform, and that import then fails inside the transform ("clone is not
    supported by NestedIntSymNode", or vmap's randomness error): the tox env
    py311-torch23 caught it. 2.0, 2.2, 2.5, 2.10 and 2.15 don't need it, and
    the import costs about 2 s, so only 2.3 pays.
    """
    if PRELOADS_DYNAMO:  # pragma: no mutate (only torch 2.3 can tell)
        importlib.import_module("torch._dynamo")  # pragma: no mutate


preload_dynamo_on_torch_2_3()


def check_real_tensor(name: str, value: object, ndim: int | None = None) -> torch.Tensor:
    """Return ``value`` if it is a non-empty real floating tensor of ``ndim`` dims.

    Raises TypeError for a non-tensor or a non-floating dtype and ValueError
    for a wrong number of dimensions or an empty dimension, naming ``name``.
    """
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if value.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"{name} must have a real floating dtype (float16, bfloat16, float32 or float64), got {value.dtype}"
        )
    if ndim is not None and value.dim() != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got {value.dim()}-D with shape {tuple(value.shape)}")
    if value.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(value.shape)}")
    return value


def result_dtype(*tensors: torch.Tensor) -> torch.dtype:
    """torch's promotion of the tensors' dtypes (float32 with float64 is float64)."""
    dtype = tensors[0].dtype
    for tensor in tensors[1:]:
        if tensor.dtype != dtype:  # promote_types is a C call (0.15 us): only for two different dtypes
            dtype = torch.promote_types(dtype, tensor.dtype)
    return dtype


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype NumPy computes in for a result of ``dtype``: float64 stays, the rest use float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def cast(tensor: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``tensor.to(dtype)``, without the call where it already has it (a no-op ``.to`` costs about 1 us)."""
    return tensor if tensor.dtype == dtype else tensor.to(dtype)


def to_numpy(tensor: torch.Tensor, dtype: torch.dtype) -> np.ndarray:
    """A host NumPy array of ``tensor``'s values in the compute dtype for ``dtype``.

    Strides are kept (NumPy reads non-contiguous views as they are); the array
    may share memory with ``tensor`` and must only be read.
    """
    compute = compute_dtype(dtype)
    tensor = tensor.detach()
    if tensor.dtype != compute or tensor.device.type != "cpu":  # else .to would return it as it is
        tensor = tensor.to(device="cpu", dtype=compute)
    return tensor.numpy()


def from_numpy(array: np.ndarray, like: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``array`` as a tensor of ``dtype`` on ``like``'s device.

    A flipped NumPy view has negative strides, which torch refuses; NumPy
    counts a one-element view as contiguous whatever its strides, so
    ``ascontiguousarray`` alone does not copy it: copy such arrays.
    """
    if any(stride < 0 for stride in array.strides):
        array = array.copy()
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if tensor.dtype != dtype or like.device.type != "cpu":  # else .to would return it as it is
        tensor = tensor.to(device=like.device, dtype=dtype)
    return tensor
