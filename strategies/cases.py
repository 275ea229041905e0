"""Whole cases for each Function: its arguments plus a grad_output.

The public Functions' cases name their tensors (``ConvCase``, ``FFTCase``);
the building blocks' are ``npext.testing.Case``. Every case has ``.args`` and
``.grad_output``, which is all the property engine reads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from npext.testing import Case

from .shapes import LARGE_MAX_SIDE, SMALL_MAX_SIDE, image_shapes, size_classes, sized_conv_shapes
from .tensors import FLOAT_DTYPES, LAYOUTS, float_dtypes, float_tensors, grid_tensors, layouts, with_layout

BIAS_SHAPES = ((1, 1), (1,), (), (1, 1, 1))

#: Every |rfft2| coefficient of an fft_cases input is at least this times sqrt(H * W).
FFT_MIN_MAGNITUDE = 0.5
FFT_MAX_MAGNITUDE = 2.0


def values(big: bool, shape, **options):
    """Tensors of ``shape`` in [-1, 1]: any float32 values for small cases, and for large
    ones multiples of 1/16 from a seeded generator (``grid_tensors``: fast at any size,
    and direct sums of them are exact, so the tolerance for them is zero)."""
    return grid_tensors(shape, **options) if big else float_tensors(shape, **options)


@dataclass
class ConvCase:
    input: torch.Tensor
    filter: torch.Tensor
    bias: torch.Tensor
    grad_output: torch.Tensor

    @property
    def args(self):
        return (self.input, self.filter, self.bias)


@dataclass
class FFTCase:
    input: torch.Tensor
    grad_output: torch.Tensor

    @property
    def args(self):
        return (self.input,)


@st.composite
def conv_cases(
    draw,
    *,
    dtypes=FLOAT_DTYPES,
    mixed_dtypes: bool = False,
    layout_choices=LAYOUTS,
    min_side: int = 1,
    max_side: int = SMALL_MAX_SIDE,
    large: bool = False,
):
    """A ``ConvCase``: input (H, W), a filter that fits it, a one-element bias.

    Values lie in [-1, 1], so every sum of k products is bounded by k (the
    tolerances derive from that). With ``mixed_dtypes`` each tensor draws its
    own dtype; otherwise all three share one. Layouts are drawn per tensor.
    With ``large``, about one case in three is large (``size_classes``):
    sides up to 96, filters up to 24, values on the 1/16 grid.
    """
    big = draw(size_classes(large), label="large")
    image_shape, filter_shape = draw(sized_conv_shapes(big, min_side=min_side, max_side=max_side))
    shared = draw(float_dtypes(dtypes), label="dtype")

    def dtype_for(name):
        return draw(float_dtypes(dtypes), label=f"{name}_dtype") if mixed_dtypes else shared

    input = draw(
        values(big, image_shape, dtype=dtype_for("input"), layout=layouts(layout_choices)),
        label="input",
    )
    filter = draw(
        values(big, filter_shape, dtype=dtype_for("filter"), layout=layouts(layout_choices)),
        label="filter",
    )
    bias_shape = draw(st.sampled_from(BIAS_SHAPES), label="bias_shape")
    bias = draw(values(big, bias_shape, dtype=dtype_for("bias")), label="bias")
    output_shape = (image_shape[0] - filter_shape[0] + 1, image_shape[1] - filter_shape[1] + 1)
    output_dtype = torch.promote_types(torch.promote_types(input.dtype, filter.dtype), bias.dtype)
    grad_output = draw(values(big, output_shape, dtype=output_dtype), label="grad_output")
    return ConvCase(input, filter, bias, grad_output)


def hermitian_half_spectrum(magnitude: np.ndarray, phase: np.ndarray, width: int) -> np.ndarray:
    """The half spectrum (H, W // 2 + 1) of a real (H, W) image with these |X| and phases.

    Column 0, and the Nyquist column for even W, of a real image's rfft2 are
    conjugate-symmetric along the rows: the upper rows are mirrored from the
    lower ones, and self-mirrored entries become real (+-magnitude), so that
    rfft2 of the image gives back exactly these magnitudes.
    """
    spectrum = magnitude * np.exp(1j * phase)
    height = spectrum.shape[0]
    rows = np.arange(height)
    mirror = (-rows) % height
    for column in [0] + ([width // 2] if width % 2 == 0 else []):
        values = spectrum[:, column]
        symmetric = np.where(rows <= mirror, values, np.conj(values[mirror]))
        self_mirrored = rows == mirror
        signs = np.where(np.cos(phase[:, column]) < 0, -1.0, 1.0)
        symmetric[self_mirrored] = (signs * magnitude[:, column])[self_mirrored]
        spectrum[:, column] = symmetric
    return spectrum


@st.composite
def fft_cases(draw, *, dtypes=FLOAT_DTYPES, layout_choices=LAYOUTS, min_side=1, max_side=SMALL_MAX_SIDE, large=False):
    """An ``FFTCase``: a real (H, W) input whose |rfft2| stays clear of 0.

    The input is built from its own spectrum: magnitudes in [0.5, 2] and any
    phases, made conjugate-symmetric where a real image's must be, then
    inverted with the orthonormal inverse FFT. So every |X| / sqrt(H * W) lies
    in [0.5, 2]: the kink of |X| at X = 0 is never near, without a filter.
    With ``large``, about one case in three has sides up to 96, its spectrum
    drawn by a seeded generator (fast at any size).
    """
    big = draw(size_classes(large), label="large")
    height, width = draw(image_shapes(min_side=min_side, max_side=LARGE_MAX_SIDE if big else max_side), label="shape")
    half = (height, width // 2 + 1)
    if big:
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="seed"))
        magnitude = rng.uniform(FFT_MIN_MAGNITUDE, FFT_MAX_MAGNITUDE, half)
        phase = rng.uniform(-np.pi, np.pi, half)
    else:
        magnitude = draw(
            hnp.arrays(np.float64, half, elements=st.floats(FFT_MIN_MAGNITUDE, FFT_MAX_MAGNITUDE)),
            label="magnitude",
        )
        phase = draw(hnp.arrays(np.float64, half, elements=st.floats(-np.pi, np.pi)), label="phase")
    spectrum = hermitian_half_spectrum(magnitude, phase, width)
    image = np.fft.irfft2(spectrum, s=(height, width), norm="ortho")
    dtype = draw(float_dtypes(dtypes), label="dtype")
    input = with_layout(image, dtype, draw(layouts(layout_choices), label="layout"))
    grad_output = draw(values(big, half, dtype=dtype), label="grad_output")
    return FFTCase(input, grad_output)


# ------------------------------------------------------------ the building blocks


@st.composite
def _two_tensor_cases(draw, output_shape, *, dtypes, mixed_dtypes, layout_choices, min_side, max_side, large):
    """Case(args=(a, k)) with a (H, W) and k fitting inside it, grad_output of output_shape(a, k)."""
    big = draw(size_classes(large), label="large")
    image_shape, filter_shape = draw(sized_conv_shapes(big, min_side=min_side, max_side=max_side))
    shared = draw(float_dtypes(dtypes), label="dtype")

    def dtype_for(name):
        return draw(float_dtypes(dtypes), label=f"{name}_dtype") if mixed_dtypes else shared

    a = draw(values(big, image_shape, dtype=dtype_for("a"), layout=layouts(layout_choices)), label="a")
    k = draw(values(big, filter_shape, dtype=dtype_for("k"), layout=layouts(layout_choices)), label="k")
    grad_output = draw(
        values(big, output_shape(image_shape, filter_shape), dtype=torch.promote_types(a.dtype, k.dtype)),
        label="grad_output",
    )
    return Case(args=(a, k), grad_output=grad_output)


def correlate_cases(
    *,
    dtypes=FLOAT_DTYPES,
    mixed_dtypes: bool = False,
    layout_choices=LAYOUTS,
    min_side: int = 1,
    max_side: int = SMALL_MAX_SIDE,
    large: bool = False,
):
    """Cases for correlate2d(x, k, 'valid'): x (H, W), k that fits it, values in [-1, 1]."""

    def valid(x, k):
        return (x[0] - k[0] + 1, x[1] - k[1] + 1)

    return _two_tensor_cases(
        valid,
        dtypes=dtypes,
        mixed_dtypes=mixed_dtypes,
        layout_choices=layout_choices,
        min_side=min_side,
        max_side=max_side,
        large=large,
    )


def convolve_cases(
    *,
    dtypes=FLOAT_DTYPES,
    mixed_dtypes: bool = False,
    layout_choices=LAYOUTS,
    min_side: int = 1,
    max_side: int = SMALL_MAX_SIDE,
    large: bool = False,
):
    """Cases for convolve2d(g, k, 'full'): g (H, W), k no larger (as in the conv backward), values in [-1, 1]."""

    def full(g, k):
        return (g[0] + k[0] - 1, g[1] + k[1] - 1)

    return _two_tensor_cases(
        full,
        dtypes=dtypes,
        mixed_dtypes=mixed_dtypes,
        layout_choices=layout_choices,
        min_side=min_side,
        max_side=max_side,
        large=large,
    )


@st.composite
def rfft2_cases(draw, **options):
    """Cases for rfft2 as (re, im) parts: an fft_cases input (so |X| stays in fft_cases' bounds),
    grad_output (H, W // 2 + 1, 2) in [-1, 1]. ``options`` are fft_cases'."""
    x = draw(fft_cases(**options), label="fft_case").input
    height, width = x.shape
    big = max(x.shape) > options.get("max_side", SMALL_MAX_SIDE)  # drawn from fft_cases' large class
    grad_output = draw(values(big, (height, width // 2 + 1, 2), dtype=x.dtype), label="grad_output")
    return Case(args=(x,), grad_output=grad_output)


@st.composite
def fft_spectrum_cases(draw, **options):
    """Cases for ``RFFT2AbsFunction.apply`` (|X| and X): an fft_cases case, with a grad_output for X
    too, (H, W // 2 + 1, 2) in [-1, 1]. ``options`` are fft_cases'."""
    case = draw(fft_cases(**options), label="fft_case")
    big = max(case.input.shape) > options.get("max_side", SMALL_MAX_SIDE)  # drawn from fft_cases' large class
    shape = (*case.grad_output.shape, 2)
    grad_spectrum = draw(values(big, shape, dtype=case.input.dtype), label="grad_spectrum")
    return Case(args=(case.input,), grad_output=(case.grad_output, grad_spectrum))


@st.composite
def rfft2_adjoint_cases(
    draw,
    *,
    dtypes=FLOAT_DTYPES,
    layout_choices=LAYOUTS,
    min_side: int = 1,
    max_side: int = SMALL_MAX_SIDE,
    large: bool = False,
):
    """Cases for the adjoint of rfft2: a (H, W // 2 + 1, 2) spectrum and the width W (an int,
    never differentiated), grad_output (H, W); values in [-1, 1]."""
    big = draw(size_classes(large), label="large")
    height, width = draw(image_shapes(min_side=min_side, max_side=LARGE_MAX_SIDE if big else max_side), label="shape")
    dtype = draw(float_dtypes(dtypes), label="dtype")
    spectrum = draw(
        values(big, (height, width // 2 + 1, 2), dtype=dtype, layout=layouts(layout_choices)),
        label="spectrum",
    )
    grad_output = draw(values(big, (height, width), dtype=dtype), label="grad_output")
    return Case(args=(spectrum, width), grad_output=grad_output)
