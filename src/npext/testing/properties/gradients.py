"""Properties of the derivatives: first order against the oracle, second order, forward mode, defaults, broadcasting."""

from __future__ import annotations

import itertools

import torch
from torch.autograd import gradcheck, gradgradcheck

from ..calls import (
    call_entry,
    differentiable_outputs,
    differentiable_positions,
    entry_output_and_grads,
    entry_over_tensors,
    grad_outputs_of,
    gradient_label,
    grads_of,
    is_differentiable,
    leaves,
    output_label,
)
from ..entry import Case, DeclarationError, case_kwargs, positional_parameters
from ..oracle import check_gradient, check_output, expect

# gradcheck compares finite differences of every input element; above this
# many elements its fast mode (one random projection) keeps the cost flat.
GRADCHECK_FAST_MODE_FROM = 48


def _fast_mode(tensors) -> bool:
    return sum(a.numel() for a in tensors) >= GRADCHECK_FAST_MODE_FROM


def _check_shape_and_dtype(entry, grad, arg, what):
    assert grad.shape == arg.shape, f"{entry.name}: {what} has shape {tuple(grad.shape)}, input {tuple(arg.shape)}"
    assert grad.dtype == arg.dtype, f"{entry.name}: {what} is {grad.dtype}, input {arg.dtype}"


def gradients_match_oracle(entry, case):
    """Every gradient equals the oracle's, in its input's dtype, at that dtype's precision.

    Through all the differentiable outputs together and, for a Function of
    several, through each one alone: a backward that ignores one of its
    grad_outputs, or mixes them up, passes neither. The tolerance comes from
    the entry (by default a bound per element), so a 1e-5 relative error in a
    float64 gradient fails, where gradcheck's rtol of 1e-3 lets it through.
    """
    kwargs = case_kwargs(case)
    expected = expect(entry, case)
    _, grads = entry_output_and_grads(entry, case.args, case.grad_output, kwargs)
    args = [case.args[i] for i in differentiable_positions(case.args)]
    for j, (arg, grad) in enumerate(zip(args, grads, strict=True)):
        what = gradient_label(entry, case.args, j)
        _check_shape_and_dtype(entry, grad, arg, what)
        check_gradient(entry, grad, expected, j, case.args, what)
    grad_outputs = grad_outputs_of(case.grad_output)
    differentiable = differentiable_outputs(grad_outputs)
    if len(differentiable) < 2:
        return
    for k in differentiable:
        alone = tuple(g if i == k else None for i, g in enumerate(grad_outputs))
        _, grads = entry_output_and_grads(entry, case.args, alone, kwargs)
        through = f"through {output_label(entry, k, len(grad_outputs))} alone"
        for j, grad in enumerate(grads):
            check_gradient(
                entry, grad, expected, j, case.args, f"{gradient_label(entry, case.args, j)} {through}", output=k
            )


def gradients_of_only_the_arguments_that_ask(entry, case):
    """With only some arguments requiring grad, each that does gets the oracle's gradient.

    The usual case (an input that is data, a frozen parameter): every
    non-empty proper subset of the tensor arguments is tried. Catches a
    backward that mixes up ``ctx.needs_input_grad`` or returns gradients out
    of place.
    """
    kwargs = case_kwargs(case)
    positions = differentiable_positions(case.args)
    expected = expect(entry, case)
    grad_outputs = grad_outputs_of(case.grad_output)
    for size in range(1, len(positions) + 1):
        for wanted in itertools.combinations(range(len(positions)), size):
            chosen = {positions[i] for i in wanted}
            inputs = [
                a.detach().clone().requires_grad_(i in chosen) if is_differentiable(a) else a
                for i, a in enumerate(case.args)
            ]
            outputs = call_entry(entry, inputs, kwargs)
            grads = grads_of(outputs, [inputs[positions[i]] for i in wanted], grad_outputs)
            for i, grad in zip(wanted, grads, strict=True):
                what = f"{gradient_label(entry, case.args, i)} (only {len(wanted)} of {len(positions)} require grad)"
                _check_shape_and_dtype(entry, grad, case.args[positions[i]], what)
                check_gradient(entry, grad, expected, i, case.args, what)


def _differentiable_function(entry, case, dtype=torch.float64):
    """(f, inputs): f of the differentiable arguments, returning the differentiable outputs (leaves of dtype)."""
    args = leaves(case.args, dtype)
    return entry_over_tensors(entry, args, case_kwargs(case), differentiable_outputs(case.grad_output))


def gradcheck_float64(entry, case):
    """torch.autograd.gradcheck on every tensor input, with undefined grads, grad dtypes and forward AD.

    Forward AD is checked where the entry declares ``supports_forward_ad``.
    gradcheck's check_batched_grad / check_batched_forward_grad use the
    legacy torch._vmap_internals vmap, which never consults a Function's
    vmap rule, so no NumPy-backed Function can pass them;
    ``batched_vjp_matches_loop`` and ``batched_jvp_matches_loop`` check the
    same things with torch.func.vmap.
    """
    f, inputs = _differentiable_function(entry, case)
    assert gradcheck(
        f,
        inputs,
        check_forward_ad=entry.supports_forward_ad,
        check_undefined_grad=True,
        check_grad_dtypes=True,
        check_batched_grad=False,
        fast_mode=_fast_mode(inputs),
    )


def _grad_outputs64(case) -> tuple:
    return tuple(
        g.double().detach().clone().requires_grad_() for g in grad_outputs_of(case.grad_output) if g is not None
    )


def second_derivatives(entry, case):
    """gradgradcheck, with respect to the inputs and grad_output (forward-over-reverse too with forward AD)."""
    f, inputs = _differentiable_function(entry, case)
    # Always fast mode: slow mode differentiates the backward numerically once per
    # element of the inputs and grad_output (hundreds of backward calls on an 8x8
    # case, 3.5x the time); one random projection u'Jv of a wrong second
    # derivative is nonzero with probability one, and first derivatives keep
    # their sharp checks (the oracles, slow gradcheck on small inputs).
    assert gradgradcheck(f, inputs, _grad_outputs64(case), check_fwd_over_rev=entry.supports_forward_ad, fast_mode=True)


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
    f, inputs = _differentiable_function(entry, case)
    outputs = f(*inputs)
    try:
        grads = torch.autograd.grad(outputs, inputs, _grad_outputs64(case), create_graph=True)
    except RuntimeError as error:
        raise AssertionError(
            f"{entry.name}: the first-order backward fails under create_graph=True ({error}); "
            "a NumPy backward needs @torch.autograd.function.once_differentiable"
        ) from error
    silent = [gradient_label(entry, case.args, i) for i, g in enumerate(grads) if not g.requires_grad]
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


def forward_ad_raises(entry, case):
    """A Function without forward AD must refuse it, not give unchecked tangents.

    torch refuses for a Function without a ``jvp`` staticmethod ("must
    implement the jvp function") or without ``setup_context``. A Function
    whose jvp runs although the entry declares ``supports_forward_ad=False``
    fails: declare it, and the forward-AD properties check the tangents.
    """
    f, primals = _differentiable_function(entry, case)
    primals = tuple(p.detach() for p in primals)
    tangents = tuple(torch.ones_like(p) for p in primals)
    try:
        torch.func.jvp(f, primals, tangents)
    except (RuntimeError, NotImplementedError):
        return
    raise AssertionError(
        f"{entry.name}: forward-mode AD ran although the entry declares supports_forward_ad=False; "
        "declare supports_forward_ad=True so that its tangents are checked"
    )


# ---------------------------------------------------------------- defaults and broadcasting


def _defaulted(entry, case) -> list:
    """The positional parameters after the case's args that have defaults (and are not passed by keyword)."""
    kwargs = case_kwargs(case)
    return [
        p
        for p in positional_parameters(entry.apply)[len(case.args) :]
        if p.default is not p.empty and p.name not in kwargs
    ]


def has_default_arguments(entry) -> str | None:
    """Why ``default_arguments_match_explicit`` does not apply (no parameter with a default), or None."""
    if any(p.default is not p.empty for p in positional_parameters(entry.apply)):
        return None
    return f"{entry.name}'s forward has no parameter with a default; default_arguments_match_explicit needs one"


def default_arguments_match_explicit(entry, case):
    """Leaving a defaulted argument out gives exactly what passing its default gives: outputs and gradients.

    The Function is called with the case's arguments (the defaults of the
    rest left out) and again with every default passed explicitly: a
    ``setup_context`` or backward that reads ``inputs`` as if every argument
    were passed, or that assumes another default than ``forward``'s, gives
    different gradients. Where the case passes every argument, the trailing
    ones equal to their defaults are left out instead.
    """
    kwargs = case_kwargs(case)
    parameters = positional_parameters(entry.apply)
    explicit = list(case.args) + [p.default for p in _defaulted(entry, case)]
    short = list(case.args)
    if len(explicit) == len(short):  # every argument passed: drop the trailing ones equal to their defaults
        while short and len(short) <= len(parameters) and _is_default(parameters[len(short) - 1], short[-1]):
            short.pop()
    if len(short) == len(explicit):
        return  # nothing is left to its default on this case (the strategy decides how often that is)
    out_short, grads_short = entry_output_and_grads(entry, short, case.grad_output, kwargs)
    out_full, grads_full = entry_output_and_grads(entry, explicit, case.grad_output, kwargs)
    left_out = ", ".join(p.name for p in parameters[len(short) : len(explicit)])
    for k, (a, b) in enumerate(zip(out_short, out_full, strict=True)):
        assert torch.equal(a, b), (
            f"{entry.name}: {output_label(entry, k, len(out_full))} with {left_out} left to its default "
            "differs from passing the default explicitly"
        )
    for j, (a, b) in enumerate(zip(grads_short, grads_full, strict=False)):
        assert torch.equal(a, b), (
            f"{entry.name}: {gradient_label(entry, case.args, j)} with {left_out} left to its default "
            "differs from passing the default explicitly"
        )


def _is_default(parameter, value) -> bool:
    if parameter.default is parameter.empty or isinstance(value, torch.Tensor):
        return False
    try:
        return bool(value == parameter.default) and type(value) is type(parameter.default)
    except Exception:  # a value that does not compare: not a default
        return False


def _broadcast_variants(args):
    """Each differentiable argument in turn cut to a shape that broadcasts to the others'.

    Every differentiable argument is first expanded to the broadcast shape
    (a copy), so the output keeps its shape whatever is cut; then each is cut
    to size 1 in the first dimension of size 2 or more, and, separately, has
    its first dimension dropped. Yields (position, how, args).
    """
    positions = differentiable_positions(args)
    shape = torch.broadcast_shapes(*[args[i].shape for i in positions])
    full = [a.expand(shape).clone() if i in positions else a for i, a in enumerate(args)]
    wide = next((d for d, size in enumerate(shape) if size >= 2), None)
    for i in positions:
        cuts = []
        if wide is not None:
            cuts.append((full[i].narrow(wide, 0, 1), f"size 1 in dimension {wide}"))
        if len(shape) >= 1:
            cuts.append((full[i][0], "dimension 0 dropped"))
        for cut, how in cuts:
            yield i, how, tuple(cut if p == i else a for p, a in enumerate(full))


def broadcasting_matches_oracle(entry, case):
    """With one argument cut to a broadcastable shape, the outputs and gradients still match the oracle.

    For a Function that broadcasts its tensor arguments like torch (declared
    with ``supports_broadcasting=True``): with the others at the full
    broadcast shape, each argument in turn is cut to size 1 in a dimension
    and, separately, loses its first dimension; the gradient of the cut
    argument must have its shape and be the oracle's: the broadcast gradient
    summed back over the broadcast dimensions, not averaged, not summed over
    another one. (A 0-d broadcast shape leaves nothing to cut.)
    """
    kwargs = case_kwargs(case)
    if len(differentiable_positions(case.args)) < 2:
        raise DeclarationError(
            f"{entry.name} declares supports_broadcasting=True, but its case has "
            f"{len(differentiable_positions(case.args))} floating tensor argument(s): broadcasting needs two or more "
            "to broadcast against each other"
        )
    for i, label, args in _broadcast_variants(case.args):
        expected = expect(entry, Case(args, case.grad_output, kwargs))
        outputs, grads = entry_output_and_grads(entry, args, case.grad_output, kwargs)
        name = entry.argument_label(i, len(args))
        for k, out in enumerate(outputs):
            check_output(entry, out, expected, k, args, f"{output_label(entry, k, len(outputs))} ({name}: {label})")
        positions = differentiable_positions(args)
        for j, grad in enumerate(grads):
            what = f"{gradient_label(entry, args, j)} ({name}: {label})"
            _check_shape_and_dtype(entry, grad, args[positions[j]], what)
            check_gradient(entry, grad, expected, j, args, what)
