"""Self-check of tests/user_functions.py: every correct Function passes, every wrong one is shown wrong.

Run ``python tests/_check_user_functions.py`` from the repository root (not a
pytest module: no ``test_`` prefix). For each correct Function: forward against
its oracle, gradcheck in float64 (with forward-mode AD where it has a jvp) on a
few random inputs, and torch.func.vmap, jvp and jacrev against the oracle. For
each wrong Function: one concrete input on which it differs from the correct
one or from the oracle. Prints one verdict a line; exits 1 if any is off.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from pathlib import Path

import torch
from torch.autograd.gradcheck import GradcheckError
from torch.func import jacrev, jvp, vmap
from torch.testing import assert_close

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests import user_functions as uf

F64 = torch.float64
GEN = torch.Generator().manual_seed(0)


def randn(*shape, low=None):
    t = torch.randn(shape, generator=GEN, dtype=F64)
    return t.abs() + low if low is not None else t


def gradcheck(fn, *args, forward_ad=True):
    args = tuple(a.detach().clone().requires_grad_() if a.is_floating_point() else a for a in args)
    torch.autograd.gradcheck(fn, args, check_forward_ad=forward_ad, check_undefined_grad=False)


def same_func_transforms(fn, oracle, *args, jac=True):
    """vmap over a new leading dim and over dim 1, jvp, and jacrev (vmap over vjp) of fn against oracle."""
    batched = tuple(torch.stack([a, 2 * a + 1]) for a in args)
    assert_close(vmap(fn)(*batched), vmap(oracle)(*batched))
    moved = tuple(b.movedim(0, -1) for b in batched)
    assert_close(vmap(fn, in_dims=-1)(*moved), vmap(oracle, in_dims=-1)(*moved))
    tangents = tuple(torch.randn_like(a) for a in args)
    out, tan = jvp(fn, args, tangents)
    out_o, tan_o = jvp(oracle, args, tangents)
    assert_close(out, out_o)
    assert_close(tan, tan_o)
    if jac:
        assert_close(
            jacrev(fn, argnums=tuple(range(len(args))))(*args), jacrev(oracle, argnums=tuple(range(len(args))))(*args)
        )


CHECKS: list[tuple[str, bool, Callable[[], str]]] = []


def check(name: str, expect_correct: bool):
    """Register a check: it returns a detail string, and raises where the Function fails (or is shown wrong)."""

    def register(body: Callable[[], str]):
        CHECKS.append((name, expect_correct, body))
        return body

    return register


class Broken(Exception):
    """A wrong Function's check failed where the Function is meant to be right: the check itself is off."""


def right(fn: Callable, *args, **kwargs):
    """Call fn, where the wrong Function under check is meant to behave; a failure is Broken, not a catch."""
    try:
        return fn(*args, **kwargs)
    except Exception as error:
        raise Broken(f"{type(error).__name__} where the Function should be right: {error}") from error


#: how a wrong Function is shown: an assertion (value, aliasing, metadata) or gradcheck's verdict
SHOWN = (AssertionError, GradcheckError)


def run(name: str, expect_correct: bool, body: Callable[[], str]) -> bool:
    """Run one check and print its verdict; True when it came out as expected."""
    try:
        detail = body()
    except Exception as error:  # a wrong Function shows itself by failing here
        detail = f"{type(error).__name__}: {str(error).strip().splitlines()[0][:160]}"
        if expect_correct:
            status, as_expected = "FAIL", False
        elif isinstance(error, SHOWN):
            status, as_expected = "SHOWN WRONG", True
        else:
            status, as_expected = "CHECK BROKEN", False
        if not as_expected:
            traceback.print_exc()
    else:
        status, as_expected = ("PASS", True) if expect_correct else ("NOT SHOWN", False)
    kind = "correct" if expect_correct else "wrong"
    print(f"{'ok ' if as_expected else 'BAD'} {kind:7} {name:36} {status}: {detail}")
    return as_expected


def differs(actual, expected, what: str, **tolerance):
    """Raise AssertionError (the wrong Function is shown) when actual != expected; else return quietly."""
    try:
        assert_close(actual, expected, **tolerance)
    except AssertionError as error:
        raise AssertionError(f"{what}: {str(error).splitlines()[0]}") from None


# ====================================================================== correct Functions


@check("NumpyCube", True)
def _():
    for shape in [(5,), (3, 4)]:
        x = randn(*shape)
        assert_close(uf.NumpyCube.apply(x), uf.cube_oracle(x))
        gradcheck(uf.NumpyCube.apply, x)
        torch.autograd.gradgradcheck(uf.NumpyCube.apply, (x.clone().requires_grad_(),))
    same_func_transforms(uf.NumpyCube.apply, uf.cube_oracle, randn(3, 4))
    return "forward, gradcheck (+fwd AD), gradgradcheck, vmap, jvp, jacrev"


@check("NumpySort", True)
def _():
    for shape, dim in [((7,), 0), ((3, 5), 1), ((3, 5), 0), ((2, 3, 4), -1)]:
        x = randn(*shape)
        assert_close(uf.NumpySort.apply(x, dim), uf.sort_oracle(x, dim))
        gradcheck(lambda t, dim=dim: uf.NumpySort.apply(t, dim)[0], x)
        values, ind, ind_inv = uf.NumpySort.apply(x.clone().requires_grad_(), dim)
        assert values.requires_grad and not ind.requires_grad and not ind_inv.requires_grad
        assert ind.dtype == ind_inv.dtype == torch.int64
    x = randn(3, 5)
    for dim in (0, -1):
        same_func_transforms(
            lambda t, dim=dim: uf.NumpySort.apply(t, dim), lambda t, dim=dim: uf.sort_oracle(t, dim), x, jac=False
        )
        same_func_transforms(
            lambda t, dim=dim: uf.NumpySort.apply(t, dim)[0], lambda t, dim=dim: uf.sort_oracle(t, dim)[0], x
        )
    return "forward, gradcheck (+fwd AD), int64 indices not requiring grad, vmap, jvp, jacrev (dims 0/-1)"


@check("NumpyTake", True)
def _():
    for shape, dim in [((6,), 0), ((3, 5), 1), ((4, 3), 0)]:
        x = randn(*shape)
        _, ind, ind_inv = uf.sort_oracle(randn(*shape), dim)
        assert_close(uf.NumpyTake.apply(x, ind, ind_inv, dim), uf.take_oracle(x, ind, ind_inv, dim))
        gradcheck(lambda t, i=ind, j=ind_inv, d=dim: uf.NumpyTake.apply(t, i, j, d), x)
    x = randn(3, 5)
    _, ind, ind_inv = uf.sort_oracle(randn(3, 5), 1)
    same_func_transforms(
        lambda t: uf.NumpyTake.apply(t, ind, ind_inv, 1), lambda t: uf.take_oracle(t, ind, ind_inv, 1), x
    )
    # batched indices too
    xs, inds = randn(2, 3, 5), torch.stack([ind, ind.flip(-1)])
    invs = torch.argsort(inds, dim=-1)
    assert_close(
        vmap(uf.NumpyTake.apply, in_dims=(0, 0, 0, None))(xs, inds, invs, -1),
        vmap(uf.take_oracle, in_dims=(0, 0, 0, None))(xs, inds, invs, -1),
    )
    return "forward, gradcheck (+fwd AD), vmap (batched x and indices), jvp, jacrev"


@check("NumpyExp_", True)
def _():
    x0 = randn(3, 4)
    x = x0.clone()
    out = uf.NumpyExp_.apply(x)
    assert out is x and x._version == 1
    assert_close(out, uf.exp__oracle(x0.clone()))
    gradcheck(lambda t: uf.NumpyExp_.apply(t.clone()), x0)
    # a later use of x differentiates through the exp; an earlier saved use is refused
    leaf = x0.clone().requires_grad_()
    y = leaf * 1
    uf.NumpyExp_.apply(y)
    (grad,) = torch.autograd.grad(y.sum(), leaf)
    assert_close(grad, x0.exp())
    y = leaf * 1
    s = y.sin()
    uf.NumpyExp_.apply(y)
    try:
        torch.autograd.grad(s.sum(), leaf)
        raise AssertionError("an earlier op's saved x was overwritten without an error")
    except RuntimeError as error:
        assert "modified by an inplace operation" in str(error)
    try:
        uf.NumpyExp_.apply(x0.clone().requires_grad_())
        raise AssertionError("a leaf requiring grad was written in place")
    except RuntimeError as error:
        assert "leaf Variable" in str(error)
    fn = lambda t: uf.NumpyExp_.apply(t.clone())  # noqa: E731
    same_func_transforms(fn, lambda t: t.clone().exp_(), x0)
    return (
        "forward, out is x, version bump, gradcheck (+fwd AD), later/earlier uses of x, leaf refused, vmap, jvp, jacrev"
    )


@check("NumpyMul", True)
def _():
    for xs, ys in [((3, 4), (3, 4)), ((4,), (3, 4)), ((3, 1), (1, 4)), ((), (3,)), ((2, 1, 4), (3, 1))]:
        x, y = randn(*xs, low=0.5), randn(*ys, low=0.5)
        assert_close(uf.NumpyMul.apply(x, y), uf.mul_oracle(x, y))
        gradcheck(uf.NumpyMul.apply, x, y)
        gradcheck(lambda a, b=y: uf.NumpyMul.apply(a, b), x)  # only x requires grad
        torch.autograd.gradgradcheck(uf.NumpyMul.apply, (x.clone().requires_grad_(), y.clone().requires_grad_()))
    for xs, ys in [((4,), (3, 4)), ((3, 1), (1, 4))]:
        same_func_transforms(uf.NumpyMul.apply, uf.mul_oracle, randn(*xs), randn(*ys))
    x, y = randn(4), randn(2, 3, 4)
    assert_close(vmap(uf.NumpyMul.apply, in_dims=(None, 1))(x, y), vmap(uf.mul_oracle, in_dims=(None, 1))(x, y))
    return "forward, gradcheck (+fwd AD) on 5 broadcast pairs, gradgradcheck, vmap (one side unbatched), jvp, jacrev"


@check("NumpyScaledCumsum", True)
def _():
    x = randn(3, 4)
    calls = [((), {}), ((0,), {}), ((), {"scale": 2.0}), ((), {"dim": 0, "scale": 3.0}), ((1, None), {})]
    for args, kwargs in calls:
        assert_close(uf.NumpyScaledCumsum.apply(x, *args, **kwargs), uf.scaled_cumsum_oracle(x, *args, **kwargs))
        gradcheck(lambda t, a=args, k=kwargs: uf.NumpyScaledCumsum.apply(t, *a, **k), x)
        same_func_transforms(
            lambda t, a=args, k=kwargs: uf.NumpyScaledCumsum.apply(t, *a, **k),
            lambda t, a=args, k=kwargs: uf.scaled_cumsum_oracle(t, *a, **k),
            x,
        )
    return "forward, gradcheck (+fwd AD), vmap, jvp, jacrev with defaults omitted, positional and keyword"


@check("NumpyI0", True)
def _():
    x = torch.cat([torch.zeros(1, dtype=F64), randn(6) * 3])
    for fn, oracle in [(uf.NumpyI0.apply, uf.i0_oracle), (uf.NumpyI1.apply, uf.i1_oracle)]:
        assert_close(fn(x), oracle(x))
        gradcheck(fn, x)
        torch.autograd.gradgradcheck(fn, (x.clone().requires_grad_(),))
        same_func_transforms(fn, oracle, x)
    leaf = x.clone().requires_grad_()
    (grad,) = torch.autograd.grad(uf.NumpyI0.apply(leaf).sum(), leaf)
    assert_close(grad, uf.i1_oracle(x), rtol=1e-13, atol=1e-15)
    return "i0 and i1: forward, gradcheck (+fwd AD), gradgradcheck (x = 0 included), vmap, jvp, jacrev"


@check("NumpySolve", True)
def _():
    for n, k in [(3, None), (4, 2)]:
        A = randn(n, n) + n * torch.eye(n, dtype=F64)
        b = randn(n) if k is None else randn(n, k)
        assert_close(uf.NumpySolve.apply(A, b), uf.solve_oracle(A, b))
        gradcheck(uf.NumpySolve.apply, A, b)
        gradcheck(lambda a, b=b: uf.NumpySolve.apply(a, b), A)
        torch.autograd.gradgradcheck(uf.NumpySolve.apply, (A.clone().requires_grad_(), b.clone().requires_grad_()))
        same_func_transforms(uf.NumpySolve.apply, uf.solve_oracle, A, b)
    return "forward, gradcheck (+fwd AD), gradgradcheck, vmap (loop), jvp, jacrev; b a vector and a matrix"


@check("NumpyLogsumexp", True)
def _():
    for shape in [(5,), (3, 4), (2, 3, 4)]:
        x = randn(*shape) * 3
        assert_close(uf.NumpyLogsumexp.apply(x), uf.logsumexp_oracle(x))
        gradcheck(uf.NumpyLogsumexp.apply, x)
        torch.autograd.gradgradcheck(uf.NumpyLogsumexp.apply, (x.clone().requires_grad_(),))
        same_func_transforms(uf.NumpyLogsumexp.apply, uf.logsumexp_oracle, x)
    return "forward, gradcheck (+fwd AD), gradgradcheck, vmap, jvp, jacrev on 1-D to 3-D"


@check("NumpyAdd", True)
def _():
    x, y, g = randn(3, 4), randn(3, 4), randn(3, 4)
    assert_close(uf.NumpyAdd.apply(x, y), uf.add_oracle(x, y))
    gradcheck(uf.NumpyAdd.apply, x, y)
    xl, yl = x.clone().requires_grad_(), y.clone().requires_grad_()
    gx, gy = torch.autograd.grad(uf.NumpyAdd.apply(xl, yl), (xl, yl), g)
    assert gx.data_ptr() != gy.data_ptr() and g.data_ptr() not in (gx.data_ptr(), gy.data_ptr())
    same_func_transforms(uf.NumpyAdd.apply, uf.add_oracle, x, y)
    return "forward, gradcheck (+fwd AD), gradients fresh (no aliasing), vmap, jvp, jacrev"


# ====================================================================== wrong Functions


@check("SortReturnsInputUnsorted", False)
def _():
    x = torch.tensor([[3.0, 1.0, 2.0]], dtype=F64)
    differs(uf.SortReturnsInputUnsorted.apply(x, 1)[0], uf.sort_oracle(x, 1)[0], "values on [[3, 1, 2]]")
    return "values equal the oracle's (input was sorted?)"


@check("CubeIgnoresSecondGradOutput", False)
def _():
    x = torch.tensor([0.5, -1.0, 2.0], dtype=F64, requires_grad=True)
    cube, dcube = uf.CubeIgnoresSecondGradOutput.apply(x)
    (grad,) = torch.autograd.grad(cube.sum() + dcube.sum(), x)
    differs(grad, 3 * x.detach() ** 2 + 6 * x.detach(), "grad of sum(x**3) + sum(3x**2)")
    return "gradient right"


@check("SortIndicesLeftDifferentiable", False)
def _():
    x = torch.tensor([[3.0, 1.0, 2.0]], dtype=F64, requires_grad=True)
    _, ind, _ = uf.SortIndicesLeftDifferentiable.apply(x, 1)
    # its values' gradient is right and gradcheck passes (indices are locally constant): only the metadata is off
    right(torch.autograd.gradcheck, lambda t: uf.SortIndicesLeftDifferentiable.apply(t, 1), (x,))
    if ind.requires_grad or ind.dtype != torch.int64:
        raise AssertionError(f"indices output has dtype {ind.dtype} and requires_grad={ind.requires_grad}")
    return "indices are non-differentiable int64"


@check("TakeBackwardUsesInd", False)
def _():
    x = torch.tensor([10.0, 20.0, 30.0], dtype=F64, requires_grad=True)
    ind = torch.tensor([1, 2, 0])  # a 3-cycle: not its own inverse
    ind_inv = torch.argsort(ind)
    (grad,) = torch.autograd.grad(
        uf.TakeBackwardUsesInd.apply(x, ind, ind_inv, 0), x, torch.tensor([1.0, 2, 3], dtype=F64)
    )
    differs(grad, torch.tensor([3.0, 1, 2], dtype=F64), "grad through the 3-cycle [1, 2, 0]")
    return "gradient right"


def _later_use_of_x(F):
    x0 = torch.tensor([0.0, 1.0, -1.0], dtype=F64, requires_grad=True)
    x = x0 * 1
    F.apply(x)
    (grad,) = torch.autograd.grad(x.sum(), x0)
    differs(grad, x0.detach().exp(), "d sum(x)/dx0 after the in-place exp")


@check("ExpInplaceReturnsCopy", False)
def _():
    x = randn(3)
    out = uf.ExpInplaceReturnsCopy.apply(x)
    right(assert_close, out, x)  # the output's values are right and x was written
    if out is x:
        return "returns x"
    _later_use_of_x(uf.ExpInplaceReturnsCopy)
    return "later use of x right"


@check("ExpInplaceForgetsMarkDirty", False)
def _():
    x0 = randn(3).requires_grad_()
    x = x0 * 1
    out = uf.ExpInplaceForgetsMarkDirty.apply(x)
    (grad,) = torch.autograd.grad(out.sum(), x0)
    right(assert_close, grad, x0.detach().exp())  # the output's own gradient is right
    if x._version != 0:
        return "version bumped"
    # an earlier op that saved x: torch would refuse with mark_dirty; here sin's backward reads exp(x0)
    x = x0 * 1
    s = x.sin()
    uf.ExpInplaceForgetsMarkDirty.apply(x)
    (grad,) = torch.autograd.grad(s.sum(), x0)
    differs(grad, x0.detach().cos(), "grad of an earlier sin(x), no version-counter error")
    return "earlier use right"


@check("AddGradientAliasesGradOutput", False)
def _():
    x, y, g = randn(3).requires_grad_(), randn(3).requires_grad_(), randn(3)
    gx, gy = torch.autograd.grad(uf.AddGradientAliasesGradOutput.apply(x, y), (x, y), g)
    right(assert_close, gx, g)  # values are right
    if gx.data_ptr() == gy.data_ptr() == g.data_ptr():
        raise AssertionError("grad of x, grad of y and grad_outputs share memory (as torch.add's do)")
    return "no aliasing"


@check("MulBroadcastMean", False)
def _():
    x, y = randn(4, low=0.5).requires_grad_(), randn(3, 4, low=0.5).requires_grad_()
    right(gradcheck, uf.MulBroadcastMean.apply, randn(3, 4), randn(3, 4))  # same shapes: right
    (gx,) = torch.autograd.grad(uf.MulBroadcastMean.apply(x, y).sum(), x)
    differs(gx, y.detach().sum(0), "grad of x (4,) broadcast against y (3, 4)")
    return "gradient right"


@check("MulBroadcastSumsAxis0", False)
def _():
    right(gradcheck, uf.MulBroadcastSumsAxis0.apply, randn(4), randn(3, 4))  # leading axis added: right
    x, y = randn(3, 1).requires_grad_(), randn(1, 3).requires_grad_()
    (gx,) = torch.autograd.grad(uf.MulBroadcastSumsAxis0.apply(x, y).sum(), x)
    differs(gx, y.detach().sum(1, keepdim=True).expand(3, 1), "grad of x (3, 1) against y (1, 3)")
    return "gradient right"


@check("BackwardReadsGradOutputAsContiguous", False)
def _():
    right(gradcheck, uf.BackwardReadsGradOutputAsContiguous.apply, randn(3, 4))  # contiguous grad_output: right
    x = randn(3, 4).requires_grad_()
    w = randn(4, 3)
    loss = (uf.BackwardReadsGradOutputAsContiguous.apply(x, 1).t() * w).sum()  # grad_output arrives transposed
    (gx,) = torch.autograd.grad(loss, x)
    (expected,) = torch.autograd.grad((uf.scaled_cumsum_oracle(x, 1).t() * w).sum(), x)
    differs(gx, expected, "grad through y.t()")
    return "gradient right"


@check("DefaultArgumentMisread", False)
def _():
    x = randn(3, 4)
    right(gradcheck, lambda t: uf.DefaultArgumentMisread.apply(t, -1, 0.5), x)  # scale given: right
    gradcheck(lambda t: uf.DefaultArgumentMisread.apply(t, 0), x)  # default omitted: wrong
    return "gradient right with the default"


@check("I0GradientInFloat32", False)
def _():
    x = (randn(5) * 3).requires_grad_()
    right(gradcheck, uf.I0GradientInFloat32.apply, x, forward_ad=False)  # gradcheck's tolerance lets float32 through
    (grad,) = torch.autograd.grad(uf.I0GradientInFloat32.apply(x).sum(), x)
    differs(grad, uf.i1_oracle(x.detach()), "float64 gradient at rtol 1e-12", rtol=1e-12, atol=1e-14)
    return "gradient float64-accurate"


@check("SolveGradientInFloat32", False)
def _():
    n = 4
    A = (randn(n, n) + n * torch.eye(n, dtype=F64)).requires_grad_()
    b = randn(n).requires_grad_()
    right(gradcheck, uf.SolveGradientInFloat32.apply, A, b, forward_ad=False)  # passes at gradcheck's tolerance
    grads = torch.autograd.grad(uf.SolveGradientInFloat32.apply(A, b).sum(), (A, b))
    expected = torch.autograd.grad(uf.solve_oracle(A, b).sum(), (A, b))
    differs(grads, expected, "float64 gradients at rtol 1e-12", rtol=1e-12, atol=1e-14)
    return "gradient float64-accurate"


def _outcome(fn: Callable) -> str:
    try:
        fn()
    except Exception as error:
        return f"{type(error).__name__}: {str(error).strip().splitlines()[0][:110]}"
    return "accepted"


def torch_findings():
    """Print what this torch does in the cases user_functions' module docstring describes."""
    print("\ntorch", torch.__version__)
    x = randn(3, 4)
    seen = []

    class Probe(uf.NumpyScaledCumsum):
        @staticmethod
        def setup_context(ctx, inputs, output):
            seen.append(inputs[1:])
            uf.NumpyScaledCumsum.setup_context(ctx, inputs, output)

    Probe.apply(x)
    Probe.apply(x, scale=2.0)
    print("  setup_context's inputs[1:] for apply(x), apply(x, scale=2.0):", seen)

    class KeywordOnly(torch.autograd.Function):
        @staticmethod
        def forward(x, *, scale=1.0):
            return x * scale

        @staticmethod
        def setup_context(ctx, inputs, output):
            pass

    print("  keyword-only parameter, apply(x):", _outcome(lambda: KeywordOnly.apply(x)))
    print("  unknown keyword to apply:", _outcome(lambda: uf.NumpyScaledCumsum.apply(x, bogus=1)))

    class IndicesUnmarked(uf.NumpySort):
        @staticmethod
        def setup_context(ctx, inputs, outputs):
            ctx.save_for_backward(*outputs[1:])
            ctx.dim = inputs[1]

    _, ind, _ = IndicesUnmarked.apply(x.clone().requires_grad_(), 0)
    print("  int64 output not marked non-differentiable: requires_grad", ind.requires_grad)

    class DirtyCopy(uf.ExpInplaceReturnsCopy):
        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.mark_dirty(inputs[0])

    print("  mark_dirty(x) but a copy returned:", _outcome(lambda: DirtyCopy.apply(randn(3))))

    class SavesInputAsIs(uf.NumpyExp_):
        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(output)

    print("  x returned as-is, no mark_dirty, saved:", _outcome(lambda: SavesInputAsIs.apply(randn(3))))
    leaf = randn(3).requires_grad_()
    print(
        "  ExpInplaceForgetsMarkDirty on a leaf requiring grad:",
        _outcome(lambda: uf.ExpInplaceForgetsMarkDirty.apply(leaf)),
    )
    a, b, g = randn(3).requires_grad_(), randn(3).requires_grad_(), randn(3)
    ga, gb = torch.autograd.grad(torch.add(a, b), (a, b), g)
    print("  torch.add's autograd.grad: gx is gy is grad_outputs:", ga is gb is g)

    class Unreduced(uf.NumpyMul):
        @staticmethod
        def backward(ctx, grad_output):
            x, y = ctx.saved_tensors
            return grad_output * y, grad_output * x

    a, b = randn(4).requires_grad_(), randn(3, 4)
    (ga,) = torch.autograd.grad(Unreduced.apply(a, b).sum(), a)
    print("  backward's unreduced (3, 4) gradient for a (4,) input is summed by the engine:", torch.equal(ga, b.sum(0)))


if __name__ == "__main__":
    bad = [name for name, expect_correct, body in CHECKS if not run(name, expect_correct, body)]
    torch_findings()
    print(f"\n{len(CHECKS) - len(bad)}/{len(CHECKS)} verdicts as expected" + (f"; off: {bad}" if bad else ""))
    sys.exit(1 if bad else 0)
