"""Properties under torch.func: vmap, vmap over vjp and jvp, jacrev and jacfwd."""

from __future__ import annotations

import itertools

import torch
from torch.testing import assert_close

from ..calls import (
    argument_label,
    as_double,
    differentiable_outputs,
    entry_over_tensors,
    grad_outputs_of,
    gradient_label,
    output_label,
    over_tensors,
)
from ..entry import case_kwargs
from ..oracle import elementwise
from ..tolerance import eps


def _batch_of(tensor):
    """Three different entries built from one tensor (keeps bounds like |X| in fft cases)."""
    return torch.stack([tensor, -0.5 * tensor, tensor.flip(tuple(range(tensor.dim())))])


def _loop(f, batched_args, in_dims) -> tuple:
    """f over the batch, one call per entry, stacked: a tuple with one tensor per output of f."""
    size = next(a.shape[d] for a, d in zip(batched_args, in_dims, strict=True) if d is not None)
    results = [
        f(*[a if d is None else a.select(d, i) for a, d in zip(batched_args, in_dims, strict=True)])
        for i in range(size)
    ]
    return tuple(torch.stack(parts) for parts in zip(*results, strict=True))


def vmap_matches_loop(entry, case):
    """torch.func.vmap(f) equals f over the batch, for every in_dims, and nested; every output.

    Each tensor argument is unbatched (None) or batched at its first or its
    last dimension; then a vmap of a vmap with every tensor batched twice.
    In the case's own dtypes, mixed ones included, and bit for bit: a vmap
    rule must compute each entry exactly as the call does (the same rounding
    and the same result dtype), which a float64 copy of the case would hide.
    The batch holds the case's tensor, -0.5 times it and it flipped: where
    the negated entry leaves the Function's domain (a NaN), the rule must give
    the loop's NaN there too.
    """
    count = len(grad_outputs_of(case.grad_output))
    f, args = entry_over_tensors(entry, case.args, case_kwargs(case), outputs=list(range(count)))
    for in_dims in itertools.product(*[[*sorted({0, a.dim()}), None] for a in args]):
        if all(d is None for d in in_dims):
            continue
        batched = tuple(a if d is None else _batch_of(a).movedim(0, d) for a, d in zip(args, in_dims, strict=True))
        actual = torch.func.vmap(f, in_dims=in_dims)(*batched)
        expected = _loop(f, batched, in_dims)
        for k, (a, e) in enumerate(zip(actual, expected, strict=True)):
            what = output_label(entry, k, count)
            assert_close(
                a,
                e,
                rtol=0,
                atol=0,
                equal_nan=True,
                msg=lambda m: f"{entry.name}: vmap with in_dims={in_dims}, {what}, is not the loop\n{m}",
            )
    twice = tuple(torch.stack([_batch_of(a), _batch_of(-a)]) for a in args)
    nested = torch.func.vmap(torch.func.vmap(f))(*twice)
    levels = [_loop(f, level, [0] * len(args)) for level in zip(*twice, strict=True)]
    for k, a in enumerate(nested):
        e = torch.stack([level[k] for level in levels])
        what = output_label(entry, k, count)
        assert_close(
            a,
            e,
            rtol=0,
            atol=0,
            equal_nan=True,
            msg=lambda m: f"{entry.name}: nested vmap, {what}, is not the double loop\n{m}",
        )


def _differentiable(entry, case):
    """(f, args, grad_outputs) in float64: f of the differentiable args, returning the differentiable outputs."""
    outputs = differentiable_outputs(case.grad_output)
    f, args = entry_over_tensors(entry, as_double(case.args), case_kwargs(case), outputs=outputs)
    grad_outputs = tuple(grad_outputs_of(case.grad_output)[k].double() for k in outputs)
    return f, args, grad_outputs


def batched_vjp_matches_loop(entry, case):
    """vmap over grad_outputs of the vjp equals the vjp of each (check_batched_grad, on the modern vmap)."""
    f, args, grad_outputs = _differentiable(entry, case)
    _, vjp = torch.func.vjp(f, *args)
    batches = tuple(_batch_of(g) for g in grad_outputs)
    actual = torch.func.vmap(vjp)(batches)
    expected = _loop(lambda *gs: vjp(gs), batches, [0] * len(batches))
    for j, (a, e) in enumerate(zip(actual, expected, strict=True)):
        what = gradient_label(entry, case.args, j)
        assert_close(a, e, equal_nan=True, msg=lambda m: f"{entry.name}: batched vjp, {what}\n{m}")


def batched_jvp_matches_loop(entry, case):
    """vmap over tangents of the jvp equals the jvp of each (check_batched_forward_grad)."""
    f, args, _ = _differentiable(entry, case)

    def jvp(*tangents):
        return torch.func.jvp(f, args, tangents)[1]

    tangents = tuple(_batch_of(a).flip(0) for a in args)
    actual = torch.func.vmap(jvp)(*tangents)
    expected = _loop(jvp, tangents, [0] * len(args))
    for k, (a, e) in enumerate(zip(actual, expected, strict=True)):
        assert_close(a, e, equal_nan=True, msg=lambda m: f"{entry.name}: batched jvp, tangent of output {k}\n{m}")


def _jacobian_tolerance(entry, expected, arg, args) -> dict:
    """The entry's own tolerance; for the per-element default, a sum's rounding relative to the largest entry.

    Each Jacobian entry is a derivative, computed by a backward (or jvp) that
    sums at most as many terms as the Jacobian has nonzeros in a row or a
    column; relative to the largest entry, so that an entry which should be
    exactly zero may carry the rounding of the others.
    """
    if not elementwise(entry):
        return entry.tolerance(torch.float64, *args)
    if expected.numel() == 0:
        return {"rtol": 0.0, "atol": 0.0}
    matrix = expected.reshape(-1, max(arg.numel(), 1)) != 0
    terms = max(1, int(matrix.sum(0).max()), int(matrix.sum(1).max()))
    scale = 8 * terms * eps(torch.float64)
    return {"rtol": scale, "atol": scale * float(expected.abs().max())}


def jacobians_match_oracle(entry, case):
    """torch.func.jacrev and jacfwd agree with each other and with the oracle's Jacobian, output by output."""
    f, args, _ = _differentiable(entry, case)
    oracle, _ = over_tensors(
        entry.oracle, as_double(case.args), case_kwargs(case), outputs=differentiable_outputs(case.grad_output)
    )
    argnums = tuple(range(len(args)))
    reverse = torch.func.jacrev(f, argnums=argnums)(*args)
    forward = torch.func.jacfwd(f, argnums=argnums)(*args)
    expected = torch.func.jacrev(oracle, argnums=argnums)(*args)
    outputs = differentiable_outputs(case.grad_output)
    count = len(grad_outputs_of(case.grad_output))
    for n, k in enumerate(outputs):
        for j in argnums:
            what = f"{output_label(entry, k, count)} w.r.t. {argument_label(entry, case.args, j)}"
            want = expected[n][j]
            tol = _jacobian_tolerance(entry, want, args[j], case.args)
            assert_close(reverse[n][j], want, **tol, msg=lambda m: f"{entry.name}: jacrev of {what}\n{m}")
            assert_close(forward[n][j], want, **tol, msg=lambda m: f"{entry.name}: jacfwd of {what}\n{m}")
