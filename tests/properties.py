"""The properties, as plain checks of one case: ``check(entry, case)``.

Each raises AssertionError (or the error torch raises) when the Function in
``entry`` breaks it. ``test_properties.py`` runs them as Hypothesis tests over
the registry; ``test_mutants.py`` runs the same checks against a catalogue of
wrong Functions, so every property here is shown able to fail.

``PROPERTIES`` maps each name to (check, families it applies to).
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from scipy.signal import convolve2d, correlate2d
from torch.autograd import gradcheck, gradgradcheck
from torch.testing import assert_close

from tests.compile_properties import COMPILE_SKIP_REASON, compiled_matches_eager, fake_tensor_propagation, no_graph_breaks
from tests.registry import FunctionUnderTest, fft_tolerance, sum_tolerance

# gradcheck compares finite differences of every input element; above this
# many elements its fast mode (one random projection) keeps the cost flat.
GRADCHECK_FAST_MODE_FROM = 48


# ---------------------------------------------------------------- helpers


def promoted_dtype(args) -> torch.dtype:
    dtype = args[0].dtype
    for arg in args[1:]:
        dtype = torch.promote_types(dtype, arg.dtype)
    return dtype


def leaves(args, dtype=None):
    """Fresh leaf copies of args that require grad (cast to dtype if given), strides kept."""
    return tuple((a if dtype is None else a.to(dtype)).detach().clone().requires_grad_() for a in args)


def output_and_grads(apply, args, grad_output):
    inputs = leaves(args)
    output = apply(*inputs)
    grads = torch.autograd.grad(output, inputs, grad_output.to(output.dtype))
    return output, grads


def tolerance_for(entry: FunctionUnderTest, dtype, args) -> dict:
    return entry.tolerance(dtype, *args)


def assert_matches(actual, expected, entry, args, what):
    """actual (any float dtype) against a float64 expectation, at actual's dtype's tolerance."""
    assert_close(
        actual.double(),
        expected.double(),
        **tolerance_for(entry, actual.dtype, args),
        msg=lambda m: f"{entry.name}: {what} differs from the oracle\n{m}",
    )


def inner(a, b) -> torch.Tensor:
    return (a.double() * b.double()).sum()


# ---------------------------------------------------------------- generic


def output_shape(entry, case):
    """The output has the shape the Function promises. Catches 'same'/'full' mix-ups."""
    output = entry.apply(*case.args)
    expected = entry.output_shape(*case.args)
    assert tuple(output.shape) == tuple(expected), (
        f"{entry.name}: output shape {tuple(output.shape)}, expected {tuple(expected)}"
    )


def output_dtype(entry, case):
    """The output has the promoted dtype of the arguments. Catches a hard-coded float32."""
    output = entry.apply(*case.args)
    expected = promoted_dtype(case.args)
    assert output.dtype == expected, f"{entry.name}: output dtype {output.dtype}, expected {expected}"


def forward_matches_oracle(entry, case):
    """The output equals the torch oracle's. Catches forward bugs with consistent gradients."""
    output = entry.apply(*case.args)
    expected = entry.oracle(*(a.double() for a in case.args))
    assert output.shape == expected.shape, f"{entry.name}: shape {output.shape} vs {expected.shape}"
    assert_matches(output, expected, entry, case.args, "the output")


def gradients_match_oracle(entry, case):
    """Every gradient equals the oracle's, in its input's dtype, at that dtype's precision.

    The tolerance is derived from the dtype and problem size (registry), so a
    1e-5 relative error in a float64 gradient fails, where gradcheck's rtol
    of 1e-3 lets it through.
    """
    output, grads = output_and_grads(entry.apply, case.args, case.grad_output)
    expected_inputs = leaves(case.args, torch.float64)
    expected_output = entry.oracle(*expected_inputs)
    expected = torch.autograd.grad(expected_output, expected_inputs, case.grad_output.double())
    for index, (arg, grad, want) in enumerate(zip(case.args, grads, expected)):
        assert grad.shape == arg.shape, f"{entry.name}: gradient {index} has shape {grad.shape}, input {arg.shape}"
        assert grad.dtype == arg.dtype, f"{entry.name}: gradient {index} is {grad.dtype}, input {arg.dtype}"
        assert_matches(grad, want, entry, case.args, f"gradient {index}")


def gradcheck_float64(entry, case):
    """torch.autograd.gradcheck on every input, with forward AD, undefined grads and dtypes.

    gradcheck's check_batched_grad / check_batched_forward_grad use the legacy
    torch._vmap_internals vmap, which never consults a Function's vmap rule,
    so no NumPy-backed Function can pass them; ``batched_vjp_matches_loop``
    and ``batched_jvp_matches_loop`` check the same things with torch.func.vmap.
    """
    inputs = leaves(case.args, torch.float64)
    fast = sum(a.numel() for a in inputs) >= GRADCHECK_FAST_MODE_FROM
    assert gradcheck(
        entry.apply,
        inputs,
        check_forward_ad=True,
        check_undefined_grad=True,
        check_grad_dtypes=True,
        check_batched_grad=False,
        fast_mode=fast,
    )


def second_derivatives(entry, case):
    """gradgradcheck (w.r.t. inputs and grad_output), or a clear error if once-differentiable."""
    inputs = leaves(case.args, torch.float64)
    (grad_output,) = leaves((case.grad_output,), torch.float64)
    fast = sum(a.numel() for a in inputs) >= GRADCHECK_FAST_MODE_FROM
    if entry.any_order:
        assert gradgradcheck(
            entry.apply, inputs, (grad_output,), check_fwd_over_rev=True, fast_mode=fast
        )
    else:
        output = entry.apply(*inputs)
        (first,) = torch.autograd.grad(output, inputs[0], grad_output, create_graph=True)
        try:
            torch.autograd.grad(first.sum(), inputs[0])
        except RuntimeError as error:
            assert "once_differentiable" in str(error) or "does not require grad" in str(error)
        else:
            raise AssertionError(f"{entry.name}: double backward ran on a once-differentiable Function")


def noncontiguous_matches_contiguous(entry, case):
    """Strided and transposed inputs give what their contiguous copies give."""
    contiguous = tuple(a.contiguous() for a in case.args)
    out, grads = output_and_grads(entry.apply, case.args, case.grad_output)
    out_c, grads_c = output_and_grads(entry.apply, contiguous, case.grad_output)
    tol = tolerance_for(entry, out.dtype, case.args)
    assert_close(out, out_c, **tol, msg=lambda m: f"{entry.name}: output depends on layout\n{m}")
    for index, (g, g_c) in enumerate(zip(grads, grads_c)):
        assert_close(g, g_c, **tolerance_for(entry, g.dtype, case.args),
                     msg=lambda m: f"{entry.name}: gradient {index} depends on layout\n{m}")


def inputs_unmodified(entry, case):
    """Forward and backward leave every input and grad_output exactly as they were."""
    inputs = leaves(case.args)
    grad_output = case.grad_output.clone()
    before = [a.detach().clone() for a in inputs] + [grad_output.clone()]
    output = entry.apply(*inputs)
    torch.autograd.grad(output, inputs, grad_output.to(output.dtype))
    after = [a.detach() for a in inputs] + [grad_output]
    for index, (b, a) in enumerate(zip(before, after)):
        assert torch.equal(b, a), f"{entry.name}: argument {index} was modified in place"


# ---------------------------------------------------------------- torch.func


def _batch_of(tensor):
    """Three different entries built from one tensor (keeps fft_cases' |X| bounds)."""
    return torch.stack([tensor, -0.5 * tensor, tensor.flip(tuple(range(tensor.dim())))])


def _loop(apply, batched_args, in_dims):
    size = next(a.shape[d] for a, d in zip(batched_args, in_dims) if d is not None)
    return torch.stack([
        apply(*[a if d is None else a.select(d, i) for a, d in zip(batched_args, in_dims)])
        for i in range(size)
    ])


def vmap_matches_loop(entry, case):
    """torch.func.vmap(f) equals f over the batch, for every in_dims, and nested.

    Each argument is unbatched (None) or batched at its first or its last
    dimension; then a vmap of a vmap with every argument batched twice.
    """
    args = tuple(a.double() for a in case.args)
    for in_dims in itertools.product(*[sorted({0, a.dim()}) + [None] for a in args]):
        if all(d is None for d in in_dims):
            continue
        batched = tuple(
            a if d is None else _batch_of(a).movedim(0, d) for a, d in zip(args, in_dims)
        )
        actual = torch.func.vmap(entry.apply, in_dims=in_dims)(*batched)
        expected = _loop(entry.apply, batched, in_dims)
        assert_close(actual, expected, rtol=0, atol=0,
                     msg=lambda m: f"{entry.name}: vmap with in_dims={in_dims} is not the loop\n{m}")
    twice = tuple(torch.stack([_batch_of(a), _batch_of(-a)]) for a in args)
    nested = torch.func.vmap(torch.func.vmap(entry.apply))(*twice)
    expected = torch.stack([_loop(entry.apply, level, [0] * len(args)) for level in zip(*twice)])
    assert_close(nested, expected, rtol=0, atol=0,
                 msg=lambda m: f"{entry.name}: nested vmap is not the double loop\n{m}")


def batched_vjp_matches_loop(entry, case):
    """vmap over grad_outputs of the vjp equals the vjp of each (check_batched_grad, modern vmap)."""
    args = tuple(a.double() for a in case.args)
    _, vjp = torch.func.vjp(entry.apply, *args)
    grad_outputs = _batch_of(case.grad_output.double())
    actual = torch.func.vmap(vjp)(grad_outputs)
    for index in range(len(args)):
        expected = torch.stack([vjp(g)[index] for g in grad_outputs])
        assert_close(actual[index], expected, msg=lambda m: f"{entry.name}: batched vjp {index}\n{m}")


def batched_jvp_matches_loop(entry, case):
    """vmap over tangents of the jvp equals the jvp of each (check_batched_forward_grad)."""
    args = tuple(a.double() for a in case.args)

    def jvp(*tangents):
        return torch.func.jvp(entry.apply, args, tangents)[1]

    tangents = tuple(_batch_of(a).flip(0) for a in args)
    actual = torch.func.vmap(jvp)(*tangents)
    expected = _loop(jvp, tangents, [0] * len(args))
    assert_close(actual, expected, msg=lambda m: f"{entry.name}: batched jvp\n{m}")


def jacobians_match_oracle(entry, case):
    """torch.func.jacrev and jacfwd agree with each other and with the oracle's Jacobian."""
    args = tuple(a.double() for a in case.args)
    argnums = tuple(range(len(args)))
    reverse = torch.func.jacrev(entry.apply, argnums=argnums)(*args)
    forward = torch.func.jacfwd(entry.apply, argnums=argnums)(*args)
    oracle = torch.func.jacrev(entry.oracle, argnums=argnums)(*args)
    for index in argnums:
        tol = tolerance_for(entry, torch.float64, case.args)
        assert_close(reverse[index], oracle[index], **tol,
                     msg=lambda m: f"{entry.name}: jacrev w.r.t. argument {index}\n{m}")
        assert_close(forward[index], oracle[index], **tol,
                     msg=lambda m: f"{entry.name}: jacfwd w.r.t. argument {index}\n{m}")


# ---------------------------------------------------------------- conv laws


def conv_adjoint(entry, case):
    """The dot-product test: <A x, g> = <x, A^T g> for each linear map in the backward.

    y - bias is linear in the input and in the filter, so with the backward's
    gradients: <y - b, g> = <input, grad_input> = <filter, grad_filter>, and
    <1, g> = grad_bias. Exact up to rounding, no finite differences.
    """
    args = tuple(a.double() for a in case.args)
    output, (grad_input, grad_filter, grad_bias) = output_and_grads(
        entry.apply, args, case.grad_output.double()
    )
    g = case.grad_output.double()
    lhs = inner(output - args[2].reshape(()), g)
    # each side sums at most n outputs of at most n products each: n**2 products
    tol = sum_tolerance(torch.float64, case.args[0].numel() ** 2)
    assert_close(inner(args[0], grad_input), lhs, **tol, msg=lambda m: f"<x, A^T g> != <A x, g>\n{m}")
    assert_close(inner(args[1], grad_filter), lhs, **tol, msg=lambda m: f"<w, B^T g> != <B w, g>\n{m}")
    assert_close(grad_bias.sum(), g.sum(), **tol, msg=lambda m: f"grad_bias != <1, g>\n{m}")


def bias_gradient_is_sum(entry, case):
    """grad_bias is the sum of grad_output (not the mean), in the bias's shape and dtype."""
    _, (_, _, grad_bias) = output_and_grads(entry.apply, case.args, case.grad_output)
    bias = case.args[2]
    assert grad_bias.shape == bias.shape and grad_bias.dtype == bias.dtype
    expected = case.grad_output.double().sum()
    assert_close(grad_bias.double().reshape(()), expected,
                 **sum_tolerance(bias.dtype, case.grad_output.numel()))


def input_gradient_is_flipped_correlation(entry, case):
    """grad_input = convolve2d(g, f, 'full') = correlate2d(g, flip(f), 'full').

    The SciPy identity is checked too: a convolution is a correlation with
    the filter flipped in both axes.
    """
    _, (grad_input, _, _) = output_and_grads(entry.apply, case.args, case.grad_output)
    g = case.grad_output.double().numpy()
    f = case.args[1].double().numpy()
    convolved = convolve2d(g, f, mode="full")
    correlated = correlate2d(g, np.flip(f, (0, 1)), mode="full")
    tol = sum_tolerance(torch.float64, f.size)
    assert_close(torch.from_numpy(convolved), torch.from_numpy(correlated), **tol)
    assert grad_input.shape == convolved.shape, f"grad_input shape {grad_input.shape}, expected {convolved.shape}"
    assert_close(grad_input.double(), torch.from_numpy(correlated),
                 **sum_tolerance(grad_input.dtype, f.size))


def conv_linearity(entry, case):
    """y - bias is linear in the input and in the filter.

    Catches forward bugs that gradients agree with (a bias added twice, an
    offset). Scalars are powers of two, so scaling is exact.
    """
    x, w, b = (a.double() for a in case.args)
    f = entry.apply
    tol = sum_tolerance(torch.float64, x.numel())

    def linear_part(x, w):
        return f(x, w, b) - b.reshape(())

    x2, w2 = x.flip(0, 1), w.flip(0, 1)
    assert_close(linear_part(0.5 * x + x2, w), 0.5 * linear_part(x, w) + linear_part(x2, w), **tol,
                 msg=lambda m: f"not linear in the input\n{m}")
    assert_close(linear_part(x, 0.5 * w + w2), 0.5 * linear_part(x, w) + linear_part(x, w2), **tol,
                 msg=lambda m: f"not linear in the filter\n{m}")


# ---------------------------------------------------------------- fft laws


def fft_invariances(entry, case):
    """|rfft2(x)| is unchanged by circular shifts and by a sign flip of x."""
    x = case.args[0].double()
    y = entry.apply(x)
    tol = fft_tolerance(torch.float64, x.numel())
    shifts = (1 % x.shape[0], 2 % x.shape[1]) if x.shape[1] > 1 else (1 % x.shape[0], 0)
    assert_close(entry.apply(torch.roll(x, shifts, dims=(0, 1))), y, **tol,
                 msg=lambda m: f"not invariant under a circular shift\n{m}")
    assert_close(entry.apply(-x), y, **tol, msg=lambda m: f"not invariant under x -> -x\n{m}")


def fft_homogeneity(entry, case):
    """f(x) = |rfft2(x)| is 1-homogeneous, so J(x) x = f(x) (Euler): <x, J^T g> = <f(x), g>.

    An adjoint test for the nonlinear map: catches a backward off by the DFT
    scaling, or without the halving of the interior half-spectrum columns.
    """
    x = case.args[0].double()
    g = case.grad_output.double()
    output, (grad,) = output_and_grads(entry.apply, (x,), g)
    assert grad.shape == x.shape, f"gradient shape {tuple(grad.shape)}, input {tuple(x.shape)}"
    # each gradient element is off by at most atol, weighted by |x|; each
    # output element likewise, weighted by |g|
    tol = fft_tolerance(torch.float64, x.numel())
    atol = tol["atol"] * float(x.abs().sum() + g.abs().sum())
    assert_close(inner(x, grad), inner(output, g), rtol=tol["rtol"], atol=atol,
                 msg=lambda m: f"<x, J^T g> != <f(x), g>\n{m}")


PROPERTIES = {
    "output_shape": (output_shape, None),
    "output_dtype": (output_dtype, None),
    "forward_matches_oracle": (forward_matches_oracle, None),
    "gradients_match_oracle": (gradients_match_oracle, None),
    "fake_tensor_propagation": (fake_tensor_propagation, None),
    "gradcheck_float64": (gradcheck_float64, None),
    "second_derivatives": (second_derivatives, None),
    "noncontiguous_matches_contiguous": (noncontiguous_matches_contiguous, None),
    "inputs_unmodified": (inputs_unmodified, None),
    "conv_adjoint": (conv_adjoint, {"conv"}),
    "bias_gradient_is_sum": (bias_gradient_is_sum, {"conv"}),
    "input_gradient_is_flipped_correlation": (input_gradient_is_flipped_correlation, {"conv"}),
    "conv_linearity": (conv_linearity, {"conv"}),
    "fft_invariances": (fft_invariances, {"fft"}),
    "fft_homogeneity": (fft_homogeneity, {"fft"}),
    "vmap_matches_loop": (vmap_matches_loop, None),
    "batched_vjp_matches_loop": (batched_vjp_matches_loop, None),
    "batched_jvp_matches_loop": (batched_jvp_matches_loop, None),
    "jacobians_match_oracle": (jacobians_match_oracle, None),
    # torch.compile (torch >= 2.4, as fake_tensor_propagation; COMPILE_PROPERTIES are skipped before)
    "no_graph_breaks": (no_graph_breaks, None),
    "compiled_matches_eager": (compiled_matches_eager, None),
}

COMPILE_PROPERTIES = {"fake_tensor_propagation", "no_graph_breaks", "compiled_matches_eager"}


def properties_for(entry):
    """(name, check) of every property that applies to entry's family."""
    return [(name, check) for name, (check, families) in PROPERTIES.items()
            if (families is None or entry.family in families)
            and not (name in COMPILE_PROPERTIES and COMPILE_SKIP_REASON)]


def skipped_properties_for(entry):
    """(name, reason) of every property that applies to entry's family but cannot run on this torch."""
    return [(name, COMPILE_SKIP_REASON) for name, (_, families) in PROPERTIES.items()
            if (families is None or entry.family in families)
            and name in COMPILE_PROPERTIES and COMPILE_SKIP_REASON]
