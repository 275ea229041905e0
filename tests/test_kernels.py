"""The kernels' switch from direct sums to FFT, pinned on both sides of its threshold.

``npext._kernels`` computes a correlation or convolution by FFT once its
direct sum would take ``FFT_FROM_PRODUCTS`` products. A bug in either
method, or in the switch, shows only on one side, so both sides are pinned
here, for the output and every gradient (which use the same products count:
grad_input is a full convolution of grad_output with the filter, grad_filter
a valid correlation of the input with grad_output).
"""

import math

import pytest
import torch
from torch.testing import assert_close

import npext
from npext import _kernels
from tests.registry import CONV


def fft_tolerance_for_correlation(dtype, x, k) -> dict:
    """Error bound of an FFT-based correlation of x with k, per output element.

    An FFT of length N computes each coefficient with an error of about
    eps * log2(N) times the 2-norm of its input; the product of the two
    spectra and the inverse FFT add the same, so each output element is off
    by about eps * log2(N) * ||x||_2 * ||k||_2 (Cauchy-Schwarz on the
    convolution sum); 10 is a generous constant. A direct sum's bound (kh * kw
    terms, each at most max|x| * max|k|) is smaller for the sizes where the
    direct method is used, so this bound covers both sides of the switch.
    """
    n = (x.shape[0] + k.shape[0] - 1) * (x.shape[1] + k.shape[1] - 1)
    atol = 10 * torch.finfo(dtype).eps * math.log2(n) * float(x.norm() * k.norm())
    return {"rtol": 0, "atol": atol}


# 5x5 filter: a 51x51 output takes 65,025 products (direct), 52x52 67,600 (FFT);
# non-square: 50x52 takes 65,000 (direct), 52x51 66,300 (FFT)
BOUNDARY = [((55, 55), False), ((56, 56), True), ((54, 56), False), ((56, 55), True)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    "shape, by_fft", BOUNDARY, ids=[f"{s[0]}x{s[1]}-{'fft' if f else 'direct'}" for s, f in BOUNDARY]
)
def test_both_sides_of_the_fft_switch_match_the_oracle(shape, by_fft, dtype):
    generator = torch.Generator().manual_seed(sum(shape))
    x = torch.rand(shape, dtype=torch.float64, generator=generator) * 2 - 1
    k = torch.rand(5, 5, dtype=torch.float64, generator=generator) * 2 - 1
    b = torch.tensor([[0.25]], dtype=torch.float64)
    output_shape = (shape[0] - 4, shape[1] - 4)
    g = torch.rand(output_shape, dtype=torch.float64, generator=generator) * 2 - 1
    assert _kernels.FFT_FROM_PRODUCTS == 1 << 16
    assert _kernels.uses_fft(shape, k.shape, "valid") is by_fft
    assert _kernels.uses_fft(output_shape, k.shape, "full") is by_fft
    assert _kernels.uses_fft(shape, output_shape, "valid") is by_fft

    inputs = [t.to(dtype).requires_grad_() for t in (x, k, b)]
    out = npext.ScipyConv2dFunction.apply(*inputs)
    grads = torch.autograd.grad(out, inputs, g.to(dtype))
    exact = [t.clone().requires_grad_() for t in (x, k, b)]
    want = CONV.oracle(*exact)
    want_grads = torch.autograd.grad(want, exact, g)

    assert_close(out.double(), want, **fft_tolerance_for_correlation(dtype, x, k))
    assert_close(grads[0].double(), want_grads[0], **fft_tolerance_for_correlation(dtype, g, k))
    assert_close(grads[1].double(), want_grads[1], **fft_tolerance_for_correlation(dtype, x, g))
    # the bias gradient is a torch sum of grad_output: n terms of size <= 1
    assert_close(grads[2].double(), want_grads[2], rtol=0, atol=g.numel() ** 2 * torch.finfo(dtype).eps)
