"""torch.compile with inductor, the custom ops under opcheck and vmap, a compiled training loop.

The generic compile properties (compiled_matches_eager with aot_eager,
fake_tensor_propagation, no_graph_breaks) run over the registry in
test_properties.py; here are the pinned inductor runs, which compile C++ and
so take seconds per graph, and the kernels' own registrations.
"""

import importlib
import importlib.machinery
import sys

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.testing import assert_close

import npext
from npext import _kernels, fft
from npext.testing import Case, leaves, sum_tolerance
from npext.testing.properties.compile import COMPILE_SKIP_REASON, compiled, compiled_matches_eager
from strategies import conv_shapes, float_tensors, image_shapes
from tests.helpers import ALL_DTYPES, filled
from tests.registry import RFFT2_ABS

pytestmark = pytest.mark.skipif(COMPILE_SKIP_REASON is not None, reason=str(COMPILE_SKIP_REASON))


def graphs() -> int:
    return torch._dynamo.utils.counters["stats"]["unique_graphs"]


def conv_oracle(x, k, b):
    return F.conv2d(x[None, None], k[None, None])[0, 0] + b.reshape(())


def fft_oracle(x):
    return torch.fft.rfft2(x).abs()


def conv_and_fft(x, k, b):
    """Both Functions with torch ops around them (no reduction: inductor guards on their sizes)."""
    return npext.ScipyConv2dFunction.apply(x, k, b).tanh(), npext.rfft2_abs(x).square()


def oracle_conv_and_fft(x, k, b):
    return conv_oracle(x, k, b).tanh(), fft_oracle(x).square()


def test_compiled_functions_of_the_same_signature_do_not_share_a_graph():
    """``compiled`` gives each Function a code object of its own.

    Dynamo caches graphs per code object, and for a Function marked
    ``allow_in_graph`` it does not guard on which class the closure holds: two
    Functions compiled through one shared closure got the first one's graph
    (measured on torch 2.13: _RFFT2's (4, 3, 2) output for RFFT2AbsFunction).
    """
    x = torch.ones(4, 4)
    assert compiled(fft._RFFT2.apply, backend="eager")(x).shape == (4, 3, 2)
    assert [out.shape for out in compiled(fft.RFFT2AbsFunction.apply, backend="eager")(x)] == [(4, 3), (4, 3, 2)]


def _fft_case(height):
    x = torch.linspace(-1, 1, height * 6).reshape(height, 6)
    return Case(args=(x,), grad_output=torch.ones(height, 4))


def test_compiled_matches_eager_keeps_its_bookkeeping_through_a_dynamo_reset():
    """After ``torch._dynamo.reset()`` (explain calls it) the next compile of a known key is no size recompile.

    Measured before the reset probe: the catalogue's controls failed with "compiled
    1 new graph(s) for inputs that differ from earlier ones only in size" on
    workers where tests/test_compile.py's explain had run.
    """

    def apply(x):  # a function of its own: compiled() keeps graphs and keys per apply
        return fft.RFFT2AbsFunction.apply(x)[0]

    entry = RFFT2_ABS.with_apply(apply, name="ResetBetweenCalls")
    compiled_matches_eager(entry, _fft_case(3))
    torch._dynamo.reset()
    compiled_matches_eager(entry, _fft_case(5))


def test_compiled_matches_eager_fails_a_function_that_recompiles_on_a_size_change():
    """A Python branch on a size guards on it: crossing it compiles a new graph for the same key."""

    def apply(x):
        out = fft.RFFT2AbsFunction.apply(x)[0]
        return out * 1 if x.shape[0] > 4 else out

    entry = RFFT2_ABS.with_apply(apply, name="BranchesOnHeight")
    compiled_matches_eager(entry, _fft_case(3))
    with pytest.raises(AssertionError, match=r"new graph.*differ from earlier ones only in size"):
        compiled_matches_eager(entry, _fft_case(6))


@pytest.mark.slow_compile
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_inductor_fullgraph_dynamic_equals_oracles_on_several_sizes_with_one_graph(dtype):
    """inductor, fullgraph=True, dynamic=True: the value and every gradient equal the torch oracle's.

    Sizes change, dtypes stay: one graph serves them all (sizes 0 and 1 aside,
    which Dynamo specialises; none occur here). The last size crosses the
    kernels' switch from SciPy's direct sum to FFT (and its grad_filter's to
    the NumPy loop over output positions). Inductor adds guards of its own on how large
    a reduction is (our bias gradient sums grad_output): past 4096 output
    elements it compiles a second graph, a torch behaviour the sizes here
    stay below (aot_eager has no such guard: test_properties' generic run).
    """
    function = compiled(conv_and_fft, backend="inductor")
    generator = torch.Generator().manual_seed(0)
    k = torch.rand(7, 7, dtype=dtype, generator=generator) - 0.5
    b = torch.rand(1, 1, dtype=dtype, generator=generator) - 0.5
    counted = None
    for shape in [(8, 9), (13, 8), (20, 17), (64, 64)]:
        assert _kernels.method(shape, k.shape, "valid") == ("fft" if shape == (64, 64) else "scipy")
        x = torch.rand(shape, dtype=dtype, generator=generator) - 0.5
        inputs = [t.clone().requires_grad_() for t in (x, k, b)]
        conv, fft = function(*inputs)
        weights = [torch.rand(out.shape, dtype=dtype, generator=generator) for out in (conv, fft)]
        grads = torch.autograd.grad((conv, fft), inputs, weights)
        if counted is None:
            counted = graphs()
        assert graphs() == counted, f"recompiled for shape {shape}"
        expected_inputs = [t.double().requires_grad_() for t in (x, k, b)]
        expected = oracle_conv_and_fft(*expected_inputs)
        expected_grads = torch.autograd.grad(expected, expected_inputs, [w.double() for w in weights])
        # |rfft2|^2 is at most 4 n^2 here: a sum of at most n products scaled by
        # up to 2 n; its n terms meet in the gradient
        tol = sum_tolerance(dtype, x.numel())
        assert_close(conv.double(), expected[0], **tol)
        assert_close(fft.double(), expected[1], rtol=tol["rtol"], atol=tol["atol"] * x.numel())
        for grad, want in zip(grads, expected_grads, strict=False):
            assert grad.dtype == dtype
            assert_close(grad.double(), want, rtol=tol["rtol"], atol=tol["atol"] * x.numel())


@pytest.mark.slow_compile
def test_module_in_sequential_has_no_graph_break_and_compiles_fullgraph():
    torch.manual_seed(0)
    model = nn.Sequential(npext.ScipyConv2d(3, 3), nn.Tanh(), nn.Flatten(0), nn.Linear(64, 1))
    image = torch.randn(10, 10)
    explanation = torch._dynamo.explain(model)(image)
    assert explanation.graph_break_count == 0 and explanation.graph_count == 1
    compiled_model = torch.compile(model, backend="inductor", fullgraph=True, dynamic=True)
    assert_close(compiled_model(image), model(image), rtol=1e-5, atol=1e-5)


@pytest.mark.slow_compile
def test_compiled_adam_training_follows_eager():
    """Ten Adam steps on a compiled model follow the same steps taken eagerly."""

    def make():
        torch.manual_seed(1)
        return nn.Sequential(npext.ScipyConv2d(3, 3), nn.Tanh(), nn.Flatten(0), nn.Linear(36, 1)).double()

    eager, compiled_model = make(), make()
    step = torch.compile(compiled_model, backend="inductor", fullgraph=True, dynamic=True)
    optimizers = [torch.optim.Adam(m.parameters(), lr=0.05) for m in (eager, compiled_model)]
    generator = torch.Generator().manual_seed(2)
    for _ in range(10):
        image = torch.randn(8, 8, dtype=torch.float64, generator=generator)
        target = torch.randn(1, dtype=torch.float64, generator=generator)
        for model, optimizer in zip((eager, step), optimizers, strict=False):
            optimizer.zero_grad()
            loss = (model(image) - target).square().sum()
            loss.backward()
            optimizer.step()
    for p_eager, p_compiled in zip(eager.parameters(), compiled_model.parameters(), strict=False):
        assert_close(p_compiled, p_eager, rtol=1e-9, atol=1e-10)


@given(
    shapes=conv_shapes(max_side=8),
    dtypes=st.tuples(*[st.sampled_from([torch.float32, torch.float64])] * 3),
    bias_shape=st.sampled_from([(1, 1), (1,), ()]),
)
def test_fake_tensors_give_the_shape_and_promoted_dtype_of_the_real_run(shapes, dtypes, bias_shape):
    from torch._subclasses.fake_tensor import FakeTensorMode

    (image, kernel), (dx, dk, db) = shapes, dtypes
    args = (torch.zeros(image, dtype=dx), torch.zeros(kernel, dtype=dk), torch.zeros(bias_shape, dtype=db))
    real_conv, real_fft = npext.ScipyConv2dFunction.apply(*args), npext.rfft2_abs(args[0])
    with FakeTensorMode() as mode:
        fake_args = [mode.from_tensor(a) for a in args]
        fake_conv, fake_fft = npext.ScipyConv2dFunction.apply(*fake_args), npext.rfft2_abs(fake_args[0])
    for fake, real in [(fake_conv, real_conv), (fake_fft, real_fft)]:
        assert (fake.shape, fake.dtype, fake.stride()) == (real.shape, real.dtype, real.stride())


# ---------------------------------------------------------------- the kernels as custom ops


def batch_shapes():
    """Leading batch dims of an op argument: none, or one or two small ones (size 1 broadcasts)."""
    return st.lists(st.integers(1, 3), max_size=2).map(tuple)


@st.composite
def op_samples(draw, name):
    """Arguments for one of the four kernels, with leading batch dims that broadcast.

    Each tensor draws its own dtype, half precision included: an op promotes
    its two arguments, and its fake kernel must say the same dtype.
    """
    dtype = draw(st.sampled_from(ALL_DTYPES), label="dtype")
    if name in ("correlate_valid", "convolve_full"):
        image, kernel = draw(conv_shapes(max_side=7), label="shapes")
        batch = draw(batch_shapes(), label="batch")
        # the kernel batched too, or alone (the output's batch is then the kernel's)
        kernel_batch = draw(st.sampled_from([(), batch[-1:]] if batch else [(), (2,)]), label="kernel_batch")
        first = draw(float_tensors(batch + image, dtype=dtype), label="x")
        kernel_dtype = draw(st.sampled_from(ALL_DTYPES), label="kernel_dtype")
        return (first, draw(float_tensors(kernel_batch + kernel, dtype=kernel_dtype), label="k"))
    if name == "correlate_valid_backward":  # (grad, x, k): grad of the valid correlation's shape
        image, kernel = draw(conv_shapes(max_side=7), label="shapes")
        batch = draw(batch_shapes(), label="batch")
        out = (image[0] - kernel[0] + 1, image[1] - kernel[1] + 1)
        dtypes = [draw(st.sampled_from(ALL_DTYPES), label=f"dtype_{i}") for i in range(3)]
        batches = [draw(st.sampled_from([(), batch]), label=f"batch_{i}") for i in range(3)]  # each its own
        shapes = [batches[0] + out, batches[1] + image, batches[2] + kernel]
        return tuple(
            draw(float_tensors(shape, dtype=d), label=f"arg_{i}")
            for i, (shape, d) in enumerate(zip(shapes, dtypes, strict=True))
        )
    image = draw(image_shapes(max_side=7), label="shape")
    batch = draw(batch_shapes(), label="batch")
    if name in ("rfft2", "rfft2_abs"):
        return (draw(float_tensors(batch + image, dtype=dtype), label="x"),)
    half = (image[0], image[1] // 2 + 1)
    spectrum = (*batch, *half, 2)
    if name == "rfft2_abs_backward":  # (grad |X|, |X|, X, W), each of its own dtype; |X| may vanish
        dtypes = [draw(st.sampled_from(ALL_DTYPES), label=f"dtype_{i}") for i in range(3)]
        batches = [draw(st.sampled_from([(), batch]), label=f"batch_{i}") for i in range(3)]  # each its own
        shapes = [batches[0] + half, batches[1] + half, (*batches[2], *half, 2)]
        tensors = tuple(
            draw(float_tensors(shape, dtype=d), label=f"arg_{i}")
            for i, (shape, d) in enumerate(zip(shapes, dtypes, strict=True))
        )
        return (*tensors, image[1])
    return (draw(float_tensors(spectrum, dtype=dtype), label="G"), image[1])


#: every kernel of npext: the four linear maps, |rfft2|'s forward and the two first-order backwards
OPS = [
    "correlate_valid",
    "convolve_full",
    "rfft2",
    "rfft2_adjoint",
    "rfft2_abs",
    "rfft2_abs_backward",
    "correlate_valid_backward",
]


#: the first-order backwards' kernels: no autograd formula (a double backward takes the differentiable route)
FIRST_ORDER_ONLY = ("rfft2_abs_backward", "correlate_valid_backward")


def opcheck(name, args):
    """torch.library.opcheck of op ``name`` on fresh leaves of ``args`` that require grad (the autograd checks),
    or on ``args`` as they are for an op with no autograd formula."""
    torch.library.opcheck(getattr(torch.ops.npext, name).default, args if name in FIRST_ORDER_ONLY else leaves(args))


@pytest.mark.parametrize("name", OPS)
@settings(max_examples=10)  # opcheck runs five checks per sample, with AOT dispatch: seconds each
@given(data=st.data())
def test_opcheck(name, data):
    """torch.library.opcheck: schema, autograd registration, fake kernel, AOT dispatch with dynamic shapes."""
    opcheck(name, data.draw(op_samples(name), label="args"))


# Each corner once, every run: the kernel batched alone (the output's batch is
# the kernel's) and of a wider dtype than the image; the image batched with a
# kernel of a narrower dtype; both in float16 or both in bfloat16 (computed in
# float32, returned in the half dtype).
PINNED_OP_SAMPLES = [
    ("correlate_valid", (filled((5, 6), torch.float32), filled((2, 2, 3), torch.float64))),
    ("correlate_valid", (filled((2, 5, 6), torch.float64), filled((2, 3), torch.bfloat16))),
    ("convolve_full", (filled((4, 5), torch.float16), filled((2, 2, 3), torch.float32))),
    ("convolve_full", (filled((2, 4, 5), torch.float64), filled((2, 3), torch.float16))),
    ("correlate_valid", (filled((5, 6), torch.float16), filled((2, 3), torch.float16))),
    ("convolve_full", (filled((4, 5), torch.bfloat16), filled((2, 3), torch.bfloat16))),
    ("rfft2", (filled((2, 5, 7), torch.float16),)),
    ("rfft2_adjoint", (filled((2, 5, 4, 2), torch.bfloat16), 7)),
]


@pytest.mark.parametrize("name, args", PINNED_OP_SAMPLES, ids=[name for name, _ in PINNED_OP_SAMPLES])
def test_opcheck_pinned_corners(name, args):
    opcheck(name, args)


@pytest.mark.parametrize("name", OPS)
@given(data=st.data())
def test_op_vmap_rule_equals_loop(name, data):
    """The op's own vmap rule (one SciPy call per batch) equals calling the op per entry."""
    op = getattr(_kernels, name).op
    args = data.draw(op_samples(name), label="args")
    batched = data.draw(
        st.lists(st.booleans(), min_size=len(args), max_size=len(args)).filter(
            lambda flags: any(f and isinstance(a, torch.Tensor) for f, a in zip(flags, args, strict=False))
        ),
        label="batched",
    )
    in_dims = tuple(0 if f and isinstance(a, torch.Tensor) else None for f, a in zip(batched, args, strict=False))
    stacked = tuple(torch.stack([a, -a, 0.5 * a]) if d == 0 else a for a, d in zip(args, in_dims, strict=False))
    actual = torch.func.vmap(op, in_dims=in_dims)(*stacked)
    entries = [op(*[a[i] if d == 0 else a for a, d in zip(stacked, in_dims, strict=False)]) for i in range(3)]
    if isinstance(actual, tuple):  # an op of several results: each stacked
        expected = tuple(torch.stack(results) for results in zip(*entries, strict=True))
    else:
        expected = torch.stack(entries)
    # bit for bit, NaN where the loop has NaN (rfft2_abs_backward's drawn |X| may be tiny: grad / |X| overflows)
    assert_close(actual, expected, rtol=0, atol=0, equal_nan=True)


def test_a_kernel_function_subclass_is_signed_and_allowed_in_graph_when_defined():
    """KernelFunction.__init_subclass__, on a class defined here (npext's own were defined at import).

    Its forward gets its signature computed once, an existing one is kept, a
    subclass without a forward is fine, and Dynamo writes the class into the
    graph: without that it would trace the Function and refuse its jvp.
    """
    import inspect

    importlib.import_module("torch._dynamo")  # loaded, as torch.compile loads it: a class is registered at once

    from npext.ops import KernelFunction

    class Intermediate(KernelFunction):  # no forward of its own
        pass

    def scale_forward(x, scale=2.0):
        return x * scale

    class Scale(Intermediate):
        forward = staticmethod(scale_forward)

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.scale = inputs[1]

        @staticmethod
        def backward(ctx, grad):
            return grad * ctx.scale, None

        @staticmethod
        def jvp(ctx, tangent, _):
            return tangent * ctx.scale

    assert "__signature__" in scale_forward.__dict__ and str(scale_forward.__signature__) == "(x, scale=2.0)"

    def presigned(x):
        return x

    presigned.__signature__ = inspect.Signature([inspect.Parameter("y", inspect.Parameter.POSITIONAL_ONLY)])

    class Kept(KernelFunction):
        forward = staticmethod(presigned)

    assert str(Kept.__dict__["forward"].__func__.__signature__) == "(y, /)"

    class Plain(KernelFunction):  # a forward without @staticmethod: apply still calls cls.forward(...)
        def forward(x, k):
            return x * k

    assert str(Plain.__dict__["forward"].__signature__) == "(x, k)"

    x = torch.arange(3.0, requires_grad=True)  # with no grad to trace, Dynamo would inline the forward
    compiled_scale = torch.compile(lambda t: Scale.apply(t, 3.0), backend="eager", fullgraph=True)
    assert torch.equal(compiled_scale(x), 3 * x)


def test_call_after_import_runs_once_right_after_the_module_has_run(tmp_path, monkeypatch):
    """The hook that registers npext's Functions with Dynamo once torch._dynamo is imported.

    ``import npext`` leaves Dynamo unloaded (the wheel test checks it in a
    fresh process), and the compile tests here run the registration that
    way; this pins the hook itself on modules of its own. It must sit ahead
    of the finder that would find the module (here the only one, PathFinder).
    """
    from npext.ops import _call_after_import as call_after_import

    (tmp_path / "late_module.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "meta_path", [importlib.machinery.PathFinder])
    seen = []
    call_after_import("late_module", lambda: seen.append(sys.modules["late_module"].VALUE))
    call_after_import("no_such_module", lambda: seen.append("no_such_module"))
    try:
        import late_module

        assert seen == [1] and late_module.VALUE == 1
        importlib.reload(late_module)  # once: the finder removed itself
        assert seen == [1]
        with pytest.raises(ModuleNotFoundError):
            import no_such_module  # noqa: F401
        assert seen == [1] and sys.meta_path == [importlib.machinery.PathFinder]
    finally:
        sys.modules.pop("late_module", None)  # a second run in this process imports it anew


def test_a_function_defined_before_dynamo_loads_waits_and_is_then_allowed_in_graph(monkeypatch):
    """allow_in_graph_once_dynamo_loads, before and after Dynamo loads, and what the import hook calls.

    ``torch.compiler.allow_in_graph`` is replaced by a recorder: that Dynamo
    honours the registration is what every compile test here shows.
    """
    from npext import ops

    allowed = []
    monkeypatch.setattr(torch.compiler, "allow_in_graph", allowed.append)
    monkeypatch.setattr(ops, "_waiting", [])
    early, late = type("Early", (), {}), type("Late", (), {})
    with monkeypatch.context() as before_dynamo:
        before_dynamo.delitem(sys.modules, "torch._dynamo", raising=False)
        ops._allow_in_graph_once_dynamo_loads(early)
    assert allowed == [] and ops._waiting == [early]
    ops._allow_waiting_in_graph()  # what the hook calls once torch._dynamo has run
    assert allowed == [early]
    importlib.import_module("torch._dynamo")  # loaded: a class is registered at once

    ops._allow_in_graph_once_dynamo_loads(late)
    assert allowed == [early, late] and ops._waiting == [early]
