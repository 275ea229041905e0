"""Properties of the outputs: shape, dtype, values, and which of them require grad."""

from __future__ import annotations

from ..calls import call_entry, grad_outputs_of, leaves, output_label, promoted_dtype
from ..entry import case_kwargs
from ..oracle import check_output, expect


def output_shape(entry, case):
    """Each output has the oracle's shape (and there are as many). Catches 'same'/'full' mix-ups, a lost dimension."""
    outputs = call_entry(entry, case.args, case_kwargs(case))
    expected = expect(entry, case, gradients=False).outputs
    assert len(outputs) == len(expected), f"{entry.name}: {len(outputs)} outputs, the oracle gives {len(expected)}"
    for k, (out, want) in enumerate(zip(outputs, expected, strict=True)):
        assert tuple(out.shape) == tuple(want.shape), (
            f"{entry.name}: {output_label(entry, k, len(outputs))} has shape {tuple(out.shape)}, "
            f"expected {tuple(want.shape)}"
        )


def output_dtype(entry, case):
    """Floating outputs have the promoted dtype of the arguments; others the oracle's. Catches a hard-coded float32."""
    outputs = call_entry(entry, case.args, case_kwargs(case))
    expected = expect(entry, case, gradients=False).outputs
    promoted = promoted_dtype(case.args)
    for k, (out, want) in enumerate(zip(outputs, expected, strict=True)):
        dtype = promoted if want.dtype.is_floating_point else want.dtype
        assert out.dtype == dtype, (
            f"{entry.name}: {output_label(entry, k, len(outputs))} is {out.dtype}, expected {dtype}"
        )


def forward_matches_oracle(entry, case):
    """Every output equals the oracle's (integer outputs exactly). Catches forward bugs with consistent gradients."""
    outputs = call_entry(entry, case.args, case_kwargs(case))
    expected = expect(entry, case, gradients=False)
    assert len(outputs) == len(expected.outputs), (
        f"{entry.name}: {len(outputs)} outputs, the oracle gives {len(expected.outputs)}"
    )
    for k, out in enumerate(outputs):
        check_output(entry, out, expected, k, case.args, output_label(entry, k, len(outputs)))


def outputs_require_grad_as_declared(entry, case):
    """With every argument requiring grad, the differentiable outputs require grad and the others do not.

    An output whose grad_output is None (indices, a mask) must be marked
    with ``ctx.mark_non_differentiable`` when it is floating: left
    differentiable, it drags a graph along and takes gradients into a
    backward that ignores them. And an output the case differentiates must
    require grad: one that does not (marked non-differentiable, or detached)
    cuts every gradient through it.
    """
    outputs = call_entry(entry, leaves(case.args), case_kwargs(case))
    for k, (out, g) in enumerate(zip(outputs, grad_outputs_of(case.grad_output), strict=True)):
        label = output_label(entry, k, len(outputs))
        if g is None:
            assert not out.requires_grad, (
                f"{entry.name}: {label} requires grad, but the declaration says it is not differentiable "
                "(grad_output None): mark it with ctx.mark_non_differentiable"
            )
        else:
            assert out.requires_grad, (
                f"{entry.name}: {label} does not require grad although the case differentiates it: "
                "every gradient through it is lost"
            )
