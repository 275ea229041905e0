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

from .shapes import conv_shapes, image_shapes
from .tensors import FLOAT_DTYPES, LAYOUTS, float_dtypes, float_tensors, layouts, with_layout

BIAS_SHAPES = ((1, 1), (1,), ())

#: Every |rfft2| coefficient of an fft_cases input is at least this times sqrt(H * W).
FFT_MIN_MAGNITUDE = 0.5
FFT_MAX_MAGNITUDE = 2.0


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
    max_side: int = 8,
):
    """A ``ConvCase``: input (H, W), a filter that fits it, a one-element bias.

    Values lie in [-1, 1], so every sum of k products is bounded by k (the
    tolerances derive from that). With ``mixed_dtypes`` each tensor draws its
    own dtype; otherwise all three share one. Layouts are drawn per tensor.
    """
    image_shape, filter_shape = draw(conv_shapes(min_side=min_side, max_side=max_side))
    shared = draw(float_dtypes(dtypes), label="dtype")

    def dtype_for(name):
        return draw(float_dtypes(dtypes), label=f"{name}_dtype") if mixed_dtypes else shared

    input = draw(
        float_tensors(image_shape, dtype=dtype_for("input"), layout=layouts(layout_choices)),
        label="input",
    )
    filter = draw(
        float_tensors(filter_shape, dtype=dtype_for("filter"), layout=layouts(layout_choices)),
        label="filter",
    )
    bias_shape = draw(st.sampled_from(BIAS_SHAPES), label="bias_shape")
    bias = draw(float_tensors(bias_shape, dtype=dtype_for("bias")), label="bias")
    output_shape = (image_shape[0] - filter_shape[0] + 1, image_shape[1] - filter_shape[1] + 1)
    output_dtype = torch.promote_types(torch.promote_types(input.dtype, filter.dtype), bias.dtype)
    grad_output = draw(float_tensors(output_shape, dtype=output_dtype), label="grad_output")
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
def fft_cases(draw, *, dtypes=FLOAT_DTYPES, layout_choices=LAYOUTS, min_side=1, max_side=8):
    """An ``FFTCase``: a real (H, W) input whose |rfft2| stays clear of 0.

    The input is built from its own spectrum: magnitudes in [0.5, 2] and any
    phases, made conjugate-symmetric where a real image's must be, then
    inverted with the orthonormal inverse FFT. So every |X| / sqrt(H * W) lies
    in [0.5, 2]: the kink of |X| at X = 0 is never near, without a filter.
    """
    height, width = draw(image_shapes(min_side=min_side, max_side=max_side), label="shape")
    half = (height, width // 2 + 1)
    magnitude = draw(
        hnp.arrays(np.float64, half, elements=st.floats(FFT_MIN_MAGNITUDE, FFT_MAX_MAGNITUDE)),
        label="magnitude",
    )
    phase = draw(hnp.arrays(np.float64, half, elements=st.floats(-np.pi, np.pi)), label="phase")
    spectrum = hermitian_half_spectrum(magnitude, phase, width)
    image = np.fft.irfft2(spectrum, s=(height, width), norm="ortho")
    dtype = draw(float_dtypes(dtypes), label="dtype")
    input = with_layout(image, dtype, draw(layouts(layout_choices), label="layout"))
    grad_output = draw(float_tensors(half, dtype=dtype), label="grad_output")
    return FFTCase(input, grad_output)


# ------------------------------------------------------------ the building blocks


@st.composite
def _two_tensor_cases(draw, output_shape, *, dtypes, mixed_dtypes, layout_choices, min_side, max_side):
    """Case(args=(a, k)) with a (H, W) and k fitting inside it, grad_output of output_shape(a, k)."""
    image_shape, filter_shape = draw(conv_shapes(min_side=min_side, max_side=max_side))
    shared = draw(float_dtypes(dtypes), label="dtype")

    def dtype_for(name):
        return draw(float_dtypes(dtypes), label=f"{name}_dtype") if mixed_dtypes else shared

    a = draw(float_tensors(image_shape, dtype=dtype_for("a"), layout=layouts(layout_choices)), label="a")
    k = draw(float_tensors(filter_shape, dtype=dtype_for("k"), layout=layouts(layout_choices)), label="k")
    grad_output = draw(
        float_tensors(output_shape(image_shape, filter_shape), dtype=torch.promote_types(a.dtype, k.dtype)),
        label="grad_output",
    )
    return Case(args=(a, k), grad_output=grad_output)


def correlate_cases(
    *, dtypes=FLOAT_DTYPES, mixed_dtypes: bool = False, layout_choices=LAYOUTS, min_side: int = 1, max_side: int = 8
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
    )


def convolve_cases(
    *, dtypes=FLOAT_DTYPES, mixed_dtypes: bool = False, layout_choices=LAYOUTS, min_side: int = 1, max_side: int = 8
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
    )


@st.composite
def rfft2_cases(draw, **options):
    """Cases for rfft2 as (re, im) parts: an fft_cases input (so |X| stays in fft_cases' bounds),
    grad_output (H, W // 2 + 1, 2) in [-1, 1]. ``options`` are fft_cases'."""
    x = draw(fft_cases(**options), label="fft_case").input
    height, width = x.shape
    grad_output = draw(float_tensors((height, width // 2 + 1, 2), dtype=x.dtype), label="grad_output")
    return Case(args=(x,), grad_output=grad_output)


@st.composite
def rfft2_adjoint_cases(draw, *, dtypes=FLOAT_DTYPES, layout_choices=LAYOUTS, min_side: int = 1, max_side: int = 8):
    """Cases for the adjoint of rfft2: a (H, W // 2 + 1, 2) spectrum and the width W (an int,
    never differentiated), grad_output (H, W); values in [-1, 1]."""
    height, width = draw(image_shapes(min_side=min_side, max_side=max_side), label="shape")
    dtype = draw(float_dtypes(dtypes), label="dtype")
    spectrum = draw(
        float_tensors((height, width // 2 + 1, 2), dtype=dtype, layout=layouts(layout_choices)),
        label="spectrum",
    )
    grad_output = draw(float_tensors((height, width), dtype=dtype), label="grad_output")
    return Case(args=(spectrum, width), grad_output=grad_output)
