"""The tutorial's usage examples, with only the imports changed, do what it shows."""

import torch
from torch.autograd.gradcheck import gradcheck

from npext import ScipyConv2d, incorrect_fft


def test_incorrect_fft_example():
    input = torch.randn(8, 8, requires_grad=True)
    result = incorrect_fft(input)
    assert result.shape == (8, 5) and result.dtype == torch.float32
    result.backward(torch.randn(result.size()))
    assert input.grad.shape == (8, 8)


def test_scipy_conv2d_example():
    module = ScipyConv2d(3, 3)
    filter, bias = list(module.parameters())
    assert filter.shape == (3, 3) and bias.shape == (1, 1)
    input = torch.randn(10, 10, requires_grad=True)
    output = module(input)
    assert output.shape == (8, 8) and output.grad_fn is not None
    output.backward(torch.randn(8, 8))
    assert input.grad.shape == (10, 10)
    assert filter.grad.shape == (3, 3) and bias.grad.shape == (1, 1)


def test_gradcheck_example_float32_module_on_float64_input():
    moduleConv = ScipyConv2d(3, 3)
    input = [torch.randn(20, 20, dtype=torch.double, requires_grad=True)]
    test = gradcheck(moduleConv, input, eps=1e-6, atol=1e-4)
    assert test is True
    assert moduleConv(input[0]).dtype == torch.float64
