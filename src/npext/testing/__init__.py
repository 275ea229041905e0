"""Check your own NumPy/SciPy-backed ``torch.autograd.Function`` with npext's property engine.

Install with ``pip install 'npext[testing]'`` (Hypothesis and pytest come with
the extra; ``import npext`` alone never imports them). Declare your Function
once, and ``property_tests`` turns the declaration into one pytest test per
property::

    import torch
    from hypothesis import strategies as st
    from npext.testing import Case, FunctionUnderTest, float_tensors, property_tests

    @st.composite
    def cumsum_cases(draw, *, dtypes=(torch.float32, torch.float64), **options):
        shape = draw(st.tuples(st.integers(1, 6), st.integers(1, 6)), label="shape")
        dtype = draw(st.sampled_from(dtypes), label="dtype")
        x = draw(float_tensors(shape, dtype=dtype), label="x")
        return Case(args=(x,), grad_output=draw(float_tensors(shape, dtype=dtype), label="grad_output"))

    CUMSUM = FunctionUnderTest(
        name="NumpyCumsum",
        apply=NumpyCumsum.apply,              # your Function
        cases=cumsum_cases,
        oracle=lambda x: torch.cumsum(x, 0),  # the same map in plain torch
    )

    test_numpy_cumsum = property_tests(CUMSUM)

A Function of several outputs returns a tuple (and so does the oracle);
its case's ``grad_output`` is then a tuple with ``None`` for each output
that is not differentiable (indices). Declare ``modifies=(0,)`` for a
Function that writes its first argument in place, ``supports_broadcasting``
for one that broadcasts its arguments, ``output_names`` for reports.

What runs (``npext.testing.properties`` has the details of each):

* each output's shape, dtype and values against the oracle, evaluated in
  float64 on each case (integer outputs exactly); which outputs require grad;
* every gradient against the oracle's, in its input's dtype, at a tolerance
  derived from the dtype and what each element sums (``default_tolerance``),
  through all outputs and through each alone, also with only some
  arguments requiring grad; gradcheck;
* defaults left out against passed, broadcast arguments' gradients summed
  back (``supports_broadcasting``);
* second derivatives with gradgradcheck if you declare
  ``supports_gradgrad=True``, and otherwise a check that differentiating
  twice raises (``@once_differentiable``) instead of silently giving zeros;
* forward-mode AD in gradcheck and gradgradcheck if you declare
  ``supports_forward_ad=True``, and otherwise a check that torch refuses it;
* non-contiguous inputs and grad_outputs, inputs never written to (or, with
  ``modifies``, written and returned as torch expects), gradients that
  share no memory with grad_output, the inputs or each other;
* ``torch.func.vmap`` (every in_dims, nested), vmap over vjp and jvp, and
  jacrev / jacfwd against the oracle, if you declare ``supports_vmap=True``;
* ``torch.compile(fullgraph=True, dynamic=True)`` and FakeTensorMode if you
  declare ``supports_compile=True``.

A property that does not apply is reported SKIPPED with the flag that rules
it out. A failure prints Hypothesis' minimal example (``Draw 1 (case): ...``)
and says which output or gradient differs (``gradient of argument 0 (x)``,
``output 1 (indices)``), where, by how much, and how many times the allowed
error that is. Before any property runs, the declaration is checked on the
case (``check_declaration``): a broken one raises ``DeclarationError``,
naming the field at fault, and ``hunt`` raises it rather than count a catch.

To see that the properties catch the mistakes you fear, write a wrong
version and ``hunt`` it: ``hunt(CUMSUM.with_apply(Wrong.apply),
"gradients_match_oracle").caught``.

Names:

* declaring: ``FunctionUnderTest``, ``Case``, ``check_declaration``,
  ``DeclarationError``;
* running: ``property_tests``, ``hunt`` (-> ``Hunt``);
* the properties: ``PROPERTIES``, ``Property``, ``properties_for``,
  ``all_properties``;
* tolerances: ``default_tolerance`` (a ``Bound``) and the helpers that
  compose it, ``scaled``, ``normwise``, ``plus``, ``accumulates_in_half``;
  ``sum_tolerance``, ``eps``; ``expect``
  (the oracle's answer and allowed error for a case), ``margins`` (how close
  passing results came to their bound);
* strategies: ``float_tensors``, ``grid_tensors`` (exact sums at any size),
  ``float_dtypes``, ``layouts``, ``shapes``, ``with_layout``, ``FLOAT_DTYPES``,
  ``GRID_STEP``, ``LAYOUTS``;
* for writing properties of your own: ``leaves``, ``output_and_grads``,
  ``assert_matches``, ``assert_within``, ``promoted_dtype``, ``tensor_args``,
  ``as_double``, ``over_tensors``, ``inner``.
"""

from .calls import as_double, inner, leaves, output_and_grads, over_tensors, promoted_dtype, tensor_args
from .entry import Case, DeclarationError, FunctionUnderTest, check_declaration
from .oracle import Expected, assert_within, expect, margins
from .properties import PROPERTIES, Property, all_properties, assert_matches, properties_for
from .runner import HUNT_EXAMPLES, Hunt, hunt, property_tests
from .strategies import (
    FLOAT_DTYPES,
    GRID_STEP,
    LAYOUTS,
    float_dtypes,
    float_tensors,
    grid_tensors,
    layouts,
    shapes,
    with_layout,
)
from .tolerance import Bound, accumulates_in_half, default_tolerance, eps, normwise, plus, scaled, sum_tolerance

__all__ = [
    "FLOAT_DTYPES",
    "GRID_STEP",
    "HUNT_EXAMPLES",
    "LAYOUTS",
    "PROPERTIES",
    "Bound",
    "Case",
    "DeclarationError",
    "Expected",
    "FunctionUnderTest",
    "Hunt",
    "Property",
    "accumulates_in_half",
    "all_properties",
    "as_double",
    "assert_matches",
    "assert_within",
    "check_declaration",
    "default_tolerance",
    "eps",
    "expect",
    "float_dtypes",
    "float_tensors",
    "grid_tensors",
    "hunt",
    "inner",
    "layouts",
    "leaves",
    "margins",
    "normwise",
    "output_and_grads",
    "over_tensors",
    "plus",
    "promoted_dtype",
    "properties_for",
    "property_tests",
    "scaled",
    "shapes",
    "sum_tolerance",
    "tensor_args",
    "with_layout",
]
