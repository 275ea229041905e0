"""Write a NumPy/SciPy-backed Function that works in eager, torch.func and torch.compile (docs: "Write your own").

``@kernel`` declares the NumPy call as a custom op (fake kernel, vmap rule, autograd formula); the
Function around it subclasses ``KernelFunction``: it keeps torch.func's ``jvp`` and ``vmap``, and
``torch.compiler.allow_in_graph`` writes its ``apply`` into Dynamo's graph as one call. Helpers:
``save_inputs``, ``batched_call``, ``KernelFunction.call``, and ``may_be_differentiated`` and
``forward_ad_may_run`` (whether a backward or jvp may take a faster, non-differentiable route).
``COMPILE_SUPPORTED`` and ``COMPILE_SKIP_REASON``: whether torch.compile runs such Functions here (before torch 2.5, no
``custom_op`` with ``register_vmap``: a kernel is a plain function, and they run eagerly only).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import inspect
import sys
import typing

import numpy as np
import torch
from torch._functorch.utils import unwrap_dead_wrappers
from torch.autograd import forward_ad

from ._bridge import compute_dtype, result_dtype, to_numpy

__all__ = [
    "COMPILE_SKIP_REASON",
    "COMPILE_SUPPORTED",
    "KernelFunction",
    "batched_call",
    "forward_ad_may_run",
    "kernel",
    "may_be_differentiated",
    "save_inputs",
]

# custom_op came in torch 2.4, its register_vmap in 2.5
_CUSTOM_OPS = hasattr(torch.library, "custom_op") and hasattr(torch.library, "register_vmap")


def _never_compiling() -> bool:
    return False


#: ``torch.compiler.is_compiling`` (Dynamo folds it to True); False on torch 2.0-2.2, which lack it.
_is_compiling = getattr(getattr(torch, "compiler", None), "is_compiling", _never_compiling)


def _compile_skip_reason() -> str | None:
    if not _CUSTOM_OPS:
        what, since = ("register_vmap", "2.5") if hasattr(torch.library, "custom_op") else ("custom_op", "2.4")
        return f"torch {torch.__version__} has no torch.library.{what} (torch >= {since}): npext runs eagerly only"
    if sys.version_info < (3, 13) and sys.platform != "win32":
        # every torch with custom ops runs Dynamo here: no need to import it (2 s) to ask
        return None
    dynamo = importlib.import_module("torch._dynamo")  # none for Python 3.13 in torch 2.5 (measured on 2.5.1)
    if not getattr(dynamo, "is_dynamo_supported", lambda: True)():
        python = ".".join(map(str, sys.version_info[:2]))
        return f"torch {torch.__version__} has no torch.compile on Python {python}: npext runs eagerly only"
    return None


#: Whether torch.compile runs Functions written with npext.ops on this torch and Python
#: (torch >= 2.5 with Dynamo); computed on first use.
COMPILE_SUPPORTED: bool
#: Why torch.compile cannot run them here (None where it can), in the words npext.testing's skips quote.
COMPILE_SKIP_REASON: str | None


def __getattr__(name: str):
    # COMPILE_SUPPORTED and COMPILE_SKIP_REASON, computed on first use: on Python
    # 3.13 asking imports Dynamo (2 s), which `import npext` must not pay
    if name in ("COMPILE_SUPPORTED", "COMPILE_SKIP_REASON"):
        reason = _compile_skip_reason()
        globals().update(COMPILE_SKIP_REASON=reason, COMPILE_SUPPORTED=reason is None)
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ------------------------------------------------------------ kernels

#: For how many arguments' metadata a kernel keeps its plan (compute dtype, the fake's answer).
_PLANS_KEPT = 256


def _as_torch(annotation):
    """np.ndarray -> torch.Tensor, inside tuple[...] too: the annotations torch.library infers a schema from."""
    if annotation is np.ndarray:
        return torch.Tensor
    if typing.get_origin(annotation) is tuple:
        return tuple[tuple(_as_torch(a) for a in typing.get_args(annotation))]
    return annotation


def _metadata(args, op: bool) -> tuple | None:
    """The arguments' shapes, dtypes, devices and numbers: the key of a kernel's plan.

    None where the op must run (``op``: there is one), not the NumPy function:
    compiling (Dynamo folds ``_is_compiling`` to True), a torch.func transform,
    a dispatch mode, a tensor subclass or one without data, or a gradient to
    record. One pass over the arguments: this runs on every kernel call.
    """
    if op and (torch._C._are_functorch_transforms_active() or torch._C._len_torch_dispatch_stack() or _is_compiling()):
        return None
    grad = op and torch.is_grad_enabled()
    key = []
    for a in args:
        if isinstance(a, torch.Tensor):
            if op and (type(a) is not torch.Tensor or a.is_meta or (grad and a.requires_grad)):
                return None
            key.append((a.shape, a.dtype, None if a.is_cpu else a.device))
        else:
            key.append(a)
    return tuple(key)


def _plain_eager(args) -> bool:
    """Whether only the NumPy function would run through the op: nothing compiled (Dynamo folds ``_is_compiling``
    to True) or transformed, no dispatch mode, plain tensors with data, no gradient to record."""
    return _metadata(args, op=True) is not None


class _Like(typing.NamedTuple):
    """What the fake says of one result: its shape (a tuple), dtype and device, and whether that is the CPU."""

    shape: tuple
    dtype: torch.dtype
    device: torch.device
    cpu: bool

    @classmethod
    def of(cls, tensor: torch.Tensor) -> _Like:
        return cls(tuple(tensor.shape), tensor.dtype, tensor.device, tensor.device.type == "cpu")


def _numpy_allocated(array: np.ndarray) -> bool:
    """Whether NumPy allocated the memory under this array (or the arrays it views): then no argument owns it."""
    while array.base is not None:
        if type(array.base) is not np.ndarray:  # memory from elsewhere: a tensor's, a buffer's
            return False
        array = array.base
    return True


def _as_result(array, like: _Like, arrays) -> torch.Tensor:
    """``array`` as a new contiguous tensor of ``like``'s shape, dtype and device, sharing no argument's memory."""
    if type(array) is not np.ndarray:
        array = np.asarray(array)
    if array.shape != like.shape:
        raise ValueError(f"returned an array of shape {array.shape} where its fake says {like.shape}")
    # The arguments' arrays are all views of tensors' memory: what NumPy allocated aliases none of them
    # (np.may_share_memory, 1-2 us a call, is asked only of the rest). A C-contiguous array has no
    # negative stride; one that owns its memory (base None) has torch's contiguous strides even in a
    # dim of size 1, which is_contiguous() and c_contiguous let pass with any stride.
    fresh = array.base is None
    flags = array.flags
    if (fresh or _numpy_allocated(array)) and flags.c_contiguous and flags.writeable:
        tensor = torch.from_numpy(array)
        if like.cpu and tensor.dtype == like.dtype and (fresh or 1 not in array.shape):
            return tensor
    else:
        # torch refuses negative strides and warns on read-only arrays; an output must not alias an input
        if (
            not fresh
            and (min(array.strides) < 0 or any(type(a) is np.ndarray and np.may_share_memory(array, a) for a in arrays))
        ) or not flags.writeable:
            array = array.copy()
        tensor = torch.from_numpy(array)
        if (
            like.cpu
            and tensor.dtype == like.dtype
            and tensor.is_contiguous()
            and (array.base is None or 1 not in array.shape)
        ):
            return tensor
    return torch.empty(like.shape, dtype=like.dtype, device=like.device).copy_(tensor)


def _as_array(tensor: torch.Tensor, compute: torch.dtype | None) -> np.ndarray:
    """A host array of ``tensor`` (detached), floating ones in ``compute`` (the floating arguments' compute dtype)."""
    if tensor.is_floating_point():
        return to_numpy(tensor, compute)
    return tensor.cpu().numpy()


def _contiguous(fake):
    """The fake kernel torch is given: ``fake``'s shapes, dtypes and devices, contiguous, as the real results are."""

    def contiguous_fake(*args):
        like = fake(*args)
        return (
            like.new_empty(like.shape) if isinstance(like, torch.Tensor) else tuple(t.new_empty(t.shape) for t in like)
        )

    return contiguous_fake


class Kernel:
    """A NumPy function declared with ``@kernel``: call it with tensors (positional), get tensors.

    Attributes: ``name``, ``numpy`` (the function), ``fake``, ``core_dims``, ``op`` (the
    custom op; None before torch 2.5). In plain eager a call runs the function
    directly (the op's dispatch costs about 60 us a call); anything else meets the op.
    """

    def __init__(self, name: str, function, fake, core_dims):
        signature = inspect.signature(function, eval_str=True)
        if len(core_dims) != len(signature.parameters):
            raise TypeError(f"{name}: core_dims needs one entry per parameter of {signature}, got {core_dims!r}")
        self.name, self.numpy, self.fake, self.core_dims = name, function, fake, tuple(core_dims)
        self.__name__ = self.__qualname__ = function.__name__
        self.__doc__, self.__module__ = function.__doc__, function.__module__
        self.__signature__ = signature.replace(
            parameters=[p.replace(annotation=_as_torch(p.annotation)) for p in signature.parameters.values()],
            return_annotation=_as_torch(signature.return_annotation),
        )
        self._plans: dict = {}
        self.op = None
        if _CUSTOM_OPS:

            def run(*args):
                return self._run(*args)

            run.__signature__ = self.__signature__  # what custom_op infers the schema from
            self.op = torch.library.custom_op(name, run, mutates_args=())
            self.op.register_fake(_contiguous(fake))
            self.op.register_vmap(lambda info, in_dims, *args: batched_call(self.op, in_dims, args, self.core_dims))

    def _run(self, *args):
        """The op's kernel: the NumPy function on the arguments as arrays, its results as the fake says."""
        return self._run_as_planned(_metadata(args, op=False), args)

    def __call__(self, *args):
        key = _metadata(args, op=self.op is not None)
        if key is None:
            return self.op(*args)
        return self._run_as_planned(key, args)

    def _run_as_planned(self, key, args):
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plan(key, args)
        compute, likes, as_is = plan
        # the tensors: as they are where they can be (as_is True), else converted; the rest as they are
        arrays = [
            a if usable is None else (a.detach() if a.requires_grad else a).numpy() if usable else _as_array(a, compute)
            for a, usable in zip(args, as_is, strict=True)
        ]
        results = self.numpy(*arrays)
        try:
            if type(likes) is _Like:
                return _as_result(results, likes, arrays)
            return tuple([_as_result(r, like, arrays) for r, like in zip(results, likes, strict=True)])
        except ValueError as error:
            raise ValueError(f"kernel {self.name} {error}") from error

    def _plan(self, key, args):
        """How to call the NumPy function on arguments of this metadata, worked out once for it.

        The compute dtype, what the fake says of the results, and for each
        tensor whether its array can be had as it is (a host tensor in the
        compute dtype, or not floating). All follow from the arguments'
        shapes, dtypes, devices and numbers alone (the fake may read only
        those: ``kernel`` says so), so one plan holds for every call with the
        same: the cache saves what costs as much as the rest of a small call.
        """
        floating = [a for a in args if isinstance(a, torch.Tensor) and a.is_floating_point()]
        compute = compute_dtype(result_dtype(*floating)) if floating else None
        as_is = tuple(
            a.is_cpu and (a.dtype == compute or not a.is_floating_point()) if isinstance(a, torch.Tensor) else None
            for a in args
        )
        like = self.fake(*args)
        likes = _Like.of(like) if isinstance(like, torch.Tensor) else tuple(map(_Like.of, like))
        if len(self._plans) >= _PLANS_KEPT:  # a bound, not an LRU: shapes seldom change in a loop
            self._plans.clear()
        self._plans[key] = plan = (compute, likes, as_is)
        return plan

    def __repr__(self) -> str:
        return f"<npext.ops.Kernel {self.name}{self.__signature__}>"


def kernel(name: str, *, fake, core_dims):
    """Declare a NumPy/SciPy function as the custom op ``name`` ("namespace::op"); returns a ``Kernel``.

    ``fake(*args)`` returns empty tensors of the results' shape, dtype and
    device from the arguments' metadata alone (their strides are not used):
    tracing sees contiguous tensors of those, and so is every real result
    (cast to that dtype; another shape raises ValueError). ``core_dims[i]``:
    the trailing dims of one example of argument i (None for a number); the
    function computes over any leading dims, broadcast as NumPy does. As a
    decorator: ``@kernel("mylib::erfcx", fake=torch.empty_like, core_dims=(0,))``.
    """
    return lambda function: Kernel(name, function, fake, core_dims)


def batched_call(apply, in_dims, args, core_dims):
    """A vmap rule for a map that batches natively over leading dims (``core_dims`` as for ``kernel``).

    Each batched argument gets its vmapped dim moved to the front, then size-1 dims up to the most
    leading dims of any: examples line up under NumPy's broadcasting, unbatched arguments broadcast
    against the batch. ``apply`` (a Function's, to stay differentiable) runs once, batched at dim 0.
    """
    arguments = list(zip(args, in_dims, core_dims, strict=True))
    # the most leading dims any tensor's example has (its dims less the vmapped one and the core)
    most = max(a.dim() - (d is not None) - n for a, d, n in arguments if n is not None)
    aligned = []
    for a, d, n in arguments:
        if d is not None:
            a = a.movedim(d, 0)
            a = a.reshape((a.shape[0],) + (1,) * (most - (a.dim() - 1 - n)) + tuple(a.shape[1:]))
        aligned.append(a)
    return apply(*aligned), 0


# ------------------------------------------------------------ Functions


def forward_ad_may_run() -> bool:
    """Whether a Function called now may have its jvp run: inside a forward-AD level or any torch.func transform."""
    return forward_ad._current_level >= 0 or torch._C._are_functorch_transforms_active()


def may_be_differentiated() -> bool:
    """Whether what is computed now may be differentiated: grad mode, a forward-AD level, a torch.func transform
    or compiling. In a backward, False unless ``create_graph``: where a first-order backward may take a faster,
    non-differentiable route (one kernel for the whole gradient) that a double backward must not."""
    return torch.is_grad_enabled() or forward_ad_may_run() or _is_compiling()


def save_inputs(ctx, inputs) -> None:
    """Save a Function's inputs for its backward, and for its jvp only where forward AD can run (12 us a call)."""
    ctx.save_for_backward(*inputs)
    if forward_ad_may_run():
        ctx.save_for_forward(*inputs)


class KernelFunction(torch.autograd.Function):
    """An ``autograd.Function`` (``setup_context`` style) that torch.compile writes into its graph as one call.

    Every subclass is registered with ``torch.compiler.allow_in_graph`` when defined, or once
    torch._dynamo is imported (torch >= 2.5); its methods call only torch operations, kernels and
    such Functions. ``kernel = k`` in a subclass's body: k is its forward, its vmap rule batches by
    k's core dims, and k's op gets its backward as autograd formula. Else write forward and vmap.
    """

    kernel: Kernel | None = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        kernel = cls.__dict__.get("kernel")
        if kernel is not None:
            if "forward" in cls.__dict__:
                raise TypeError(f"{cls.__name__}: kernel {kernel.name} is its forward; define one or the other")
            cls.forward = staticmethod(kernel)
            if "vmap" not in cls.__dict__:
                cls.vmap = classmethod(
                    lambda c, info, in_dims, *a: batched_call(c.apply, in_dims, a, c.kernel.core_dims)
                )
            if kernel.op is not None:
                kernel.op.register_autograd(cls.backward, setup_context=cls.setup_context)
        # Function.apply binds every call's arguments to inspect.signature(forward), about 20 us
        # a call; it returns a function's __signature__ as it is: computed once here.
        forward = cls.__dict__.get("forward")
        forward = getattr(forward, "__func__", forward)
        if forward is not None and not hasattr(forward, "__signature__"):
            forward.__signature__ = inspect.signature(forward)
        # the number of arguments binding cannot change (no default to fill in, no *args): None if any
        parameters = inspect.signature(cls.forward).parameters.values()
        plain = all(p.kind in _POSITIONAL and p.default is p.empty for p in parameters)
        cls._arity = len(parameters) if plain else None
        if _CUSTOM_OPS:
            _allow_in_graph_once_dynamo_loads(cls)

    @classmethod
    def apply(cls, *args, **kwargs):
        """``torch.autograd.Function.apply``, without binding the arguments where binding changes nothing.

        Binding ``forward``'s signature (to fill in defaults) costs about 8 us a
        call: it is skipped for positional arguments, one per parameter of a
        forward with no defaults, outside torch.func transforms, which is
        where torch's own ``apply`` goes straight to autograd's C++ ``apply``.
        """
        if kwargs or len(args) != cls._arity or torch._C._are_functorch_transforms_active():
            return super().apply(*args, **kwargs)
        return super(torch.autograd.Function, cls).apply(*unwrap_dead_wrappers(args))

    @classmethod
    def call(cls, *args):
        """``apply(*args)``, or ``forward(*args)`` alone where nothing can differentiate the result.

        That is: no grad mode, forward-AD level, torch.func transform or
        compiling, as in a backward without ``create_graph``, where apply's
        graph node and saved tensors would go unused (about 25 us a call).
        """
        if may_be_differentiated():
            return cls.apply(*args)
        return cls.forward(*args)


_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


# Functions defined before torch._dynamo was imported, registered right after it is: importing
# Dynamo takes about 2 s, and torch.compile or export import it before anything is traced.
_waiting: list[type] = []


def _allow_in_graph_once_dynamo_loads(cls: type) -> None:
    """``torch.compiler.allow_in_graph(cls)`` now if Dynamo is loaded, else right after it loads."""
    if "torch._dynamo" in sys.modules:
        torch.compiler.allow_in_graph(cls)
    else:
        _waiting.append(cls)


def _allow_waiting_in_graph() -> None:
    for cls in _waiting:
        torch.compiler.allow_in_graph(cls)


def _call_after_import(name: str, callback) -> None:
    """Call ``callback()`` once, right after module ``name`` (not yet imported) has run."""
    sys.meta_path.insert(0, _AfterImport(name, callback))


class _AfterImport(importlib.abc.MetaPathFinder):
    """Finds one module as the import system would, and wraps its loader to call back after it runs."""

    def __init__(self, name: str, callback):
        self.name, self.callback = name, callback

    def find_spec(self, name, path=None, target=None):
        if name != self.name:
            return None
        sys.meta_path.remove(self)  # once: the lookup below, and every later import, go on without it
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        run_module = spec.loader.exec_module

        def exec_module(module):
            run_module(module)
            self.callback()

        spec.loader.exec_module = exec_module  # a file finder makes a new loader per lookup: this import's own
        return spec


if _CUSTOM_OPS and "torch._dynamo" not in sys.modules:
    _call_after_import("torch._dynamo", _allow_waiting_in_graph)
