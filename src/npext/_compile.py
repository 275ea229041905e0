"""How npext's Functions run under torch.compile without losing torch.func.

Dynamo (torch.compile's front end) traces Python bytecode. Met with an
``autograd.Function``, it traces the Function's forward and backward itself,
and it refuses any Function that defines a ``jvp`` staticmethod
("Unsupported custom jvp"), while torch.func's ``jvp``/``jacfwd`` need that
very staticmethod. It also cannot trace into NumPy or SciPy.

npext resolves both without a second, jvp-less copy of each Function:

1. every NumPy/SciPy call sits in a ``torch.library.custom_op`` (``_kernels``)
   with a fake kernel, so anything that traces with fake tensors (AOTAutograd,
   FakeTensorMode, export) sees an opaque op with exact output metadata;
2. each Function (and each subclass of one: ``CompilableFunction`` registers
   them as they are defined, or once torch._dynamo is imported if that comes
   later) is registered with
   ``torch.compiler.allow_in_graph``: Dynamo then writes ``Function.apply``
   into the graph as one call, without inspecting the Function's methods,
   and AOTAutograd traces its forward and backward, which call only those
   custom ops and torch operators. The jvp staticmethod stays for eager
   torch.func.

torch before 2.4 has no ``custom_op``: there the Functions run eagerly only,
exactly as before, and the registration is skipped.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import inspect
import sys

import torch
from torch.autograd import forward_ad

from ._kernels import HAS_CUSTOM_OPS


def forward_ad_may_run() -> bool:
    """Whether a Function called now may have its jvp run.

    Only a call made inside a forward-AD level
    (``torch.autograd.forward_ad.dual_level``) or a torch.func transform
    (``jvp``, ``jacfwd``, ``hessian``; any transform counts, to be safe) can.
    """
    return forward_ad._current_level >= 0 or torch._C._are_functorch_transforms_active()


def save_inputs(ctx, inputs) -> None:
    """Save a Function's inputs for its backward, and for its jvp where forward AD can run.

    ``save_for_forward`` costs about 12 us a call (measured on a 32x32
    correlation), a quarter of ``Function.apply``'s own overhead, and only
    a jvp reads it (``forward_ad_may_run``).
    """
    ctx.save_for_backward(*inputs)
    if forward_ad_may_run():
        ctx.save_for_forward(*inputs)


class CompilableFunction(torch.autograd.Function):
    """An ``autograd.Function`` that torch.compile writes into its graph as one call.

    Every subclass is registered with ``torch.compiler.allow_in_graph`` when
    it is defined, or when torch._dynamo is imported if that comes later
    (torch >= 2.4). Its forward and backward must call only
    torch operators, custom ops and other such Functions: AOTAutograd traces
    them with fake tensors, which have no data for NumPy.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # Function.apply binds every call's arguments to inspect.signature(forward):
        # computing that signature took about 20 us a call, a third of a small
        # Function's own cost. inspect.signature returns a function's
        # __signature__ as it is, so it is computed once here (the same value).
        forward = cls.__dict__.get("forward")
        forward = getattr(forward, "__func__", forward)
        if forward is not None and not hasattr(forward, "__signature__"):
            forward.__signature__ = inspect.signature(forward)
        if HAS_CUSTOM_OPS:
            allow_in_graph_once_dynamo_loads(cls)


# Functions defined before torch._dynamo was imported: registered right after it is.
# Importing Dynamo takes about 2 s, more than torch's own import, and only
# torch.compile (or export) needs it; they import it themselves, and the
# registration runs before anything is traced.
_waiting: list[type] = []


def allow_in_graph_once_dynamo_loads(cls: type) -> None:
    """``torch.compiler.allow_in_graph(cls)`` now if Dynamo is loaded, else right after it loads."""
    if "torch._dynamo" in sys.modules:
        torch.compiler.allow_in_graph(cls)
    else:
        _waiting.append(cls)


def _allow_waiting_in_graph() -> None:
    for cls in _waiting:
        torch.compiler.allow_in_graph(cls)


def call_after_import(name: str, callback) -> None:
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


if HAS_CUSTOM_OPS and "torch._dynamo" not in sys.modules:
    call_after_import("torch._dynamo", _allow_waiting_in_graph)
