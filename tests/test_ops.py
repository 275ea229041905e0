"""npext.ops, the public form: kernels (NumPy functions as custom ops) and the Functions around them.

The "Write your own" block of docs/writing-a-backward.md is run here exactly
as written (read from the page between its markers): every property of npext.testing on
it, with every flag on, and an inductor compile, fullgraph and dynamic, that
serves several sizes with one graph. The rest pins what the README and
``npext.ops``' docstrings promise: how a kernel hands tensors to NumPy and
makes its results, the schema it infers, the plain-eager shortcut, the vmap
rule and autograd formula a ``KernelFunction`` gives its kernel, ``call``,
``save_inputs``, and the compile flag (npext's own kernels are tested in
test_kernels.py and test_compile.py).
"""

from __future__ import annotations

import re
import sys
import types
import uuid
import warnings

import numpy as np
import pytest
import torch
from torch.testing import assert_close

from npext import _kernels, ops
from npext.ops import KernelFunction, kernel, save_inputs
from tests.helpers import run_page_block

NO_OPS = "torch < 2.5: a kernel is its NumPy function, without an op"
needs_ops = pytest.mark.skipif(not ops._CUSTOM_OPS, reason=NO_OPS)

# ---------------------------------------------------------------- the README's Function, exactly as written

README = run_page_block("docs/writing-a-backward.md", "write-your-own")
test_readme_owens_t = README["test_owens_t"]


def test_the_readme_declaration_has_every_flag_on_and_compile_from_the_public_flag():
    entry = README["OWENS_T"]
    flags = [name for name in vars(type(entry)) if name.startswith("supports_")]
    assert len(flags) == 5
    assert all(
        getattr(entry, name) is (ops.COMPILE_SUPPORTED if name == "supports_compile" else True) for name in flags
    )


def graphs() -> int:
    return torch._dynamo.utils.counters["stats"]["unique_graphs"]


@pytest.mark.slow_compile
@pytest.mark.skipif(not ops.COMPILE_SUPPORTED, reason=str(ops.COMPILE_SKIP_REASON))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_readme_function_compiles_with_inductor_into_one_graph_for_several_sizes(dtype):
    """fullgraph=True, inductor, dynamic=True: values and gradients equal eager's, one graph for four sizes.

    Broadcasting included (a is one row); no reduction after it (inductor
    guards on a reduction's size past 4096 elements, which is not ours).
    """
    owens_t = README["OwensT"].apply

    def f(h, a):
        return owens_t(h, a).sin()

    compiled = torch.compile(f, backend="inductor", fullgraph=True, dynamic=True)
    generator = torch.Generator().manual_seed(0)
    counted = None
    for rows, cols in [(3, 4), (5, 7), (8, 6), (16, 9)]:
        h = (2 * torch.rand(rows, cols, dtype=dtype, generator=generator) - 1).requires_grad_()
        a = (2 * torch.rand(cols, dtype=dtype, generator=generator) - 1).requires_grad_()
        weight = torch.rand(rows, cols, dtype=dtype, generator=generator)
        out = compiled(h, a)
        grads = torch.autograd.grad(out, (h, a), weight)
        if counted is None:
            counted = graphs()
        assert graphs() == counted, f"recompiled for {rows}x{cols}"
        eager = f(h, a)
        assert_close(out, eager)
        for grad, want in zip(grads, torch.autograd.grad(eager, (h, a), weight), strict=True):
            assert grad.dtype == dtype
            assert_close(grad, want)


# ---------------------------------------------------------------- a kernel: arrays in, tensors out


def fresh(name: str) -> str:
    """A new op name: a process may define a kernel of a test more than once (reruns, hunts)."""
    return f"npext_tests::{name}_{uuid.uuid4().hex[:12]}"


def like_first(*args):
    return args[0].new_empty(args[0].shape)


def recording(seen, result=None):
    """A NumPy function of (x, y) that records what it was given and returns ``result(x, y)`` (x + y)."""

    def add(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        seen.append((type(x), x.dtype, type(y), getattr(y, "dtype", None)))
        return x + y if result is None else result(x, y)

    return add


@pytest.mark.parametrize("route", ["eager", "op"])
@pytest.mark.parametrize(
    "dtypes, computed",
    [
        ((torch.float16, torch.float16), np.float32),  # NumPy has no bfloat16, float16 sums lose too much
        ((torch.bfloat16, torch.float32), np.float32),
        ((torch.float32, torch.float64), np.float64),  # floating arguments promoted together
        ((torch.float64, torch.int64), None),  # an integer tensor goes as it is
    ],
)
def test_a_kernel_hands_numpy_its_floating_tensors_in_the_compute_dtype(dtypes, computed, route):
    if route == "op" and not ops._CUSTOM_OPS:
        pytest.skip(NO_OPS)
    seen = []
    add = kernel(fresh("add"), fake=like_first, core_dims=(0, 0))(recording(seen))
    x, y = (torch.tensor([1.5, -2.25, 3.0]).to(dtype) for dtype in dtypes)
    out = (add if route == "eager" else add.op)(x, y)
    (types_seen,) = seen
    if computed is None:
        assert types_seen == (np.ndarray, np.float64, np.ndarray, np.int64)
    else:
        assert types_seen == (np.ndarray, computed, np.ndarray, computed)
    # the fake's dtype (the first argument's here), rounded once from the compute dtype
    assert out.dtype == x.dtype and out.shape == (3,)
    assert torch.equal(out, (x.double() + y.double()).to(x.dtype))


def test_numbers_reach_the_numpy_function_as_they_are():
    seen = []

    @kernel(fresh("scale"), fake=lambda x, factor, flip: x.new_empty(x.shape), core_dims=(0, None, None))
    def scale(x: np.ndarray, factor: float, flip: bool) -> np.ndarray:
        seen.append((factor, flip))
        return -x * factor if flip else x * factor

    assert torch.equal(scale(torch.ones(2), 2.5, True), torch.full((2,), -2.5))
    assert seen == [(2.5, True)]


def _read_only(array):
    array.flags.writeable = False
    return array


def test_a_kernel_result_is_contiguous_in_the_fakes_shape_dtype_and_device_whatever_numpy_returns():
    """Transposed, flipped, read-only, a scalar: always a new contiguous tensor; the fake's strides are not used."""
    outputs = {
        "transposed": lambda x, y: np.ascontiguousarray((x + y).T).T,
        "negative strides": lambda x, y: np.ascontiguousarray((x + y)[::-1])[::-1],
        "read-only": lambda x, y: np.broadcast_to(x + y, x.shape),
        "float32": lambda x, y: (x + y).astype(np.float32),
        "read-only float32": lambda x, y: _read_only((x + y).astype(np.float32)),
    }
    x, y = torch.arange(6.0, dtype=torch.float64).reshape(2, 3), torch.ones(2, 3, dtype=torch.float64)
    for name, result in outputs.items():
        transposed_fake = kernel(fresh("add"), fake=lambda x, y: x.new_empty(x.shape[::-1]).T, core_dims=(2, 2))
        returned = []
        keep = lambda x, y, result=result, returned=returned: returned.append(result(x, y)) or returned[-1]  # noqa: E731
        add = transposed_fake(recording([], keep))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # torch warns on a read-only array (once a process: not the only check)
            out = add(x, y)
        assert out.stride() == (3, 1) and out.dtype == torch.float64 and torch.equal(out, x + y), name
        # a read-only array is copied: the tensor must not be a writable view of memory NumPy marked read-only
        assert returned[-1].flags.writeable or not np.shares_memory(out.numpy(), returned[-1]), name
    # the one-row result whose row stride is another array's: contiguous for NumPy and for
    # torch.is_contiguous, but not the strides a fake tensor gets
    row = kernel(fresh("row"), fake=lambda x, y: x.new_empty((1, 3)), core_dims=(2, 2))(
        recording([], lambda x, y: np.full((4, 5), 7.0)[:1, :3])
    )
    out = row(x, y)
    assert out.stride() == (3, 1) and torch.equal(out, torch.full((1, 3), 7.0, dtype=torch.float64))
    # the same row in memory NumPy did not allocate (a buffer's), which aliases no argument
    buffer_row = kernel(fresh("buffer_row"), fake=lambda x, y: x.new_empty((1, 3)), core_dims=(2, 2))(
        recording([], lambda x, y: np.frombuffer(bytearray(np.full(20, 7.0).tobytes())).reshape(4, 5)[:1, :3])
    )
    out = buffer_row(x, y)
    assert out.stride() == (3, 1) and torch.equal(out, torch.full((1, 3), 7.0, dtype=torch.float64))
    # a ufunc of 0-d arrays returns a NumPy scalar
    scalar = kernel(fresh("scalar"), fake=lambda x, y: x.new_empty(()), core_dims=(0, 0))(
        recording([], lambda x, y: np.float64(x.sum() + y.sum()))
    )
    assert torch.equal(scalar(x, y), torch.tensor(21.0, dtype=torch.float64))


@pytest.mark.parametrize("shape, view", [((3,), False), ((), False), ((1, 3), False), ((2, 3), True)])
def test_a_kernel_result_that_fits_is_not_copied(shape, view):
    """A result in the fake's dtype with torch's strides is the tensor: a fresh array, or a view without size-1 dims."""

    def result(x, y):
        fresh_array = np.asarray(x + y)  # an array, also where x + y is a NumPy scalar
        return fresh_array.reshape(fresh_array.shape) if view else fresh_array

    kept = []
    add = kernel(fresh("add"), fake=like_first, core_dims=(0, 0))(
        recording([], lambda x, y: kept.append(result(x, y)) or kept[-1])
    )
    out = add(torch.ones(shape, dtype=torch.float64), torch.ones(shape, dtype=torch.float64))
    assert (kept[0].base is not None) is view
    assert np.shares_memory(out.numpy(), kept[0])


@needs_ops
def test_tracing_sees_the_fakes_shapes_dtypes_and_devices_contiguous_as_the_real_results():
    """The fake's strides are not used: ``empty_like`` of a strided input differs from the real run."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    def fake(x):
        return torch.empty_like(x), torch.empty_like(x, dtype=torch.int64)

    @kernel(fresh("pair"), fake=fake, core_dims=(0,))
    def pair(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return x * 2, np.zeros(x.shape, dtype=np.int64)

    @kernel(fresh("double"), fake=torch.empty_like, core_dims=(0,))
    def double(x: np.ndarray) -> np.ndarray:
        return x * 2

    x = torch.ones(6, 4)[::2].T  # strided and transposed: (4, 3) with strides (1, 8)
    reals = [double(x), *pair(x)]
    with FakeTensorMode() as mode:
        fakes = [double.op(mode.from_tensor(x)), *pair.op(mode.from_tensor(x))]
    for fake_result, real in zip(fakes, reals, strict=True):
        assert (fake_result.shape, fake_result.dtype, fake_result.stride()) == (real.shape, real.dtype, (3, 1))


@pytest.mark.parametrize("returned", ["x", "a view of x", "y"])
def test_a_kernel_result_never_shares_memory_with_an_argument(returned):
    """An op's output must not alias its input: a function returning (a view of) its argument is copied."""
    pick = {"x": lambda x, y: x, "a view of x": lambda x, y: x[::1], "y": lambda x, y: y}[returned]
    echo = kernel(fresh("echo"), fake=like_first, core_dims=(0, 0))(recording([], pick))
    x, y = torch.arange(3.0, dtype=torch.float64), torch.arange(3.0, dtype=torch.float64) + 10
    out = echo(x, y)
    assert not np.shares_memory(out.numpy(), x.numpy()) and not np.shares_memory(out.numpy(), y.numpy())
    assert torch.equal(out, x if returned != "y" else y)


def test_a_kernel_result_of_another_shape_than_its_fake_raises_naming_the_kernel():
    name = fresh("wrong")
    wrong = kernel(name, fake=like_first, core_dims=(0, 0))(recording([], lambda x, y: np.concatenate([x, y])))
    with pytest.raises(
        ValueError, match=re.escape(f"kernel {name} returned an array of shape (6,) where its fake says (3,)")
    ):
        wrong(torch.ones(3), torch.ones(3))


@pytest.mark.parametrize("route", ["eager", "op"])
def test_a_kernel_of_several_results(route):
    if route == "op" and not ops._CUSTOM_OPS:
        pytest.skip(NO_OPS)

    def fake(x):
        return x.new_empty(x.shape), x.new_empty(x.shape, dtype=torch.int64)

    @kernel(fresh("sort"), fake=fake, core_dims=(1,))
    def sort(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        indices = np.argsort(x, axis=-1, kind="stable")
        return np.take_along_axis(x, indices, -1), indices

    x = torch.tensor([[3.0, 1.0, 2.0], [0.0, -1.0, 5.0]], dtype=torch.float16)
    values, indices = (sort if route == "eager" else sort.op)(x)
    expected = torch.sort(x, stable=True)
    assert values.dtype == torch.float16 and torch.equal(values, expected.values)
    assert indices.dtype == torch.int64 and torch.equal(indices, expected.indices)
    if route == "op":
        assert str(sort.op._opoverload._schema).endswith("(Tensor x) -> (Tensor, Tensor)")

    def one(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (x,)

    with pytest.raises(ValueError, match=r"kernel npext_tests::one_.*zip"):  # one result where the fake says two
        kernel(fresh("one"), fake=fake, core_dims=(1,))(one)(x)


@needs_ops
def test_the_schema_is_inferred_from_the_annotations():
    name = fresh("annotated")

    # strings, as every annotation in this module is (from __future__ import annotations)
    def annotated(x: np.ndarray, n: int, scale: float, flag: bool, k: torch.Tensor) -> np.ndarray:
        return x

    assert isinstance(annotated.__annotations__["x"], str)

    declared = kernel(name, fake=lambda *args: args[0], core_dims=(0, None, None, None, 0))(annotated)
    schema = str(declared.op._opoverload._schema)
    assert schema == f"{name}(Tensor x, SymInt n, float scale, bool flag, Tensor k) -> Tensor"
    assert str(declared.__signature__) == (
        "(x: torch.Tensor, n: int, scale: float, flag: bool, k: torch.Tensor) -> torch.Tensor"
    )
    assert (declared.__name__, declared.__qualname__, declared.__module__) == ("annotated", "annotated", __name__)
    assert repr(declared) == f"<npext.ops.Kernel {name}{declared.__signature__}>"


def test_a_kernel_keeps_its_function_and_declaration():
    def numpy_add(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """x + y."""
        return x + y

    add = kernel(fresh("add"), fake=like_first, core_dims=[0, 1])(numpy_add)
    assert add.numpy is numpy_add and add.fake is like_first and add.core_dims == (0, 1)
    assert add.__doc__ == "x + y." and add.name.startswith("npext_tests::add_")
    assert (add.op is not None) is ops._CUSTOM_OPS


def test_core_dims_need_one_entry_per_parameter():
    with pytest.raises(TypeError, match=r"core_dims needs one entry per parameter of \(x: numpy.ndarray"):
        kernel(fresh("add"), fake=like_first, core_dims=(0,))(recording([]))


def test_on_a_torch_without_custom_ops_a_kernel_is_its_function_and_functions_run_eagerly(monkeypatch):
    """torch before 2.5, on this torch: no op, nothing waits for Dynamo, the Function still runs and differentiates."""
    monkeypatch.setattr(ops, "_CUSTOM_OPS", False)
    allowed = []
    monkeypatch.setattr(ops, "_allow_in_graph_once_dynamo_loads", allowed.append)
    calls = []
    add = kernel("npext_tests::never_registered", fake=like_first, core_dims=(0, 0))(recording(calls))
    assert add.op is None

    class Add(KernelFunction):
        kernel = add

        @staticmethod
        def setup_context(ctx, inputs, output):
            pass

        @staticmethod
        def backward(ctx, grad):
            return grad, grad

    assert allowed == []  # nothing for Dynamo: there is no compiling it
    x = torch.ones(3, requires_grad=True)
    (grad,) = torch.autograd.grad(Add.apply(x, torch.ones(3)).sum(), x)
    assert torch.equal(grad, torch.ones(3)) and len(calls) == 1
    assert torch.equal(torch.func.vmap(Add.apply)(torch.ones(4, 3), torch.ones(4, 3)), torch.full((4, 3), 2.0))
    assert len(calls) == 2  # the Function's vmap rule: one call for the batch


# ---------------------------------------------------------------- the plain-eager shortcut


class _Subclass(torch.Tensor):
    pass


class _Recording(torch.utils._python_dispatch.TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))


def test_plain_eager_means_plain_tensors_nothing_watching_and_no_gradient_to_record(monkeypatch):
    x = torch.ones(3, 3)
    assert ops._plain_eager((x, x))
    assert ops._plain_eager((x, 4, 2.5, None))  # numbers are no tensors
    assert not ops._plain_eager((x, x.to("meta")))  # the fake kernel's business
    assert not ops._plain_eager((x.as_subclass(_Subclass), x))
    assert torch.func.vmap(lambda t: torch.tensor(ops._plain_eager((t, x))))(x).tolist() == [False] * 3
    with _Recording():
        inside_mode = ops._plain_eager((x, x))
    assert not inside_mode
    leaf = torch.ones(3, requires_grad=True)
    assert not ops._plain_eager((x, leaf))  # the op records the gradient (or says it has no formula)
    with torch.no_grad():
        assert ops._plain_eager((x, leaf))  # as inside a Function's forward
    monkeypatch.setattr(ops, "_is_compiling", lambda: True)
    assert not ops._plain_eager((x, x))


@needs_ops
def test_a_kernel_calls_its_function_in_plain_eager_and_its_op_otherwise():
    calls = []
    add = kernel(fresh("add"), fake=like_first, core_dims=(0, 0))(recording(calls))
    add.op = lambda *args: "op"
    x = torch.ones(3, 3)
    assert torch.equal(add(x, x), 2 * x) and len(calls) == 1
    assert add(x, x.to("meta")) == "op"
    assert add(x, torch.ones(3, 3, requires_grad=True)) == "op"


@needs_ops
def test_a_kernel_without_a_function_says_so_when_differentiated():
    """No Function registered its backward: the op has no autograd formula, and torch says so (never silence)."""
    add = kernel(fresh("add"), fake=like_first, core_dims=(0, 0))(recording([]))
    x = torch.ones(3, requires_grad=True)
    out = add(x, x)
    assert out.requires_grad
    with pytest.raises(RuntimeError, match="no autograd formula"):
        out.sum().backward()


def test_never_compiling_is_false():
    """torch 2.0-2.2's stand-in for torch.compiler.is_compiling: they cannot compile npext.ops' Functions."""
    assert ops._never_compiling() is False


# ---------------------------------------------------------------- KernelFunction


@needs_ops
def test_a_kernel_function_makes_its_kernel_a_complete_op():
    """``kernel = k``: k is the forward, vmap batches by k's core dims, and k's op gets the backward.

    Done on correlate_valid's parts under a fresh name, then checked: values,
    the vmap rules (one call for a whole batch), the op's gradient, and
    opcheck (schema, fake, autograd registration, AOT dispatch).
    """
    calls = []
    parts = _kernels.correlate_valid

    def counted(x: np.ndarray, k: np.ndarray) -> np.ndarray:
        calls.append(x.shape)
        return parts.numpy(x, k)

    correlate = kernel(fresh("correlate_valid"), fake=parts.fake, core_dims=parts.core_dims)(counted)

    class Correlate(KernelFunction):
        kernel = correlate

        @staticmethod
        def setup_context(ctx, inputs, output):
            save_inputs(ctx, inputs)

        @staticmethod
        def backward(ctx, grad):
            x, k = ctx.saved_tensors
            return _kernels.convolve_full(grad, k), _kernels.correlate_valid(x, grad)

    assert Correlate.forward is correlate and Correlate.kernel is correlate
    generator = torch.Generator().manual_seed(4)
    x, k = (torch.randint(-16, 17, shape, generator=generator) / 16.0 for shape in [(6, 5), (2, 3)])
    expected = _kernels.correlate_valid(x, k)
    assert torch.equal(Correlate.apply(x, k), expected) and torch.equal(correlate.op(x, k), expected)
    batch = torch.stack([x, -x, 2 * x])
    for batched in (Correlate.apply, correlate.op):
        calls.clear()
        assert torch.equal(torch.func.vmap(batched, in_dims=(0, None))(batch, k), _kernels.correlate_valid(batch, k))
        assert calls == [(3, 6, 5)]  # one call for the whole batch
    x.requires_grad_()
    (grad,) = torch.autograd.grad(correlate.op(x, k), x, torch.ones(5, 3))
    assert torch.equal(grad, _kernels.convolve_full(torch.ones(5, 3), k))
    torch.library.opcheck(correlate.op, (x, k.requires_grad_()))

    class Subclass(Correlate):  # a wrong version, say: it inherits, and registers nothing anew
        @staticmethod
        def backward(ctx, grad):
            return None, None

    (grad,) = torch.autograd.grad(correlate.op(x, k), x, torch.ones(5, 3))
    assert torch.equal(grad, _kernels.convolve_full(torch.ones(5, 3), k))
    calls.clear()
    torch.func.vmap(Subclass.apply, in_dims=(0, None))(batch, k)
    assert calls == [(3, 6, 5)]


def test_a_kernel_function_with_a_kernel_and_a_forward_is_refused():
    add = kernel(fresh("add"), fake=like_first, core_dims=(0, 0))(recording([]))
    with pytest.raises(TypeError, match=r"Both: kernel npext_tests::add_\w+ is its forward; define one or the other"):

        class Both(KernelFunction):
            kernel = add

            @staticmethod
            def forward(x, y):
                return x + y


def test_a_kernel_functions_own_vmap_rule_is_kept():
    add = kernel(fresh("add"), fake=like_first, core_dims=(0, 0))(recording([]))

    class Add(KernelFunction):
        kernel = add

        @staticmethod
        def vmap(info, in_dims, x, y):
            return "own", 0

    assert Add.vmap(None, (0, 0), torch.ones(1), torch.ones(1)) == ("own", 0)


def test_call_applies_only_where_something_may_differentiate_the_result(monkeypatch):
    """``KernelFunction.call``: apply under grad mode, a torch.func transform, a forward-AD level or compiling."""

    class Block(KernelFunction):
        @staticmethod
        def forward(a):
            return ("forward", a)

        @classmethod
        def apply(cls, a):
            return ("apply", a)

    with torch.no_grad():
        assert Block.call(1) == ("forward", 1)
        with torch.enable_grad():
            assert Block.call(1) == ("apply", 1)
        with torch.autograd.forward_ad.dual_level():
            assert Block.call(1) == ("apply", 1)
        kinds = torch.func.vmap(lambda t: torch.tensor(Block.call(t)[0] == "apply"))(torch.ones(2))
        assert kinds.tolist() == [True, True]
        monkeypatch.setattr(ops, "_is_compiling", lambda: True)
        assert Block.call(1) == ("apply", 1)


def test_apply_binds_the_arguments_only_where_binding_changes_something(monkeypatch):
    """``KernelFunction.apply`` goes straight to autograd's C++ apply for positional arguments, one per parameter
    of a forward without defaults or ``*args``, outside torch.func; else torch's ``Function.apply`` binds them."""
    bound = []
    torch_apply = torch.autograd.Function.__dict__["apply"]  # a classmethod, in C on newer torch

    def recording(cls, *args, **kwargs):
        bound.append(cls.__name__)
        return torch_apply.__get__(None, cls)(*args, **kwargs)

    monkeypatch.setattr(torch.autograd.Function, "apply", classmethod(recording))

    class Sum(KernelFunction):
        @staticmethod
        def forward(x, y):
            return x + y

        @staticmethod
        def setup_context(ctx, inputs, output):
            pass

        @staticmethod
        def backward(ctx, grad):
            return grad, 2 * grad

    class Scale(KernelFunction):
        @staticmethod
        def forward(x, factor=3.0):
            return x * factor

        @staticmethod
        def setup_context(ctx, inputs, output):
            pass  # torch 2.0 passes the arguments given, later ones the defaults too

        @staticmethod
        def backward(ctx, grad):
            return 3 * grad, None

    class Many(Sum):
        @staticmethod
        def forward(*tensors):
            return sum(tensors)

    class KeywordOnly(Sum):
        @staticmethod
        def forward(x, *, y):
            return x + y

    assert (Sum._arity, Scale._arity, Many._arity, KeywordOnly._arity) == (2, None, None, None)
    x = torch.ones(3, requires_grad=True)
    y = torch.full((3,), 2.0, requires_grad=True)
    out = Sum.apply(x, y)
    assert bound == [] and out.grad_fn is not None
    assert [g.tolist() for g in torch.autograd.grad(out.sum(), (x, y))] == [[1.0] * 3, [2.0] * 3]
    try:
        with_keyword = Sum.apply(x, y=y)  # a keyword: torch's apply, which binds it
    except TypeError as error:  # or refuses it: torch 2.0 and 2.2 (measured) take no keyword arguments
        assert "keyword" in str(error)
    else:
        assert torch.equal(with_keyword, out)
    assert bound == ["Sum"]
    with pytest.raises(TypeError, match="y"):
        Sum.apply(x)  # too few: torch's binding says which is missing
    assert torch.equal(Scale.apply(x), torch.full((3,), 3.0)) and bound[-1] == "Scale"  # the default filled in
    assert torch.equal(Many.apply(x, y, y), torch.full((3,), 5.0)) and bound[-1] == "Many"
    bound.clear()
    torch.func.grad(lambda t: Sum.apply(t, t).sum())(x.detach())
    assert bound == ["Sum"]  # under a transform, torch's apply hands the call to torch.func


def test_save_inputs_saves_for_forward_only_where_forward_ad_may_run():
    class Ctx:
        def __init__(self):
            self.saved = {}

        def save_for_backward(self, *tensors):
            self.saved["backward"] = tensors

        def save_for_forward(self, *tensors):
            self.saved["forward"] = tensors

    x, y = torch.ones(1), torch.zeros(1)
    ctx = Ctx()
    save_inputs(ctx, (x, y))
    assert ctx.saved == {"backward": (x, y)}
    with torch.autograd.forward_ad.dual_level():
        ctx = Ctx()
        save_inputs(ctx, (x, y))
    assert ctx.saved == {"backward": (x, y), "forward": (x, y)}
    ctx = Ctx()
    torch.func.vmap(lambda t: save_inputs(ctx, (t,)) or t)(torch.ones(2))
    assert set(ctx.saved) == {"backward", "forward"}


def test_batched_call_lines_up_leading_dims_and_calls_once():
    seen = []

    def apply(x, k, n):
        seen.append((x.shape, k.shape, n))
        return x.sum(-1) + k.sum((-2, -1)) + n

    x, k = torch.ones(4, 2, 3), torch.ones(5, 3, 3)  # x batched at dim 0, k at dim 0, one example of k is (3, 3)
    out, dim = ops.batched_call(apply, (0, 0, None), (x, k[:4], 7), (1, 2, None))
    assert seen == [((4, 2, 3), (4, 1, 3, 3), 7)] and dim == 0 and out.shape == (4, 2)


# ---------------------------------------------------------------- the compile flag


def test_the_compile_flag_is_public_and_the_engine_reads_it():
    from npext.testing.properties import compile as compile_properties

    assert ops.COMPILE_SUPPORTED is (ops.COMPILE_SKIP_REASON is None)
    assert compile_properties.COMPILE_SKIP_REASON == ops.COMPILE_SKIP_REASON
    assert set(ops.__all__) >= {"COMPILE_SUPPORTED", "COMPILE_SKIP_REASON", "kernel", "KernelFunction"}
    with pytest.raises(AttributeError, match=r"module 'npext\.ops' has no attribute 'NO_SUCH_NAME'"):
        ops.NO_SUCH_NAME  # noqa: B018


def test_the_compile_flag_is_computed_once_on_first_use(monkeypatch):
    asked = []
    monkeypatch.setattr(ops, "_compile_skip_reason", lambda: asked.append(1) or "a reason")
    for first, then in [("COMPILE_SUPPORTED", "COMPILE_SKIP_REASON"), ("COMPILE_SKIP_REASON", "COMPILE_SUPPORTED")]:
        for name in (first, then):
            monkeypatch.delitem(vars(ops), name, raising=False)
        values = {first: getattr(ops, first), then: getattr(ops, then)}
        assert values == {"COMPILE_SUPPORTED": False, "COMPILE_SKIP_REASON": "a reason"}
    assert asked == [1, 1]  # once per first use


BOTH = ("custom_op", "register_vmap")


@pytest.mark.parametrize(
    "has, python, platform, dynamo_supported, reason",
    [
        ((), (3, 12), "linux", True, "has no torch.library.custom_op (torch >= 2.4)"),
        (("custom_op",), (3, 12), "linux", True, "has no torch.library.register_vmap (torch >= 2.5)"),
        (BOTH, (3, 12), "linux", False, None),  # Dynamo not even asked
        (BOTH, (3, 13), "linux", True, None),
        (BOTH, (3, 13), "linux", None, None),  # a Dynamo without is_dynamo_supported: supported
        (BOTH, (3, 13), "linux", False, "has no torch.compile on Python 3.13"),
        (BOTH, (3, 12), "win32", False, "has no torch.compile on Python 3.12"),
    ],
)
def test_the_compile_skip_reason(monkeypatch, has, python, platform, dynamo_supported, reason):
    library = types.SimpleNamespace(**{name: object() for name in has})
    monkeypatch.setattr(torch, "library", library)
    monkeypatch.setattr(ops, "_CUSTOM_OPS", has == BOTH)
    monkeypatch.setattr(sys, "version_info", (*python, 0, "final", 0))
    monkeypatch.setattr(sys, "platform", platform)
    dynamo = types.SimpleNamespace()
    if dynamo_supported is not None:
        dynamo.is_dynamo_supported = lambda: dynamo_supported
    monkeypatch.setitem(sys.modules, "torch._dynamo", dynamo)  # what importlib.import_module returns
    expected = None if reason is None else f"torch {torch.__version__} {reason}: npext runs eagerly only"
    assert ops._compile_skip_reason() == expected


def test_a_kernel_of_integer_arrays_gets_them_as_they_are():
    """No floating argument, no compute dtype: integer tensors reach NumPy unconverted (mutmut's survivor)."""

    def fake(x):
        return torch.empty_like(x)

    @ops.kernel("npext_test::integer_cumsum", fake=fake, core_dims=(1,))
    def integer_cumsum(x: np.ndarray) -> np.ndarray:
        assert x.dtype == np.int64
        return np.cumsum(x, axis=-1)

    x = torch.arange(6).reshape(2, 3)
    assert torch.equal(integer_cumsum(x), torch.cumsum(x, -1))
