"""Fixed, deterministic cases: the edge cases pinned with @example, and the CUDA round trip's."""

from __future__ import annotations

import numpy as np
import torch

from strategies import ConvCase, FFTCase
from strategies.cases import hermitian_half_spectrum


def conv_case(image, filter, dtype=torch.float64):
    """A fixed ConvCase with deterministic, non-symmetric values in [-1, 1]."""

    def ramp(shape):
        n = int(np.prod(shape)) if shape else 1
        return torch.linspace(-1, 1, n + 2, dtype=dtype)[1:-1].reshape(shape) * (-1) ** torch.arange(n).reshape(shape)

    out = (image[0] - filter[0] + 1, image[1] - filter[1] + 1)
    return ConvCase(ramp(image), ramp(filter), torch.full((1, 1), 0.25, dtype=dtype), ramp(out))


def fft_case(shape):
    height, width = shape
    half = (height, width // 2 + 1)
    magnitude = np.linspace(0.5, 2.0, half[0] * half[1]).reshape(half)
    phase = np.linspace(-3.0, 3.0, half[0] * half[1]).reshape(half)
    x = np.fft.irfft2(hermitian_half_spectrum(magnitude, phase, width), s=shape, norm="ortho")
    return FFTCase(torch.from_numpy(x), torch.ones(half, dtype=torch.float64))
