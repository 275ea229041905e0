"""Properties of PyTorch 2's tracing path: torch.compile, FakeTensorMode, custom ops.

Each is a ``check(entry, case)`` like the others, for entries that declare
``supports_compile=True``. Functions written with ``npext.ops`` (npext's own
too) support compile from torch 2.5; ``COMPILE_SKIP_REASON`` (npext.ops')
says why they cannot here, and a declaration can read
``supports_compile=npext.ops.COMPILE_SUPPORTED``.

Compiling is slow (seconds per graph), so each Function is compiled once,
with ``dynamic=True``, and the compiled callable is reused for every
example: a new graph is expected only for a new combination of dtypes,
ranks and size-1 dims (Dynamo specialises sizes 0 and 1). Any other new graph
is a recompile on a size change, and fails ``compiled_matches_eager``.
"""

from __future__ import annotations

import torch

from npext.ops import COMPILE_SKIP_REASON  # noqa: F401 (the engine's name for it, which tests import)

from ..calls import (
    call_entry,
    copy_modified,
    entry_output_and_grads,
    output_and_grads,
    output_label,
    outputs_of,
    tensor_args,
)
from ..entry import case_kwargs
from ..oracle import assert_results_agree, expect

#: The backend of the generic property: AOTAutograd (forward and backward
#: traced with fake tensors, then run eagerly) without inductor's C++ compile.
#: Tests pin inductor on selected cases.
GENERIC_BACKEND = "aot_eager"

_compiled = {}  # (apply, backend) -> compiled callable
_graph_keys = {}  # (apply, backend) -> graph keys already compiled


def _graph_count() -> int:
    return torch._dynamo.utils.counters["stats"]["unique_graphs"]


def _plus_one(x):
    return x + 1


def _forget_graphs_after_a_reset() -> None:
    """Forget every graph key if Dynamo was reset since the last call.

    ``torch._dynamo.reset()`` (which ``torch._dynamo.explain`` calls, and a
    user's own tests may) drops every compiled graph; with the keys kept, the
    next compile of a key seen before would pass for a recompile on a size
    change. A tiny function compiled once is the probe: it compiles again only
    after a reset.
    """
    before = _graph_count()
    compiled(_plus_one, backend="eager")(torch.zeros(()))
    if _graph_count() != before:
        for keys in _graph_keys.values():
            keys.clear()


def _graph_key(args, outputs) -> tuple:
    """What may legitimately need a new graph: dtypes, ranks, and which sizes and strides are 1.

    Dynamo specialises on the values 0 and 1 of sizes and strides (of inputs
    and of sizes derived from them, like an output's); any other is symbolic.
    """

    def key(a):
        if not isinstance(a, torch.Tensor):
            return a
        return (a.dtype, tuple(size == 1 for size in a.shape), tuple(step == 1 for step in a.stride()))

    return (*tuple(key(a) for a in args), *tuple(key(o) for o in outputs))


def compiled(apply, backend: str = GENERIC_BACKEND):
    """``apply`` under ``torch.compile(fullgraph=True, dynamic=True)``, compiled once per process."""
    key = (apply, backend)
    if key not in _compiled:

        def call(*args, **kwargs):
            return apply(*args, **kwargs)

        # Dynamo caches graphs per code object, and closures share theirs; for
        # an allow_in_graph Function it does not guard on which one the closure
        # holds, so a shared code object hands one Function another's graph.
        call.__code__ = call.__code__.replace()
        _compiled[key] = torch.compile(call, backend=backend, fullgraph=True, dynamic=True)
        _graph_keys[key] = set()
    return _compiled[key]


def _enough_graphs():
    """A limit on graphs per function far above what the cases can need: hitting
    the default (8) would make Dynamo fall back to eager silently."""
    return torch._dynamo.config.patch(cache_size_limit=256)


def compiled_matches_eager(entry, case, backend: str = GENERIC_BACKEND):
    """Under torch.compile(fullgraph=True, dynamic=True) every output and gradient equals eager's.

    Also: a size change alone never compiles a new graph. Catches Functions
    that Dynamo cannot trace (a NumPy call outside a custom op, a jvp
    staticmethod Dynamo refuses), fake kernels that disagree with the real
    ones, and backward formulas that only work on real tensors. Compiled and
    eager may each be off the exact result by the entry's bound, so they may
    differ by twice it.
    """
    key = (entry.apply, backend)
    function = compiled(entry.apply, backend)
    kwargs = case_kwargs(case)
    eager_outputs, eager_grads = entry_output_and_grads(entry, case.args, case.grad_output, kwargs)
    graph_key = _graph_key((*case.args, *kwargs.values()), eager_outputs)
    _forget_graphs_after_a_reset()
    before = _graph_count()
    with _enough_graphs():
        result, grads = output_and_grads(function, case.args, case.grad_output, kwargs, entry.modifies)
    outputs = outputs_of(result)
    new_graphs = _graph_count() - before
    assert not (new_graphs and graph_key in _graph_keys[key]), (
        f"{entry.name}: torch.compile(dynamic=True) compiled {new_graphs} new graph(s) for "
        f"inputs that differ from earlier ones only in size: {[tuple(a.shape) for a in tensor_args(case.args)]}"
    )
    _graph_keys[key].add(graph_key)
    for k, (output, eager) in enumerate(zip(outputs, eager_outputs, strict=True)):
        what = output_label(entry, k, len(outputs))
        assert output.shape == eager.shape and output.dtype == eager.dtype, (
            f"{entry.name}: compiled {what} {tuple(output.shape)} {output.dtype}, "
            f"eager {tuple(eager.shape)} {eager.dtype}"
        )
    expected = expect(entry, case)
    assert_results_agree(
        entry, expected, (outputs, grads), (eager_outputs, eager_grads), case.args, how="compiled", against="eager"
    )


def fake_tensor_propagation(entry, case):
    """Under FakeTensorMode (what compile, export and meta tracing use) each output has the real one's metadata.

    Shape, dtype, device and strides, computed without data. Catches a fake
    kernel with a wrong shape, dtype or strides, and any NumPy call outside a
    custom op (a fake tensor has no data to hand to NumPy).
    """
    from torch._subclasses.fake_tensor import FakeTensorMode

    kwargs = case_kwargs(case)
    reals = call_entry(entry, case.args, kwargs)
    with FakeTensorMode() as mode:
        fake_args = tuple(mode.from_tensor(a) if isinstance(a, torch.Tensor) else a for a in case.args)
        fakes = call_entry(entry, fake_args, kwargs)
    for k, (fake, real) in enumerate(zip(fakes, reals, strict=True)):
        label = output_label(entry, k, len(reals))
        for what, got, want in [
            ("shape", tuple(fake.shape), tuple(real.shape)),
            ("dtype", fake.dtype, real.dtype),
            ("device", fake.device, real.device),
            ("strides", fake.stride(), real.stride()),
        ]:
            assert got == want, f"{entry.name}: under FakeTensorMode {label}'s {what} is {got}, really {want}"


def no_graph_breaks(entry, case):
    """Dynamo traces a call of the Function whole: one graph, no graph break.

    Traced under ``fullgraph=True``, where a break is an error, with the
    "eager" backend: Dynamo's trace alone, no AOT tracing or compile. The
    traced callable is kept and reused like ``compiled_matches_eager``'s, so
    a size change costs no new trace. (``torch._dynamo.explain`` reports the
    same breaks but resets Dynamo on every call, dropping every compiled
    graph of the process.)
    """
    function = compiled(entry.apply, backend="eager")
    try:
        with _enough_graphs():
            function(*copy_modified(case.args, entry.modifies), **case_kwargs(case))
    except torch._dynamo.exc.Unsupported as error:
        reason = str(error).strip().splitlines()[0]
        raise AssertionError(f"{entry.name}: a graph break under torch.compile(fullgraph=True): {reason}") from error
