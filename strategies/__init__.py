"""Hypothesis strategies for npext's Functions.

Small composable pieces in the manner of ``hypothesis.extra.numpy``:

* ``shapes``:  ``image_shapes``, ``filter_shapes``, ``conv_shapes`` (filter fits input);
* ``tensors``: ``float_dtypes``, ``layouts``, ``float_tensors`` (finite values, any layout),
  re-exported from ``npext.testing``, where the generic strategies live;
* ``cases``:   whole cases per Function, ``conv_cases``, ``fft_cases`` (and
  ``fft_spectrum_cases`` for both outputs of ``RFFT2AbsFunction``), and
  for the building blocks ``correlate_cases``, ``convolve_cases``,
  ``rfft2_cases`` and ``rfft2_adjoint_cases``.

Every strategy only produces inputs on which the properties are true: filters
always fit their input, values are bounded so tolerances can be derived, and
FFT inputs keep every |rfft2| coefficient away from the kink of |.| at 0.
"""

from .cases import (
    ConvCase,
    FFTCase,
    conv_cases,
    convolve_cases,
    correlate_cases,
    fft_cases,
    fft_spectrum_cases,
    rfft2_adjoint_cases,
    rfft2_cases,
)
from .shapes import conv_shapes, filter_shapes, image_shapes
from .tensors import FLOAT_DTYPES, LAYOUTS, float_dtypes, float_tensors, layouts, with_layout

__all__ = [
    "FLOAT_DTYPES",
    "LAYOUTS",
    "ConvCase",
    "FFTCase",
    "conv_cases",
    "conv_shapes",
    "convolve_cases",
    "correlate_cases",
    "fft_cases",
    "fft_spectrum_cases",
    "filter_shapes",
    "float_dtypes",
    "float_tensors",
    "image_shapes",
    "layouts",
    "rfft2_adjoint_cases",
    "rfft2_cases",
    "with_layout",
]
