"""A zoo of NumPy/SciPy-backed autograd Functions of the kinds users write, right and wrong.

Each correct Function has a plain-torch oracle next to it (``<name>_oracle``)
and is written in the torch.func style: ``forward`` without ctx, then
``setup_context``, ``backward`` and, where natural, ``jvp`` and ``vmap``.
Backwards are built from torch ops or from the Functions themselves, so they
are differentiable twice and run under ``torch.func.vmap`` (jacrev).

Correct:

* NumpyCube: x -> (x**3, 3*x**2), two differentiable outputs.
* NumpySort: (x, dim) -> (values, indices, inverse indices); the indices are int64 and non-differentiable.
* NumpyTake: (x, ind, ind_inv, dim) -> x gathered along dim by a permutation ``ind`` whose inverse is ``ind_inv``.
* NumpyExp_: in-place exp: writes exp(x) into x and returns x (``mark_dirty``); CPU tensors.
* NumpyMul: x * y with NumPy broadcasting; gradients summed back to each argument's shape.
* NumpyScaledCumsum: (x, dim=-1, scale=None) -> scale * cumsum(x, dim); scale=None means 1 / x.shape[dim].
* NumpyI0 / NumpyI1: scipy.special.i0 / i1, each differentiated through the other.
* NumpySolve: (A, b) -> scipy.linalg.solve(A, b), b a vector or a matrix.
* NumpyLogsumexp: scipy.special.logsumexp over the last dim.
* NumpyAdd: x + y of one shape; backward returns fresh gradients.

Wrong (each a subclass of the correct one with one realistic bug):

* SortReturnsInputUnsorted: the values output is the input itself, unsorted.
* CubeIgnoresSecondGradOutput: backward drops the gradient of the second output.
* SortIndicesLeftDifferentiable: indices returned as floats and not marked non-differentiable.
* TakeBackwardUsesInd: backward gathers with ind instead of ind_inv.
* ExpInplaceReturnsCopy: writes exp into x but returns a fresh copy, without mark_dirty.
* ExpInplaceForgetsMarkDirty: writes x in place, returns a view of it, never marks it dirty.
* AddGradientAliasesGradOutput: backward returns grad_output itself for both arguments.
* MulBroadcastMean: a broadcast argument's gradient is averaged instead of summed.
* MulBroadcastSumsAxis0: every broadcast axis is reduced with .sum(0) and reshaped.
* BackwardReadsGradOutputAsContiguous: cumsum's backward reads grad_output's memory in C order.
* DefaultArgumentMisread: setup_context resolves the default scale=None to 1.0, forward to 1/n.
* I0GradientInFloat32 / SolveGradientInFloat32: float64 inputs get float32-accurate gradients.

What torch 2.13 does (checked by hand when these were written):

* Defaults: when setup_context is overridden, ``Function.apply`` binds the call to
  ``inspect.signature(forward)`` and applies the defaults, so ``setup_context``'s
  ``inputs`` always holds every positional parameter, omitted ones at their default
  values, and so do the vmap staticmethod's arguments and jvp's tangents (one per
  parameter). ``setup_context`` cannot tell an omitted argument from one passed
  at its default value. (Older torch passed only the given arguments:
  pytorch/pytorch#108529, fixed by #108561 in 2023; a ``len(inputs)`` fallback
  in setup_context is dead code on 2.13.)
* Keyword arguments: ``apply(x, dim=0, scale=2.0)`` works for positional-or-keyword
  parameters (bound to positions); an unknown keyword raises TypeError. A
  keyword-only parameter (``forward(x, *, scale=1.0)``) makes every call fail,
  even one that omits it ("forward() got an unexpected keyword argument").
  Old-style ``forward(ctx, ...)`` Functions get no binding, and keywords to
  their ``apply`` fail ("missing required argument").
* An int64 output not marked non-differentiable never requires grad and its
  backward gets a zero int64 tensor for it: harmless. A float output left
  unmarked requires grad, so it is reported differentiable.
* ``mark_dirty(x)`` with a copy returned instead of x: refused at call time
  (RuntimeError "Some elements marked as dirty during the forward method were
  not returned as output"), even when nothing requires grad.
* No ``mark_dirty`` but x returned as-is and saved with ``save_for_backward``:
  refused at call time ("An input that has been returned as-is as output is
  being saved for backward ... return and save a view of the input instead").
  Returning ``x.view_as(x)`` (as that message suggests) is accepted and is the
  silent bug: NumPy's write does not bump x's version counter, x's own history
  is not rebased (a later use of x differentiates as if it still held its old
  value), a leaf that requires grad is overwritten without complaint, and an
  earlier op that saved x gets wrong gradients instead of torch's
  "modified by an inplace operation" error.
* Aliasing gradients: ``torch.autograd.grad`` hands back what backward returned,
  so a backward returning grad_output for x and y gives ``gx is gy is
  grad_outputs`` -- exactly what torch's own ``torch.add`` does. ``.backward()``
  into leaves clones (``.grad`` never aliases).
* Broadcasting: the engine itself sums a backward's gradient down to the input's
  shape when it is expandable to it, so forgetting ``sum_to_shape`` is harmless;
  reducing the wrong way (a mean, the wrong axis) is not.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.special
import torch
from torch.autograd import Function

# ------------------------------------------------------------------ what this torch does with defaults


class _Probe(Function):
    @staticmethod
    def forward(x, flag=None):
        return x.clone()

    @staticmethod
    def setup_context(ctx, inputs, output):
        _Probe.seen = len(inputs)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output, None


_Probe.apply(torch.zeros(1))
#: torch >= 2.1 binds a call to forward's signature before setup_context: omitted
#: defaults arrive filled in.
APPLY_BINDS_DEFAULTS = _Probe.seen == 2


def _apply_takes_keywords() -> bool:
    try:
        _Probe.apply(torch.zeros(1), flag=None)
    except TypeError:  # "apply() takes no keyword arguments": torch 2.2 and 2.5 bind defaults, but no keywords
        return False
    return True


#: ``Function.apply(x, scale=2.0)`` works (torch 2.13 yes; 2.0, 2.2 and 2.5 no, measured).
APPLY_TAKES_KEYWORDS = _apply_takes_keywords()

# ------------------------------------------------------------------ helpers


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """A NumPy view (CPU) or copy (other devices) of ``t``, outside autograd."""
    return t.detach().cpu().numpy()


def to_torch(a, like: torch.Tensor, dtype: np.dtype | None = None) -> torch.Tensor:
    """A tensor from NumPy's result ``a`` (cast to ``dtype`` if given) on ``like``'s device."""
    a = np.asarray(a, dtype=dtype)
    if not a.flags.c_contiguous:  # from_numpy refuses negative strides
        a = a.copy(order="C")
    return torch.from_numpy(a).to(like.device)


def sum_to_shape(grad: torch.Tensor, shape: torch.Size | tuple[int, ...]) -> torch.Tensor:
    """Sum ``grad`` (of the broadcast shape) down to ``shape``: over added leading axes and over size-1 axes."""
    extra = grad.dim() - len(shape)
    if extra > 0:
        grad = grad.sum(dim=tuple(range(extra)))
    axes = tuple(i for i, size in enumerate(shape) if size == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(dim=axes, keepdim=True)
    return grad


def _batch_first(t: torch.Tensor, bdim: int | None, batch_size: int) -> torch.Tensor:
    """``t`` with its batch dim moved to the front, or expanded to one if it has none."""
    if bdim is None:
        return t.expand(batch_size, *t.shape)
    return t.movedim(bdim, 0)


# ------------------------------------------------------------------ NumpyCube


class NumpyCube(Function):
    """x -> (x**3, 3*x**2): the cube and its derivative, both differentiable."""

    @staticmethod
    def forward(x):
        a = to_numpy(x)
        return to_torch(a**3, x), to_torch(3 * a**2, x)

    @staticmethod
    def setup_context(ctx, inputs, outputs):
        (x,) = inputs
        ctx.save_for_backward(x, outputs[1])
        ctx.save_for_forward(x, outputs[1])

    @staticmethod
    def backward(ctx, grad_cube, grad_dcube):
        x, dcube = ctx.saved_tensors
        return grad_cube * dcube + 6 * grad_dcube * x

    @staticmethod
    def jvp(ctx, x_tangent):
        x, dcube = ctx.saved_tensors
        return x_tangent * dcube, 6 * x_tangent * x

    @staticmethod
    def vmap(info, in_dims, x):
        return NumpyCube.apply(x), (in_dims[0], in_dims[0])


def cube_oracle(x):
    return x**3, 3 * x**2


class CubeIgnoresSecondGradOutput(NumpyCube):
    """Backward uses only the first grad_output (g1 * 3x**2), dropping g2 * 6x: wrong when the loss uses 3x**2."""

    @staticmethod
    def backward(ctx, grad_cube, grad_dcube):
        _x, dcube = ctx.saved_tensors
        return grad_cube * dcube


# ------------------------------------------------------------------ NumpyTake


class NumpyTake(Function):
    """(x, ind, ind_inv, dim) -> take_along_axis(x, ind, dim) for a permutation ind along dim with inverse ind_inv.

    ``ind`` and ``ind_inv`` are int64 tensors of x's shape, arguments but not
    differentiated; backward gathers with the inverse permutation.
    """

    @staticmethod
    def forward(x, ind, ind_inv, dim):
        return to_torch(np.take_along_axis(to_numpy(x), to_numpy(ind), axis=dim), x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        _x, ind, ind_inv, dim = inputs
        ctx.save_for_backward(ind, ind_inv)
        ctx.save_for_forward(ind, ind_inv)
        ctx.dim = dim

    @staticmethod
    def backward(ctx, grad_output):
        ind, ind_inv = ctx.saved_tensors
        return NumpyTake.apply(grad_output, ind_inv, ind, ctx.dim), None, None, None

    @staticmethod
    def jvp(ctx, x_tangent, _ind_tangent, _ind_inv_tangent, _dim_tangent):
        ind, ind_inv = ctx.saved_tensors
        return NumpyTake.apply(x_tangent, ind, ind_inv, ctx.dim)

    @staticmethod
    def vmap(info, in_dims, x, ind, ind_inv, dim):
        x_bdim = in_dims[0]
        dim = dim % (x.dim() - (x_bdim is not None))  # wrap a negative dim at the logical rank
        x, ind, ind_inv = (
            _batch_first(t, d, info.batch_size) for t, d in zip((x, ind, ind_inv), in_dims, strict=False)
        )
        return NumpyTake.apply(x, ind, ind_inv, dim + 1), 0


def take_oracle(x, ind, ind_inv, dim):
    return torch.take_along_dim(x, ind, dim)


class TakeBackwardUsesInd(NumpyTake):
    """Backward gathers grad_output with ind instead of its inverse: wrong for permutations that are not involutions."""

    @staticmethod
    def backward(ctx, grad_output):
        ind, ind_inv = ctx.saved_tensors
        return NumpyTake.apply(grad_output, ind, ind_inv, ctx.dim), None, None, None


# ------------------------------------------------------------------ NumpySort


class NumpySort(Function):
    """(x, dim) -> (sorted values, indices, inverse indices) along dim; the two int64 outputs are non-differentiable."""

    @staticmethod
    def forward(x, dim):
        a = to_numpy(x)
        ind = np.argsort(a, axis=dim, kind="stable")
        ind_inv = np.argsort(ind, axis=dim, kind="stable")
        values = np.take_along_axis(a, ind, axis=dim)
        return to_torch(values, x), to_torch(ind, x, np.int64), to_torch(ind_inv, x, np.int64)

    @staticmethod
    def setup_context(ctx, inputs, outputs):
        _x, dim = inputs
        _values, ind, ind_inv = outputs
        ctx.mark_non_differentiable(ind, ind_inv)
        ctx.save_for_backward(ind, ind_inv)
        ctx.save_for_forward(ind, ind_inv)
        ctx.dim = dim

    @staticmethod
    def backward(ctx, grad_values, _grad_ind, _grad_ind_inv):
        ind, ind_inv = ctx.saved_tensors
        # values = x[ind], so x's gradient is grad_values put back through the inverse permutation
        return NumpyTake.apply(grad_values, ind_inv, ind, ctx.dim), None

    @staticmethod
    def jvp(ctx, x_tangent, _dim_tangent):
        ind, ind_inv = ctx.saved_tensors
        return NumpyTake.apply(x_tangent, ind, ind_inv, ctx.dim), None, None

    @staticmethod
    def vmap(info, in_dims, x, dim):
        x = x.movedim(in_dims[0], 0)
        dim = dim % (x.dim() - 1)  # wrap a negative dim at the logical rank before shifting it
        return NumpySort.apply(x, dim + 1), (0, 0, 0)


def sort_oracle(x, dim):
    values, ind = torch.sort(x, dim=dim, stable=True)
    return values, ind, torch.argsort(ind, dim=dim, stable=True)


class SortReturnsInputUnsorted(NumpySort):
    """The values output is a copy of the input, unsorted (``torch.tensor(x)`` where take_along_axis was meant)."""

    @staticmethod
    def forward(x, dim):
        a = to_numpy(x)
        ind = np.argsort(a, axis=dim, kind="stable")
        ind_inv = np.argsort(ind, axis=dim, kind="stable")
        return torch.tensor(a), to_torch(ind, x, np.int64), to_torch(ind_inv, x, np.int64)


class SortIndicesLeftDifferentiable(NumpySort):
    """Returns the indices as floats (x's dtype) and forgets mark_non_differentiable for them, so they require grad."""

    @staticmethod
    def forward(x, dim):
        a = to_numpy(x)
        ind = np.argsort(a, axis=dim, kind="stable")
        ind_inv = np.argsort(ind, axis=dim, kind="stable")
        values = np.take_along_axis(a, ind, axis=dim)
        return to_torch(values, x), to_torch(ind, x, a.dtype), to_torch(ind_inv, x, np.int64)

    @staticmethod
    def setup_context(ctx, inputs, outputs):
        _x, dim = inputs
        _values, ind, ind_inv = outputs
        ctx.mark_non_differentiable(ind_inv)
        ctx.save_for_backward(ind, ind_inv)
        ctx.save_for_forward(ind, ind_inv)
        ctx.dim = dim

    @staticmethod
    def backward(ctx, grad_values, _grad_ind, _grad_ind_inv):
        ind, ind_inv = ctx.saved_tensors
        return NumpyTake.apply(grad_values, ind_inv, ind.long(), ctx.dim), None

    @staticmethod
    def jvp(ctx, x_tangent, _dim_tangent):
        ind, ind_inv = ctx.saved_tensors
        return NumpyTake.apply(x_tangent, ind.long(), ind_inv, ctx.dim), None, None

    @staticmethod
    def vmap(info, in_dims, x, dim):
        x = x.movedim(in_dims[0], 0)
        dim = dim % (x.dim() - 1)
        return SortIndicesLeftDifferentiable.apply(x, dim + 1), (0, 0, 0)


# ------------------------------------------------------------------ NumpyExp_


class NumpyExp_(Function):
    """In-place exp: NumPy writes exp(x) into x's memory, x is returned and marked dirty (CPU tensors)."""

    @staticmethod
    def forward(x):
        a = x.detach().numpy()  # shares x's memory
        np.exp(a, out=a)
        return x

    @staticmethod
    def setup_context(ctx, inputs, output):
        (x,) = inputs
        ctx.mark_dirty(x)
        ctx.save_for_backward(output)
        ctx.save_for_forward(output)

    @staticmethod
    def backward(ctx, grad_output):
        (result,) = ctx.saved_tensors
        return grad_output * result

    @staticmethod
    def jvp(ctx, x_tangent):
        # an in-place Function updates its input's tangent in place too
        (result,) = ctx.saved_tensors
        return x_tangent.mul_(result)

    @staticmethod
    def vmap(info, in_dims, x):
        NumpyExp_.apply(x)
        return x, in_dims[0]


def exp__oracle(x):
    return torch.exp(x)  # the out-of-place map: what NumpyExp_ writes into x


class ExpInplaceReturnsCopy(NumpyExp_):
    """Writes exp into x but returns a fresh copy and drops mark_dirty (torch refuses mark_dirty with a copy).

    The output and its gradient are right; x is overwritten behind autograd's
    back, so a later use of x differentiates as if x were unchanged.
    """

    @staticmethod
    def forward(x):
        a = x.detach().numpy()
        np.exp(a, out=a)
        return torch.from_numpy(a.copy())

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)
        ctx.save_for_forward(output)

    @staticmethod
    def jvp(ctx, x_tangent):
        (result,) = ctx.saved_tensors
        return x_tangent * result

    @staticmethod
    def vmap(info, in_dims, x):
        return ExpInplaceReturnsCopy.apply(x), in_dims[0]


class ExpInplaceForgetsMarkDirty(ExpInplaceReturnsCopy):
    """Writes x in place and returns x.view_as(x), as torch's error suggests, but never calls ctx.mark_dirty(x).

    The output and its gradient are right; x's version counter and history are
    not updated, so a later use of x differentiates as if x were unchanged and
    an earlier op that saved x silently gets exp(x) in its backward.
    """

    @staticmethod
    def forward(x):
        a = x.detach().numpy()
        np.exp(a, out=a)
        return x.view_as(x)

    @staticmethod
    def vmap(info, in_dims, x):
        return ExpInplaceForgetsMarkDirty.apply(x), in_dims[0]


# ------------------------------------------------------------------ NumpyMul (broadcasting)


class NumpyMul(Function):
    """(x, y) -> x * y with NumPy broadcasting; each gradient is summed back to its argument's shape."""

    @staticmethod
    def forward(x, y):
        return to_torch(to_numpy(x) * to_numpy(y), x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)
        ctx.save_for_forward(*inputs)

    @staticmethod
    def backward(ctx, grad_output):
        x, y = ctx.saved_tensors
        grad_x = grad_y = None
        if ctx.needs_input_grad[0]:
            grad_x = sum_to_shape(NumpyMul.apply(grad_output, y), x.shape)
        if ctx.needs_input_grad[1]:
            grad_y = sum_to_shape(NumpyMul.apply(grad_output, x), y.shape)
        return grad_x, grad_y

    @staticmethod
    def jvp(ctx, x_tangent, y_tangent):
        x, y = ctx.saved_tensors
        if x_tangent is None:
            return NumpyMul.apply(x, y_tangent)
        if y_tangent is None:
            return NumpyMul.apply(x_tangent, y)
        return NumpyMul.apply(x_tangent, y) + NumpyMul.apply(x, y_tangent)

    @staticmethod
    def vmap(info, in_dims, x, y):
        ranks = [t.dim() - (d is not None) for t, d in zip((x, y), in_dims, strict=False)]
        rank = max(ranks)

        def batch_first(t, bdim, t_rank):
            # batch dim in front (size 1 if unbatched), then the axes NumPy would prepend
            t = t.unsqueeze(0) if bdim is None else t.movedim(bdim, 0)
            return t[(slice(None),) + (None,) * (rank - t_rank)]

        x, y = (batch_first(t, d, r) for t, d, r in zip((x, y), in_dims, ranks, strict=False))
        return NumpyMul.apply(x, y), 0


def mul_oracle(x, y):
    return x * y


def _mean_to_shape(grad, shape):
    extra = grad.dim() - len(shape)
    if extra > 0:
        grad = grad.mean(dim=tuple(range(extra)))
    axes = tuple(i for i, size in enumerate(shape) if size == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.mean(dim=axes, keepdim=True)
    return grad


def _sum_axis0_to_shape(grad, shape):
    while grad.dim() > len(shape):
        grad = grad.sum(0)
    if grad.shape != shape:
        grad = grad.sum(0).reshape(shape)
    return grad


class MulBroadcastMean(NumpyMul):
    """Reduces a broadcast argument's gradient with mean instead of sum: wrong when an argument broadcasts."""

    @staticmethod
    def backward(ctx, grad_output):
        x, y = ctx.saved_tensors
        return _mean_to_shape(grad_output * y, x.shape), _mean_to_shape(grad_output * x, y.shape)


class MulBroadcastSumsAxis0(NumpyMul):
    """Reduces each broadcast axis with .sum(0) and a reshape: right for added leading axes, wrong for a size-1 axis."""

    @staticmethod
    def backward(ctx, grad_output):
        x, y = ctx.saved_tensors
        return _sum_axis0_to_shape(grad_output * y, x.shape), _sum_axis0_to_shape(grad_output * x, y.shape)


# ------------------------------------------------------------------ NumpyScaledCumsum (default arguments)


def _resolve_scale(scale, x, dim):
    return 1.0 / x.shape[dim] if scale is None else float(scale)


class NumpyScaledCumsum(Function):
    """(x, dim=-1, scale=None) -> scale * cumsum(x, dim); scale=None means 1 / x.shape[dim] (a running mean).

    ``apply(x)``, ``apply(x, 0)`` and ``apply(x, scale=2.0)`` all work: torch
    binds the call to forward's signature, so setup_context sees all three
    arguments with the defaults filled in.
    """

    @staticmethod
    def forward(x, dim=-1, scale=None):
        a = to_numpy(x)
        return to_torch(_resolve_scale(scale, a, dim) * np.cumsum(a, axis=dim), x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        # torch 2.0 passes only the arguments given; later torch binds forward's defaults
        x, dim, scale = (*inputs, -1, None)[:3] if len(inputs) == 1 else (*inputs, None)[:3]
        ctx.dim = dim
        ctx.scale = _resolve_scale(scale, x, dim)

    @staticmethod
    def backward(ctx, grad_output):
        dim = ctx.dim
        # the adjoint of a cumsum is a reversed cumsum
        return NumpyScaledCumsum.apply(grad_output.flip(dim), dim, ctx.scale).flip(dim), None, None

    @staticmethod
    def jvp(ctx, x_tangent, *_other_tangents):  # torch 2.0: one tangent per argument given, not per parameter
        return NumpyScaledCumsum.apply(x_tangent, ctx.dim, ctx.scale)

    @staticmethod
    def vmap(info, in_dims, x, dim=-1, scale=None):  # torch 2.0 passes only the arguments given
        x = x.movedim(in_dims[0], 0)
        dim = dim % (x.dim() - 1)  # -1 is the logical last dim, not the batch dim's neighbour
        return NumpyScaledCumsum.apply(x, dim + 1, scale), 0


def scaled_cumsum_oracle(x, dim=-1, scale=None):
    scale = 1.0 / x.shape[dim] if scale is None else scale
    return scale * torch.cumsum(x, dim)


def _c_order_strides(shape):
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= size
    return tuple(reversed(strides))


class BackwardReadsGradOutputAsContiguous(NumpyScaledCumsum):
    """Backward reads grad_output's memory in C order, as a kernel handed g.data_ptr() would.

    Right for a contiguous grad_output; for a transposed one it reads the wrong
    elements and for an expanded one (from ``.sum()``) it reads past the storage.
    """

    @staticmethod
    def backward(ctx, grad_output):
        g = torch.as_strided(grad_output, grad_output.shape, _c_order_strides(grad_output.shape))
        return NumpyScaledCumsum.backward(ctx, g)


class DefaultArgumentMisread(NumpyScaledCumsum):
    """setup_context takes an omitted scale for 1.0, while forward's default (None) means 1 / x.shape[dim].

    Wrong only where setup_context sees the omission: torch 2.0, which passes
    it only the arguments given (``APPLY_BINDS_DEFAULTS`` is False). From
    torch 2.1 on, torch binds forward's defaults first and this branch is dead.
    """

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, dim, scale = (*inputs, -1, 1.0)[:3] if len(inputs) == 1 else (*inputs, 1.0)[:3]
        ctx.dim = dim
        ctx.scale = _resolve_scale(scale, x, dim)


# ------------------------------------------------------------------ SciPy: NumpyI0 / NumpyI1


class NumpyI0(Function):
    """scipy.special.i0, the modified Bessel function of order 0; its derivative is i1."""

    @staticmethod
    def forward(x):
        a = to_numpy(x)
        return to_torch(scipy.special.i0(a), x, a.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])
        ctx.save_for_forward(inputs[0])

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * NumpyI1.apply(x)

    @staticmethod
    def jvp(ctx, x_tangent):
        (x,) = ctx.saved_tensors
        return x_tangent * NumpyI1.apply(x)

    @staticmethod
    def vmap(info, in_dims, x):
        return NumpyI0.apply(x), in_dims[0]


class NumpyI1(Function):
    """scipy.special.i1; its derivative is i0(x) - i1(x) / x, which is 1/2 at x = 0."""

    @staticmethod
    def forward(x):
        a = to_numpy(x)
        return to_torch(scipy.special.i1(a), x, a.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])
        ctx.save_for_forward(inputs[0])

    @staticmethod
    def derivative(x):
        at_zero = x == 0
        safe_x = torch.where(at_zero, torch.ones_like(x), x)
        return torch.where(at_zero, 0.5, NumpyI0.apply(x) - NumpyI1.apply(safe_x) / safe_x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * NumpyI1.derivative(x)

    @staticmethod
    def jvp(ctx, x_tangent):
        (x,) = ctx.saved_tensors
        return x_tangent * NumpyI1.derivative(x)

    @staticmethod
    def vmap(info, in_dims, x):
        return NumpyI1.apply(x), in_dims[0]


def i0_oracle(x):
    return torch.special.i0(x)


def i1_oracle(x):
    return torch.special.i1(x)


class I0GradientInFloat32(NumpyI0):
    """Backward evaluates i1 in float32 (``x.numpy().astype(np.float32)``): float64 gradients good to ~1e-7 only."""

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        i1 = scipy.special.i1(to_numpy(x).astype(np.float32))
        return grad_output * to_torch(i1, x).to(x.dtype)


# ------------------------------------------------------------------ SciPy: NumpySolve


class NumpySolve(Function):
    """(A, b) -> scipy.linalg.solve(A, b) for a square A and b of shape (n,) or (n, k)."""

    @staticmethod
    def forward(A, b):
        a, rhs = to_numpy(A), to_numpy(b)
        return to_torch(scipy.linalg.solve(a, rhs), b, np.result_type(a, rhs))

    @staticmethod
    def setup_context(ctx, inputs, output):
        A, _b = inputs
        ctx.save_for_backward(A, output)
        ctx.save_for_forward(A, output)

    @staticmethod
    def backward(ctx, grad_output):
        A, x = ctx.saved_tensors
        grad_b = NumpySolve.apply(A.mT, grad_output)
        grad_A = None
        if ctx.needs_input_grad[0]:
            grad_A = -torch.outer(grad_b, x) if x.dim() == 1 else -grad_b @ x.mT
        return grad_A, grad_b if ctx.needs_input_grad[1] else None

    @staticmethod
    def jvp(ctx, A_tangent, b_tangent):
        A, x = ctx.saved_tensors
        rhs = torch.zeros_like(x) if b_tangent is None else b_tangent
        if A_tangent is not None:
            rhs = rhs - A_tangent @ x
        return NumpySolve.apply(A, rhs)

    @staticmethod
    def vmap(info, in_dims, A, b):
        # scipy.linalg.solve does not batch: solve each batch entry
        results = [
            NumpySolve.apply(*(t if d is None else t.select(d, i) for t, d in zip((A, b), in_dims, strict=False)))
            for i in range(info.batch_size)
        ]
        return torch.stack(results), 0


def solve_oracle(A, b):
    return torch.linalg.solve(A, b)


class SolveGradientInFloat32(NumpySolve):
    """Backward solves A.T in float32 (for speed): float64 gradients good to only ~1e-7 times cond(A)."""

    @staticmethod
    def backward(ctx, grad_output):
        A, x = ctx.saved_tensors
        g32 = scipy.linalg.solve(to_numpy(A).T.astype(np.float32), to_numpy(grad_output).astype(np.float32))
        grad_b = to_torch(g32, x).to(x.dtype)
        grad_A = -torch.outer(grad_b, x) if x.dim() == 1 else -grad_b @ x.mT
        return grad_A, grad_b


# ------------------------------------------------------------------ SciPy: NumpyLogsumexp


class NumpyLogsumexp(Function):
    """x -> scipy.special.logsumexp(x, axis=-1); the gradient is softmax(x) times grad_output."""

    @staticmethod
    def forward(x):
        a = to_numpy(x)
        return to_torch(scipy.special.logsumexp(a, axis=-1), x, a.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0], output)
        ctx.save_for_forward(inputs[0], output)

    @staticmethod
    def backward(ctx, grad_output):
        x, out = ctx.saved_tensors
        return grad_output.unsqueeze(-1) * torch.exp(x - out.unsqueeze(-1))

    @staticmethod
    def jvp(ctx, x_tangent):
        x, out = ctx.saved_tensors
        return (torch.exp(x - out.unsqueeze(-1)) * x_tangent).sum(-1)

    @staticmethod
    def vmap(info, in_dims, x):
        return NumpyLogsumexp.apply(x.movedim(in_dims[0], 0)), 0


def logsumexp_oracle(x):
    return torch.logsumexp(x, dim=-1)


# ------------------------------------------------------------------ NumpyAdd


class NumpyAdd(Function):
    """(x, y) -> x + y for two tensors of one shape; backward returns a fresh gradient for each."""

    @staticmethod
    def forward(x, y):
        if x.shape != y.shape:
            raise ValueError(f"NumpyAdd needs one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
        return to_torch(to_numpy(x) + to_numpy(y), x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, grad_output):
        grad_x = grad_output.clone() if ctx.needs_input_grad[0] else None
        grad_y = grad_output.clone() if ctx.needs_input_grad[1] else None
        return grad_x, grad_y

    @staticmethod
    def jvp(ctx, x_tangent, y_tangent):
        if x_tangent is None:
            return y_tangent.clone()
        if y_tangent is None:
            return x_tangent.clone()
        return x_tangent + y_tangent

    @staticmethod
    def vmap(info, in_dims, x, y):
        x, y = (_batch_first(t, d, info.batch_size) for t, d in zip((x, y), in_dims, strict=False))
        return NumpyAdd.apply(x, y), 0


def add_oracle(x, y):
    return x + y


class AddGradientAliasesGradOutput(NumpyAdd):
    """Backward returns grad_output itself for x and y: the gradients alias each other and the caller's tensor."""

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output, grad_output
