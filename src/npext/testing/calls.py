"""Calling a Function under test: arguments, outputs, gradients, and what to call each in a report.

Every property calls the Function through ``call`` (or ``output_and_grads``),
so the rules live here once:

* ``Case.args`` go positionally and ``Case.kwargs`` by keyword; real floating
  tensors among the args are differentiated, anything else (an int, an index
  tensor) is passed through as it is.
* ``apply`` returns one tensor or a tuple of them. ``Case.grad_output`` is
  then a tensor or a tuple with one entry per output: ``None`` marks an
  output that is not differentiable (indices, a mask), and only the others
  are differentiated.
* An argument the entry declares written in place (``modifies``) is cloned
  before each call, so the case keeps its values and a leaf stays a leaf:
  the gradient reaches it through the clone.
"""

from __future__ import annotations

import torch

# ---------------------------------------------------------------- arguments


def is_differentiable(value) -> bool:
    """A real floating tensor: an argument the properties differentiate."""
    return isinstance(value, torch.Tensor) and value.dtype.is_floating_point


def tensor_args(args) -> tuple:
    """The differentiable arguments among ``args``, in order."""
    return tuple(a for a in args if is_differentiable(a))


def differentiable_positions(args) -> list:
    """The positions of the differentiable arguments in ``args``."""
    return [i for i, a in enumerate(args) if is_differentiable(a)]


def promoted_dtype(args) -> torch.dtype:
    """torch's type promotion of the tensor arguments' dtypes."""
    tensors = tensor_args(args)
    dtype = tensors[0].dtype
    for arg in tensors[1:]:
        dtype = torch.promote_types(dtype, arg.dtype)
    return dtype


def as_double(args) -> tuple:
    """args with every floating tensor cast to float64 (other arguments unchanged)."""
    return tuple(a.double() if is_differentiable(a) else a for a in args)


def leaves(args, dtype=None) -> tuple:
    """Fresh leaf copies of the tensors in args that require grad (cast to dtype if given), strides kept.

    Other arguments are passed through unchanged.
    """
    return tuple(
        (a if dtype is None else a.to(dtype)).detach().clone().requires_grad_() if is_differentiable(a) else a
        for a in args
    )


# ---------------------------------------------------------------- outputs


def outputs_of(result) -> tuple:
    """A Function's result as a tuple of outputs: ``(t,)`` for one tensor."""
    return (result,) if isinstance(result, torch.Tensor) else tuple(result)


def grad_outputs_of(grad_output) -> tuple:
    """``Case.grad_output`` as a tuple with one entry per output (``None``: not differentiable)."""
    return (grad_output,) if grad_output is None or isinstance(grad_output, torch.Tensor) else tuple(grad_output)


def differentiable_outputs(grad_output) -> list:
    """The positions of the outputs the case differentiates (its grad_output entry is a tensor)."""
    return [k for k, g in enumerate(grad_outputs_of(grad_output)) if g is not None]


def call(apply, args, kwargs=None, modifies=()) -> tuple:
    """``apply(*args, **kwargs)`` as a tuple of outputs, the arguments in ``modifies`` cloned first."""
    return outputs_of(apply(*copy_modified(args, modifies), **(kwargs or {})))


def call_entry(entry, args, kwargs=None) -> tuple:
    """``call`` with the entry's apply and its declared ``modifies``."""
    return call(entry.apply, args, kwargs, entry.modifies)


def grads_of(outputs, inputs, grad_outputs, *, retain_graph=None) -> tuple:
    """d(outputs)/d(inputs) for ``grad_outputs`` (None entries skipped); an unused input gets zeros.

    Each grad_output is cast to its output's dtype, as autograd would need.
    """
    pairs = [(o, g.to(o.dtype)) for o, g in zip(outputs, grad_outputs, strict=True) if g is not None]
    grads = torch.autograd.grad(
        [o for o, _ in pairs], inputs, [g for _, g in pairs], allow_unused=True, retain_graph=retain_graph
    )
    return tuple(torch.zeros_like(x) if g is None else g for x, g in zip(inputs, grads, strict=True))


def output_and_grads(apply, args, grad_output, kwargs=None, modifies=()):
    """``apply(*args)`` and the gradients of its differentiable arguments for ``grad_output``.

    The output is returned as apply returned it (a tensor or a tuple);
    ``grad_output`` is a tensor or a tuple with ``None`` for the outputs not
    to differentiate.
    """
    inputs = leaves(args)
    result = apply(*copy_modified(inputs, modifies), **(kwargs or {}))
    grads = grads_of(outputs_of(result), tensor_args(inputs), grad_outputs_of(grad_output))
    return result, grads


def entry_output_and_grads(entry, args, grad_output, kwargs=None):
    """``output_and_grads`` for an entry: its apply and its ``modifies``; the outputs as a tuple."""
    result, grads = output_and_grads(entry.apply, args, grad_output, kwargs, entry.modifies)
    return outputs_of(result), grads


def copy_modified(args, modifies) -> tuple:
    """args with each tensor at a position in ``modifies`` replaced by a clone (the Function may write it)."""
    return tuple(a.clone() if i in modifies and isinstance(a, torch.Tensor) else a for i, a in enumerate(args))


def over_tensors(apply, args, kwargs=None, modifies=(), outputs=None):
    """(f, tensors): f takes only the differentiable arguments, the others fixed as in args.

    torch.func's transforms (vjp, jvp, vmap, jacrev) take tensors only.
    ``outputs`` (positions) makes f return just those outputs, as a tuple:
    vjp and jvp need floating outputs, so the properties pass the
    differentiable ones. Without it f returns what apply returns.
    """
    positions = differentiable_positions(args)

    def f(*tensors):
        full = list(args)
        for i, t in zip(positions, tensors, strict=True):
            full[i] = t
        result = apply(*copy_modified(full, modifies), **(kwargs or {}))
        if outputs is None:
            return result
        every = outputs_of(result)
        return tuple(every[k] for k in outputs)

    return f, tuple(args[i] for i in positions)


def entry_over_tensors(entry, args, kwargs=None, outputs=None):
    """``over_tensors`` for an entry (its apply and ``modifies``)."""
    return over_tensors(entry.apply, args, kwargs, entry.modifies, outputs)


def inner(a, b) -> torch.Tensor:
    """<a, b> in float64."""
    return (a.double() * b.double()).sum()


# ---------------------------------------------------------------- what to call things in a report


def output_label(entry, index: int, count: int) -> str:
    """'the output' for a Function of one output; 'output 1 (indices)' where the names are known."""
    if count == 1:
        return "the output"
    names = entry.output_names
    return f"output {index} ({names[index]})" if len(names) == count else f"output {index}"


def argument_label(entry, args, tensor_index: int) -> str:
    """'argument 1 (filter)' for the tensor_index-th differentiable argument."""
    return entry.argument_label(differentiable_positions(args)[tensor_index], len(args))


def gradient_label(entry, args, tensor_index: int) -> str:
    return "gradient of " + argument_label(entry, args, tensor_index)
