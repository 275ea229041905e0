"""NumPy, SciPy and torch have nothing to warn about: a deprecated call is tomorrow's error."""

import warnings

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from npext.testing import leaves
from tests.registry import FUNCTIONS


@pytest.mark.parametrize("entry", FUNCTIONS, ids=[e.name for e in FUNCTIONS])
@given(data=st.data())
def test_no_warnings_forward_backward_double_backward_and_forward_ad(entry, data):
    """NumPy and torch have nothing to warn about (a deprecated call is a future error).

    Except torch's own use of its deprecated torch.jit.script when torch.func
    pieces load, which pyproject.toml's filterwarnings ignores too.
    """
    case = data.draw(entry.case_strategy(), label="case")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated")
        inputs = leaves(case.args)
        outputs = entry.apply(*inputs)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        grad_outputs = case.grad_output if isinstance(case.grad_output, tuple) else (case.grad_output,)
        grad_outputs = [g.to(o.dtype) for o, g in zip(outputs, grad_outputs, strict=True)]
        grads = torch.autograd.grad(outputs, inputs, grad_outputs, create_graph=True)
        second = sum(g.double().sum() for g in grads if g.requires_grad)
        torch.autograd.grad(second, inputs, allow_unused=True)
        torch.func.jvp(entry.apply, tuple(a.detach() for a in case.args), tuple(a.detach() for a in case.args))
    assert not caught, [f"{w.category.__name__}: {w.message}" for w in caught]
