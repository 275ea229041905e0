"""The kernels' choice of method, pinned on both sides of every switch.

``npext._kernels.method`` computes a 'valid' correlation or a 'full'
convolution by SciPy's direct sum, a NumPy loop over the filter taps or over
the output positions (image elements for 'full'), or by FFT, whichever its
cost model of the shapes says is cheapest. A bug in any method, or in the
switch, shows only on one side of it, so here each switch the shapes of
npext's Functions meet is pinned by a shape just below and one just above it,
checking the method and the result against a float64 ``F.conv2d`` oracle.
The loops' own switch (taps or positions, whichever are fewer) is pinned on
the loops themselves, since where it flips the cost model picks the FFT.
"""

import math

import numpy as np
import pytest
import scipy
import scipy.fft
import torch
import torch.nn.functional as F
from scipy.signal import convolve2d, correlate2d
from torch.testing import assert_close

import npext
from npext import _kernels
from npext._kernels import _weights
from tests.helpers import filled
from tests.registry import CONV

CUSTOM_OPS_SKIP = "torch < 2.5: a kernel is its NumPy function, without an op"

DTYPES = [torch.float32, torch.float64]


def fft_tolerance_for_correlation(dtype, x, k) -> dict:
    """Error bound of an FFT-based correlation of x with k, per output element.

    An FFT of length N computes each coefficient with an error of about
    eps * log2(N) times the 2-norm of its input; the product of the two
    spectra and the inverse FFT add the same, so each output element is off
    by about eps * log2(N) * ||x||_2 * ||k||_2 (Cauchy-Schwarz on the
    convolution sum); 10 is a generous constant.
    """
    n = (x.shape[-2] + k.shape[-2] - 1) * (x.shape[-1] + k.shape[-1] - 1)
    atol = 10 * torch.finfo(dtype).eps * math.log2(n) * float(x.norm() * k.norm())
    return {"rtol": 0, "atol": atol}


def direct_tolerance(dtype, x, k) -> dict:
    """Error bound of a direct sum of m products per output element, m = k's elements.

    A floating sum of m terms (in any order: SciPy's, the loop's row-major
    taps, NumPy's pairwise sum) is off by at most m * eps times the sum of the
    terms' sizes, each product adding one more rounding: (m + 1) * eps *
    sum |x| |k| over the window, at most (m + 1) * eps * max|x| * sum|k|.
    ``full`` sums over the smaller operand's elements, so m is the smaller
    size and the bound uses the larger operand's max: the same expression with
    the operands ordered.
    """
    small, big = (k, x) if k.numel() <= x.numel() else (x, k)
    m = small.numel()
    atol = (m + 1) * torch.finfo(dtype).eps * float(big.abs().max() * small.abs().sum())
    return {"rtol": 0, "atol": atol}


def tolerance(how, dtype, x, k) -> dict:
    return (fft_tolerance_for_correlation if how == "fft" else direct_tolerance)(dtype, x, k)


def oracle(x, k, mode):
    """float64 F.conv2d: the valid correlation of x with k, or the full convolution (k flipped, padded)."""
    x, k = x.double()[None, None], k.double()[None, None]
    if mode == "valid":
        return F.conv2d(x, k)[0, 0]
    kh, kw = k.shape[-2:]
    return F.conv2d(x, k.flip(-2, -1), padding=(kh - 1, kw - 1))[0, 0]


def kernel(mode):
    return _kernels.correlate_valid if mode == "valid" else _kernels.convolve_full


# (image shape, kernel shape, mode, method): pairs just below and just above each switch,
# found by scanning method() over the families npext's Functions call:
# forward (x, filter, valid), grad_input (grad_output, filter, full) and
# grad_filter (x, grad_output, valid, with grad_output nearly as large as x)
SWITCHES = {
    # one output position: a one-pass loop beats SciPy's call
    "positions|scipy": [((7, 7), (7, 7), "valid", "positions"), ((8, 8), (7, 7), "valid", "scipy")],
    # one filter tap (grad_filter of a 1x1 output): likewise
    "taps|scipy": [((3, 3), (1, 1), "valid", "taps"), ((3, 3), (2, 2), "valid", "scipy")],
    # forward, 3x3 filter: the loop over 9 taps overtakes SciPy
    "scipy|taps valid": [((39, 39), (3, 3), "valid", "scipy"), ((40, 40), (3, 3), "valid", "taps")],
    # grad_input, 3x3 filter
    "scipy|taps full": [((37, 37), (3, 3), "full", "scipy"), ((38, 38), (3, 3), "full", "taps")],
    # 'full' with the first operand the smaller: the loop runs over its elements
    "scipy|positions full": [((3, 3), (37, 37), "full", "scipy"), ((3, 3), (38, 38), "full", "positions")],
    # grad_filter, 3x3 output: the loop over 9 positions overtakes SciPy
    "scipy|positions valid": [((39, 39), (37, 37), "valid", "scipy"), ((40, 40), (38, 38), "valid", "positions")],
    # forward, 7x7 filter: FFT overtakes SciPy
    "scipy|fft valid": [((28, 28), (7, 7), "valid", "scipy"), ((29, 29), (7, 7), "valid", "fft")],
    # grad_input, 7x7 filter
    "scipy|fft full": [((21, 21), (7, 7), "full", "scipy"), ((22, 22), (7, 7), "full", "fft")],
    # forward, 5x5 filter: the FFT's log grows, and the loop over 25 taps overtakes it
    "fft|taps": [((74, 74), (5, 5), "valid", "fft"), ((75, 75), (5, 5), "valid", "taps")],
    # grad_filter, 7x7 output: likewise for the loop over 49 positions
    "fft|positions": [((49, 49), (43, 43), "valid", "fft"), ((50, 50), (44, 44), "valid", "positions")],
}
CASES = [(name, *case) for name, pair in SWITCHES.items() for case in pair]


def test_every_method_is_pinned():
    assert {case[-1] for case in CASES} == set(_kernels.METHODS)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "switch, image, kernel_shape, mode, how",
    CASES,
    ids=[f"{c[0]}-{c[1][0]}x{c[1][1]}-{c[2][0]}x{c[2][1]}-{c[4]}" for c in CASES],
)
def test_both_sides_of_each_switch_match_the_oracle(switch, image, kernel_shape, mode, how, dtype):
    assert _kernels.method(image, kernel_shape, mode) == how
    assert _kernels.uses_fft(image, kernel_shape, mode) is (how == "fft")
    generator = torch.Generator().manual_seed(sum(image) + sum(kernel_shape))
    x = (torch.rand(image, dtype=torch.float64, generator=generator) * 2 - 1).to(dtype)
    k = (torch.rand(kernel_shape, dtype=torch.float64, generator=generator) * 2 - 1).to(dtype)
    out = kernel(mode)(x, k)
    assert out.dtype == dtype
    assert_close(out.double(), oracle(x, k, mode), **tolerance(how, dtype, x.double(), k.double()))


def test_the_cost_model_is_the_documented_one():
    # a 128x128 image with a 3x3 filter: 9 passes of 126^2 products, SciPy's
    # 142,884 products, or an FFT of 130^2 points
    costs = _kernels.method_costs((128, 128), (3, 3), "valid")
    assert costs["taps"] == 9 * 5_000 + 1.2 * 142_884
    assert costs["positions"] == math.inf
    assert costs["scipy"] == 10_000 + 4 * 142_884
    assert costs["fft"] == 80_000 + 2.5 * 130**2 * math.log2(130**2)
    assert _kernels.method((128, 128), (3, 3), "valid") == "taps"


# the loops' switch: taps while kh * kw <= the output positions ('valid') or image elements ('full')
LOOP_SWITCH = [
    ((10, 10), (5, 5), "valid"),  # 25 taps, 36 positions: taps
    ((9, 9), (5, 5), "valid"),  # 25 taps, 25 positions: taps (ties loop over taps)
    ((8, 9), (5, 5), "valid"),  # 25 taps, 20 positions: positions
    ((5, 5), (5, 5), "full"),  # 25 taps, 25 image elements: taps
    ((4, 6), (5, 5), "full"),  # 25 taps, 24 image elements: loop over the image's elements
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("image, kernel_shape, mode", LOOP_SWITCH)
def test_both_sides_of_the_loops_switch_match_the_oracle(image, kernel_shape, mode, dtype):
    taps, others = kernel_shape[0] * kernel_shape[1], image[0] * image[1]
    if mode == "valid":
        others = (image[0] - kernel_shape[0] + 1) * (image[1] - kernel_shape[1] + 1)
    costs = _kernels.method_costs(image, kernel_shape, mode)
    assert (costs["taps"] < math.inf) is (taps <= others)
    assert (costs["positions"] < math.inf) is (taps > others)
    generator = torch.Generator().manual_seed(sum(image))
    x = (torch.rand(image, dtype=torch.float64, generator=generator) * 2 - 1).to(dtype)
    k = (torch.rand(kernel_shape, dtype=torch.float64, generator=generator) * 2 - 1).to(dtype)
    loop = _kernels._loop_valid if mode == "valid" else _kernels._loop_full
    out = torch.from_numpy(loop(x.numpy(), k.numpy()))
    assert out.dtype == dtype
    assert_close(out.double(), oracle(x, k, mode), **direct_tolerance(dtype, x.double(), k.double()))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "image, kernel_shape, mode",
    [
        ((40, 40), (3, 3), "valid"),
        ((40, 40), (38, 38), "valid"),
        ((38, 38), (3, 3), "full"),
        ((3, 3), (38, 38), "full"),
    ],
)
def test_the_loops_compute_each_image_of_a_batch_as_alone(image, kernel_shape, mode, dtype):
    """Batched and broadcast, every image's result is the unbatched one bit for bit (vmap equals a loop)."""
    generator = torch.Generator().manual_seed(0)
    x = torch.rand((3, 1, *image), dtype=dtype, generator=generator) - 0.5
    k = torch.rand((2, *kernel_shape), dtype=dtype, generator=generator) - 0.5
    assert _kernels.method(image, kernel_shape, mode) in ("taps", "positions")
    out = kernel(mode)(x, k)
    assert out.shape[:2] == (3, 2)
    for i in range(3):
        for j in range(2):
            assert torch.equal(out[i, j], kernel(mode)(x[i, 0], k[j]))


def test_dyadic_values_come_out_exact_from_every_direct_method():
    """Values that are small multiples of 2^-4 have exact products and sums: no rounding at all."""
    rng = np.random.default_rng(0)
    for image, kernel_shape, mode, how in [case[1:] for case in CASES if case[-1] != "fft"]:
        x = torch.from_numpy(rng.integers(-16, 17, image) / 16)
        k = torch.from_numpy(rng.integers(-16, 17, kernel_shape) / 16)
        assert _kernels.method(image, kernel_shape, mode) == how
        assert torch.equal(kernel(mode)(x, k), oracle(x, k, mode)), (image, kernel_shape, mode, how)


# the whole Function across the forward's switch from SciPy to FFT (7x7 filter):
# grad_input (full) and grad_filter (valid, a 7x7 output) switch elsewhere, and
# the FFT's bound covers every direct sum here (it is the larger)
FUNCTION_SHAPES = [((28, 28), "scipy"), ((29, 29), "fft")]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, how", FUNCTION_SHAPES, ids=[f"{s[0]}x{s[1]}-{h}" for s, h in FUNCTION_SHAPES])
def test_the_function_on_both_sides_of_the_forward_switch_matches_the_oracle(shape, how, dtype):
    generator = torch.Generator().manual_seed(sum(shape))
    x = torch.rand(shape, dtype=torch.float64, generator=generator) * 2 - 1
    k = torch.rand(7, 7, dtype=torch.float64, generator=generator) * 2 - 1
    b = torch.tensor([[0.25]], dtype=torch.float64)
    output_shape = (shape[0] - 6, shape[1] - 6)
    g = torch.rand(output_shape, dtype=torch.float64, generator=generator) * 2 - 1
    assert _kernels.method(shape, k.shape, "valid") == how

    inputs = [t.to(dtype, copy=True).requires_grad_() for t in (x, k, b)]
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


# ------------------------------------------------------------ the cost model's inputs


@pytest.fixture(autouse=True)
def _ask_the_cost_model_afresh():
    """``method`` caches its answers by shape: clear them so each test here reaches ``method_costs``.

    Without this, a test asks the cache that earlier tests filled (mutmut forks
    its mutants from a process that has run the whole suite once), and a wrong
    cost model would go unnoticed for every shape seen before.
    """
    _kernels._method.cache_clear()


@pytest.mark.parametrize("mode", ["valid", "full"])
@pytest.mark.parametrize("image, kernel_shape", [((40, 40), (3, 3)), ((9, 30), (4, 2)), ((3, 3), (38, 38))])
def test_the_cost_model_reads_one_image_of_batched_shapes(image, kernel_shape, mode):
    """Leading batch dims change nothing: each image is computed as it would be alone."""
    alone = _kernels.method_costs(image, kernel_shape, mode)
    for batch_x, batch_k in [((5,), ()), ((2, 3), (3,)), ((1,), (4, 1))]:
        x_shape, k_shape = (*batch_x, *image), (*batch_k, *kernel_shape)
        assert _kernels.method_costs(x_shape, k_shape, mode) == alone
        assert _kernels.direct_products(x_shape, k_shape, mode) == _kernels.direct_products(image, kernel_shape, mode)
        assert _kernels.method(x_shape, k_shape, mode) == _kernels.method(image, kernel_shape, mode)


def test_the_method_cache_keeps_one_entry_per_image_shape():
    """Batches of any size share the cached choice of their images' shapes (a vmap's calls stay cache hits)."""
    _kernels._method.cache_clear()
    for batch_x, batch_k in [((), ()), ((5,), ()), ((2, 3), (3,)), ((1,), (4, 1))]:
        _kernels.method((*batch_x, 40, 40), (*batch_k, 3, 3), "valid")
    assert _kernels._method.cache_info().currsize == 1


def test_direct_products_count_one_image_of_either_mode():
    # valid: (9-4+1) * (30-2+1) outputs of 8 taps; full: 9*30 image elements times 8 taps
    assert _kernels.direct_products((9, 30), (4, 2), "valid") == 8 * 6 * 29
    assert _kernels.direct_products((9, 30), (4, 2), "full") == 8 * 9 * 30
    costs = _kernels.method_costs((9, 30), (4, 2), "full")
    assert costs["scipy"] == 10_000 + 4 * 8 * 9 * 30
    assert costs["taps"] == 8 * 5_000 + 1.2 * 8 * 9 * 30
    assert costs["fft"] == 80_000 + 2.5 * 12 * 31 * math.log2(12 * 31)


# ------------------------------------------------------------ the loops on a grid: exact, batched as alone


def grid(generator, shape):
    """Multiples of 1/16 in [-1, 1]: products and sums of a few hundred are exact in float32 and float64."""
    return torch.randint(-16, 17, shape, generator=generator, dtype=torch.float64) / 16


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "image, kernel_shape, mode",
    [
        ((9, 7), (2, 3), "valid"),  # taps, non-square: rows and columns of the filter told apart
        ((5, 4), (4, 2), "valid"),  # 8 taps, 6 positions: the loop over positions
        ((6, 5), (2, 3), "full"),  # the filter is the smaller operand
        ((2, 3), (6, 5), "full"),  # the image is
    ],
)
def test_the_loops_are_exact_on_grid_values_batched_or_alone(image, kernel_shape, mode, dtype):
    """Exact sums (values on a 1/16 grid) equal the oracle bit for bit, alone and in a broadcast batch."""
    generator = torch.Generator().manual_seed(1)
    x, k = grid(generator, (3, 1, *image)).to(dtype), grid(generator, (2, *kernel_shape)).to(dtype)
    loop = _kernels._loop_valid if mode == "valid" else _kernels._loop_full
    batched = torch.from_numpy(loop(x.numpy(), k.numpy()))
    assert batched.shape[:2] == (3, 2) and batched.dtype == dtype
    for i in range(3):
        for j in range(2):
            alone = torch.from_numpy(loop(x[i, 0].numpy(), k[j].numpy()))
            assert torch.equal(alone, oracle(x[i, 0], k[j], mode).to(dtype))
            assert torch.equal(batched[i, j], alone)


# ------------------------------------------------------------ the plain-eager shortcut


@pytest.mark.skipif(_kernels.correlate_valid.op is None, reason=CUSTOM_OPS_SKIP)
def test_the_eager_shortcut_and_the_op_give_the_same_bits():
    """Each kernel called in plain eager (the NumPy function itself) equals its custom op, bit for bit.

    The generic rules of the shortcut are tests/test_ops.py's.
    """
    generator = torch.Generator().manual_seed(2)
    x, k = torch.rand(12, 10, generator=generator) - 0.5, torch.rand(3, 4, generator=generator) - 0.5
    spectrum = _kernels.rfft2(x)
    for kernel, args in [
        (_kernels.correlate_valid, (x, k)),
        (_kernels.convolve_full, (x, k)),
        (_kernels.rfft2, (x,)),
        (_kernels.rfft2_adjoint, (spectrum, 10)),
    ]:
        assert torch.equal(kernel(*args), kernel.op(*args))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["valid", "full"])
@pytest.mark.parametrize(
    "image, kernel_shape", [((29, 29), (7, 7)), ((37, 23), (11, 4)), ((2, 3, 45, 31), (1, 3, 9, 14))]
)
def test_the_fft_path_is_scipy_fftconvolve_bit_for_bit(image, kernel_shape, mode, dtype):
    """``_fft_convolve`` computes what fftconvolve does, the same way: same padding, same slice, same bits."""
    from scipy.signal import fftconvolve

    rng = np.random.default_rng(3)
    x, k = rng.uniform(-1, 1, image).astype(dtype), rng.uniform(-1, 1, kernel_shape).astype(dtype)
    want = fftconvolve(x, k, mode=mode, axes=(-2, -1))
    got = _kernels._fft_convolve(x, k, mode)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert np.array_equal(got, want)


# Which operand the loops run over is a matter of speed (one pass of Python per
# element of it), invisible in the result but for the order of the sum: pinned
# by watching ``_weights``, which the loops call with the operand they run over.
@pytest.mark.parametrize(
    "g_shape, k_shape, looped",
    [
        ((5, 6), (3, 2), "k"),
        ((3, 2), (5, 6), "g"),
        ((4, 7), (2, 5, 6), "g"),  # per image 28 < 30 elements: a batch dim is not a row
        ((2, 4, 7), (4, 5), "k"),  # 20 < 28
        ((4, 5), (5, 4), "k"),  # a tie goes to k
    ],
)
def test_the_full_loop_runs_over_the_smaller_operand(monkeypatch, g_shape, k_shape, looped):
    seen = []
    monkeypatch.setattr(_kernels, "_weights", lambda small: seen.append(small.shape) or _weights(small))
    _kernels._loop_full(np.ones(g_shape), np.ones(k_shape))
    assert seen == [g_shape if looped == "g" else k_shape]


@pytest.mark.parametrize(
    "image, kernel_shape, loop",
    [((6, 6), (2, 2), "taps"), ((6, 6), (5, 5), "positions"), ((3, 3), (2, 2), "taps"), ((9, 4), (8, 3), "positions")],
)
def test_the_valid_loop_runs_over_the_fewer_of_taps_and_positions(monkeypatch, image, kernel_shape, loop):
    """Taps (kh * kw) or output positions, taps on a tie (3x3 with 2x2: 4 of each); only the taps loop weighs k."""
    seen = []
    monkeypatch.setattr(_kernels, "_weights", lambda k: seen.append(k.shape) or _weights(k))
    _kernels._loop_valid(np.ones(image), np.ones(kernel_shape))
    assert seen == ([kernel_shape] if loop == "taps" else [])


@pytest.mark.parametrize(
    "mode, kernel_shape", [("valid", (2, 2)), ("valid", (5, 5)), ("full", (2, 3)), ("full", (7, 7))]
)
def test_the_loops_read_strided_views_as_copies(mode, kernel_shape):
    """Transposed and flipped views (what torch hands NumPy) give the contiguous copies' bits."""
    rng = np.random.default_rng(1)
    x, k = rng.standard_normal((2, 7, 6)).transpose(0, 2, 1), rng.standard_normal(kernel_shape)[::-1, ::-1]
    loop = _kernels._loop_valid if mode == "valid" else _kernels._loop_full
    expected = loop(np.ascontiguousarray(x), np.ascontiguousarray(k))
    assert np.array_equal(loop(x, k), expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_positions_loop_sums_each_window_as_numpy_sums_it(dtype):
    """Each output is NumPy's sum of one window's products in the input's dtype, bit for bit.

    That is what makes a batch equal its images one by one; a loop that summed in
    another dtype (say float64 scratch for float32 images) would be off in the last bits.
    """
    rng = np.random.default_rng(2)
    x, k = rng.standard_normal((9, 8)).astype(dtype), rng.standard_normal((7, 6)).astype(dtype)
    expected = np.array([[(x[i : i + 7, j : j + 6] * k).reshape(-1).sum() for j in range(3)] for i in range(3)], dtype)
    assert np.array_equal(_kernels._loop_valid(x, k), expected)


def by_method(x, k, mode, how):
    """What method ``how`` computes for this correlation ('valid') or convolution ('full'), called directly."""
    valid = mode == "valid"
    if how == "fft":
        return _kernels._fft_convolve(x, k[..., ::-1, ::-1] if valid else k, mode)
    if how == "scipy":
        return (correlate2d if valid else convolve2d)(x, k, mode=mode)
    return (_kernels._loop_valid if valid else _kernels._loop_full)(x, k)


@pytest.mark.parametrize(
    "switch, image, kernel_shape, mode, how",
    CASES,
    ids=[f"{c[0]}-{c[1][0]}x{c[1][1]}-{c[2][0]}x{c[2][1]}-{c[4]}" for c in CASES],
)
def test_the_kernels_run_the_method_the_switch_names(switch, image, kernel_shape, mode, how):
    """``_compute`` gives the named method's bits: the methods agree on the maths but not in the last bits."""
    rng = np.random.default_rng(sum(image) + sum(kernel_shape))
    x, k = rng.uniform(-1, 1, image), rng.uniform(-1, 1, kernel_shape)
    assert np.array_equal(_kernels._compute(x, k, mode), by_method(x, k, mode, how))


# ------------------------------------------------------------ SciPy's compiled routines, called directly


def require_routine(routine, where: str) -> None:
    """Fail where a SciPy this suite knows lacks the routine (the kernels would lose its speed), skip beyond them."""
    if routine is not None:
        return
    version = tuple(int(part) for part in scipy.__version__.split(".")[:2])
    message = f"SciPy {scipy.__version__} has no routine in {where} that answers as its public function"
    if version <= (1, 18):
        pytest.fail(message)
    pytest.skip(f"{message}: the kernels call the public function (test_without_the_compiled_routines...)")


def _refuse(name):
    def refuse(*args, **kwargs):
        raise AssertionError(f"{name}: the public wrapper ran where the kernels call its compiled routine")

    return refuse


def _arrays(rng, shape, dtype):
    """A C-contiguous array and a strided, reversed view of one, both of ``shape``."""
    base = rng.standard_normal((*shape[:-1], 2 * shape[-1])).astype(dtype)
    return [np.ascontiguousarray(base[..., : shape[-1]]), base[..., ::-2]]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(8, 8), (7, 9), (3, 5, 6), (1, 1)])
def test_the_transforms_give_scipy_ffts_bits_without_its_wrapper(monkeypatch, shape, dtype):
    """``_rfft2`` and ``_irfft2`` are scipy.fft's rfft2 and irfft2 bit for bit, calling pocketfft directly.

    With the wrappers replaced by ones that refuse to run: a kernel that went
    back to the public route (4-5 us a call) fails here. Float16 and empty
    arrays, which pocketfft would take otherwise than scipy.fft, go to it.
    """
    require_routine(_kernels._POCKETFFT, "scipy.fft._duccfft (1.18) or scipy.fft._pocketfft (1.4 to 1.17)")
    rng = np.random.default_rng(5)
    expected = []
    for x in _arrays(rng, shape, dtype):
        spectrum = scipy.fft.rfft2(x)
        expected.append((x, spectrum, scipy.fft.irfft2(spectrum, s=x.shape[-2:], norm="forward")))
    monkeypatch.setattr(scipy.fft, "rfft2", _refuse("scipy.fft.rfft2"))
    monkeypatch.setattr(scipy.fft, "irfft2", _refuse("scipy.fft.irfft2"))
    for x, spectrum, back in expected:
        ours = _kernels._rfft2(x)
        assert ours.dtype == spectrum.dtype and np.array_equal(ours, spectrum)
        ours_back = _kernels._irfft2(spectrum.copy(), x.shape[-1])
        assert ours_back.dtype == back.dtype and np.array_equal(ours_back, back)


def test_what_pocketfft_takes_otherwise_goes_to_scipy_fft():
    """Half precision (computed in float32), long double and empty arrays (refused) go to scipy.fft."""
    half = np.arange(12, dtype=np.float16).reshape(3, 4)
    assert np.array_equal(_kernels._rfft2(half), scipy.fft.rfft2(half))
    with pytest.raises(ValueError, match="invalid number of data points"):
        _kernels._rfft2(np.zeros((0, 4)))
    with pytest.raises(ValueError, match="invalid number of data points"):
        _kernels._irfft2(np.zeros((3, 0), complex), 0)
    wide = scipy.fft.rfft2(half.astype(np.float64)).astype(np.clongdouble)
    public = scipy.fft.irfft2(wide, s=(3, 4), norm="forward")
    assert np.array_equal(_kernels._irfft2(wide.copy(), 4), public)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("image, kernel_shape", [((12, 10), (3, 4)), ((5, 5), (5, 5)), ((9, 4), (1, 4))])
def test_the_direct_sums_give_scipy_signals_bits_without_its_wrapper(monkeypatch, image, kernel_shape, dtype):
    """``_correlate2d_valid`` and ``_convolve2d_full``: correlate2d's and convolve2d's bits, without their wrappers."""
    require_routine(_kernels._DIRECT_SUM, "scipy.signal._sigtools (1.8 to 1.18)")
    rng = np.random.default_rng(6)
    cases = [(x, k) for x in _arrays(rng, image, dtype) for k in _arrays(rng, kernel_shape, dtype)]
    expected = [(correlate2d(x, k, mode="valid"), convolve2d(x, k, mode="full")) for x, k in cases]
    monkeypatch.setattr(_kernels, "correlate2d", _refuse("correlate2d"))
    monkeypatch.setattr(_kernels, "convolve2d", _refuse("convolve2d"))
    for (x, k), (valid, full) in zip(cases, expected, strict=True):
        assert np.array_equal(_kernels._correlate2d_valid(x, k), valid)
        assert np.array_equal(_kernels._convolve2d_full(x, k), full)


def test_a_valid_correlation_scipy_would_swap_goes_to_correlate2d():
    """correlate2d swaps its operands (and flips the result) where the second is the larger: the public route does."""
    x, k = np.arange(6.0).reshape(2, 3), np.arange(20.0).reshape(4, 5) - 7
    assert np.array_equal(_kernels._correlate2d_valid(x, k), correlate2d(x, k, mode="valid"))
    with pytest.raises(ValueError):  # neither fits inside the other: SciPy's own error
        _kernels._correlate2d_valid(np.ones((2, 5)), np.ones((3, 2)))


def test_without_the_compiled_routines_the_kernels_take_the_public_route(monkeypatch):
    """Where SciPy's private modules are missing or answer otherwise, the public functions compute the same bits."""
    assert _kernels._same_as_public(lambda: (len, False)) is None
    assert _kernels._same_as_public(lambda: (len, True)) is len

    def missing():
        raise ImportError("no such module")

    assert _kernels._same_as_public(missing) is None
    rng = np.random.default_rng(7)
    x, k = rng.standard_normal((10, 9)), rng.standard_normal((3, 2))
    spectrum = scipy.fft.rfft2(x)
    direct = [
        _kernels._rfft2(x),
        _kernels._irfft2(spectrum.copy(), 9),
        _kernels._correlate2d_valid(x, k),
        _kernels._convolve2d_full(x, k),
    ]
    monkeypatch.setattr(_kernels, "_POCKETFFT", None)
    monkeypatch.setattr(_kernels, "_DIRECT_SUM", None)
    public = [
        _kernels._rfft2(x),
        _kernels._irfft2(spectrum.copy(), 9),
        _kernels._correlate2d_valid(x, k),
        _kernels._convolve2d_full(x, k),
    ]
    for a, b in zip(direct, public, strict=True):
        assert np.array_equal(a, b)


# ------------------------------------------------------------ every kernel's results: dtype and batch


def _kernel_arguments(name):
    """Arguments of kernel ``name`` for a (5, 6) image and a (2, 3) filter, float32, no batch."""
    x, k, grad = filled((5, 6)), filled((2, 3)) + 0.25, filled((4, 4)) - 0.125
    magnitude, parts = _kernels.rfft2_abs(x)
    return {
        "correlate_valid": (x, k),
        "convolve_full": (grad, k),
        "correlate_valid_backward": (grad, x, k),
        "rfft2": (x,),
        "rfft2_abs": (x,),
        "rfft2_adjoint": (parts, 6),
        "rfft2_abs_backward": (filled(magnitude.shape), magnitude, parts, 6),
    }[name]


def _results(kernel, args):
    results = kernel(*args)
    return results if isinstance(results, tuple) else (results,)


KERNELS = [
    "correlate_valid",
    "convolve_full",
    "correlate_valid_backward",
    "rfft2",
    "rfft2_abs",
    "rfft2_adjoint",
    "rfft2_abs_backward",
]


@pytest.mark.parametrize("name", KERNELS)
def test_each_argument_promotes_and_batches_every_result(name):
    """Each tensor argument in turn, float64 among float32 ones: every result is float64; batched alone (two
    examples): every result has that batch, each example's the unbatched call's.

    The fake kernel says each result's dtype and shape, and a result is cast to
    the fake's dtype, so a fake that forgot an argument's dtype (or batch) would
    agree with itself: opcheck cannot tell, the arguments' promotion can.
    """
    kernel = getattr(_kernels, name)
    kernel._plans.clear()  # the fake answers for each metadata once, then the plan does: ask it here
    args = _kernel_arguments(name)
    alone = _results(kernel, args)
    for i, arg in enumerate(args):
        if not isinstance(arg, torch.Tensor):
            continue
        wide = [*args[:i], arg.double(), *args[i + 1 :]]
        assert [r.dtype for r in _results(kernel, wide)] == [torch.float64] * len(alone), f"argument {i}"
        doubled = _results(kernel, [*args[:i], 2 * arg, *args[i + 1 :]])
        batched = _results(kernel, [*args[:i], torch.stack([arg, 2 * arg]), *args[i + 1 :]])
        for result, one, other in zip(batched, alone, doubled, strict=True):
            assert result.shape == (2, *one.shape), f"argument {i}"
            assert torch.equal(result[0], one) and torch.equal(result[1], other), f"argument {i}"
