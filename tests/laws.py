"""npext's own laws: properties of one family of Functions, beyond the generic ones.

The generic properties live in ``npext.testing`` and run on every entry of
the registry; these know what the correlation layer and |rfft2| are (an
adjoint identity, a linearity, an invariance) and are registered as
``extra_properties`` of those entries (``CONV_LAWS``, ``FFT_LAWS``), so they
run under the same harness: Hypothesis over the entry's cases, the pinned
edge cases of ``test_laws.py``, and the hunt of every mutant.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.signal import convolve2d, correlate2d
from torch.testing import assert_close

from npext.testing import Property, eps, inner, output_and_grads, sum_tolerance


def fft_tolerance(dtype: torch.dtype, n_points: int) -> dict:
    """Tolerance for FFT-based results on fft_cases (|X| <= 2 sqrt(n), |g| <= 1).

    A floating FFT's error is about log2(n) * eps times the 2-norm of the
    transform, here at most 2 n; 10 is a generous constant for that bound.
    """
    e = 10 * math.log2(2 * n_points) * eps(dtype)
    return {"rtol": e, "atol": 2 * n_points * e}


# ---------------------------------------------------------------- conv laws


def conv_adjoint(entry, case):
    """The dot-product test: <A x, g> = <x, A^T g> for each linear map in the backward.

    y - bias is linear in the input and in the filter, so with the backward's
    gradients: <y - b, g> = <input, grad_input> = <filter, grad_filter>, and
    <1, g> = grad_bias. Exact up to rounding, no finite differences.
    """
    args = tuple(a.double() for a in case.args)
    output, (grad_input, grad_filter, grad_bias) = output_and_grads(entry.apply, args, case.grad_output.double())
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
    assert_close(grad_bias.double().reshape(()), expected, **sum_tolerance(bias.dtype, case.grad_output.numel()))


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
    assert_close(grad_input.double(), torch.from_numpy(correlated), **sum_tolerance(grad_input.dtype, f.size))


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
    assert_close(
        linear_part(0.5 * x + x2, w),
        0.5 * linear_part(x, w) + linear_part(x2, w),
        **tol,
        msg=lambda m: f"not linear in the input\n{m}",
    )
    assert_close(
        linear_part(x, 0.5 * w + w2),
        0.5 * linear_part(x, w) + linear_part(x, w2),
        **tol,
        msg=lambda m: f"not linear in the filter\n{m}",
    )


# ---------------------------------------------------------------- fft laws


def fft_invariances(entry, case):
    """|rfft2(x)| is unchanged by circular shifts and by a sign flip of x."""
    x = case.args[0].double()
    y = entry.apply(x)
    tol = fft_tolerance(torch.float64, x.numel())
    shifts = (1 % x.shape[0], 2 % x.shape[1]) if x.shape[1] > 1 else (1 % x.shape[0], 0)
    assert_close(
        entry.apply(torch.roll(x, shifts, dims=(0, 1))),
        y,
        **tol,
        msg=lambda m: f"not invariant under a circular shift\n{m}",
    )
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
    assert_close(
        inner(x, grad), inner(output, g), rtol=tol["rtol"], atol=atol, msg=lambda m: f"<x, J^T g> != <f(x), g>\n{m}"
    )


CONV_LAWS = (
    Property("conv_adjoint", conv_adjoint),
    Property("bias_gradient_is_sum", bias_gradient_is_sum),
    Property("input_gradient_is_flipped_correlation", input_gradient_is_flipped_correlation),
    Property("conv_linearity", conv_linearity),
)

FFT_LAWS = (
    Property("fft_invariances", fft_invariances),
    Property("fft_homogeneity", fft_homogeneity),
)
