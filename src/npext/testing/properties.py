"""The generic properties: plain checks of one Function on one case.

Each check is ``check(entry, case)``: it raises AssertionError (or the error
torch raises) when the Function in ``entry`` breaks the property on
``case``, and returns None otherwise. ``property_tests`` runs them as
Hypothesis tests; ``hunt`` runs one against a (wrong) Function until it
fails; you can also call one directly on a case of your own.

A ``Property`` pairs a check with the flags it needs
(``requires={"supports_vmap": True}``): where an entry's flags differ, the
property is skipped with a reason that names the flag, never dropped
silently. ``PROPERTIES`` is the table, in the order they run. A new
generic property is one more ``Property`` in it, with the flags it needs:
the torch.compile properties will be ``Property(name, check,
requires={"supports_compile": True})``, skipped for every entry that does
not declare ``supports_compile=True``. To try one without changing the
table, pass ``property_tests(entry, properties=PROPERTIES + (mine,))``;
a law of one Function goes in its entry's ``extra_properties``.

What each catches, in short (each is shown able to fail, on npext's
catalogue of wrong Functions or on the wrong versions of a user's cumsum
and matmul in npext's tests):

=====================================  ======================================================
output_shape                           'same' / 'full' mode mix-ups, a lost dimension
output_dtype                           a hard-coded float32, a forgotten promotion
forward_matches_oracle                 forward bugs whose gradients agree with them
gradients_match_oracle                 wrong gradients; lost precision (a tolerance derived
                                       from the dtype, far tighter than gradcheck's)
gradients_of_only_the_arguments_...    gradients mixed up when only some inputs require grad
gradcheck_float64                      any first-order error, in both AD modes
second_derivatives                     a backward that is not itself differentiable
double_backward_raises                 (once-differentiable Functions) silently zero
                                       second derivatives
forward_ad_raises                      (Functions without forward AD) unchecked tangents
noncontiguous_matches_contiguous       memory read as if it were contiguous
inputs_unmodified                      inputs or grad_output written to in place
vmap_matches_loop                      a wrong vmap rule (batch dimension, out_dims)
batched_vjp_matches_loop               a backward that breaks under vmap
batched_jvp_matches_loop               a jvp that breaks under vmap
jacobians_match_oracle                 wrong jvp or vjp, seen through jacrev / jacfwd
=====================================  ======================================================
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from torch.autograd import gradcheck, gradgradcheck
from torch.testing import assert_close

from .compile import compiled_matches_eager, fake_tensor_propagation, no_graph_breaks

# gradcheck compares finite differences of every input element; above this
# many elements its fast mode (one random projection) keeps the cost flat.
GRADCHECK_FAST_MODE_FROM = 48


@dataclass(frozen=True, eq=False)
class Property:
    """A named check and the flag values it needs.

    ``check(entry, case)`` raises when ``entry`` breaks the property on
    ``case``. ``requires`` maps ``FunctionUnderTest`` flag names to the value
    the property needs, e.g. ``{"supports_gradgrad": True}``; an entry whose
    flags differ skips the property, with the reason. ``small_cases``: the
    check costs more than linearly in the case's size (finite differences,
    Jacobians, a loop per batch entry), so it draws its cases with
    ``large=False``; the others draw with ``large=True``.
    """

    name: str
    check: Callable
    requires: Mapping[str, bool] = field(default_factory=dict)
    small_cases: bool = False

    def __repr__(self) -> str:
        return f"Property({self.name!r})"

    def __call__(self, entry, case) -> None:
        self.check(entry, case)

    def skip_reason(self, entry) -> str | None:
        """Why this property does not apply to ``entry`` (naming the flag), or None if it does."""
        unmet = [(flag, needed) for flag, needed in self.requires.items() if bool(getattr(entry, flag)) != needed]
        if not unmet:
            return None
        declared = ", ".join(f"{flag}={getattr(entry, flag)}" for flag, _ in unmet)
        needed = ", ".join(f"{flag}={value}" for flag, value in self.requires.items())
        return f"{entry.name} declares {declared}; {self.name} applies to {needed}"


# ---------------------------------------------------------------- helpers for writing properties


def is_differentiable(value) -> bool:
    """A real floating tensor: an argument the properties differentiate."""
    return isinstance(value, torch.Tensor) and value.dtype.is_floating_point


def tensor_args(args) -> tuple:
    """The differentiable arguments among ``args``, in order."""
    return tuple(a for a in args if is_differentiable(a))


def promoted_dtype(args) -> torch.dtype:
    """torch's type promotion of the tensor arguments' dtypes."""
    tensors = tensor_args(args)
    dtype = tensors[0].dtype
    for arg in tensors[1:]:
        dtype = torch.promote_types(dtype, arg.dtype)
    return dtype


def as_double(args) -> tuple:
    """args with every tensor cast to float64 (other arguments unchanged)."""
    return tuple(a.double() if is_differentiable(a) else a for a in args)


def leaves(args, dtype=None) -> tuple:
    """Fresh leaf copies of the tensors in args that require grad (cast to dtype if given), strides kept.

    Other arguments are passed through unchanged.
    """
    return tuple(
        (a if dtype is None else a.to(dtype)).detach().clone().requires_grad_() if is_differentiable(a) else a
        for a in args
    )


def output_and_grads(apply, args, grad_output):
    """apply(*args) and the gradients of its tensor arguments for ``grad_output``."""
    inputs = leaves(args)
    output = apply(*inputs)
    grads = torch.autograd.grad(output, tensor_args(inputs), grad_output.to(output.dtype))
    return output, grads


def over_tensors(apply, args):
    """(f, tensors): f takes only the tensor arguments, the others fixed as in args.

    torch.func's transforms (vjp, jvp, vmap, jacrev) take tensors only.
    """
    positions = [i for i, a in enumerate(args) if is_differentiable(a)]

    def f(*tensors):
        full = list(args)
        for i, t in zip(positions, tensors, strict=False):
            full[i] = t
        return apply(*full)

    return f, tuple(args[i] for i in positions)


def tolerance_for(entry, dtype, args) -> dict:
    """The entry's tolerance for a result of ``dtype`` on ``args``."""
    return entry.tolerance(dtype, *args)


def assert_matches(actual, expected, entry, args, what):
    """actual (any float dtype) against a float64 expectation, at actual's dtype's tolerance.

    The message names the entry and ``what`` ('the output', 'gradient of
    argument 1 (filter)') before assert_close's own account: how many
    elements differ, the greatest differences and what was allowed.
    """
    assert_close(
        actual.double(),
        expected.double(),
        **tolerance_for(entry, actual.dtype, args),
        msg=lambda m: f"{entry.name}: {what} differs from the oracle\n{m}",
    )


def inner(a, b) -> torch.Tensor:
    """<a, b> in float64."""
    return (a.double() * b.double()).sum()


def _oracle_gradients(entry, args, grad_output):
    exact = leaves(args, torch.float64)
    output = entry.oracle(*exact)
    return torch.autograd.grad(output, tensor_args(exact), grad_output.double())


def _argument_label(entry, args, tensor_index):
    """'argument 1 (filter)' for the tensor_index-th tensor argument."""
    position = [i for i, a in enumerate(args) if is_differentiable(a)][tensor_index]
    return entry.argument_label(position, len(args))


def _gradient_label(entry, args, tensor_index):
    return "gradient of " + _argument_label(entry, args, tensor_index)


def _fast_mode(tensors) -> bool:
    return sum(a.numel() for a in tensors) >= GRADCHECK_FAST_MODE_FROM


# ---------------------------------------------------------------- forward and first order


def output_shape(entry, case):
    """The output has the oracle's shape. Catches 'same'/'full' mix-ups."""
    output = entry.apply(*case.args)
    expected = entry.oracle(*as_double(case.args)).shape
    assert tuple(output.shape) == tuple(expected), (
        f"{entry.name}: output shape {tuple(output.shape)}, expected {tuple(expected)}"
    )


def output_dtype(entry, case):
    """The output has the promoted dtype of the tensor arguments. Catches a hard-coded float32."""
    output = entry.apply(*case.args)
    expected = promoted_dtype(case.args)
    assert output.dtype == expected, f"{entry.name}: output dtype {output.dtype}, expected {expected}"


def forward_matches_oracle(entry, case):
    """The output equals the oracle's. Catches forward bugs with consistent gradients."""
    output = entry.apply(*case.args)
    expected = entry.oracle(*as_double(case.args))
    assert output.shape == expected.shape, f"{entry.name}: shape {output.shape} vs {expected.shape}"
    assert_matches(output, expected, entry, case.args, "the output")


def gradients_match_oracle(entry, case):
    """Every gradient equals the oracle's, in its input's dtype, at that dtype's precision.

    The tolerance comes from the entry (derived from dtype and problem
    size), so a 1e-5 relative error in a float64 gradient fails, where
    gradcheck's rtol of 1e-3 lets it through.
    """
    _, grads = output_and_grads(entry.apply, case.args, case.grad_output)
    expected = _oracle_gradients(entry, case.args, case.grad_output)
    for index, (arg, grad, want) in enumerate(zip(tensor_args(case.args), grads, expected, strict=False)):
        what = _gradient_label(entry, case.args, index)
        assert grad.shape == arg.shape, f"{entry.name}: {what} has shape {tuple(grad.shape)}, input {tuple(arg.shape)}"
        assert grad.dtype == arg.dtype, f"{entry.name}: {what} is {grad.dtype}, input {arg.dtype}"
        assert_matches(grad, want, entry, case.args, what)


def gradients_of_only_the_arguments_that_ask(entry, case):
    """With only some arguments requiring grad, each that does gets the oracle's gradient.

    The usual case (an input that is data, a frozen parameter): every
    non-empty subset of the tensor arguments is tried. Catches a backward
    that mixes up ``ctx.needs_input_grad`` or returns gradients out of place.
    """
    tensor_positions = [i for i, a in enumerate(case.args) if is_differentiable(a)]
    expected = _oracle_gradients(entry, case.args, case.grad_output)
    for size in range(1, len(tensor_positions) + 1):
        for wanted in itertools.combinations(range(len(tensor_positions)), size):
            chosen = {tensor_positions[i] for i in wanted}
            inputs = [
                a.detach().clone().requires_grad_(i in chosen) if is_differentiable(a) else a
                for i, a in enumerate(case.args)
            ]
            output = entry.apply(*inputs)
            grads = torch.autograd.grad(
                output, [inputs[tensor_positions[i]] for i in wanted], case.grad_output.to(output.dtype)
            )
            for i, grad in zip(wanted, grads, strict=False):
                arg = case.args[tensor_positions[i]]
                label = _gradient_label(entry, case.args, i)
                what = f"{label} (only {len(wanted)} of {len(tensor_positions)} require grad)"
                assert grad.dtype == arg.dtype and grad.shape == arg.shape, (
                    f"{entry.name}: {what} is {grad.dtype} {tuple(grad.shape)}, input {arg.dtype} {tuple(arg.shape)}"
                )
                assert_matches(grad, expected[i], entry, case.args, what)


def gradcheck_float64(entry, case):
    """torch.autograd.gradcheck on every tensor input, with undefined grads, grad dtypes and forward AD.

    Forward AD is checked where the entry declares ``supports_forward_ad``.
    gradcheck's check_batched_grad / check_batched_forward_grad use the
    legacy torch._vmap_internals vmap, which never consults a Function's
    vmap rule, so no NumPy-backed Function can pass them;
    ``batched_vjp_matches_loop`` and ``batched_jvp_matches_loop`` check the
    same things with torch.func.vmap.
    """
    f, inputs = over_tensors(entry.apply, leaves(case.args, torch.float64))
    assert gradcheck(
        f,
        inputs,
        check_forward_ad=entry.supports_forward_ad,
        check_undefined_grad=True,
        check_grad_dtypes=True,
        check_batched_grad=False,
        fast_mode=_fast_mode(inputs),
    )


# ---------------------------------------------------------------- second order


def second_derivatives(entry, case):
    """gradgradcheck, with respect to the inputs and grad_output (forward-over-reverse too with forward AD)."""
    f, inputs = over_tensors(entry.apply, leaves(case.args, torch.float64))
    (grad_output,) = leaves((case.grad_output,), torch.float64)
    # Always fast mode: slow mode differentiates the backward numerically once per
    # element of the inputs and grad_output (hundreds of backward calls on an 8x8
    # case, 3.5x the time); one random projection u'Jv of a wrong second
    # derivative is nonzero with probability one, and first derivatives keep
    # their sharp checks (the oracles, slow gradcheck on small inputs).
    assert gradgradcheck(f, inputs, (grad_output,), check_fwd_over_rev=entry.supports_forward_ad, fast_mode=True)


def double_backward_raises(entry, case):
    """A Function without second derivatives must say so when differentiated twice.

    The first-order gradient, taken with ``create_graph=True`` and a
    grad_output that requires grad (a gradient penalty does this), must
    work; differentiating it again must raise. A NumPy backward without
    ``@once_differentiable`` fails here: its gradient does not require grad,
    so every second derivative through it is silently zero. (The decorator
    adds its error node only where grad_output requires grad, hence
    grad_output does here.)
    """
    inputs = leaves(case.args, torch.float64)
    (grad_output,) = leaves((case.grad_output,), torch.float64)
    tensors = tensor_args(inputs)
    output = entry.apply(*inputs)
    try:
        grads = torch.autograd.grad(output, tensors, grad_output, create_graph=True)
    except RuntimeError as error:
        raise AssertionError(
            f"{entry.name}: the first-order backward fails under create_graph=True ({error}); "
            "a NumPy backward needs @torch.autograd.function.once_differentiable"
        ) from error
    silent = [_gradient_label(entry, case.args, i) for i, g in enumerate(grads) if not g.requires_grad]
    assert not silent, (
        f"{entry.name}: {', '.join(silent)} does not require grad under create_graph=True, so its "
        "second derivatives are silently zero; decorate the backward with "
        "@torch.autograd.function.once_differentiable (or make it differentiable and declare "
        "supports_gradgrad=True)"
    )
    total = sum(g.double().sum() for g in grads)
    try:
        # backward(), not autograd.grad(..., inputs): once_differentiable's
        # error node leads to a detached leaf of its own, which autograd.grad
        # prunes from the graph, so only a full backward reaches it
        total.backward()
    except RuntimeError:
        return
    raise AssertionError(
        f"{entry.name}: double backward ran although the entry declares supports_gradgrad=False; "
        "declare supports_gradgrad=True so that second_derivatives checks it"
    )


# ---------------------------------------------------------------- forward AD


def forward_ad_raises(entry, case):
    """A Function without forward AD must refuse it, not give unchecked tangents.

    torch refuses for a Function without a ``jvp`` staticmethod ("must
    implement the jvp function") or without ``setup_context``. A Function
    whose jvp runs although the entry declares ``supports_forward_ad=False``
    fails: declare it, and the forward-AD properties check the tangents.
    """
    f, primals = over_tensors(entry.apply, as_double(case.args))
    tangents = tuple(torch.ones_like(p) for p in primals)
    try:
        torch.func.jvp(f, primals, tangents)
    except (RuntimeError, NotImplementedError):
        return
    raise AssertionError(
        f"{entry.name}: forward-mode AD ran although the entry declares supports_forward_ad=False; "
        "declare supports_forward_ad=True so that its tangents are checked"
    )


# ---------------------------------------------------------------- memory


def noncontiguous_matches_contiguous(entry, case):
    """Strided and transposed inputs give what their contiguous copies give.

    (Draw inputs with ``float_tensors(..., layout=layouts())`` for this to
    bite: a contiguous input is its own copy.)
    """
    contiguous = tuple(a.contiguous() if is_differentiable(a) else a for a in case.args)
    out, grads = output_and_grads(entry.apply, case.args, case.grad_output)
    out_c, grads_c = output_and_grads(entry.apply, contiguous, case.grad_output)
    tol = tolerance_for(entry, out.dtype, case.args)
    assert_close(out, out_c, **tol, msg=lambda m: f"{entry.name}: output depends on layout\n{m}")
    for index, (g, g_c) in enumerate(zip(grads, grads_c, strict=False)):
        assert_close(
            g,
            g_c,
            **tolerance_for(entry, g.dtype, case.args),
            msg=lambda m: f"{entry.name}: {_gradient_label(entry, case.args, index)} depends on layout\n{m}",
        )


def inputs_unmodified(entry, case):
    """Forward and backward leave every input and grad_output exactly as they were."""
    inputs = leaves(case.args)
    grad_output = case.grad_output.clone()
    tensors = tensor_args(inputs)
    before = [a.detach().clone() for a in tensors] + [grad_output.clone()]
    output = entry.apply(*inputs)
    torch.autograd.grad(output, tensors, grad_output.to(output.dtype))
    after = [a.detach() for a in tensors] + [grad_output]
    names = [_argument_label(entry, case.args, i) for i in range(len(tensors))]
    for name, b, a in zip([*names, "grad_output"], before, after, strict=False):
        assert torch.equal(b, a), f"{entry.name}: {name} was modified in place"


# ---------------------------------------------------------------- torch.func


def _batch_of(tensor):
    """Three different entries built from one tensor (keeps bounds like |X| in fft cases)."""
    return torch.stack([tensor, -0.5 * tensor, tensor.flip(tuple(range(tensor.dim())))])


def _loop(apply, batched_args, in_dims):
    size = next(a.shape[d] for a, d in zip(batched_args, in_dims, strict=False) if d is not None)
    return torch.stack(
        [
            apply(*[a if d is None else a.select(d, i) for a, d in zip(batched_args, in_dims, strict=False)])
            for i in range(size)
        ]
    )


def vmap_matches_loop(entry, case):
    """torch.func.vmap(f) equals f over the batch, for every in_dims, and nested.

    Each tensor argument is unbatched (None) or batched at its first or its
    last dimension; then a vmap of a vmap with every tensor batched twice.
    In the case's own dtypes, mixed ones included, and bit for bit: a vmap
    rule must compute each entry exactly as the call does (the same rounding
    and the same result dtype), which a float64 copy of the case would hide.
    """
    f, args = over_tensors(entry.apply, case.args)
    for in_dims in itertools.product(*[[*sorted({0, a.dim()}), None] for a in args]):
        if all(d is None for d in in_dims):
            continue
        batched = tuple(a if d is None else _batch_of(a).movedim(0, d) for a, d in zip(args, in_dims, strict=False))
        actual = torch.func.vmap(f, in_dims=in_dims)(*batched)
        expected = _loop(f, batched, in_dims)
        assert_close(
            actual,
            expected,
            rtol=0,
            atol=0,
            msg=lambda m: f"{entry.name}: vmap with in_dims={in_dims} is not the loop\n{m}",
        )
    twice = tuple(torch.stack([_batch_of(a), _batch_of(-a)]) for a in args)
    nested = torch.func.vmap(torch.func.vmap(f))(*twice)
    expected = torch.stack([_loop(f, level, [0] * len(args)) for level in zip(*twice, strict=False)])
    assert_close(
        nested, expected, rtol=0, atol=0, msg=lambda m: f"{entry.name}: nested vmap is not the double loop\n{m}"
    )


def batched_vjp_matches_loop(entry, case):
    """vmap over grad_outputs of the vjp equals the vjp of each (check_batched_grad, on the modern vmap)."""
    f, args = over_tensors(entry.apply, as_double(case.args))
    _, vjp = torch.func.vjp(f, *args)
    grad_outputs = _batch_of(case.grad_output.double())
    actual = torch.func.vmap(vjp)(grad_outputs)
    for index in range(len(args)):
        expected = torch.stack([vjp(g)[index] for g in grad_outputs])
        assert_close(
            actual[index],
            expected,
            msg=lambda m: f"{entry.name}: batched vjp, {_gradient_label(entry, case.args, index)}\n{m}",
        )


def batched_jvp_matches_loop(entry, case):
    """vmap over tangents of the jvp equals the jvp of each (check_batched_forward_grad)."""
    f, args = over_tensors(entry.apply, as_double(case.args))

    def jvp(*tangents):
        return torch.func.jvp(f, args, tangents)[1]

    tangents = tuple(_batch_of(a).flip(0) for a in args)
    actual = torch.func.vmap(jvp)(*tangents)
    expected = _loop(jvp, tangents, [0] * len(args))
    assert_close(actual, expected, msg=lambda m: f"{entry.name}: batched jvp\n{m}")


def jacobians_match_oracle(entry, case):
    """torch.func.jacrev and jacfwd agree with each other and with the oracle's Jacobian."""
    f, args = over_tensors(entry.apply, as_double(case.args))
    oracle, _ = over_tensors(entry.oracle, as_double(case.args))
    argnums = tuple(range(len(args)))
    reverse = torch.func.jacrev(f, argnums=argnums)(*args)
    forward = torch.func.jacfwd(f, argnums=argnums)(*args)
    expected = torch.func.jacrev(oracle, argnums=argnums)(*args)
    tol = tolerance_for(entry, torch.float64, case.args)
    for index in argnums:
        what = "w.r.t. " + _argument_label(entry, case.args, index)
        assert_close(reverse[index], expected[index], **tol, msg=lambda m: f"{entry.name}: jacrev {what}\n{m}")
        assert_close(forward[index], expected[index], **tol, msg=lambda m: f"{entry.name}: jacfwd {what}\n{m}")


# ---------------------------------------------------------------- the table

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
    Property("gradients_match_oracle", gradients_match_oracle),
    Property("fake_tensor_propagation", fake_tensor_propagation, requires=_COMPILE),
    Property("gradients_of_only_the_arguments_that_ask", gradients_of_only_the_arguments_that_ask),
    Property("noncontiguous_matches_contiguous", noncontiguous_matches_contiguous),
    Property("inputs_unmodified", inputs_unmodified),
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
