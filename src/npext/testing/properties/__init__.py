"""The generic properties: plain checks of one Function on one case, one module per subject.

Each check is ``check(entry, case)``: it raises AssertionError (or the error
torch raises) when the Function in ``entry`` breaks the property on
``case``, and returns None otherwise. ``property_tests`` runs them as
Hypothesis tests; ``hunt`` runs one against a (wrong) Function until it
fails; you can also call one directly on a case of your own.

A ``Property`` pairs a check with the flags it needs
(``requires={"supports_vmap": True}``): where an entry's flags differ, the
property is skipped with a reason that names the flag, never dropped
silently. ``PROPERTIES`` is the table, in the order they run. To try a new
property without changing the table, pass ``property_tests(entry,
properties=PROPERTIES + (mine,))``; a law of one Function goes in its
entry's ``extra_properties``.

The modules: ``outputs`` (shape, dtype, values, which outputs require grad),
``gradients`` (first and second order, forward mode, defaults,
broadcasting), ``memory`` (layouts, writes in place, aliasing),
``transforms`` (torch.func) and ``compile`` (torch.compile, FakeTensorMode).

What each catches, in short (each is shown able to fail, on npext's
catalogue of wrong Functions or on the wrong versions of users' Functions in
npext's tests):

========================================  ====================================================
output_shape                              'same' / 'full' mode mix-ups, a lost dimension
output_dtype                              a hard-coded float32, a forgotten promotion
forward_matches_oracle                    forward bugs whose gradients agree with them; an
                                          output that is not what it claims (unsorted values)
outputs_require_grad_as_declared          an index output left differentiable; a
                                          differentiable output cut from the graph
gradients_match_oracle                    wrong gradients, through all outputs and through
                                          each alone (a backward ignoring a grad_output);
                                          lost precision
gradients_of_only_the_arguments_...       gradients mixed up when only some inputs require grad
default_arguments_match_explicit          a setup_context or backward that misreads defaults
broadcasting_matches_oracle               a broadcast gradient averaged, or summed on the
                                          wrong dimension
noncontiguous_matches_contiguous          inputs or grad_outputs read as if contiguous
inputs_unmodified                         inputs or grad_output written to in place
modifies_its_arguments_in_place           an in-place Function that returns a copy, or
                                          writes behind torch's back
gradients_do_not_alias                    a gradient that is grad_output, an input or
                                          another gradient
gradcheck_float64                         any first-order error, in both AD modes
second_derivatives                        a backward that is not itself differentiable
double_backward_raises                    (once-differentiable Functions) silently zero
                                          second derivatives
forward_ad_raises                         (Functions without forward AD) unchecked tangents
vmap_matches_loop                         a wrong vmap rule (batch dimension, out_dims)
batched_vjp_matches_loop                  a backward that breaks under vmap
batched_jvp_matches_loop                  a jvp that breaks under vmap
jacobians_match_oracle                    wrong jvp or vjp, seen through jacrev / jacfwd
fake_tensor_propagation                   a fake kernel whose metadata differs from the real one
no_graph_breaks                           a NumPy call Dynamo cannot trace
compiled_matches_eager                    a compiled graph that differs from eager
========================================  ====================================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from npext import ops

from ..calls import (
    argument_label,
    as_double,
    gradient_label,
    inner,
    is_differentiable,
    leaves,
    output_and_grads,
    over_tensors,
    promoted_dtype,
    tensor_args,
)
from ..oracle import assert_within
from .compile import compiled_matches_eager, fake_tensor_propagation, no_graph_breaks
from .gradients import (
    GRADCHECK_FAST_MODE_FROM,
    broadcasting_matches_oracle,
    default_arguments_match_explicit,
    double_backward_raises,
    forward_ad_raises,
    gradcheck_float64,
    gradients_match_oracle,
    gradients_of_only_the_arguments_that_ask,
    has_default_arguments,
    second_derivatives,
)
from .memory import (
    gradients_do_not_alias,
    inputs_unmodified,
    modifies_its_arguments_in_place,
    noncontiguous_matches_contiguous,
    strided_copy,
)
from .outputs import forward_matches_oracle, output_dtype, output_shape, outputs_require_grad_as_declared
from .transforms import batched_jvp_matches_loop, batched_vjp_matches_loop, jacobians_match_oracle, vmap_matches_loop

__all__ = [
    "GRADCHECK_FAST_MODE_FROM",
    "PROPERTIES",
    "Property",
    "all_properties",
    "argument_label",
    "as_double",
    "assert_matches",
    "assert_within",
    "gradient_label",
    "inner",
    "is_differentiable",
    "leaves",
    "output_and_grads",
    "over_tensors",
    "promoted_dtype",
    "properties_for",
    "strided_copy",
    "tensor_args",
]


@dataclass(frozen=True, eq=False)
class Property:
    """A named check and the flag values it needs.

    ``check(entry, case)`` raises when ``entry`` breaks the property on
    ``case``. ``requires`` maps ``FunctionUnderTest`` flag names to the value
    the property needs, e.g. ``{"supports_gradgrad": True}``; an entry whose
    flags differ skips the property, with the reason. ``applies``, if given,
    is ``applies(entry)`` -> a reason to skip (a str) or None, for what no
    flag says (a forward without default arguments). ``small_cases``: the
    check costs more than linearly in the case's size (finite differences,
    Jacobians, a loop per batch entry), so it draws its cases with
    ``large=False``; the others draw with ``large=True``.
    """

    name: str
    check: Callable
    requires: Mapping[str, bool] = field(default_factory=dict)
    small_cases: bool = False
    applies: Callable | None = None

    def __repr__(self) -> str:
        return f"Property({self.name!r})"

    def __call__(self, entry, case) -> None:
        self.check(entry, case)

    def skip_reason(self, entry) -> str | None:
        """Why this property does not apply to ``entry`` (naming the flag), or None if it does."""
        unmet = [(flag, needed) for flag, needed in self.requires.items() if bool(getattr(entry, flag)) != needed]
        if unmet:
            declared = ", ".join(f"{flag}={getattr(entry, flag)!r}" for flag, _ in unmet)
            needed = ", ".join(f"{flag}={_needed(flag, value)}" for flag, value in self.requires.items())
            why = ""
            if any(flag == "supports_compile" for flag, _ in unmet) and ops.COMPILE_SKIP_REASON:
                why = f" (and here {ops.COMPILE_SKIP_REASON})"  # where this torch cannot compile at all, say so
            return f"{entry.name} declares {declared}{why}; {self.name} applies to {needed}"
        return None if self.applies is None else self.applies(entry)


def _needed(flag, value) -> str:
    """How a needed flag value reads: True/False, or 'non-empty' for a tuple flag such as modifies."""
    return ("(non-empty)" if value else "()") if flag == "modifies" else str(value)


def assert_matches(actual, expected, entry, args, what):
    """actual (any float dtype) against a float64 expectation, at the entry's rtol/atol for actual's dtype.

    For an entry with its own ``tolerance(dtype, *args)``; the per-element
    default needs the oracle's context (``npext.testing.oracle.expect``).
    The message names the entry and ``what`` ('the output', 'gradient of
    argument 1 (filter)'), where the worst element is, and how many times the
    allowed error it is off.
    """
    tol = entry.tolerance(actual.dtype, *args)
    allowed = tol["atol"] + tol["rtol"] * expected.double().abs()
    assert_within(actual, expected, allowed, name=entry.name, what=what)


_GRADGRAD = {"supports_gradgrad": True}
_VMAP = {"supports_vmap": True}
_VMAP_AND_FORWARD_AD = {"supports_vmap": True, "supports_forward_ad": True}
_COMPILE = {"supports_compile": True}

#: Every generic property, in the order they run: the cheap ones first (a hunt stops at
#: the first that catches a bug), then gradgradcheck, then those that compile.
PROPERTIES = (
    Property("output_shape", output_shape),
    Property("output_dtype", output_dtype),
    Property("forward_matches_oracle", forward_matches_oracle),
    Property("outputs_require_grad_as_declared", outputs_require_grad_as_declared),
    Property("gradients_match_oracle", gradients_match_oracle),
    Property("fake_tensor_propagation", fake_tensor_propagation, requires=_COMPILE),
    Property("gradients_of_only_the_arguments_that_ask", gradients_of_only_the_arguments_that_ask),
    Property("default_arguments_match_explicit", default_arguments_match_explicit, applies=has_default_arguments),
    Property("broadcasting_matches_oracle", broadcasting_matches_oracle, requires={"supports_broadcasting": True}),
    Property("noncontiguous_matches_contiguous", noncontiguous_matches_contiguous),
    Property("inputs_unmodified", inputs_unmodified),
    Property("modifies_its_arguments_in_place", modifies_its_arguments_in_place, requires={"modifies": True}),
    Property("gradients_do_not_alias", gradients_do_not_alias),
    Property("gradcheck_float64", gradcheck_float64, small_cases=True),
    Property("double_backward_raises", double_backward_raises, requires={"supports_gradgrad": False}, small_cases=True),
    Property("forward_ad_raises", forward_ad_raises, requires={"supports_forward_ad": False}, small_cases=True),
    Property("vmap_matches_loop", vmap_matches_loop, requires=_VMAP, small_cases=True),
    Property("batched_vjp_matches_loop", batched_vjp_matches_loop, requires=_VMAP, small_cases=True),
    Property("batched_jvp_matches_loop", batched_jvp_matches_loop, requires=_VMAP_AND_FORWARD_AD, small_cases=True),
    Property("jacobians_match_oracle", jacobians_match_oracle, requires=_VMAP_AND_FORWARD_AD, small_cases=True),
    Property("second_derivatives", second_derivatives, requires=_GRADGRAD, small_cases=True),
    Property("no_graph_breaks", no_graph_breaks, requires=_COMPILE),
    Property("compiled_matches_eager", compiled_matches_eager, requires=_COMPILE),
)


def all_properties(entry, properties=PROPERTIES) -> list:
    """``properties`` (the generic table by default), then the entry's own ``extra_properties``."""
    return list(properties) + list(entry.extra_properties)


def properties_for(entry, properties=PROPERTIES) -> list:
    """The properties that apply to ``entry`` (its flags allow them), generic ones first."""
    return [p for p in all_properties(entry, properties) if p.skip_reason(entry) is None]
