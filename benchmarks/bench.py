"""Speed of npext's Functions against torch's own ops and the SciPy/NumPy floor (stdlib only).

    python benchmarks/bench.py                      # full run, about 2-3 minutes on 2 cores
    python benchmarks/bench.py --quick              # smoke run: few sizes, few repeats
    python benchmarks/bench.py --page docs/speed.md # also splice the table between the bench markers
    python benchmarks/bench.py --small-call         # where a small conv call spends its time, layer by layer
    tox -e bench [-- --page docs/speed.md]

Every row is one forward + backward: the forward, then ``torch.autograd.grad``
with a fixed grad_output for every input. Four contestants, timed side by side
in the same run (interleaved, order rotated each round, medians over the
rounds):

  ours   npext's public API (``npext.rfft2_abs``, ``npext.ScipyConv2dFunction.apply``,
         under ``torch.func.vmap`` for the batched rows);
  plain  the plainest correct Function calling the same SciPy kernels (``plain.py``:
         the tutorial's Functions corrected, no checks, no dtype rules, no torch.func or
         compile support; a Python loop over the batch for the vmap rows): what npext's
         correctness machinery costs is ours/plain;
  torch  torch's own op for the same maths (``torch.fft.rfft2(x).abs()``,
         ``F.conv2d`` with ``[None, None]`` reshapes and its bias);
  floor  only the raw SciPy kernels a Function has to call for forward and backward,
         on NumPy arrays made beforehand: for |rfft2|, one ``scipy.fft.rfft2`` and one
         ``scipy.fft.irfft2`` (the adjoint); for the correlation, the valid
         correlation (forward), the full convolution (grad_input) and the valid
         correlation of the input with grad_output (grad_filter), each by the fastest
         of SciPy's direct 2-D kernel (``correlate2d``/``convolve2d``, looped over a
         batch) and ``fftconvolve``, measured for that shape.

The ratios ours/plain, ours/torch and ours/floor are medians divided; the summary
gives the geometric mean and the worst of ours/plain per group (goal of issue 24:
every rfft2_abs row and the 32² and 64² correlation rows within 1.25 times) and of
ours/torch (goals of issue 9).
torch runs on a pinned number of threads (--threads, default 1), because SciPy's
kernels are single-threaded. This is a measurement, not a test: it never fails on
a number.
"""

from __future__ import annotations

import time

_STARTED = time.perf_counter()  # the wall time reported includes the imports

import argparse
import gc
import math
import os
import platform
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy
import scipy.fft
import scipy.signal
import torch
import torch.nn.functional as F

import npext

sys.path.insert(0, str(Path(__file__).resolve().parent))
import plain  # benchmarks/ is no package: the yardstick beside this file

START, END = "<!-- bench:start -->", "<!-- bench:end -->"

# The groups and the goals of issue 9 (ours/torch): key -> (title, geomean goal, worst goal or None).
GROUPS = {
    "rfft2": ("`rfft2_abs` vs `torch.fft.rfft2(x).abs()`", 3.0, 6.0),
    "vmap-rfft2": ("`vmap(rfft2_abs)` vs `torch.fft.rfft2(x).abs()` on the batch", 3.0, None),
    "vmap-conv": ("`vmap(ScipyConv2dFunction.apply, in_dims=(0, None, None))` vs `F.conv2d` on the batch", 1.5, None),
    "conv2d": ("`ScipyConv2dFunction` vs `F.conv2d` + bias", 0.7, 2.0),
}

DTYPES = {"f32": torch.float32, "f64": torch.float64}


# ---------------------------------------------------------------------------
# configurations


@dataclass
class Config:
    group: str
    shape: tuple[int, ...]  # input shape, batch first for the vmap groups
    dtype: str
    kernel: int | None = None  # filter size for the convolution groups

    @property
    def label(self) -> str:
        shape = "×".join(map(str, self.shape))
        return shape if self.kernel is None else f"{shape}, k={self.kernel}"


def configs(quick: bool) -> list[Config]:
    if quick:
        fft_shapes = [(32, 32), (128, 127)]
        fft_batches = [(64, 64, 64)]
        conv_batches = [((64, 64, 64), 5)]
        conv_pairs = [(32, 3), (128, 7)]
    else:
        fft_shapes = [(32, 32), (64, 64), (100, 100), (128, 127), (256, 256), (512, 512), (1024, 1024)]
        fft_batches = [(64, 64, 64), (16, 256, 256)]
        conv_batches = [(b, k) for b in [(64, 64, 64), (16, 256, 256)] for k in (5, 7)]
        # H from 32 to 1024, k from 3 to 15; torch's float64 conv is im2col + GEMM, so
        # 1024² with k = 15 alone would take a minute: the corner stops at k = 7.
        conv_pairs = [(h, k) for h in (32, 64, 128, 256, 512) for k in (3, 7, 15) if k < h]
        conv_pairs += [(1024, 3), (1024, 7)]
    out = []
    for dtype in DTYPES:
        out += [Config("rfft2", s, dtype) for s in fft_shapes]
    for dtype in DTYPES:
        out += [Config("vmap-rfft2", s, dtype) for s in fft_batches]
    for dtype in DTYPES:
        out += [Config("vmap-conv", s, dtype, k) for s, k in conv_batches]
    for dtype in DTYPES:
        out += [Config("conv2d", (h, h), dtype, k) for h, k in conv_pairs]
    return out


# ---------------------------------------------------------------------------
# the three contestants of each configuration


@dataclass
class Case:
    """One configuration's contestants: ours and torch's as differentiable functions, the floor."""

    ours: Callable
    plain: Callable
    torch: Callable
    inputs: tuple[torch.Tensor, ...]
    grad_output: torch.Tensor
    floor: Callable
    floor_kernels: str

    def fwd_bwd(self, fn: Callable) -> Callable:
        """What is timed: the forward, then the gradients of every input for grad_output."""
        inputs, grad_output = self.inputs, self.grad_output

        def run():
            return torch.autograd.grad(fn(*inputs), inputs, grad_output)

        return run

    def error(self, fn: Callable) -> float:
        """Largest ||fn's - torch's|| / ||torch's|| over the output and the gradients."""
        results = []
        for f in (fn, self.torch):
            out = f(*self.inputs)
            results.append([out.detach(), *torch.autograd.grad(out, self.inputs, self.grad_output)])
        return max(float((a - b).norm() / b.norm().clamp_min(1e-30)) for a, b in zip(*results, strict=False))


def fft_case(cfg: Config, gen: torch.Generator) -> Case:
    dtype = DTYPES[cfg.dtype]
    x = torch.randn(cfg.shape, generator=gen, dtype=dtype).requires_grad_()
    ours_fn = npext.rfft2_abs if len(cfg.shape) == 2 else torch.func.vmap(npext.rfft2_abs)
    plain_fn = plain.PlainRFFT2Abs.apply if len(cfg.shape) == 2 else _looped(plain.PlainRFFT2Abs.apply)
    out_shape = (*cfg.shape[:-1], cfg.shape[-1] // 2 + 1)
    g = torch.randn(out_shape, generator=gen, dtype=dtype)
    xn = x.detach().numpy().copy()
    size = cfg.shape[-2:]

    def floor():
        spectrum = scipy.fft.rfft2(xn)  # the forward's FFT
        return scipy.fft.irfft2(spectrum, s=size)  # the adjoint's inverse FFT

    return Case(ours_fn, plain_fn, lambda t: torch.fft.rfft2(t).abs(), (x,), g, floor, "rfft2 + irfft2")


def _looped(apply: Callable, in_dims: tuple = (0,)) -> Callable:
    """What a user of a Function without a vmap rule writes for a batch: a Python loop, stacked."""

    def looped(*args):
        batch = next(a.shape[0] for a, d in zip(args, in_dims, strict=False) if d == 0)
        return torch.stack(
            [apply(*(a[i] if d == 0 else a for a, d in zip(args, in_dims, strict=False))) for i in range(batch)]
        )

    return looped


def _direct_kernels(batched: bool):
    """The three kernels with SciPy's 2-D direct code (looped over the batch)."""
    if not batched:
        return (
            lambda x, w: scipy.signal.correlate2d(x, w, mode="valid"),
            lambda g, w: scipy.signal.convolve2d(g, w, mode="full"),
            lambda x, g: scipy.signal.correlate2d(x, g, mode="valid"),
        )

    def grad_filter(x, g):
        total = scipy.signal.correlate2d(x[0], g[0], mode="valid")
        for i in range(1, len(x)):
            total += scipy.signal.correlate2d(x[i], g[i], mode="valid")
        return total

    return (
        lambda x, w: [scipy.signal.correlate2d(xi, w, mode="valid") for xi in x],
        lambda g, w: [scipy.signal.convolve2d(gi, w, mode="full") for gi in g],
        grad_filter,
    )


def _fft_kernels(batched: bool):
    """The three kernels with scipy.signal.fftconvolve over the last two axes."""
    axes = (-2, -1)

    def flip(a):
        return a[..., ::-1, ::-1]

    def grad_filter(x, g):
        out = scipy.signal.fftconvolve(x, flip(g), mode="valid", axes=axes)
        return out.sum(0) if batched else out

    return (
        lambda x, w: scipy.signal.fftconvolve(x, flip(w)[None] if batched else flip(w), mode="valid", axes=axes),
        lambda g, w: scipy.signal.fftconvolve(g, w[None] if batched else w, mode="full", axes=axes),
        grad_filter,
    )


def _best_of(candidates: dict[str, Callable], args: tuple) -> str:
    """The name of the fastest candidate on ``args`` (a warm-up call, then the best of 3, or of 1 if slow)."""
    best, best_time = None, math.inf
    for name, kernel in candidates.items():
        first = _time_calls(lambda: kernel(*args), 1)
        t = min(_time_calls(lambda: kernel(*args), 1) for _ in range(3 if first < 0.05 else 1))
        if t < best_time:
            best, best_time = name, t
    return best


def conv_case(cfg: Config, gen: torch.Generator) -> Case:
    dtype = DTYPES[cfg.dtype]
    batched = len(cfg.shape) == 3
    k = cfg.kernel
    x = torch.randn(cfg.shape, generator=gen, dtype=dtype).requires_grad_()
    w = torch.randn(k, k, generator=gen, dtype=dtype).requires_grad_()
    b = torch.randn(1, 1, generator=gen, dtype=dtype).requires_grad_()
    out_shape = (*cfg.shape[:-2], cfg.shape[-2] - k + 1, cfg.shape[-1] - k + 1)
    g = torch.randn(out_shape, generator=gen, dtype=dtype)

    if batched:
        ours_fn = torch.func.vmap(npext.ScipyConv2dFunction.apply, in_dims=(0, None, None))
        plain_fn = _looped(plain.PlainScipyConv2d.apply, (0, None, None))

        def torch_fn(x, w, b):
            return F.conv2d(x[:, None], w[None, None], b.reshape(1))[:, 0]
    else:
        ours_fn = npext.ScipyConv2dFunction.apply
        plain_fn = plain.PlainScipyConv2d.apply

        def torch_fn(x, w, b):
            return F.conv2d(x[None, None], w[None, None], b.reshape(1))[0, 0]

    xn, wn, gn = (t.detach().numpy().copy() for t in (x, w, g))
    direct, fft = _direct_kernels(batched), _fft_kernels(batched)
    chosen, names = [], []
    for i, args in enumerate([(xn, wn), (gn, wn), (xn, gn)]):
        name = _best_of({"direct": direct[i], "fft": fft[i]}, args)
        chosen.append((direct if name == "direct" else fft)[i])
        names.append(name)
    forward, grad_input, grad_filter = chosen

    def floor():
        forward(xn, wn)
        grad_input(gn, wn)
        return grad_filter(xn, gn)

    return Case(ours_fn, plain_fn, torch_fn, (x, w, b), g, floor, "/".join(names))


# ---------------------------------------------------------------------------
# timing


def _time_calls(fn: Callable, number: int) -> float:
    """Seconds per call of ``number`` back-to-back calls, garbage collection off."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(number):
            fn()
        return (time.perf_counter() - start) / number
    finally:
        if enabled:
            gc.enable()


@dataclass
class Plan:
    min_sample_s: float  # calls are batched until one sample takes this long
    budget_s: float  # rounds per configuration: as many as fit in this ...
    min_rounds: int  # ... but at least this many
    max_rounds: int  # ... and at most this many


FULL = Plan(min_sample_s=0.005, budget_s=1.2, min_rounds=3, max_rounds=25)
QUICK = Plan(min_sample_s=0.001, budget_s=0.15, min_rounds=3, max_rounds=5)


def measure(contestants: dict[str, Callable], plan: Plan) -> tuple[dict[str, float], int]:
    """Median seconds per call of each contestant, timed in interleaved rounds."""
    numbers, cost = {}, 0.0
    for name, fn in contestants.items():
        fn()
        per_call = _time_calls(fn, 1)
        numbers[name] = max(1, math.ceil(plan.min_sample_s / max(per_call, 1e-9)))
        cost += per_call * numbers[name]
    rounds = max(plan.min_rounds, min(plan.max_rounds, int(plan.budget_s / cost)))
    names = list(contestants)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(_time_calls(contestants[name], numbers[name]))
    return {name: statistics.median(s) for name, s in samples.items()}, rounds


@dataclass
class Row:
    cfg: Config
    times: dict[str, float]
    rounds: int
    floor_kernels: str
    error: float
    notes: list[str] = field(default_factory=list)

    @property
    def vs_plain(self) -> float:
        return self.times["ours"] / self.times["plain"]

    @property
    def vs_torch(self) -> float:
        return self.times["ours"] / self.times["torch"]

    @property
    def vs_floor(self) -> float:
        return self.times["ours"] / self.times["floor"]


TOLERANCE = {"f32": 1e-4, "f64": 1e-10}


def run_config(cfg: Config, plan: Plan, seed: int) -> Row:
    gen = torch.Generator().manual_seed(seed)
    case = (fft_case if cfg.group in ("rfft2", "vmap-rfft2") else conv_case)(cfg, gen)
    # A benchmark of a wrong answer is worthless: check ours and the yardstick against torch's once.
    errors = {"ours": case.error(case.ours), "plain": case.error(case.plain)}
    contestants = {
        "ours": case.fwd_bwd(case.ours),
        "plain": case.fwd_bwd(case.plain),
        "torch": case.fwd_bwd(case.torch),
        "floor": case.floor,
    }
    times, rounds = measure(contestants, plan)
    row = Row(cfg, times, rounds, case.floor_kernels, errors["ours"])
    for who, error in errors.items():
        if error > TOLERANCE[cfg.dtype]:
            row.notes.append(
                f"{cfg.label} {cfg.dtype}: {who}'s output or gradients differ from torch's (relative error {error:.1e})"
            )
    return row


# ---------------------------------------------------------------------------
# the report


def geomean(values: list[float]) -> float:
    return math.exp(sum(map(math.log, values)) / len(values))


def ms(seconds: float) -> str:
    value = seconds * 1e3
    return f"{value:.3f}" if value < 1 else f"{value:.2f}" if value < 100 else f"{value:.0f}"


def ratio(value: float) -> str:
    return f"{value:.2f}×"


def versions_line(threads: int, quick: bool, wall_s: float, argv: list[str]) -> str:
    cmd = " ".join(["python benchmarks/bench.py", *argv])
    return (
        f"`{cmd}`: {'quick smoke run' if quick else 'full run'} in {wall_s:.0f} s on "
        f"{os.cpu_count()} CPUs ({platform.machine()}), Python {platform.python_version()}, "
        f"torch {torch.__version__} on **{threads} thread{'s' if threads != 1 else ''}** "
        f"(`torch.set_num_threads`), NumPy {np.__version__}, SciPy {scipy.__version__}, "
        f"npext {npext.__version__}. Times are medians of interleaved rounds, in ms per "
        "forward + backward; ratios are ours ÷ the other's median."
    )


#: Issue 24's goal: ours within this factor of the plainest correct Function, on the rows ``in_plain_goal`` names.
PLAIN_GOAL = 1.25


def in_plain_goal(cfg: Config) -> bool:
    """rfft2_abs from 32² to 512², and the correlation at 32² and 64² with filters 3 and 7 (issue 24)."""
    if cfg.group == "rfft2":
        return max(cfg.shape) <= 512
    return cfg.group == "conv2d" and cfg.shape[0] in (32, 64) and cfg.kernel in (3, 7)


def render(rows: list[Row], header: str) -> str:
    lines = [header, ""]
    goal_rows = [r for r in rows if in_plain_goal(r.cfg)]
    if goal_rows:
        worst = max(goal_rows, key=lambda r: r.vs_plain)
        within = sum(r.vs_plain <= PLAIN_GOAL for r in goal_rows)
        lines += [
            (
                f"Issue 24's rows (rfft2_abs 32² to 512², the correlation at 32² and 64² with k = 3, 7): "
                f"**{within} of {len(goal_rows)}** within {PLAIN_GOAL:g}× of the plainest correct Function; "
                f"worst ours/plain {ratio(worst.vs_plain)} ({worst.cfg.group} {worst.cfg.label} {worst.cfg.dtype})."
            ),
            "",
        ]
    lines += [
        (
            "| group | rows | geomean ours/plain | worst ours/plain | goal (ours/torch) | geomean ours/torch "
            "| worst ours/torch | meets goal | geomean ours/floor |"
        ),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, (title, goal_mean, goal_worst) in GROUPS.items():
        group = [r for r in rows if r.cfg.group == key]
        if not group:
            continue
        mean = geomean([r.vs_torch for r in group])
        worst = max(group, key=lambda r: r.vs_torch)
        worst_plain = max(group, key=lambda r: r.vs_plain)
        goal = f"geomean ≤ {goal_mean:g}×" + (f", worst ≤ {goal_worst:g}×" if goal_worst else "")
        meets = mean <= goal_mean and (goal_worst is None or worst.vs_torch <= goal_worst)
        lines.append(
            f"| {title} | {len(group)} | {ratio(geomean([r.vs_plain for r in group]))} | "
            f"{ratio(worst_plain.vs_plain)} ({worst_plain.cfg.label} {worst_plain.cfg.dtype}) | {goal} | "
            f"{ratio(mean)} | {ratio(worst.vs_torch)} ({worst.cfg.label} {worst.cfg.dtype}) | "
            f"{'yes' if meets else '**no**'} | {ratio(geomean([r.vs_floor for r in group]))} |"
        )
    lines += [
        "",
        (
            "| group | shape | dtype | ours ms | plain ms | torch ms | floor ms | ours/plain | ours/torch "
            "| ours/floor | floor kernels | rounds |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for r in rows:
        mark = ""
        for note in r.notes:
            notes.append(note)
            mark += f" [{len(notes)}]"
        goal = " ✓" if in_plain_goal(r.cfg) and r.vs_plain <= PLAIN_GOAL else ""
        goal = " **✗**" if in_plain_goal(r.cfg) and r.vs_plain > PLAIN_GOAL else goal
        lines.append(
            f"| {r.cfg.group} | {r.cfg.label} | {r.cfg.dtype} | {ms(r.times['ours'])} | {ms(r.times['plain'])} | "
            f"{ms(r.times['torch'])} | {ms(r.times['floor'])} | {ratio(r.vs_plain)}{goal} | "
            f"{ratio(r.vs_torch)}{mark} | {ratio(r.vs_floor)} | {r.floor_kernels} | {r.rounds} |"
        )
    if notes:
        lines.append("")
        lines += [f"[{i}] {note}" for i, note in enumerate(notes, 1)]
    return "\n".join(lines) + "\n"


def splice(page: Path, text: str) -> None:
    content = page.read_text()
    start, end = content.find(START), content.find(END)
    if start < 0 or end < start:
        sys.exit(f"{page}: markers {START} / {END} not found")
    page.write_text(content[: start + len(START)] + "\n" + text + content[end:])


# ---------------------------------------------------------------------------
# where a small call's time goes

SMALL_CALLS = [((32, 32), 3, "f32"), ((32, 32), 7, "f64"), ((64, 64), 3, "f32")]


class _DoNothing(torch.autograd.Function):
    """A Python Function that computes nothing: what torch charges any Function, forward + backward."""

    @staticmethod
    def forward(x, w, b):
        return x

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, grad):
        return grad, None, None


def small_call_layers(shape, k: int, dtype: torch.dtype) -> dict[str, Callable]:
    """ScipyConv2dFunction's forward + backward, built up layer by layer, and torch's F.conv2d."""
    from npext import _kernels  # the kernels' NumPy bodies: private, this is npext's own benchmark

    gen = torch.Generator().manual_seed(0)
    x, w, b = (torch.randn(s, generator=gen, dtype=dtype).requires_grad_() for s in (shape, (k, k), (1, 1)))
    g = torch.randn(shape[0] - k + 1, shape[1] - k + 1, generator=gen, dtype=dtype)
    xd, wd, bd = x.detach(), w.detach(), b.detach()
    xn, wn, gn = xd.numpy(), wd.numpy(), g.numpy()
    xt, wt = xd[None, None].requires_grad_(), wd[None, None].requires_grad_()
    return {
        "SciPy/NumPy work of the three kernels (NumPy in, NumPy out)": lambda: (
            _kernels._compute(xn, wn, "valid"),
            _kernels._compute(gn, wn, "full"),
            _kernels._compute(xn, gn, "valid"),
        ),
        "the same from tensors to tensors (npext.ops kernels), with the bias": lambda: (
            _kernels.correlate_valid(xd, wd) + bd.reshape(()),
            _kernels.correlate_valid_backward(g, xd, wd),
            g.sum(),
        ),
        "a Python autograd.Function that computes nothing": lambda: torch.autograd.grad(
            _DoNothing.apply(x, w, b), (x,), g.new_ones(shape)
        ),
        "the plainest correct Function, same SciPy kernels (plain.py)": lambda: torch.autograd.grad(
            plain.PlainScipyConv2d.apply(x, w, b), (x, w, b), g
        ),
        "ScipyConv2dFunction (ours)": lambda: torch.autograd.grad(
            npext.ScipyConv2dFunction.apply(x, w, b), (x, w, b), g
        ),
        "F.conv2d + bias (torch)": lambda: torch.autograd.grad(
            F.conv2d(xt, wt, b.reshape(1)), (xt, wt, b), g[None, None]
        ),
    }


SMALL_FFT_CALLS = [(32, "f32"), (64, "f64")]


class _DoNothingTwoOutputs(torch.autograd.Function):
    """What torch charges a Function shaped like RFFT2AbsFunction (two outputs saved, one used), computing nothing."""

    @staticmethod
    def forward(x):
        return x.detach().clone(), x.detach().clone()

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(*output)

    @staticmethod
    def backward(ctx, grad, _):
        _ = ctx.saved_tensors  # unpacked, as a backward does
        return grad


def small_fft_layers(n: int, dtype: torch.dtype) -> dict[str, Callable]:
    """rfft2_abs's forward + backward, built up layer by layer, the plainest correct Function and torch's."""
    from npext import _kernels

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, n, generator=gen, dtype=dtype).requires_grad_()
    g = torch.randn(n, n // 2 + 1, generator=gen, dtype=dtype)
    xd = x.detach()
    magnitude, parts = _kernels.rfft2_abs(xd)
    xn, gn, mn, pn = xd.numpy(), g.numpy(), magnitude.numpy(), parts.numpy()
    return {
        "SciPy/NumPy work of the two kernels (NumPy in, NumPy out)": lambda: (
            _kernels.rfft2_abs.numpy(xn),
            _kernels.rfft2_abs_backward.numpy(gn, mn, pn, n),
        ),
        "the same from tensors to tensors (npext.ops kernels)": lambda: (
            _kernels.rfft2_abs(xd),
            _kernels.rfft2_abs_backward(g, magnitude, parts, n),
        ),
        "a Python autograd.Function of its shape that computes nothing": lambda: torch.autograd.grad(
            _DoNothingTwoOutputs.apply(x)[0], (x,), torch.ones_like(x)
        ),
        "the plainest correct Function, same SciPy kernels (plain.py)": lambda: torch.autograd.grad(
            plain.PlainRFFT2Abs.apply(x), (x,), g
        ),
        "rfft2_abs (ours)": lambda: torch.autograd.grad(npext.rfft2_abs(x), (x,), g),
        "torch.fft.rfft2(x).abs() (torch)": lambda: torch.autograd.grad(torch.fft.rfft2(x).abs(), (x,), g),
    }


def _layers_table(title: str, times: dict[str, float], reference: str) -> list[str]:
    lines = [f"\n{title}\n", f"| layer | µs | ÷ {reference} |", "|---|---|---|"]
    return lines + [f"| {name} | {t * 1e6:.0f} | {t / times[reference]:.2f}× |" for name, t in times.items()]


def small_call_report(plan: Plan) -> str:
    lines = []
    plain_conv = "the plainest correct Function, same SciPy kernels (plain.py)"
    for shape, k, dtype in SMALL_CALLS:
        times, rounds = measure(small_call_layers(shape, k, DTYPES[dtype]), plan)
        title = f"{shape[0]}×{shape[1]}, k={k}, {dtype}: forward + backward, medians of {rounds} interleaved rounds"
        lines += _layers_table(title, times, plain_conv)
    for n, dtype in SMALL_FFT_CALLS:
        times, rounds = measure(small_fft_layers(n, DTYPES[dtype]), plan)
        title = f"rfft2_abs {n}×{n}, {dtype}: forward + backward, medians of {rounds} interleaved rounds"
        lines += _layers_table(title, times, plain_conv)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: few sizes, few rounds (seconds)")
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1, as SciPy's kernels)")
    ap.add_argument("--only", help="comma-separated groups to run: " + ", ".join(GROUPS))
    ap.add_argument(
        "--page",
        "--readme",  # its old name, from when the table was in the README
        type=Path,
        metavar="PATH",
        help="splice the table between the bench markers of this file (docs/speed.md)",
    )
    ap.add_argument("--seed", type=int, default=0, help="seed of the inputs and grad_outputs")
    ap.add_argument(
        "--small-call", action="store_true", help="only where a small conv call's time goes, layer by layer"
    )
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    plain.check()  # the yardstick against torch's own gradients: a wrong one would measure nothing
    if args.small_call:
        print(small_call_report(QUICK if args.quick else FULL), end="")
        return 0
    todo = configs(args.quick)
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - set(GROUPS)
        if unknown:
            ap.error(f"unknown groups {sorted(unknown)}; choose from {', '.join(GROUPS)}")
        todo = [c for c in todo if c.group in wanted]
    plan = QUICK if args.quick else FULL

    rows = []
    for i, cfg in enumerate(todo, 1):
        row = run_config(cfg, plan, args.seed + i)
        rows.append(row)
        print(
            f"[{i}/{len(todo)}] {cfg.group} {cfg.label} {cfg.dtype}: ours/plain {row.vs_plain:.2f}, "
            f"ours/torch {row.vs_torch:.2f}, "
            f"ours/floor {row.vs_floor:.2f} ({time.perf_counter() - _STARTED:.0f} s)",
            file=sys.stderr,
            flush=True,
        )
    wall = time.perf_counter() - _STARTED
    shown = [a for a in argv if not a.startswith(("--page", "--readme")) and a != str(args.page)]
    text = render(rows, versions_line(args.threads, args.quick, wall, shown))
    print(text, end="")
    if args.page:
        splice(args.page, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
