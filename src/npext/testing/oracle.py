"""What the oracle expects of a case, and the one comparison every property uses.

``expect(entry, case)`` evaluates the entry's oracle in float64 on the case:
its outputs, the gradient of each differentiable argument through all the
differentiable outputs together and through each one alone, and, for the
default tolerance, the error each element of each of them may carry
(``npext.testing.tolerance``). ``assert_within`` compares a result with its
expectation element by element and, on failure, says where, by how much, and
how many times the allowed error that is; on success it records the largest
ratio of error to allowed error (``margins``), for a user who wants to see how
close a correct Function runs to its bound.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import torch

from .calls import (
    as_double,
    differentiable_outputs,
    grad_outputs_of,
    gradient_label,
    grads_of,
    leaves,
    output_label,
    outputs_of,
    tensor_args,
)
from .tolerance import Bound, oracle_result, ratios

#: (entry name, property name) -> the largest |error| / allowed seen in a passing comparison.
_MARGINS: dict = defaultdict(float)
_current = {"property": None}


def margins() -> dict:
    """The largest ratio of error to allowed error seen so far, per (entry, property): below 1 passes."""
    return dict(_MARGINS)


def set_current_property(name) -> None:
    """The property whose comparisons the margins are booked to (the runner sets it)."""
    _current["property"] = name


@dataclass(frozen=True)
class Expected:
    """The oracle's float64 answer for one case, and the error each element may carry.

    ``outputs[k]``; ``gradients[j]`` for the j-th differentiable argument
    through every differentiable output; ``gradients_by_output[k][j]`` through
    output k alone (None where output k is not differentiable). The
    ``*_scales`` hold the allowed error in units of the result's eps, element
    by element (the default tolerance), or None where the entry's own
    ``tolerance`` decides.
    """

    outputs: tuple
    gradients: tuple = ()
    gradients_by_output: tuple = ()
    output_scales: tuple | None = None
    gradient_scales: tuple | None = None
    gradient_scales_by_output: tuple | None = None


def elementwise(entry) -> bool:
    """Whether the entry's tolerance is a per-element ``Bound`` (the default, or one built from it)."""
    return isinstance(entry.tolerance, Bound)


def expect(entry, case, *, gradients: bool = True) -> Expected:
    """The oracle's outputs on ``case`` (float64), and its gradients for the case's grad_output."""
    args = as_double(case.args)
    kwargs = dict(getattr(case, "kwargs", None) or {})
    grad_outputs = tuple(None if g is None else g.double() for g in grad_outputs_of(case.grad_output))
    if elementwise(entry):
        result = oracle_result(entry.oracle, args, grad_outputs, kwargs, gradients=gradients)
        return Expected(
            outputs=result.outputs,
            gradients=result.gradients,
            gradients_by_output=result.gradients_by_output,
            output_scales=result.output_scales,
            gradient_scales=result.gradient_scales,
            gradient_scales_by_output=result.gradient_scales_by_output,
        )
    if not gradients:
        with torch.no_grad():
            return Expected(outputs=outputs_of(entry.oracle(*args, **kwargs)))
    inputs = leaves(args)
    outputs = outputs_of(entry.oracle(*inputs, **kwargs))
    wrt = tensor_args(inputs)
    several = len(differentiable_outputs(grad_outputs)) > 1
    total = grads_of(outputs, wrt, grad_outputs, retain_graph=several)
    by_output = ()
    if several:
        by_output = tuple(
            None if g is None else grads_of(outputs, wrt, _only(grad_outputs, k), retain_graph=True)
            for k, g in enumerate(grad_outputs)
        )
    return Expected(tuple(o.detach() for o in outputs), total, by_output)


def _only(grad_outputs, k) -> tuple:
    return tuple(g if i == k else None for i, g in enumerate(grad_outputs))


def allowed_error(entry, actual_dtype, expected, scale, args, times: float = 1):
    """The error each element of a result of ``actual_dtype`` may carry: per element, or the entry's rtol/atol.

    None for integer and bool results, which are compared exactly.
    """
    if not (actual_dtype.is_floating_point or actual_dtype.is_complex):
        return None
    if scale is not None:
        return times * entry.tolerance.allowed(scale, actual_dtype, expected)
    tol = entry.tolerance(actual_dtype, *args)
    return times * (tol["atol"] + tol["rtol"] * expected.double().abs())


def assert_within(actual, expected, allowed, *, name: str, what: str, against: str = "the oracle") -> float:
    """``|actual - expected| <= allowed`` in every element, or an AssertionError that says where and by how much.

    ``allowed=None`` (and integer or bool results) asks for equality.
    Returns the largest ratio of error to allowed error, and books it to the
    running property's margin.
    """
    if tuple(actual.shape) != tuple(expected.shape):
        raise AssertionError(f"{name}: {what} has shape {tuple(actual.shape)}, {against} gives {tuple(expected.shape)}")
    ratio, difference = ratios(actual, expected, allowed)
    if ratio.numel() == 0:
        return 0.0
    worst = float(ratio.max())
    if worst > 1:
        index = tuple(int(i) for i in np.unravel_index(int(ratio.flatten().argmax()), ratio.shape))
        beyond = int((ratio > 1).sum())
        got, want = actual.detach().cpu()[index].item(), expected.detach().cpu()[index].item()
        if worst == float("inf") and (allowed is None or not actual.dtype.is_floating_point):
            raise AssertionError(
                f"{name}: {what} differs from {against} at {beyond} of {ratio.numel()} elements (compared "
                f"exactly); the first at index {index}: {got} instead of {want}"
            )
        limit = torch.as_tensor(allowed, dtype=torch.float64).detach().expand(ratio.shape)[index].item()
        verdict = (
            f"where {limit:.3g} is allowed: {worst:.3g} times the allowed error"
            if limit > 0
            else "where nothing is allowed (an exact result)"
        )
        raise AssertionError(
            f"{name}: {what} differs from {against}\n"
            f"{beyond} of {ratio.numel()} elements beyond the allowed error ({actual.dtype}); the worst, at index "
            f"{index}: {got:.9g} instead of {want:.17g}, off by {difference[index].item():.3g} {verdict}"
        )
    key = (name, _current["property"])
    _MARGINS[key] = max(_MARGINS[key], worst)
    return worst


def check_output(entry, actual, expected: Expected, k: int, args, what: str, *, against="the oracle") -> float:
    """Output k of the Function against the oracle's output k."""
    scale = None if expected.output_scales is None else expected.output_scales[k]
    want = expected.outputs[k]
    return assert_within(
        actual, want, allowed_error(entry, actual.dtype, want, scale, args), name=entry.name, what=what, against=against
    )


def check_gradient(entry, actual, expected: Expected, j: int, args, what: str, *, output=None) -> float:
    """The gradient of the j-th differentiable argument, through every output (or output ``output`` alone)."""
    if output is None:
        want = expected.gradients[j]
        scale = None if expected.gradient_scales is None else expected.gradient_scales[j]
    else:
        want = expected.gradients_by_output[output][j]
        scales = expected.gradient_scales_by_output
        scale = None if scales is None else scales[output][j]
    return assert_within(
        actual, want, allowed_error(entry, actual.dtype, want, scale, args), name=entry.name, what=what
    )


def assert_results_agree(entry, expected: Expected, results, reference, args, *, how: str, against: str) -> None:
    """Two runs of the Function agree: (outputs, gradients) against the reference run's, output by output.

    Each run may be off the exact result by the entry's allowed error, so
    they may differ by twice it (integer outputs: not at all). ``how`` says
    what differs between the runs ('strided inputs', 'compiled').
    """
    (outputs, grads), (ref_outputs, ref_grads) = results, reference
    for k, (out, want) in enumerate(zip(outputs, ref_outputs, strict=True)):
        scale = None if expected.output_scales is None else expected.output_scales[k]
        allowed = allowed_error(entry, out.dtype, expected.outputs[k], scale, args, times=2)
        what = f"{output_label(entry, k, len(outputs))} ({how})"
        assert_within(out, want, allowed, name=entry.name, what=what, against=against)
    for j, (grad, want) in enumerate(zip(grads, ref_grads, strict=True)):
        scale = None if expected.gradient_scales is None else expected.gradient_scales[j]
        allowed = allowed_error(entry, grad.dtype, expected.gradients[j], scale, args, times=2)
        what = f"{gradient_label(entry, args, j)} ({how})"
        assert_within(grad, want, allowed, name=entry.name, what=what, against=against)
