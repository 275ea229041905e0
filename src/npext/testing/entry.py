"""A Function under test, declared once: ``FunctionUnderTest`` and its ``Case``.

In the manner of PyTorch's OpInfo: the declaration says what the Function
computes (a plain-torch oracle), which inputs to try (a Hypothesis strategy
of cases) and what it supports (flags); the generic properties in
``npext.testing.properties`` do the rest.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from .calls import copy_modified, differentiable_outputs, grad_outputs_of, is_differentiable
from .tolerance import default_tolerance


@dataclass(frozen=True)
class Case:
    """One input to a Function: its arguments and a grad_output.

    ``args`` are passed to ``apply`` positionally, ``kwargs`` by keyword.
    Real floating tensors among the args are differentiated; anything else
    (an int, a size, an index tensor) is passed through unchanged and never
    differentiated, and so is every keyword argument.

    ``grad_output``: for a Function of one output, a tensor of the output's
    shape. For a Function of several outputs, a tuple with one entry per
    output: a tensor of that output's shape, or ``None`` for an output that
    is not differentiable (integer or bool dtype, or marked with
    ``ctx.mark_non_differentiable``). Each is cast to its output's dtype
    before each backward.

    Any object with ``.args`` and ``.grad_output`` attributes (and
    ``.kwargs``, if it has keyword arguments) serves as a case (npext's own
    cases name their tensors: ``ConvCase(input, filter, bias,
    grad_output)``); ``Case`` is the ready-made one.
    """

    args: tuple
    grad_output: Any
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        kwargs = f", kwargs={self.kwargs!r}" if self.kwargs else ""  # most cases have none
        return f"Case(args={self.args!r}, grad_output={self.grad_output!r}{kwargs})"

    def __post_init__(self):
        object.__setattr__(self, "args", tuple(self.args))
        if isinstance(self.grad_output, list):
            object.__setattr__(self, "grad_output", tuple(self.grad_output))
        object.__setattr__(self, "kwargs", dict(self.kwargs))


def case_kwargs(case) -> dict:
    """A case's keyword arguments (none for a case object without ``kwargs``)."""
    return dict(getattr(case, "kwargs", None) or {})


@dataclass(frozen=True, eq=False)
class FunctionUnderTest:
    """One Function and everything the generic properties need to know of it.

    Four fields are required; the others have defaults.

    Required fields:
        name:       the label in test ids, reports and assertion messages.
        apply:      the Function's ``apply`` (or any callable of the case's
                    arguments that returns a tensor or a tuple of tensors).
        cases:      ``cases(**case_options)`` -> a Hypothesis strategy of cases
                    (``Case``, or anything with ``.args`` and ``.grad_output``).
                    Draw only inputs on which the Function's promises hold (for
                    example, keep away from a kink where finite differences are
                    meaningless). Give it keyword-only options with defaults and
                    ``**options``: the engine calls it with ``case_options``, and
                    your own tests may call it with options of their own.
                    The engine passes ``large=False`` for properties whose cost
                    grows faster than the case (gradcheck, Jacobians, vmap
                    loops; ``Property.small_cases``) and ``large=True`` for the
                    rest: a strategy that takes ``large`` may then draw a share
                    of big inputs, where size-dependent bugs live (a method
                    switch, blocking). Ignoring it is fine.
        oracle:     the same map in plain torch, differentiable by torch's
                    autograd and by ``torch.func``, returning what ``apply``
                    returns (the same number of outputs). It is evaluated in
                    float64 on each case: its outputs give the expected shapes
                    and values (integer outputs, such as indices, are compared
                    exactly), its gradients the expected gradients. For an
                    in-place Function it is the out-of-place map.

    Optional fields:
        tolerance:  how far a result may be from the oracle's. Default:
                    ``default_tolerance``, a bound per element derived from what
                    that element sums (read ``npext.testing.tolerance``);
                    ``scaled(k)`` multiplies it (a condition number, a
                    long chain of products). Or your own
                    ``tolerance(dtype, *args)`` -> ``dict(rtol=, atol=)`` for a
                    result of ``dtype`` on the case's ``args``.
        supports_gradgrad:  the backward is itself differentiable:
                    ``second_derivatives`` runs gradgradcheck. False (default):
                    ``double_backward_raises`` checks that differentiating the
                    gradient raises an error instead of returning silently wrong
                    (zero) second derivatives: decorate a NumPy backward with
                    ``torch.autograd.function.once_differentiable``.
        supports_forward_ad:  the Function has a ``jvp`` staticmethod: gradcheck
                    checks forward AD, gradgradcheck forward-over-reverse, and the
                    jvp properties run. False (default): ``forward_ad_raises``
                    checks that forward-mode AD raises an error (torch does, for a
                    Function without ``jvp``) instead of giving unchecked tangents.
        supports_vmap:  the Function has a ``vmap`` staticmethod (or
                    ``generate_vmap_rule``) and works under ``torch.func``: the
                    vmap, batched-vjp/jvp and Jacobian properties run. False
                    (default): they are skipped, with the reason.
        supports_compile:  the Function works under ``torch.compile`` and
                    FakeTensorMode: ``fake_tensor_propagation``, ``no_graph_breaks``
                    and ``compiled_matches_eager`` run. False (default): they are
                    skipped, with the reason.
        supports_broadcasting:  the Function broadcasts its tensor arguments
                    against each other as torch does (``x * y``):
                    ``broadcasting_matches_oracle`` also calls it with each
                    argument cut to a broadcastable shape and checks that its
                    gradient is summed back to that shape. False (default):
                    skipped.
        modifies:   the positions of the arguments the Function writes in place
                    (``ctx.mark_dirty``), e.g. ``(0,)``: the engine passes a copy
                    of each, and ``modifies_its_arguments_in_place`` checks that
                    the result *is* that argument, written with the oracle's
                    values. Without it, ``inputs_unmodified`` fails a Function
                    that writes an argument.
        output_names:  names of the outputs of a Function of several outputs,
                    for reports: ``("values", "indices")`` gives
                    ``output 1 (indices)``.
        extra_properties:  ``Property`` objects for laws of this Function only
                    (an adjoint identity, an invariance); run after the generic
                    ones, under the same rules.
        case_options:  keyword options for every call of ``cases``.
    """

    name: str
    apply: Callable[..., torch.Tensor]
    cases: Callable[..., Any]
    oracle: Callable[..., torch.Tensor]
    tolerance: Callable[..., dict] = default_tolerance
    supports_gradgrad: bool = False
    supports_forward_ad: bool = False
    supports_vmap: bool = False
    supports_compile: bool = False
    supports_broadcasting: bool = False
    modifies: tuple = ()
    output_names: tuple = ()
    extra_properties: tuple = ()
    case_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        for name in ("name", "apply", "cases", "oracle"):
            if getattr(self, name) is None:
                raise ValueError(f"FunctionUnderTest needs {name}")
        if not callable(self.apply) or not callable(self.cases) or not callable(self.oracle):
            raise TypeError(f"{self.name}: apply, cases and oracle must be callable")
        object.__setattr__(self, "extra_properties", tuple(self.extra_properties))
        object.__setattr__(self, "output_names", tuple(self.output_names))
        modifies = (self.modifies,) if isinstance(self.modifies, int) else tuple(self.modifies)
        if any(isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in modifies):
            raise TypeError(f"{self.name}: modifies must be argument positions (ints >= 0), got {self.modifies!r}")
        object.__setattr__(self, "modifies", modifies)

    def __repr__(self) -> str:
        return f"FunctionUnderTest({self.name!r})"

    def with_apply(self, apply: Callable[..., torch.Tensor], name: str | None = None) -> FunctionUnderTest:
        """The same declaration for another implementation (a wrong version, to hunt)."""
        return replace(self, apply=apply, name=name or self.name)

    def case_strategy(self, **options):
        """The strategy of this entry's cases: ``cases(**case_options, **options)``."""
        return self.cases(**{**self.case_options, **options})

    def argument_label(self, index: int, n_args: int) -> str:
        """'argument 1 (filter)': the position, and the name where the signature tells it."""
        names = [p.name for p in positional_parameters(self.apply)]
        return f"argument {index} ({names[index]})" if len(names) >= n_args else f"argument {index}"


def positional_parameters(apply) -> list:
    """The positional parameters of apply, read from the Function's forward (``ctx`` dropped).

    ``Function.apply`` is bound to its class: the parameters come from
    ``forward``. Empty where the signature cannot be read.
    """
    owner = getattr(apply, "__self__", None)
    target = owner.forward if isinstance(owner, type) and issubclass(owner, torch.autograd.Function) else apply
    try:
        parameters = list(inspect.signature(target).parameters.values())
    except (TypeError, ValueError):
        return []
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    parameters = [p for p in parameters if p.kind in kinds]
    if parameters and parameters[0].name == "ctx" and target is not apply:
        parameters = parameters[1:]
    return parameters


# ---------------------------------------------------------------- the declaration check


class DeclarationError(TypeError):
    """The declaration itself is broken (a case, a grad_output, the oracle or apply): not a bug the properties found.

    ``hunt`` raises it instead of counting it as a catch.
    """


_declarations_checked = weakref.WeakSet()


def _kind(dtype) -> str:
    return "complex" if dtype.is_complex else "real"


def check_declaration(entry, case) -> None:
    """Check a case, and on an entry's first case the oracle and apply, against the declaration.

    Raises ``DeclarationError`` naming the field at fault and what was
    expected: a strategy that yields no case, a grad_output that does not
    match the oracle's outputs in number or shape, an oracle or an apply that
    returns no tensors, or a different number of outputs (or real where the
    other is complex). A wrong value, shape or dtype of ``apply``'s outputs
    is the Function's bug, not the declaration's: the properties report it.
    """
    name = entry.name
    if not hasattr(case, "args") or not hasattr(case, "grad_output"):
        raise DeclarationError(
            f"{name}: cases must draw Case objects (or objects with .args and .grad_output), "
            f"got {type(case).__name__}: {_short(case)}"
        )
    if not isinstance(case.args, tuple | list):
        raise DeclarationError(f"{name}: a case's args must be a tuple, got {type(case.args).__name__}")
    grad_outputs = grad_outputs_of(case.grad_output)
    for k, g in enumerate(grad_outputs):
        if g is not None and not isinstance(g, torch.Tensor):
            raise DeclarationError(
                f"{name}: a case's grad_output must be a tensor, or a tuple of tensors and None (one per output); "
                f"entry {k} is {type(g).__name__}"
            )
    kwargs = case_kwargs(case)
    args64 = tuple(a.double() if is_differentiable(a) else a for a in case.args)
    with torch.no_grad():
        try:
            expected = entry.oracle(*args64, **kwargs)
        except Exception as error:
            raise DeclarationError(f"{name}: the oracle fails on the case: {type(error).__name__}: {error}") from error
    expected = _tensors_or_raise(name, "oracle", expected)
    if len(expected) != len(grad_outputs):
        raise DeclarationError(
            f"{name}: the oracle returns {len(expected)} output(s) but the case's grad_output has "
            f"{len(grad_outputs)} entr{'y' if len(grad_outputs) == 1 else 'ies'}: give one per output "
            "(None for an output that is not differentiable)"
        )
    for k, (out, g) in enumerate(zip(expected, grad_outputs, strict=True)):
        where = f"grad_output {k}" if len(expected) > 1 else "grad_output"
        if g is None:
            continue
        if not (out.dtype.is_floating_point or out.dtype.is_complex):
            raise DeclarationError(
                f"{name}: the case gives a {where} for output {k}, which the oracle returns as {out.dtype}: "
                "an integer or bool output is not differentiable; give None for it"
            )
        if tuple(g.shape) != tuple(out.shape):
            output = f"output {k}" if len(expected) > 1 else "output"
            raise DeclarationError(
                f"{name}: the case's {where} has shape {tuple(g.shape)} but the oracle's {output} has shape "
                f"{tuple(out.shape)}: a grad_output has its output's shape, so the cases strategy or the oracle "
                "is wrong"
            )
    if not differentiable_outputs(grad_outputs):
        raise DeclarationError(f"{name}: the case's grad_output is None for every output: nothing to differentiate")
    if entry in _declarations_checked:
        return
    with torch.no_grad():
        try:
            result = entry.apply(*copy_modified(case.args, entry.modifies), **kwargs)
        except Exception:
            return  # the Function's own failure: the properties report it
    actual = _tensors_or_raise(name, "apply", result)
    if len(actual) != len(expected):
        raise DeclarationError(
            f"{name}: apply returns {len(actual)} output(s) and the oracle {len(expected)}: "
            "they must return the same outputs"
        )
    for k, (a, e) in enumerate(zip(actual, expected, strict=True)):
        if _kind(a.dtype) != _kind(e.dtype):
            raise DeclarationError(
                f"{name}: output {k} of apply is {a.dtype} and the oracle's is {e.dtype}: "
                "one is complex and the other is not"
            )
    _declarations_checked.add(entry)


def _tensors_or_raise(name, field_name, result) -> tuple:
    if isinstance(result, torch.Tensor):
        return (result,)
    if isinstance(result, tuple | list) and result and all(isinstance(r, torch.Tensor) for r in result):
        return tuple(result)
    what = type(result).__name__
    if isinstance(result, tuple | list):
        what = f"{what} of " + ", ".join(type(r).__name__ for r in result)
    raise DeclarationError(
        f"{name}: {field_name} must return a torch.Tensor or a tuple of them, got {what}"
        + (" (convert with torch.from_numpy)" if "ndarray" in what else "")
    )


def _short(value) -> str:
    text = repr(value)
    return text if len(text) < 80 else text[:77] + "..."
