"""The tutorial's nn.Module, ScipyConv2d, under torch.func: vmap and functional grad."""

import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.testing import assert_close

import npext
from npext.testing import sum_tolerance
from strategies import conv_cases
from tests.registry import CONV


@given(case=conv_cases(dtypes=(torch.float64,)), batch=st.integers(1, 3))
def test_module_under_vmap_equals_loop(case, batch):
    module = npext.ScipyConv2d(*case.filter.shape).double()
    images = torch.stack([case.input * (i + 1) for i in range(batch)])
    assert_close(torch.func.vmap(module)(images), torch.stack([module(im) for im in images]), rtol=0, atol=0)


@given(case=conv_cases(dtypes=(torch.float64,)))
def test_torch_func_grad_through_module_matches_oracle(case):
    """torch.func.grad of a scalar loss through ScipyConv2d (functional_call) equals the oracle's."""
    module = npext.ScipyConv2d(*case.filter.shape).double()
    params = {"filter": case.filter, "bias": case.bias.reshape(1, 1)}

    def loss(params, image):
        return (torch.func.functional_call(module, params, (image,)) * case.grad_output).sum()

    def oracle_loss(params, image):
        return (CONV.oracle(image, params["filter"], params["bias"]) * case.grad_output).sum()

    grads = torch.func.grad(loss, argnums=(0, 1))(params, case.input)
    expected = torch.func.grad(oracle_loss, argnums=(0, 1))(params, case.input)
    tol = sum_tolerance(torch.float64, case.input.numel())
    assert_close(grads, expected, **tol)
