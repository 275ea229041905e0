"""Properties of memory: layouts, writes in place, and what the gradients share memory with."""

from __future__ import annotations

import torch

from ..calls import (
    argument_label,
    call_entry,
    entry_output_and_grads,
    grad_outputs_of,
    gradient_label,
    grads_of,
    is_differentiable,
    leaves,
    outputs_of,
    tensor_args,
)
from ..entry import case_kwargs
from ..oracle import assert_results_agree, check_gradient, check_output, expect


def strided_copy(tensor):
    """The same values in memory that is not contiguous: every other element of a buffer twice as long.

    The gaps hold NaN, so a kernel that reads the memory as if it were
    contiguous reads NaNs, every time (not whatever memory happened to hold).
    A 0-d tensor, or one of a single element, is returned as it is (any
    layout of it is contiguous).
    """
    if tensor is None or tensor.dim() == 0 or tensor.numel() < 2:
        return tensor
    buffer = torch.full((*tensor.shape[:-1], 2 * tensor.shape[-1]), float("nan"), dtype=tensor.dtype)
    strided = buffer[..., ::2]
    strided.copy_(tensor)
    return strided


def _contiguous(value):
    return value.contiguous() if isinstance(value, torch.Tensor) else value


def noncontiguous_matches_contiguous(entry, case):
    """Strided inputs and grad_outputs give what their contiguous copies give.

    Three calls, compared with the contiguous one: the case as drawn (draw
    inputs with ``float_tensors(..., layout=layouts())`` for transposed and
    strided ones), and every tensor argument and grad_output copied to
    strided memory by the engine. Catches a forward or backward that reads
    memory as if it were contiguous, for inputs and for grad_outputs alike.
    """
    kwargs = case_kwargs(case)
    contiguous_args = tuple(_contiguous(a) for a in case.args)
    contiguous_grads = tuple(_contiguous(g) for g in grad_outputs_of(case.grad_output))
    out_c, grads_c = entry_output_and_grads(entry, contiguous_args, contiguous_grads, kwargs)
    strided_args = tuple(strided_copy(a) if is_differentiable(a) else a for a in case.args)
    strided_grads = tuple(strided_copy(g) for g in grad_outputs_of(case.grad_output))
    expected = expect(entry, case)
    for how, args, grad_outputs in (
        ("as drawn", case.args, case.grad_output),
        ("strided inputs and grad_outputs", strided_args, strided_grads),
    ):
        results = entry_output_and_grads(entry, args, grad_outputs, kwargs)
        assert_results_agree(
            entry, expected, results, (out_c, grads_c), case.args, how=how, against="the contiguous call's"
        )


def inputs_unmodified(entry, case):
    """Forward and backward leave every input and grad_output exactly as they were.

    Except the arguments the entry declares written in place (``modifies``),
    which the engine passes as copies and ``modifies_its_arguments_in_place``
    checks.
    """
    kwargs = case_kwargs(case)
    inputs = leaves(case.args)
    grad_outputs = tuple(None if g is None else g.clone() for g in grad_outputs_of(case.grad_output))
    # (what to call it, the tensor, its argument position or None)
    watched = [
        (entry.argument_label(i, len(inputs)), a, i) for i, a in enumerate(inputs) if isinstance(a, torch.Tensor)
    ]
    watched += [(_grad_output_label(grad_outputs, k), g, None) for k, g in enumerate(grad_outputs) if g is not None]
    before = [t.detach().clone() for _, t, _ in watched]
    outputs = call_entry(entry, inputs, kwargs)
    grads_of(outputs, tensor_args(inputs), grad_outputs)
    for (name, tensor, position), b in zip(watched, before, strict=True):
        hint = "" if position is None else f"; if the Function writes it on purpose, declare modifies=({position},)"
        assert torch.equal(b, tensor.detach()), f"{entry.name}: {name} was modified in place{hint}"


def _grad_output_label(grad_outputs, k) -> str:
    return f"grad_output {k}" if len(grad_outputs) > 1 else "grad_output"


def modifies_its_arguments_in_place(entry, case):
    """A Function declared to write arguments in place returns them, written with the oracle's values.

    For each argument in ``modifies``: an output *is* that argument (the same
    memory), its version counter moved (torch saw the write, so a tensor
    saved for backward before it is refused rather than silently stale), it
    holds the oracle's (out-of-place) result, and the gradient of the
    tensor it was copied from is the oracle's. Catches an in-place Function
    that returns a copy, or writes without telling torch.
    """
    kwargs = case_kwargs(case)
    expected = expect(entry, case)
    sources = leaves(case.args)
    args = tuple(a.clone() if i in entry.modifies and isinstance(a, torch.Tensor) else a for i, a in enumerate(sources))
    versions = {i: args[i]._version for i in entry.modifies}
    outputs = outputs_of(entry.apply(*args, **kwargs))
    for i in entry.modifies:
        name = entry.argument_label(i, len(args))
        same = [
            k for k, out in enumerate(outputs) if out.data_ptr() == args[i].data_ptr() and out.shape == args[i].shape
        ]
        assert same, (
            f"{entry.name}: {name} is declared written in place (modifies), but no output is that argument: "
            "an in-place Function returns the tensor it wrote (ctx.mark_dirty), not a copy"
        )
        assert args[i]._version > versions[i], (
            f"{entry.name}: {name} is returned as written in place, but its version counter did not move: "
            "write it with torch's in-place ops or mark the write (ctx.mark_dirty after writing through .numpy())"
        )
        k = same[0]
        check_output(entry, args[i], expected, k, case.args, f"{name}, written in place")
    grads = grads_of(outputs, tensor_args(sources), grad_outputs_of(case.grad_output))
    for j, grad in enumerate(grads):
        check_gradient(entry, grad, expected, j, case.args, f"{gradient_label(entry, case.args, j)} (in place)")


def _storage(tensor) -> int:
    return tensor.untyped_storage().data_ptr()


def gradients_do_not_alias(entry, case):
    """The gradients share no memory with grad_output, with the inputs, with each other, or with the next call's.

    A backward that hands back grad_output itself (an identity, or a
    gradient written into grad_output's memory), one buffer for two
    gradients, or a buffer it keeps between calls makes the gradients and
    the caller's tensors one: an in-place update of one (a hook, a NumPy
    backward downstream that writes its grad_output, an optimizer step on a
    gradient taken with ``autograd.grad``) changes the other, and the next
    backward overwrites the last one's gradients. MyGrad's factory checks the
    same. (``.backward()`` into leaves copies before accumulating, which hides
    this from ``x.grad``; torch's own ``x + y`` hands grad_output back to
    ``autograd.grad`` as both gradients, so this is stricter than torch: it
    asks of a NumPy backward that each gradient be a fresh array.)
    """
    kwargs = case_kwargs(case)
    grad_outputs = tuple(None if g is None else g.clone() for g in grad_outputs_of(case.grad_output))
    inputs = leaves(case.args)
    grads = grads_of(call_entry(entry, inputs, kwargs), tensor_args(inputs), grad_outputs)
    others = [(_grad_output_label(grad_outputs, k), g) for k, g in enumerate(grad_outputs) if g is not None]
    others += [(argument_label(entry, case.args, j), t) for j, t in enumerate(tensor_args(inputs))]
    seen = []
    for j, grad in enumerate(grads):
        what = gradient_label(entry, case.args, j)
        if grad.numel() == 0:
            continue
        for name, other in others + seen:
            assert _storage(grad) != _storage(other), f"{entry.name}: {what} shares memory with {name}"
        seen.append((what, grad))
    kept = [g.clone() for g in grads]
    again = tuple(None if g is None else -2 * g for g in grad_outputs)
    second_inputs = leaves(case.args)
    grads_of(call_entry(entry, second_inputs, kwargs), tensor_args(second_inputs), again)
    for j, (grad, before) in enumerate(zip(grads, kept, strict=True)):
        assert torch.equal(grad, before), (
            f"{entry.name}: {gradient_label(entry, case.args, j)} changed when the Function was called again: "
            "the backward returns a buffer it keeps between calls"
        )
