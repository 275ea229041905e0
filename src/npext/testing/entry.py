"""A Function under test, declared once: ``FunctionUnderTest`` and its ``Case``.

In the manner of PyTorch's OpInfo: the declaration says what the Function
computes (a plain-torch oracle), which inputs to try (a Hypothesis strategy
of cases) and what it supports (flags); the generic properties in
``npext.testing.properties`` do the rest.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import torch


@dataclass(frozen=True)
class Case:
    """One input to a Function: its positional arguments and a grad_output.

    ``args`` are passed to ``apply`` as they are. Real floating tensors among
    them are differentiated; anything else (an int, a size) is passed through
    unchanged and never differentiated. ``grad_output`` has the output's
    shape; it is cast to the output's dtype before each backward.

    Any object with ``.args`` and ``.grad_output`` attributes serves as a
    case (npext's own cases name their tensors: ``ConvCase(input, filter,
    bias, grad_output)``); ``Case`` is the ready-made one.
    """

    args: tuple
    grad_output: torch.Tensor

    def __post_init__(self):
        object.__setattr__(self, "args", tuple(self.args))


def eps(dtype: torch.dtype) -> float:
    """The machine epsilon of a floating dtype (2**-52 for float64, 2**-23 for float32)."""
    return torch.finfo(dtype).eps


def sum_tolerance(dtype: torch.dtype, n_terms: int) -> dict:
    """Tolerance for sums of up to ``n_terms`` products of values in [-1, 1].

    Such a sum is at most ``n_terms`` in size, and a floating sum of n terms
    is off by at most n * eps times the sum of the terms' sizes (the standard
    bound for recursive summation): ``n_terms**2 * eps`` in all. The factor 4
    covers the rounding of the oracle itself and of a last addition or cast.
    Returned as ``dict(rtol=n * 4 eps, atol=n**2 * 4 eps)`` for
    ``torch.testing.assert_close``. For float64 and 64 terms that is 3.6e-12:
    a 1e-5 relative error fails, where gradcheck's rtol = 1e-3 lets it pass.
    """
    e = 4 * eps(dtype)
    return {"rtol": n_terms * e, "atol": n_terms * n_terms * e}


def _tensors(args):
    return [a for a in args if isinstance(a, torch.Tensor)]


def default_tolerance(dtype: torch.dtype, *args) -> dict:
    """The tolerance an entry gets when it declares none: ``sum_tolerance(dtype, n)``.

    ``n`` is the number of elements of all tensor arguments together. The
    reasoning: an output or gradient element of a map built from sums and
    products of its inputs depends on at most ``n`` input elements, so it is
    at most a sum of ``n`` products, and with values in [-1, 1] (what
    ``float_tensors`` draws by default) its rounding error is at most
    ``n**2 * eps(dtype)`` in absolute terms and ``n * eps(dtype)`` relative
    to its size (see ``sum_tolerance``). ``dtype`` is the dtype of the result
    being compared, so a float32 output is allowed float32's error against
    the oracle's float64 result, and a float64 one float64's.

    The bound assumes values of size at most 1 and a map of low degree (a
    sum of products of two factors, like a matmul, a convolution or a
    cumulative sum). For larger values, transcendental functions or long
    chains of products, give your own ``tolerance``; npext's own entries do,
    with bounds derived for each Function.
    """
    n = sum(a.numel() for a in _tensors(args))
    return sum_tolerance(dtype, max(n, 1))


@dataclass(frozen=True, eq=False)
class FunctionUnderTest:
    """One Function and everything the generic properties need to know of it.

    Required:

    name:       the label in test ids, reports and assertion messages.
    apply:      the Function's ``apply`` (or any callable of positional
                arguments that returns one tensor).
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
                autograd and by ``torch.func``. It is evaluated in float64 on
                each case: its output gives the expected shape and values,
                its gradients the expected gradients.

    Optional, each with a default:

    tolerance:  ``tolerance(dtype, *args)`` -> ``dict(rtol=, atol=)`` for
                comparing a result of ``dtype`` with the oracle's float64
                result on the case's ``args``. Default: ``default_tolerance``
                (eps of the dtype times the number of elements; read its
                docstring for when to give your own).
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
    supports_compile:  the Function works under ``torch.compile`` (default
                False). No generic property needs it yet; properties that do
                declare ``requires={"supports_compile": True}``.
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
    extra_properties: tuple = ()
    case_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        for name in ("name", "apply", "cases", "oracle"):
            if getattr(self, name) is None:
                raise ValueError(f"FunctionUnderTest needs {name}")
        if not callable(self.apply) or not callable(self.cases) or not callable(self.oracle):
            raise TypeError(f"{self.name}: apply, cases and oracle must be callable")
        object.__setattr__(self, "extra_properties", tuple(self.extra_properties))

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
        names = _argument_names(self.apply, n_args)
        return f"argument {index} ({names[index]})" if names else f"argument {index}"


def _argument_names(apply, n_args: int):
    """The names of apply's positional arguments, read from the Function's forward.

    ``Function.apply`` is bound to its class: the names come from
    ``forward`` (without ``ctx`` in the old style). None where unknown.
    """
    owner = getattr(apply, "__self__", None)
    target = owner.forward if isinstance(owner, type) and issubclass(owner, torch.autograd.Function) else apply
    try:
        parameters = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    names = [p.name for p in parameters if p.kind in kinds]
    if len(names) == n_args + 1 and names[0] == "ctx":
        names = names[1:]
    return names if len(names) == n_args else None
