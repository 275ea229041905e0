"""Which form should a NumPy-backed op take? Measure three forms against torch's features.

    python tools/forms_table.py [--page docs/writing-a-backward.md] [--no-inductor]

(with npext importable: `pip install -e .`, or PYTHONPATH=src). One example op,
NumPy's cumsum along the last dim, written in three forms, each as it is meant
to be written, the third twice:

1. a plain ``torch.autograd.Function`` calling NumPy in forward, in the
   torch.func style: setup_context, a backward that calls the Function itself
   (so derivatives of any order exist), a jvp and a vmap staticmethod;
2. a plain ``torch.library.custom_op`` with register_fake, register_autograd
   (whose formula calls the op) and register_vmap;
3. npext's combination: a custom op holding the NumPy call (fake kernel, vmap
   rule, and the Function's backward as its autograd formula) and a Function
   registered with ``torch.compiler.allow_in_graph`` whose forward calls only
   that op and whose backward, jvp and vmap call only the Function itself:
   once by hand with torch.library, once with ``npext.ops`` (``ops.kernel`` and
   ``ops.KernelFunction``), as the README's "Write your own" does.

Each capability is a small check that runs the form and compares with
``torch.cumsum``; a cell is "yes", "n/a: <why>", or "no: <the error's first
sentence>" ("no: silently wrong: ..." where a result differs without an error).
Prints a Markdown table; --page (formerly --readme) writes it into that page
between the markers <!-- forms-table:start --> and <!-- forms-table:end -->.
"""

import argparse
import pathlib
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import torch

START, END = "<!-- forms-table:start -->", "<!-- forms-table:end -->"
HAS_CUSTOM_OPS = hasattr(torch.library, "custom_op")  # torch >= 2.4
NO_CUSTOM_OPS = "torch.library.custom_op needs torch >= 2.4"
CELL_WIDTH = 80


class NotApplicable(Exception):
    """A capability that has no meaning for a form (printed as "n/a: ...")."""


def numpy_cumsum(x: torch.Tensor) -> torch.Tensor:
    """The NumPy computation all three forms wrap: a cumulative sum along the last dim."""
    out = np.cumsum(x.detach().cpu().numpy(), axis=-1)
    return torch.from_numpy(np.ascontiguousarray(out)).to(x.device)  # NumPy keeps a transposed input's order


def reversed_cumsum(cumsum, grad: torch.Tensor) -> torch.Tensor:
    """cumsum's adjoint (its backward), built from ``cumsum`` itself so that it is differentiable."""
    return cumsum(grad.flip(-1)).flip(-1)


# ------------------------------------------------------------ form 1: autograd.Function


class NumpyCumsumFunction(torch.autograd.Function):
    @staticmethod
    def forward(x):
        return numpy_cumsum(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass  # linear: nothing to save

    @staticmethod
    def backward(ctx, grad):
        return reversed_cumsum(NumpyCumsumFunction.apply, grad)

    @staticmethod
    def jvp(ctx, tangent):
        return NumpyCumsumFunction.apply(tangent)

    @staticmethod
    def vmap(info, in_dims, x):
        # NumPy's cumsum batches over leading dims: move the vmapped dim there
        return NumpyCumsumFunction.apply(x.movedim(in_dims[0], 0)), 0


# ------------------------------------------------------------ forms 2 and 3: custom ops


@dataclass
class Form:
    name: str
    apply: object = None  # the op as users call it: Tensor -> Tensor
    ops: list = field(default_factory=list)  # what torch.library.opcheck can test
    missing: str = ""  # why this torch cannot build the form
    not_an_op: str = "not an op"  # why opcheck has nothing to test, where ops is empty


def define_numpy_op(name: str, differentiable_apply):
    """A custom op around numpy_cumsum: fake kernel, vmap rule, autograd formula calling ``differentiable_apply``."""

    def cumsum(x: torch.Tensor) -> torch.Tensor:
        return numpy_cumsum(x)

    op = torch.library.custom_op(f"npext_forms::{name}", cumsum, mutates_args=())
    op.register_fake(lambda x: x.new_empty(x.shape))  # the kernel returns a new contiguous tensor
    op.register_vmap(lambda info, in_dims, x: (op(x.movedim(in_dims[0], 0)), 0))
    op.register_autograd(lambda ctx, grad: reversed_cumsum(differentiable_apply(), grad))
    return op


FUNCTION, CUSTOM_OP = "`autograd.Function`", "`custom_op`"
NPEXT, NPEXT_OPS = "Function over custom ops, by hand", "the same with `npext.ops`"


def build_forms() -> list:
    function = Form(FUNCTION, apply=NumpyCumsumFunction.apply)
    if not HAS_CUSTOM_OPS:
        by_hand = [Form(CUSTOM_OP, missing=NO_CUSTOM_OPS), Form(NPEXT, missing=NO_CUSTOM_OPS)]
    else:
        try:
            by_hand = custom_op_forms()
        except Exception as error:  # e.g. a torch with custom_op but without register_vmap (added in 2.5)
            reason = short(error)
            by_hand = [Form(CUSTOM_OP, missing=reason), Form(NPEXT, missing=reason)]
    return [function, *by_hand, npext_ops_form()]


def custom_op_forms() -> list:
    cumsum_op = define_numpy_op("cumsum", lambda: cumsum_op)  # form 2: the op is the whole thing

    class CompilableCumsum(torch.autograd.Function):  # form 3 by hand: registered with allow_in_graph below
        @staticmethod
        def forward(x):
            return cumsum_kernel(x)

        @staticmethod
        def setup_context(ctx, inputs, output):
            pass

        @staticmethod
        def backward(ctx, grad):
            return reversed_cumsum(CompilableCumsum.apply, grad)

        @staticmethod
        def jvp(ctx, tangent):
            return CompilableCumsum.apply(tangent)

        @staticmethod
        def vmap(info, in_dims, x):
            return CompilableCumsum.apply(x.movedim(in_dims[0], 0)), 0

    cumsum_kernel = define_numpy_op("cumsum_kernel", lambda: CompilableCumsum.apply)
    torch.compiler.allow_in_graph(CompilableCumsum)
    return [
        Form(CUSTOM_OP, apply=cumsum_op, ops=[cumsum_op]),
        Form(NPEXT, apply=CompilableCumsum.apply, ops=[cumsum_kernel]),
    ]


def npext_ops_form() -> Form:
    """Form 3 with npext's public API, as the README's "Write your own" writes it (any torch: eager-only before 2.5)."""
    from npext import ops

    @ops.kernel("npext_forms::cumsum_ops", fake=lambda x: x.new_empty(x.shape), core_dims=(1,))
    def cumsum(x: np.ndarray) -> np.ndarray:
        return np.cumsum(x, axis=-1)

    class OpsCumsum(ops.KernelFunction):
        kernel = cumsum  # the forward, the vmap rule (one dim per example), and the op's autograd formula

        @staticmethod
        def setup_context(ctx, inputs, output):
            pass

        @staticmethod
        def backward(ctx, grad):
            return reversed_cumsum(OpsCumsum.apply, grad)

        @staticmethod
        def jvp(ctx, tangent):
            return OpsCumsum.apply(tangent)

    no_op = f"a plain function: {ops.COMPILE_SKIP_REASON}"
    return Form(NPEXT_OPS, apply=OpsCumsum.apply, ops=[] if cumsum.op is None else [cumsum.op], not_an_op=no_op)


# ------------------------------------------------------------ the checks


def sample(*shape, requires_grad=False) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.float64, requires_grad=requires_grad)


def loss_of(apply):
    return lambda x: (apply(x) ** 2).sum()


def expected_grad(x: torch.Tensor) -> torch.Tensor:
    return torch.func.grad(loss_of(lambda t: torch.cumsum(t, -1)))(x.detach())


def close(actual, expected, what: str) -> None:
    """Raise unless ``actual`` equals ``expected`` (computed with torch.cumsum), saying how it differs."""
    if actual.shape != expected.shape:
        raise AssertionError(f"{what} has shape {tuple(actual.shape)}, not {tuple(expected.shape)}")
    if not torch.allclose(actual, expected):
        how = "all zeros" if not actual.any() else f"off by up to {(actual - expected).abs().max():.3g}"
        raise AssertionError(f"silently wrong: {what} is {how}")


def eager_backward(form):
    x = sample(5, requires_grad=True)
    loss_of(form.apply)(x).backward()
    close(x.grad, expected_grad(x), "the gradient")


def double_backward(form):
    # with respect to grad_output too: fails where the backward is not differentiable
    if not torch.autograd.gradgradcheck(form.apply, (sample(5, requires_grad=True),)):
        raise AssertionError("gradgradcheck failed")


def forward_mode(form):
    x, t = sample(5), sample(5)
    _, tangent = torch.func.jvp(form.apply, (x,), (t,))
    close(tangent, torch.cumsum(t, -1), "the jvp tangent")
    close(torch.func.jacfwd(form.apply)(x), torch.func.jacrev(lambda v: torch.cumsum(v, -1))(x), "the jacfwd Jacobian")


def vmap(form):
    x = sample(5, 3)  # the batch is dim 1: the rule has to move it
    close(torch.func.vmap(form.apply, in_dims=1)(x), torch.cumsum(x.T, -1), "the vmapped output")


def func_grad(form):
    x = sample(5)
    close(torch.func.grad(loss_of(form.apply))(x), expected_grad(x), "the torch.func.grad gradient")


def compiled_training_step(form, backend, sizes=(5,), dynamic=None) -> int:
    """Compile loss(form) with fullgraph=True, run forward and backward at each size; return the graphs made."""
    import torch._dynamo
    from torch._dynamo.testing import CompileCounterWithBackend

    torch._dynamo.reset()
    counter = CompileCounterWithBackend(backend)
    loss = torch.compile(loss_of(form.apply), backend=counter, fullgraph=True, dynamic=dynamic)
    for size in sizes:
        x = sample(size, requires_grad=True)
        close(loss(x), loss_of(lambda t: torch.cumsum(t, -1))(x.detach()), "the compiled loss")
        loss(x).backward()
        close(x.grad, expected_grad(x), "the compiled gradient")
    return counter.frame_count


def compile_aot_eager(form):
    compiled_training_step(form, "aot_eager")


def compile_inductor(form):
    compiled_training_step(form, "inductor")


def dynamic_shapes(form):
    graphs = compiled_training_step(form, "aot_eager", sizes=(3, 4, 7), dynamic=True)
    if graphs != 1:
        raise AssertionError(f"recompiled: {graphs} graphs for 3 sizes")


def compiled_double_backward(form):
    import torch._dynamo

    torch._dynamo.reset()
    compiled = torch.compile(form.apply, backend="aot_eager", fullgraph=True)
    x, v = sample(5, requires_grad=True), sample(5)
    (grad,) = torch.autograd.grad(compiled(x), x, v, create_graph=True)
    (grad**2).sum().backward()  # d/dx of |J^T v|^2 is 0 (cumsum is linear), but it must run


def opcheck(form):
    if not form.ops:
        raise NotApplicable(form.not_an_op)
    if not hasattr(torch.library, "opcheck"):
        raise AssertionError("torch.library.opcheck needs torch >= 2.4")
    for op in form.ops:
        for x in (sample(5, requires_grad=True), sample(2, 3).float(), sample(3, 4).T):
            torch.library.opcheck(op, (x,))


def fake_tensor(form):
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        out = form.apply(torch.empty(2, 5, dtype=torch.float32))
    if (tuple(out.shape), out.dtype) != ((2, 5), torch.float32):
        raise AssertionError(f"wrong metadata: {tuple(out.shape)}, {out.dtype}")


CAPABILITIES = [
    ("eager backward", eager_backward),
    ("double backward (eager, `gradgradcheck`)", double_backward),
    ("`torch.func.jvp` / `jacfwd`", forward_mode),
    ("`torch.func.vmap`", vmap),
    ("`torch.func.grad`", func_grad),
    ("`torch.compile(fullgraph=True)`, aot_eager, forward + backward", compile_aot_eager),
    ("`torch.compile(fullgraph=True)`, inductor, forward + backward", compile_inductor),
    ("dynamic shapes: one graph for sizes 3, 4, 7 (`dynamic=True`)", dynamic_shapes),
    ("double backward through a compiled graph", compiled_double_backward),
    ("`torch.library.opcheck`", opcheck),
    ("`FakeTensorMode`: output shape and dtype", fake_tensor),
]


# ------------------------------------------------------------ the table


def short(error: BaseException) -> str:
    """The error's first sentence; a long one keeps its first and last words, where the point often is."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[0].split(". ")[0] if lines else type(error).__name__
    if len(text) > CELL_WIDTH:
        half = CELL_WIDTH // 2
        text = text[:half].rsplit(" ", 1)[0] + " … " + text[-half:].split(" ", 1)[-1]
    return text.replace("|", "\\|").replace("`", "'")


def cell(form: Form, check) -> str:
    if form.missing:
        return f"no: {form.missing}"
    torch.manual_seed(0)
    try:
        check(form)
    except NotApplicable as reason:
        return f"n/a: {reason}"
    except Exception as error:
        return f"no: {short(error)}"
    return "yes"


def table(forms, capabilities) -> str:
    versions = f"torch {torch.__version__}, NumPy {np.__version__}, Python {sys.version.split()[0]}"
    lines = [
        f"{versions}; the op: NumPy's cumsum along the last dim, in float64 (`python tools/forms_table.py`)",
        "",
        "| capability | " + " | ".join(form.name for form in forms) + " |",
        "|---" * (len(forms) + 1) + "|",
    ]
    for label, check in capabilities:
        lines.append(f"| {label} | " + " | ".join(cell(form, check) for form in forms) + " |")
    return "\n".join(lines)


def splice(page: pathlib.Path, text: str) -> None:
    content = page.read_text()
    if START not in content or END not in content:
        sys.exit(f"{page} lacks the markers {START} / {END}")
    head, rest = content.split(START, 1)
    _, tail = rest.split(END, 1)
    page.write_text(f"{head}{START}\n{text}\n{END}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--page",
        "--readme",  # its old name, from when the table was in the README
        type=pathlib.Path,
        metavar="PATH",
        help="write the table between the forms-table markers of this page (docs/writing-a-backward.md)",
    )
    parser.add_argument("--no-inductor", action="store_true", help="skip the inductor row (C++ compiles)")
    args = parser.parse_args()
    skip = {compile_inductor} if args.no_inductor else set()
    capabilities = [(label, check) for label, check in CAPABILITIES if check not in skip]
    started = time.perf_counter()
    text = table(build_forms(), capabilities)
    print(text)
    print(f"({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    if args.page:
        splice(args.page, text)


if __name__ == "__main__":
    main()
