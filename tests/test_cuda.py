"""A tensor on a CUDA device: computed on the host, the results come back to the device.

Skipped without CUDA; ``tools/device_check.sh`` runs it on a machine with a GPU.
"""

import pytest
import torch
from torch.testing import assert_close

from tests.pinned_cases import conv_case, fft_case
from tests.registry import CONV, RFFT2_ABS


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (run by tools/device_check.sh)")
@pytest.mark.parametrize("entry", [CONV, RFFT2_ABS], ids=lambda e: e.name)
def test_cuda_round_trip(entry):
    """A CUDA tensor is computed on the host; the output and gradients come back to CUDA."""
    case = conv_case((6, 7), (3, 2)) if entry is CONV else fft_case((5, 6))
    cpu_inputs = [a.clone().requires_grad_() for a in case.args]
    cuda_inputs = [a.cuda().requires_grad_() for a in case.args]
    out_cpu, out_cuda = entry.apply(*cpu_inputs), entry.apply(*cuda_inputs)
    assert out_cuda.device.type == "cuda"
    grads_cpu = torch.autograd.grad(out_cpu, cpu_inputs, case.grad_output)
    grads_cuda = torch.autograd.grad(out_cuda, cuda_inputs, case.grad_output.cuda())
    # NumPy computes on the host either way; only torch's own reductions (the
    # bias gradient's sum) run on the GPU, in another order: the usual tolerance
    tol = entry.tolerance(torch.float64, *case.args)
    assert_close(out_cuda.cpu(), out_cpu, **tol)
    for g_cpu, g_cuda in zip(grads_cpu, grads_cuda, strict=False):
        assert g_cuda.device.type == "cuda"
        assert_close(g_cuda.cpu(), g_cpu, **tol)
