# ruff: noqa: RUF001 (the tables print sizes with the multiplication sign)
"""The default tolerance through the engine: hunt a gradient off by a relative r, at one size per column.

    python tools/tolerance_hunt_table.py [--examples N]

For a NumPy cumsum over rows (one argument) and a NumPy matmul of two square
arguments, whose backward returns the right gradient times (1 + r), at
sizes 4x4 to 64x64 in float32 and float64: ``hunt(entry,
"gradients_match_oracle")`` with the default tolerance, cases of that one
size (values and grad_output drawn by ``float_tensors``, in [-1, 1]). A cell
says caught (and after how many examples) or missed; the last column is the
correct Function's hunt at the same size, which must pass.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from hypothesis import strategies as st
from torch.autograd.function import once_differentiable

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from npext.testing import Case, FunctionUnderTest, float_tensors, hunt

SIZES = (4, 16, 32, 64)
RATES = {torch.float32: (1e-3, 1e-4, 1e-5), torch.float64: (1e-9,)}


def _np(t):
    return t.detach().numpy()


def cumsum_function(r: float):
    class Cumsum(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return torch.from_numpy(np.cumsum(_np(x), axis=0))

        @staticmethod
        @once_differentiable
        def backward(ctx, g):
            grad = np.flip(np.cumsum(np.flip(_np(g), 0), axis=0), 0)
            return torch.from_numpy((grad * (1 + r)).astype(grad.dtype))

    return Cumsum


def matmul_function(r: float):
    class Matmul(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            return torch.from_numpy(_np(a) @ _np(b))

        @staticmethod
        @once_differentiable
        def backward(ctx, g):
            a, b = (_np(t) for t in ctx.saved_tensors)
            ga, gb = _np(g) @ b.T, a.T @ _np(g)
            return torch.from_numpy((ga * (1 + r)).astype(ga.dtype)), torch.from_numpy((gb * (1 + r)).astype(gb.dtype))

    return Matmul


def cases(n: int, dtype, arity: int):
    @st.composite
    def draw_case(draw, **options):
        args = tuple(draw(float_tensors((n, n), dtype=dtype)) for _ in range(arity))
        return Case(args, draw(float_tensors((n, n), dtype=dtype)))

    return draw_case


MAPS = {
    "cumsum over rows": (cumsum_function, lambda x: torch.cumsum(x, 0), 1),
    "matmul": (matmul_function, torch.matmul, 2),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=25)
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    for title, (make, oracle, arity) in MAPS.items():
        print(f"\n{title}: hunt(entry, 'gradients_match_oracle'), default tolerance, {args.examples} examples\n")
        print("| dtype | r | " + " | ".join(f"{n}×{n}" for n in SIZES) + " |")
        print("|---|---|" + "---|" * len(SIZES))
        for dtype, rates in RATES.items():
            correct = []
            for r in (*rates, 0.0):
                cells = []
                for n in SIZES:
                    entry = FunctionUnderTest(f"{title} {n}", make(r).apply, cases(n, dtype, arity), oracle)
                    result = hunt(entry, "gradients_match_oracle", max_examples=args.examples)
                    cells.append(f"caught ({result.examples})" if result.caught else "**missed**")
                if r == 0.0:
                    correct = cells
                else:
                    print(f"| {str(dtype)[6:]} | {r:g} | " + " | ".join(cells) + " |")
            print(
                f"| {str(dtype)[6:]} | 0 (correct) | "
                + " | ".join(c.replace("caught", "**false catch**").replace("**missed**", "passes") for c in correct)
                + " |"
            )
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
