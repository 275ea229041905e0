# ruff: noqa: RUF001 (the tables print sizes with the multiplication sign)
"""The default tolerance measured without the engine: is it sharp (catches wrong gradients) and sound?

    python tools/tolerance_table.py [--sharp] [--sound] [--half] [--timing] [--cases N] [--seed S]

(no flag: all four). Prints markdown tables.

--sharp   the issue's table: a NumPy cumsum over rows (one argument) and a
          matmul of two square arguments, sizes 4x4 to 64x64, float32 and
          float64. Each case draws values uniform in [-1, 1] (float32
          numbers, as ``float_tensors`` draws them) for the arguments and
          the grad_output; the correct gradient is computed by NumPy in the
          case's dtype, the wrong one is that times (1 + r). A case is
          caught where some element is beyond the allowed error: the new
          default (``oracle_result``'s scales) and the old one
          (``assert_close`` with ``default_tolerance``'s rtol = 4 n eps,
          atol = 4 n**2 eps). For the matmul, each gradient is made wrong
          alone and a case counts only where both are caught.
--sound   correct NumPy/SciPy implementations of several Functions at random
          sizes 1..64 and several kinds of values (uniform, tiny, wide
          magnitudes, and Hypothesis-like draws full of 0, +-1, +-bound,
          subnormals and repeats): the largest |error| / allowed of every
          output and gradient, per Function and dtype (must stay below 1).
--half    float16 / bfloat16: inputs rounded to the half dtype, the
          computation in float32 and the result cast back, against the
          bound for the half dtype; and a NumPy cumsum that accumulates in
          float16.
--timing  seconds of ``oracle_result`` at 64x64 (cumsum; matmul of two 64x64).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import scipy.linalg
import scipy.special
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from npext.testing.tolerance import (
    DEFAULT_BOUND,
    accumulates_in_half,
    error_ratio,
    oracle_result,
    sum_tolerance,
)

NP = {torch.float32: np.float32, torch.float64: np.float64}
SIZES = (4, 16, 32, 64)
RATES = {torch.float32: (1e-3, 1e-4, 1e-5), torch.float64: (1e-9,)}
#: oracle_result's terms (--terms): both by default
TERMS = {}


def uniform(rng, shape, bound=1.0):
    """Values uniform in [-bound, bound], float32 numbers (as float_tensors draws them)."""
    return (rng.uniform(-bound, bound, size=shape)).astype(np.float32).astype(np.float64)


def t(array, dtype):
    return torch.from_numpy(np.ascontiguousarray(array)).to(dtype)


# ---------------------------------------------------------------- sharpness: the table


def cumsum_case(rng, n, dtype):
    x, g = uniform(rng, (n, n)), uniform(rng, (n, n))
    gd = g.astype(NP[dtype])
    grad = np.flip(np.cumsum(np.flip(gd, 0), axis=0), 0)  # the reversed cumsum, in the dtype
    return (t(x, dtype),), t(g, dtype), (t(grad, dtype),), lambda x: torch.cumsum(x, 0)


def matmul_case(rng, n, dtype):
    a, b, g = uniform(rng, (n, n)), uniform(rng, (n, n)), uniform(rng, (n, n))
    ad, bd, gd = (v.astype(NP[dtype]) for v in (a, b, g))
    return (t(a, dtype), t(b, dtype)), t(g, dtype), (t(gd @ bd.T, dtype), t(ad.T @ gd, dtype)), torch.matmul


def old_default_tolerance(dtype, *args) -> dict:
    """npext.testing's default before the per-element bound: sum_tolerance with n = every element of every argument."""
    return sum_tolerance(dtype, max(1, sum(a.numel() for a in args if isinstance(a, torch.Tensor))))


def old_ratio(actual, expected, tol):
    """max |actual - expected| / (atol + rtol |expected|): assert_close fails above 1."""
    a, e = actual.double(), expected.double()
    return float(((a - e).abs() / (tol["atol"] + tol["rtol"] * e.abs())).max())


def sharp_table(cases: int, seed: int):
    rng = np.random.default_rng(seed)
    rows = {}
    margins = []
    for name, make in (("cumsum over rows", cumsum_case), ("matmul, both arguments", matmul_case)):
        for dtype in (torch.float32, torch.float64):
            for n in SIZES:
                caught = dict.fromkeys(((r, kind) for r in RATES[dtype] for kind in ("new", "old")), 0)
                worst_correct = {"new": 0.0, "old": 0.0}
                weakest_catch = dict.fromkeys(RATES[dtype], math.inf)
                for _ in range(cases):
                    args, g, grads, oracle = make(rng, n, dtype)
                    result = oracle_result(oracle, args, (g,), **TERMS)
                    tol = old_default_tolerance(dtype, *args)
                    for grad, want, scale in zip(grads, result.gradients, result.gradient_scales, strict=True):
                        worst_correct["new"] = max(worst_correct["new"], error_ratio(grad, want, scale))
                        worst_correct["old"] = max(worst_correct["old"], old_ratio(grad, want, tol))
                    for r in RATES[dtype]:
                        new_hits, old_hits, ratios = [], [], []
                        for grad, want, scale in zip(grads, result.gradients, result.gradient_scales, strict=True):
                            wrong = (grad.double() * (1 + r)).to(dtype)
                            ratio = error_ratio(wrong, want, scale)
                            ratios.append(ratio)
                            new_hits.append(ratio > 1)
                            old_hits.append(old_ratio(wrong, want, tol) > 1)
                        caught[(r, "new")] += all(new_hits)
                        caught[(r, "old")] += all(old_hits)
                        weakest_catch[r] = min(weakest_catch[r], min(ratios))
                rows[(name, dtype, n)] = caught
                margins.append((name, dtype, n, worst_correct, weakest_catch))
    print(f"### Caught: cases (of {cases}) where a gradient off by a relative r is beyond the allowed error\n")
    print("new = per-element bound (`default_tolerance` now); old = the former default (rtol 4nε, atol 4n²ε)\n")
    header = "| Function | dtype | r | default | " + " | ".join(f"{n}×{n}" for n in SIZES) + " |"
    print(header)
    print("|" + "---|" * (4 + len(SIZES)))
    for name in ("cumsum over rows", "matmul, both arguments"):
        for dtype in (torch.float32, torch.float64):
            for r in RATES[dtype]:
                for kind in ("old", "new"):
                    cells = []
                    for n in SIZES:
                        hits = rows[(name, dtype, n)][(r, kind)]
                        label = "caught" if hits == cases else ("**missed**" if hits == 0 else f"**{hits}/{cases}**")
                        cells.append(label)
                    dt = str(dtype).replace("torch.", "")
                    print(f"| {name} | {dt} | {r:g} | {kind} | " + " | ".join(cells) + " |")
    print("\n### Margins: the correct gradient's largest |error| / allowed, and the wrong one's smallest\n")
    print(
        "| Function | dtype | size | correct, new | correct, old | "
        + " | ".join(f"wrong r={r:g}, new (least of {cases})" for r in (1e-3, 1e-4, 1e-5))
        + " |"
    )
    print("|" + "---|" * 8)
    for name, dtype, n, worst, weakest in margins:
        dt = str(dtype).replace("torch.", "")
        cells = [f"{weakest[r]:.3g}" if r in weakest else "" for r in (1e-3, 1e-4, 1e-5)]
        if dtype == torch.float64:
            cells = [f"r=1e-9: {weakest[1e-9]:.3g}", "", ""]
        print(f"| {name} | {dt} | {n}×{n} | {worst['new']:.3g} | {worst['old']:.3g} | " + " | ".join(cells) + " |")


# ---------------------------------------------------------------- soundness: correct Functions of other kinds

SPECIALS = np.array(
    [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1 / 3, 1e-7, -1e-7, 1.4e-45, -1.4e-45, 1.1754944e-38, 3.0e-39, 0.999999]
)


def values(rng, shape, bound=1.0, kind=None):
    """Values in [-bound, bound], float32 numbers, of one of several kinds (random unless given)."""
    kind = kind or rng.choice(["uniform", "uniform", "tiny", "wide", "hypothesis"])
    size = int(np.prod(shape))
    if kind == "uniform":
        v = rng.uniform(-1, 1, size)
    elif kind == "tiny":
        v = rng.uniform(-1, 1, size) * 10.0 ** -rng.choice([3, 6, 12, 20])
    elif kind == "wide":
        v = rng.choice([-1, 1], size) * 10.0 ** rng.uniform(-30, 0, size)
    else:  # Hypothesis-like: special values, repeats, and a few uniform ones
        pool = np.concatenate([SPECIALS, rng.uniform(-1, 1, 4)])
        v = rng.choice(pool, size)
        fresh = rng.random(size) < 0.3
        v[fresh] = rng.uniform(-1, 1, int(fresh.sum()))
    return np.clip((v * bound), -bound, bound).astype(np.float32).astype(np.float64).reshape(shape)


def side(rng):
    return int(rng.integers(1, 65))


class Sweep:
    """One Function: draw(rng) -> (args, grad_outputs), apply(args in dtype, g) -> (outputs, gradients), oracle."""

    def __init__(self, name, draw, numpy_impl, oracle, kinds=None):
        self.name, self.draw, self.impl, self.oracle, self.kinds = name, draw, numpy_impl, oracle, kinds


def _cumsum_draw(rng):
    shape = (side(rng), side(rng))
    return [values(rng, shape)], [values(rng, shape)]


def _cumsum_impl(args, gs, npd):
    (x,), (g,) = args, gs
    return [np.cumsum(x, axis=0)], [np.flip(np.cumsum(np.flip(g, 0), axis=0), 0)]


def _matmul_draw(rng):
    p, q, s = side(rng), side(rng), side(rng)
    return [values(rng, (p, q)), values(rng, (q, s))], [values(rng, (p, s))]


def _matmul_impl(args, gs, npd):
    (a, b), (g,) = args, gs
    return [a @ b], [g @ b.T, a.T @ g]


def _elementwise_draw(bound):
    def draw(rng):
        shape = (side(rng), side(rng))
        return [values(rng, shape, bound)], [values(rng, shape)]

    return draw


def _exp_impl(args, gs, npd):
    (x,), (g,) = args, gs
    y = np.exp(x)
    return [y], [g * y]


def _i0_scipy_impl(args, gs, npd):
    (x,), (g,) = args, gs
    return [scipy.special.i0(x).astype(npd)], [g * scipy.special.i1(x).astype(npd)]


def _i0_torch_impl(args, gs, npd):
    (x,), (g,) = args, gs
    tx = torch.from_numpy(x)
    return [torch.special.i0(tx).numpy()], [g * torch.special.i1(tx).numpy()]


def _rows_draw(bound=1.0):
    def draw(rng):
        shape = (side(rng), side(rng))
        return [values(rng, shape, bound)], [values(rng, shape[:1])]

    return draw


def _lse_impl(args, gs, npd):
    (x,), (g,) = args, gs
    y = scipy.special.logsumexp(x, axis=-1).astype(npd)
    return [y], [g[:, None] * np.exp(x - y[:, None])]


def _lse_sequential_impl(args, gs, npd):
    """logsumexp with a left-to-right (recursive) sum: the worst order for the bound's m."""
    (x,), (g,) = args, gs
    m = x.max(axis=-1, keepdims=True)
    s = np.add.accumulate(np.exp(x - m), axis=-1)[:, -1:]
    y = (m + np.log(s))[:, 0]
    return [y], [g[:, None] * (np.exp(x - m) / s)]


def _softmax_draw(rng):
    shape = (side(rng), side(rng))
    return [values(rng, shape, 4.0)], [values(rng, shape)]


def _softmax_impl(args, gs, npd):
    (x,), (g,) = args, gs
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    p = e / e.sum(axis=-1, keepdims=True)
    return [p], [p * (g - (p * g).sum(axis=-1, keepdims=True))]


def _normalize_draw(rng):
    shape = (side(rng), int(rng.integers(2, 65)))
    return [values(rng, shape, 1.0, kind=rng.choice(["uniform", "wide", "hypothesis"]))], [values(rng, shape)]


def _normalize_oracle(x):
    mean = x.mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(((x - mean) ** 2).mean(-1, keepdim=True) + 1e-5)


def _normalize_impl(args, gs, npd):
    (x,), (g,) = args, gs
    n = x.shape[-1]
    mean = x.mean(axis=-1, keepdims=True)
    d = x - mean
    inv = (1 / np.sqrt((d * d).mean(axis=-1, keepdims=True) + npd(1e-5))).astype(npd)
    y = d * inv
    grad = inv / n * (n * g - g.sum(-1, keepdims=True) - y * (g * y).sum(-1, keepdims=True))
    return [y], [grad]


def _solve_draw(conditioned):
    def draw(rng):
        n, k = side(rng), int(rng.integers(1, 9))
        noise = values(rng, (n, n), 1.0)
        if conditioned == "well":
            a = n * np.eye(n) + noise  # diagonally dominant: condition number below ~3
        else:
            a = (np.eye(n) * rng.uniform(0.5, 2.0, n) + rng.uniform(-1, 1, (n, n)) / np.sqrt(n)).astype(np.float32)
            a = a.astype(np.float64)
        return [a.astype(np.float32).astype(np.float64), values(rng, (n, k))], [values(rng, (n, k))]

    return draw


def _solve_impl(args, gs, npd):
    (a, b), (g,) = args, gs
    x = scipy.linalg.solve(a, b)
    gb = scipy.linalg.solve(a.T, g)
    return [x], [-gb @ x.T, gb]


def _sort_draw(rng):
    shape = (side(rng), side(rng))
    return [values(rng, shape)], [values(rng, shape)]


def _sort_impl(args, gs, npd):
    (x,), (g,) = args, gs
    order = np.argsort(x, axis=-1, kind="stable")
    grad = np.zeros_like(g)
    np.put_along_axis(grad, order, g, axis=-1)
    return [np.take_along_axis(x, order, axis=-1)], [grad]


def _max_draw(rng):
    shape = (side(rng), side(rng))
    return [values(rng, shape, kind="uniform")], [values(rng, shape[:1]), None]


def _max_impl(args, gs, npd):
    (x,), (g, _) = args, gs
    index = np.argmax(x, axis=-1)
    grad = np.zeros_like(x)
    grad[np.arange(x.shape[0]), index] = g
    return [x.max(axis=-1), index], [grad]


def _two_outputs_draw(rng):
    shape = (side(rng), side(rng))
    return [values(rng, shape)], [values(rng, shape), values(rng, shape[:1])]


def _two_outputs_impl(args, gs, npd):
    """(cumsum over rows, sum of squares of each row): the gradient sums both outputs' contributions."""
    (x,), (g1, g2) = args, gs
    grad = np.flip(np.cumsum(np.flip(g1, 0), axis=0), 0) + 2 * x * g2[:, None]
    return [np.cumsum(x, axis=0), (x * x).sum(axis=-1)], [grad]


def _convolve_draw(rng):
    n, k = side(rng), int(rng.integers(1, 17))
    return [values(rng, (n,)), values(rng, (k,))], [values(rng, (n + k - 1,))]


def _convolve_impl(args, gs, npd):
    (x, w), (g,) = args, gs
    grad_x = np.correlate(g, w, mode="valid")
    grad_w = np.correlate(g, x, mode="valid")
    return [np.convolve(x, w, mode="full")], [grad_x, grad_w]


def _convolve_oracle(x, w):
    k = w.shape[0]
    return torch.nn.functional.conv1d(x[None, None], w.flip(0)[None, None], padding=k - 1)[0, 0]


def _exp_times_draw(rng):
    shape = (side(rng), side(rng))
    return [values(rng, shape, 3.0), values(rng, shape)], [values(rng, shape)]


def _exp_times_impl(args, gs, npd):
    (x, y), (g,) = args, gs
    e = np.exp(x)
    return [e * y], [g * e * y, g * e]


def _scipy_unary(function, derivative):
    def impl(args, gs, npd):
        (x,), (g,) = args, gs
        return [function(x).astype(npd)], [(g * derivative(x)).astype(npd)]

    return impl


SWEEPS = (
    Sweep("cumsum over rows", _cumsum_draw, _cumsum_impl, lambda x: torch.cumsum(x, 0)),
    Sweep("matmul", _matmul_draw, _matmul_impl, torch.matmul),
    Sweep("exp, x in [-1, 1]", _elementwise_draw(1.0), _exp_impl, torch.exp),
    Sweep("exp, x in [-10, 10]", _elementwise_draw(10.0), _exp_impl, torch.exp),
    Sweep("i0 (SciPy), x in [-10, 10]", _elementwise_draw(10.0), _i0_scipy_impl, torch.special.i0),
    Sweep("i0 (torch float32 kernels), x in [-10, 10]", _elementwise_draw(10.0), _i0_torch_impl, torch.special.i0),
    Sweep("logsumexp, last dim (SciPy)", _rows_draw(), _lse_impl, lambda x: torch.logsumexp(x, -1)),
    Sweep("logsumexp, last dim (recursive sum)", _rows_draw(), _lse_sequential_impl, lambda x: torch.logsumexp(x, -1)),
    Sweep("softmax, last dim, x in [-4, 4]", _softmax_draw, _softmax_impl, lambda x: torch.softmax(x, -1)),
    Sweep("normalize, last dim (layer norm, no affine)", _normalize_draw, _normalize_impl, _normalize_oracle),
    Sweep("solve, A = nI + noise", _solve_draw("well"), _solve_impl, torch.linalg.solve),
    Sweep("solve, A = D + noise/sqrt(n) (cond up to ~100)", _solve_draw("moderate"), _solve_impl, torch.linalg.solve),
    Sweep("sort, last dim (stable)", _sort_draw, _sort_impl, lambda x: torch.sort(x, dim=-1, stable=True).values),
    Sweep("max over last dim (values, indices)", _max_draw, _max_impl, lambda x: tuple(torch.max(x, -1))),
    Sweep(
        "two outputs (cumsum over rows, row sums of squares)",
        _two_outputs_draw,
        _two_outputs_impl,
        lambda x: (torch.cumsum(x, 0), (x * x).sum(-1)),
    ),
    Sweep("full 1-D convolution (np.convolve), two arguments", _convolve_draw, _convolve_impl, _convolve_oracle),
    Sweep("exp(x) * y, x in [-3, 3]", _exp_times_draw, _exp_times_impl, lambda x, y: torch.exp(x) * y),
    Sweep(
        "tanh, x in [-4, 4]", _elementwise_draw(4.0), _scipy_unary(np.tanh, lambda x: 1 - np.tanh(x) ** 2), torch.tanh
    ),
    Sweep(
        "erf (SciPy), x in [-3, 3]",
        _elementwise_draw(3.0),
        _scipy_unary(scipy.special.erf, lambda x: 2 / np.sqrt(np.pi) * np.exp(-x * x)),
        torch.erf,
    ),
)


def run_case(sweep, args64, gs64, dtype):
    """Ratios (outputs, gradients) of the NumPy implementation in ``dtype`` on one case."""
    npd = NP[dtype]
    args = tuple(t(a, dtype) for a in args64)
    gs = tuple(None if g is None else t(g, dtype) for g in gs64)
    result = oracle_result(sweep.oracle, args, gs, **TERMS)
    outputs, grads = sweep.impl(
        [a.astype(npd) for a in args64], [None if g is None else g.astype(npd) for g in gs64], npd
    )
    out_ratio = max(
        error_ratio(torch.from_numpy(np.asarray(o)), want, scale)
        for o, want, scale in zip(outputs, result.outputs, result.output_scales, strict=True)
    )
    grad_ratio = max(
        error_ratio(torch.from_numpy(np.asarray(gr).astype(npd)), want, scale)
        for gr, want, scale in zip(grads, result.gradients, result.gradient_scales, strict=True)
    )
    return out_ratio, grad_ratio


def sound_table(cases: int, seed: int):
    rng = np.random.default_rng(seed + 1)
    print(f"### Correct Functions: largest |error| / allowed over {cases} cases per row (sizes 1..64)\n")
    print("| Function | float32 output | float32 gradients | float64 output | float64 gradients | seconds |")
    print("|---|---|---|---|---|---|")
    worst_all = 0.0
    for sweep in SWEEPS:
        start = time.perf_counter()
        cells = []
        for dtype in (torch.float32, torch.float64):
            worst = [0.0, 0.0]
            for _ in range(cases):
                args, gs = sweep.draw(rng)
                o, g = run_case(sweep, args, gs, dtype)
                worst = [max(worst[0], o), max(worst[1], g)]
            cells += [f"{w:.3g}" for w in worst]
            worst_all = max(worst_all, *worst)
        print(f"| {sweep.name} | " + " | ".join(cells) + f" | {time.perf_counter() - start:.1f} |")
    print(f"\nLargest ratio over all: {worst_all:.3g}")


# ---------------------------------------------------------------- float16 / bfloat16


def half_table(cases: int, seed: int):
    rng = np.random.default_rng(seed + 2)
    ops = (
        ("cumsum over rows", lambda x: torch.cumsum(x, 0), 1),
        ("matmul", torch.matmul, 2),
        ("exp", torch.exp, 1),
        ("logsumexp", lambda x: torch.logsumexp(x, -1), 1),
    )
    print(
        f"### Half dtypes: correct results (computed in float32, cast), largest |error| / allowed over {cases} cases,"
    )
    print("\nand the smallest relative error r = 2^-k of a gradient caught in every case\n")
    print("| Function | dtype | output | gradients | smallest r caught |")
    print("|---|---|---|---|---|")
    for name, op, n_args in ops:
        for dtype in (torch.float16, torch.bfloat16):
            worst, caught_r = [0.0, 0.0], []
            for _ in range(cases):
                n = side(rng)
                shapes = [(n, n)] * n_args
                args = tuple(torch.from_numpy(values(rng, s, kind="uniform")).to(dtype) for s in shapes)
                out32 = op(*[a.float() for a in args])
                g = torch.from_numpy(values(rng, tuple(out32.shape), kind="uniform")).to(dtype)
                leaves = [a.float().requires_grad_() for a in args]
                grads32 = torch.autograd.grad(op(*leaves), leaves, g.float())
                result = oracle_result(op, args, (g,), **TERMS)
                worst[0] = max(worst[0], error_ratio(out32.to(dtype), result.outputs[0], result.output_scales[0]))
                for gr, want, scale in zip(grads32, result.gradients, result.gradient_scales, strict=True):
                    worst[1] = max(worst[1], error_ratio(gr.to(dtype), want, scale))
                # which r = 2^-k are caught on this case (the first gradient off by r)
                caught_r.append(
                    {
                        k
                        for k in range(1, 20)
                        if error_ratio(
                            (grads32[0].double() * (1 + 2.0**-k)).to(dtype),
                            result.gradients[0],
                            result.gradient_scales[0],
                        )
                        > 1
                    }
                )
            dt = str(dtype).replace("torch.", "")
            every = set.intersection(*caught_r)
            r = f"2^-{max(every)}" if every else "none up to 1/2"
            print(f"| {name} | {dt} | {worst[0]:.3g} | {worst[1]:.3g} | {r} |")
    # NumPy's float16 cumsum accumulates in float16
    worst = [0.0, 0.0]
    for _ in range(cases):
        shape = (side(rng), side(rng))
        x = torch.from_numpy(values(rng, shape, kind="uniform")).half()
        result = oracle_result(lambda x: torch.cumsum(x, 0), (x,), (torch.ones(shape, dtype=torch.float16),))
        actual = torch.from_numpy(np.cumsum(x.numpy(), axis=0))
        for i, bound in enumerate((DEFAULT_BOUND, accumulates_in_half())):
            worst[i] = max(worst[i], error_ratio(actual, result.outputs[0], result.output_scales[0], bound=bound))
    print(
        f"| cumsum over rows, NumPy accumulating in float16 | float16 | {worst[0]:.3g} (default), "
        f"{worst[1]:.3g} (`accumulates_in_half()`) | | |"
    )


# ---------------------------------------------------------------- cost


def timing():
    rng = np.random.default_rng(0)
    x, b, g = (torch.from_numpy(uniform(rng, (64, 64))) for _ in range(3))
    print(
        "### Cost of oracle_result at 64×64 (seconds, best of 3; float64 Jacobian rows, "
        f"{torch.get_num_threads()} threads)\n"
    )
    print("| case | outputs only | outputs and gradients |")
    print("|---|---|---|")
    for name, oracle, args in (
        ("cumsum over rows, 64×64", lambda x: torch.cumsum(x, 0), (x,)),
        ("matmul 64×64 @ 64×64, both arguments", torch.matmul, (x, b)),
        ("logsumexp over rows, 64×64", lambda x: torch.logsumexp(x, -1), (x,)),
        ("solve, 64×64 A, 64×8 B", torch.linalg.solve, (64 * torch.eye(64, dtype=torch.float64) + x, b[:, :8])),
    ):
        grad = g[:, :8] if name.startswith("solve") else (g[:, 0] if name.startswith("logsumexp") else g)
        cells = []
        for gradients in (False, True):
            best = math.inf
            for _ in range(3):
                start = time.perf_counter()
                oracle_result(oracle, args, (grad,), gradients=gradients, **TERMS)
                best = min(best, time.perf_counter() - start)
            cells.append(f"{best:.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sharp", action="store_true")
    parser.add_argument("--sound", action="store_true")
    parser.add_argument("--half", action="store_true")
    parser.add_argument("--timing", action="store_true")
    parser.add_argument("--cases", type=int, default=25, help="cases per cell (default 25)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--terms",
        choices=("both", "jacobian", "perturbed"),
        default="both",
        help="the scale's terms: both (the default), the Jacobian's alone or the perturbed evaluations' alone",
    )
    options = parser.parse_args(argv)
    TERMS.update({"both": {}, "jacobian": {"perturbed": False}, "perturbed": {"jacobian": False}}[options.terms])
    everything = not (options.sharp or options.sound or options.half or options.timing)
    print(f"torch {torch.__version__}, NumPy {np.__version__}, seed {options.seed}, terms: {options.terms}\n")
    if options.sharp or everything:
        sharp_table(options.cases, options.seed)
        print()
    if options.sound or everything:
        sound_table(options.cases, options.seed)
        print()
    if options.half or everything:
        half_table(options.cases, options.seed)
        print()
    if options.timing or everything:
        timing()


if __name__ == "__main__":
    main()
