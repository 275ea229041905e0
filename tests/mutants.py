"""A catalogue of realistic wrong implementations ("mutants").

Each is a mistake people make when writing a custom backward, with a
one-line story. ``test_catalogue.py`` hunts each with every property that
applies (``npext.testing.hunt``) and asserts each is caught: the catalogue is
a regression test of the suite itself. Mutants subclass the real Functions
and override only the piece they get wrong; each is the real Function's
registry entry with its ``apply`` swapped (``FunctionUnderTest.with_apply``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy.signal import convolve2d, correlate2d

import npext
from npext._bridge import from_numpy, result_dtype, to_numpy
from npext._kernels import interior_columns as _interior_columns
from npext.conv import _CorrelateValid
from npext.fft import RFFT2AbsFunction
from npext.testing import FunctionUnderTest
from npext.testing.properties.compile import COMPILE_SKIP_REASON
from tests import user_functions as uf
from tests.registry import BAD_FFT, CONV, RFFT2_ABS
from tests.user_registry import ADD, CUBE, EXP_, MUL, SCALED_CUMSUM, SORT

Conv = npext.ScipyConv2dFunction


@dataclass(frozen=True)
class Mutant:
    name: str
    story: str
    entry: FunctionUnderTest
    family: str  # 'conv', 'fft', or a user entry's name: which Function it is a wrong version of
    #: the property made for this mistake: hunted first, so a CI run's verdict costs one hunt
    caught_by: str
    #: None, or a callable giving the reason this torch cannot show the bug (the test is skipped)
    not_a_bug_here: Callable[[], str | None] | None = None


# ------------------------------------------------------------ conv helpers


def vmap_by_loop(apply, batch_size, in_dims, *args):
    """A vmap rule that applies the Function to each batch entry and stacks (out_dims 0)."""
    results = [
        apply(*[a if d is None else a.select(d, i) for a, d in zip(args, in_dims, strict=False)])
        for i in range(batch_size)
    ]
    return torch.stack(results), 0


def correct_grad_input(x, w, g):
    return convolve2d(g, w, mode="full")


def correct_grad_filter(x, w, g):
    return correlate2d(x, g, mode="valid")


def correct_grad_bias(b, g):
    return np.sum(g).reshape(b.shape)


def numpy_backward(
    ctx,
    grad_output,
    grad_input=correct_grad_input,
    grad_filter=correct_grad_filter,
    grad_bias=correct_grad_bias,
    cast=None,
):
    """A tutorial-style backward in NumPy, with any of its three pieces replaced."""
    input, filter, bias = ctx.saved_tensors
    dtype = result_dtype(input, filter, bias, grad_output)
    x, w, b = (to_numpy(t, dtype) for t in (input, filter, bias))
    g = to_numpy(grad_output, dtype)
    grads = (grad_input(x, w, g), grad_filter(x, w, g), grad_bias(b, g))
    return tuple(
        from_numpy(grad, like, (cast or like.dtype)) for grad, like in zip(grads, (input, filter, bias), strict=False)
    )


def conv_forward(correlate):
    """A forward that computes ``correlate(x, w) + b`` in NumPy (checks kept)."""

    def forward(input, filter, bias):
        npext.conv.check_conv_args(input, filter, bias)
        dtype = result_dtype(input, filter, bias)
        x, w, b = (to_numpy(t, dtype) for t in (input, filter, bias))
        return from_numpy(correlate(x, w, b), input, dtype)

    return staticmethod(forward)


# ------------------------------------------------------------ conv mutants


class GradInputWithoutFlip(Conv):
    @staticmethod
    def backward(ctx, g):
        return numpy_backward(ctx, g, grad_input=lambda x, w, g: correlate2d(g, w, "full"))


class GradInputFlipsOneAxis(Conv):
    @staticmethod
    def backward(ctx, g):
        return numpy_backward(ctx, g, grad_input=lambda x, w, g: correlate2d(g, w[::-1], "full"))


class GradInputSameMode(Conv):
    @staticmethod
    def backward(ctx, g):
        return numpy_backward(ctx, g, grad_input=lambda x, w, g: convolve2d(g, w, "same"))


class ForwardFullMode(Conv):
    forward = conv_forward(lambda x, w, b: correlate2d(x, w, "full") + b.reshape(()))


class ForwardSameMode(Conv):
    forward = conv_forward(lambda x, w, b: correlate2d(x, w, "same") + b.reshape(()))


def _swapped_padding(x, w, g):
    kh, kw = w.shape
    padded = np.pad(g, ((kw - 1, kw - 1), (kh - 1, kh - 1)))
    return correlate2d(padded, w[::-1, ::-1], "valid")


class GradInputSwappedPadding(Conv):
    @staticmethod
    def backward(ctx, g):
        return numpy_backward(ctx, g, grad_input=_swapped_padding)


def _off_by_one_padding(x, w, g):
    kh, kw = w.shape
    padded = np.pad(g, ((kh, kh - 2 if kh > 1 else 0), (kw - 1, kw - 1)))
    if kh == 1:
        padded = padded[:-1]
    return correlate2d(padded, w[::-1, ::-1], "valid")


class GradInputOffByOnePadding(Conv):
    @staticmethod
    def backward(ctx, g):
        return numpy_backward(ctx, g, grad_input=_off_by_one_padding)


class GradFilterArgumentsSwapped(Conv):
    @staticmethod
    def backward(ctx, g):
        return numpy_backward(ctx, g, grad_filter=lambda x, w, g: correlate2d(g, x, "valid"))


class GradFilterTransposed(Conv):
    @staticmethod
    def backward(ctx, g):
        return numpy_backward(ctx, g, grad_filter=lambda x, w, g: correlate2d(x.T, g.T, "valid").reshape(w.shape))


class GradBiasMean(Conv):
    @staticmethod
    def backward(ctx, g):
        return numpy_backward(ctx, g, grad_bias=lambda b, g: np.mean(g).reshape(b.shape))


class TutorialFloat32Cast(Conv):
    @staticmethod
    def backward(ctx, g):
        grad_input, grad_filter, grad_bias = numpy_backward(ctx, g)
        return grad_input, grad_filter.to(torch.float), grad_bias.to(torch.float)


class GradFloat32RoundTrip(Conv):
    @staticmethod
    def backward(ctx, g):
        return tuple(grad.float().to(grad.dtype) for grad in numpy_backward(ctx, g))


def _drops_last_odd_column(x, w, g):
    grad = convolve2d(g, w, "full")
    if grad.shape[1] % 2:
        grad[:, -1] = 0
    return grad


class OddWidthLastColumnLost(Conv):
    @staticmethod
    def backward(ctx, g):
        return numpy_backward(ctx, g, grad_input=_drops_last_odd_column)


class ThinGradientTransposed(Conv):
    @staticmethod
    def backward(ctx, g):
        return numpy_backward(
            ctx,
            g,
            grad_input=lambda x, w, g: convolve2d(np.atleast_2d(np.squeeze(g)), w, "full"),
            grad_filter=lambda x, w, g: correlate2d(x, np.atleast_2d(np.squeeze(g)), "valid"),
        )


def _float32_in_half(x, w, g):
    if g.dtype == np.float32:
        g, w = (a.astype(np.float16).astype(np.float32) for a in (g, w))
    return convolve2d(g, w, "full")


class Float32GradientInHalf(Conv):
    @staticmethod
    def backward(ctx, g):
        return numpy_backward(ctx, g, grad_input=_float32_in_half)


class AssumesContiguousInput(Conv):
    @staticmethod
    def forward(input, filter, bias):
        # reads the storage as if the input were row-major
        flat = torch.as_strided(input, input.shape, (input.shape[1], 1))
        return Conv.forward(flat, filter, bias)


def _in_place_flip(ctx, grad_output):
    # flips grad_output in place to turn the convolution into a correlation
    g = grad_output.detach().numpy()
    input, filter, _ = ctx.saved_tensors
    grad_filter = correlate2d(input.detach().numpy(), g, "valid")
    grad_bias = np.sum(g)
    g[...] = g[::-1, ::-1].copy()
    grad_input = correlate2d(g, filter.detach().numpy(), "full")[::-1, ::-1]
    return grad_input, grad_filter, grad_bias


class ModifiesGradOutputInPlace(Conv):
    @staticmethod
    def backward(ctx, grad_output):
        input, filter, bias = ctx.saved_tensors
        grads = _in_place_flip(ctx, grad_output)
        return tuple(
            torch.as_tensor(np.ascontiguousarray(grad)).reshape(like.shape).to(like.dtype)
            for grad, like in zip(grads, (input, filter, bias), strict=False)
        )


class ConvolutionNotCorrelation(Conv):
    forward = conv_forward(lambda x, w, b: convolve2d(x, w, "valid") + b.reshape(()))

    @staticmethod
    def backward(ctx, g):
        return numpy_backward(
            ctx,
            g,
            grad_input=lambda x, w, g: correlate2d(g, w, "full"),
            grad_filter=lambda x, w, g: correlate2d(x, g, "valid")[::-1, ::-1],
        )


class BiasAddedTwice(Conv):
    forward = conv_forward(lambda x, w, b: correlate2d(x, w, "valid") + 2 * b.reshape(()))

    @staticmethod
    def backward(ctx, g):
        return numpy_backward(ctx, g, grad_bias=lambda b, g: 2 * np.sum(g).reshape(b.shape))


class ConvOutputAlwaysFloat32(Conv):
    @staticmethod
    def forward(input, filter, bias):
        return Conv.forward(input, filter, bias).float()


class BackwardInNumpyOnly(Conv):
    @staticmethod
    def backward(ctx, g):
        return numpy_backward(ctx, g)


class JvpForgetsBiasTangent(Conv):
    @staticmethod
    def jvp(ctx, tangent_input, tangent_filter, tangent_bias):
        input, filter, _ = ctx.saved_tensors
        terms = [
            _CorrelateValid.apply(tangent_input, filter) if tangent_input is not None else None,
            _CorrelateValid.apply(input, tangent_filter) if tangent_filter is not None else None,
        ]
        terms = [t for t in terms if t is not None]
        return sum(terms[1:], terms[0]) if terms else torch.zeros(())


class VmapWrongOutDims(Conv):
    @classmethod
    def vmap(cls, info, in_dims, *args):
        output, _ = vmap_by_loop(cls.apply, info.batch_size, in_dims, *args)
        return output.movedim(0, -1), 0


class VmapIgnoresBatchDimPosition(Conv):
    @classmethod
    def vmap(cls, info, in_dims, *args):
        return vmap_by_loop(cls.apply, info.batch_size, [None if d is None else 0 for d in in_dims], *args)


# ------------------------------------------------------------- fft mutants


class FFTSavingInput(RFFT2AbsFunction):
    """RFFT2AbsFunction saving its input, as a backward written against the input expects (not a mutant)."""

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)


def fft_numpy_backward(adjoint):
    """A NumPy backward of |X| (X's own gradient ignored): adjoint(x, g * X / |X|) with adjoint replaced."""

    def backward(ctx, grad_output, grad_spectrum):
        (input,) = ctx.saved_tensors
        dtype = result_dtype(input)
        x = to_numpy(input, dtype)
        spectrum = np.fft.rfft2(x)
        grad_spectrum = to_numpy(grad_output, dtype) * spectrum / np.abs(spectrum)
        return from_numpy(adjoint(x, grad_spectrum), input, input.dtype)

    return staticmethod(backward)


def correct_adjoint(x, grad_spectrum):
    grad_spectrum = grad_spectrum.copy()
    grad_spectrum[:, _interior_columns(x.shape[1])] *= 0.5
    return np.fft.irfft2(grad_spectrum, s=x.shape, norm="forward")


class FFTBackwardInNumpyOnly(FFTSavingInput):
    backward = fft_numpy_backward(correct_adjoint)


class FFTWithoutPhase(FFTSavingInput):
    @staticmethod
    def backward(ctx, grad_output, grad_spectrum):
        (input,) = ctx.saved_tensors
        g = to_numpy(grad_output, input.dtype).astype(complex)
        return from_numpy(correct_adjoint(to_numpy(input, input.dtype), g), input, input.dtype)


class FFTAdjointWithoutHalving(FFTSavingInput):
    backward = fft_numpy_backward(lambda x, G: np.fft.irfft2(G, s=x.shape, norm="forward"))


def _adjoint_without_shape(x, grad_spectrum):
    grad_spectrum = grad_spectrum.copy()
    grad_spectrum[:, _interior_columns(x.shape[1])] *= 0.5
    return np.fft.irfft2(grad_spectrum, norm="forward")


class FFTAdjointWithoutShape(FFTSavingInput):
    backward = fft_numpy_backward(_adjoint_without_shape)


class FFTAdjointDefaultNorm(FFTSavingInput):
    backward = fft_numpy_backward(lambda x, G: correct_adjoint(x, G) / x.size)


class FFTPhaseConjugated(FFTSavingInput):
    backward = fft_numpy_backward(lambda x, G: correct_adjoint(x, np.conj(G)))


class FFTForwardOrthoNorm(FFTSavingInput):
    @staticmethod
    def forward(input):
        magnitude, spectrum = RFFT2AbsFunction.forward(input)
        return magnitude / input.numel() ** 0.5, spectrum

    @staticmethod
    def backward(ctx, grad_output, grad_spectrum):
        (input,) = ctx.saved_tensors
        return fft_numpy_backward(correct_adjoint).__func__(ctx, grad_output / input.numel() ** 0.5, None)


class FFTOutputAlwaysFloat32(RFFT2AbsFunction):
    @staticmethod
    def forward(input):
        magnitude, spectrum = RFFT2AbsFunction.forward(input)
        return magnitude.float(), spectrum


class FFTJvpRealPartOnly(RFFT2AbsFunction):
    @staticmethod
    def jvp(ctx, tangent_input):
        tangent_spectrum = npext.fft._RFFT2.apply(tangent_input)
        return tangent_spectrum[..., 0], tangent_spectrum


class FFTVmapWrongOutDims(RFFT2AbsFunction):
    @classmethod
    def vmap(cls, info, in_dims, input):
        results = [cls.apply(input.select(in_dims[0], i)) for i in range(info.batch_size)]
        return tuple(torch.stack(outputs) for outputs in zip(*results, strict=True)), 1


def conv_mutant(cls, story, caught_by):
    return Mutant(cls.__name__, story, CONV.with_apply(cls.apply, name=cls.__name__), "conv", caught_by)


def magnitude_of(cls):
    """A mutant's ``rfft2_abs``: |X|, the first of its Function's outputs."""

    def rfft2_abs(input):
        return cls.apply(input)[0]

    return rfft2_abs


def fft_mutant(cls, story, caught_by):
    entry = RFFT2_ABS.with_apply(magnitude_of(cls), name=cls.__name__)
    return Mutant(cls.__name__, story, entry, "fft", caught_by)


CATALOGUE = [
    Mutant(
        "BadFFTFunction",
        "the tutorial's own FFT backward: irfft2(grad_output), no phase, scale or s=",
        BAD_FFT,
        "fft",
        "gradients_match_oracle",
    ),
    conv_mutant(
        GradInputWithoutFlip,
        "grad_input correlates with the filter instead of convolving: the flip is forgotten",
        "gradients_match_oracle",
    ),
    conv_mutant(
        GradInputFlipsOneAxis, "the filter is flipped with w[::-1], which flips the rows only", "gradients_match_oracle"
    ),
    conv_mutant(GradInputSameMode, "grad_input uses 'same' mode instead of 'full'", "gradients_match_oracle"),
    conv_mutant(ForwardFullMode, "the forward correlates in 'full' mode instead of 'valid'", "output_shape"),
    conv_mutant(ForwardSameMode, "the forward correlates in 'same' mode instead of 'valid'", "output_shape"),
    conv_mutant(
        GradInputSwappedPadding,
        "grad_input pads grad_output by (kw-1, kh-1): height and width swapped",
        "gradients_match_oracle",
    ),
    conv_mutant(
        GradInputOffByOnePadding, "grad_input pads one row too many on top, one too few below", "gradients_match_oracle"
    ),
    conv_mutant(
        GradFilterArgumentsSwapped,
        "grad_filter is correlate2d(grad_output, input): SciPy swaps them back, flipped",
        "gradients_match_oracle",
    ),
    conv_mutant(
        GradFilterTransposed, "grad_filter is computed on transposed arrays and reshaped back", "gradients_match_oracle"
    ),
    conv_mutant(GradBiasMean, "grad_bias is the mean of grad_output instead of its sum", "gradients_match_oracle"),
    conv_mutant(
        TutorialFloat32Cast,
        "the tutorial's .to(torch.float) on grad_filter and grad_bias: float64 precision lost",
        "gradients_match_oracle",
    ),
    conv_mutant(
        GradFloat32RoundTrip, "every gradient passes through float32 on the way back", "gradients_match_oracle"
    ),
    conv_mutant(
        OddWidthLastColumnLost, "grad_input loses its last column when the input width is odd", "gradients_match_oracle"
    ),
    conv_mutant(
        ThinGradientTransposed, "squeeze + atleast_2d turns an N x 1 grad_output into 1 x N", "gradients_match_oracle"
    ),
    conv_mutant(
        Float32GradientInHalf, "float32 grad_input is computed in float16 'to save memory'", "batched_vjp_matches_loop"
    ),
    conv_mutant(
        AssumesContiguousInput,
        "the forward reads the input's memory as if it were row-major contiguous",
        "forward_matches_oracle",
    ),
    conv_mutant(
        ModifiesGradOutputInPlace, "backward flips grad_output in place (a NumPy view of it)", "gradients_match_oracle"
    ),
    conv_mutant(
        ConvolutionNotCorrelation,
        "convolution instead of correlation, with gradients consistent with it",
        "forward_matches_oracle",
    ),
    conv_mutant(BiasAddedTwice, "the bias is added twice, and its gradient doubled to match", "forward_matches_oracle"),
    conv_mutant(ConvOutputAlwaysFloat32, "the output is always float32, whatever the inputs' dtype", "output_dtype"),
    conv_mutant(
        BackwardInNumpyOnly,
        "a correct NumPy backward: second derivatives silently zero, no vmap",
        "batched_vjp_matches_loop",
    ),
    conv_mutant(JvpForgetsBiasTangent, "the jvp forgets the bias tangent", "gradcheck_float64"),
    conv_mutant(VmapWrongOutDims, "the vmap rule returns the batch last but says out_dims=0", "vmap_matches_loop"),
    conv_mutant(
        VmapIgnoresBatchDimPosition, "the vmap rule assumes every batch dimension is dimension 0", "vmap_matches_loop"
    ),
    fft_mutant(
        FFTBackwardInNumpyOnly,
        "a correct NumPy FFT backward: second derivatives silently zero, no vmap",
        "batched_vjp_matches_loop",
    ),
    fft_mutant(FFTWithoutPhase, "the FFT backward forgets the phase X / |X| of d|X|", "gradients_match_oracle"),
    fft_mutant(
        FFTAdjointWithoutHalving,
        "the rfft2 adjoint forgets that irfft2 doubles the interior columns",
        "gradients_match_oracle",
    ),
    fft_mutant(
        FFTAdjointWithoutShape,
        "irfft2 without s=: right for even widths, wrong shape for odd",
        "gradients_match_oracle",
    ),
    fft_mutant(FFTAdjointDefaultNorm, "the adjoint uses irfft2's default 1/N normalisation", "gradients_match_oracle"),
    fft_mutant(
        FFTPhaseConjugated, "the backward multiplies by conj(X) / |X| instead of X / |X|", "gradients_match_oracle"
    ),
    fft_mutant(
        FFTForwardOrthoNorm, "forward uses norm='ortho', with gradients consistent with it", "forward_matches_oracle"
    ),
    fft_mutant(FFTOutputAlwaysFloat32, "the FFT output is always float32", "output_dtype"),
    fft_mutant(
        FFTJvpRealPartOnly, "the jvp returns Re(dX) instead of the projection of dX on the phase", "gradcheck_float64"
    ),
    fft_mutant(
        FFTVmapWrongOutDims, "the FFT vmap rule transposes the batch but reports out_dims wrongly", "vmap_matches_loop"
    ),
]


# ------------------------------------------------------ size-dependent mutants
#
# Bugs that appear only past a size, as a method switch, a blocking or a
# threshold inside a library would make them: a relative error of 1e-6 (far
# below gradcheck's rtol of 1e-3) past 256 input elements (17x16 and up) or
# past a 7x7 filter. Small cases never see them; the large share of cases
# does (strategies.shapes.size_classes).

SIZE_BUG = 1 + 1e-6


def _off_past(result, size: int, threshold: int):
    return None if result is None else (result * SIZE_BUG if size > threshold else result)


class OutputOffPast256(Conv):
    @staticmethod
    def forward(input, filter, bias):
        return _off_past(Conv.forward(input, filter, bias), input.numel(), 256)


class GradInputOffPast256(Conv):
    @staticmethod
    def backward(ctx, g):
        grad_input, grad_filter, grad_bias = Conv.backward(ctx, g)
        return _off_past(grad_input, ctx.saved_tensors[0].numel(), 256), grad_filter, grad_bias


class GradFilterOffPast256(Conv):
    @staticmethod
    def backward(ctx, g):
        grad_input, grad_filter, grad_bias = Conv.backward(ctx, g)
        return grad_input, _off_past(grad_filter, ctx.saved_tensors[0].numel(), 256), grad_bias


class GradInputOffPast7x7Filter(Conv):
    @staticmethod
    def backward(ctx, g):
        grad_input, grad_filter, grad_bias = Conv.backward(ctx, g)
        return _off_past(grad_input, ctx.saved_tensors[1].numel(), 49), grad_filter, grad_bias


class FFTGradOffPast64(RFFT2AbsFunction):
    @staticmethod
    def backward(ctx, grad_output, grad_spectrum):
        grad = RFFT2AbsFunction.backward(ctx, grad_output, grad_spectrum)
        return _off_past(grad, grad.numel(), 64)


SIZE_CATALOGUE = [
    conv_mutant(
        OutputOffPast256, "the output is off by 1e-6 (relative) past 256 input elements", "forward_matches_oracle"
    ),
    conv_mutant(GradInputOffPast256, "grad_input is off by 1e-6 past 256 input elements", "gradients_match_oracle"),
    conv_mutant(GradFilterOffPast256, "grad_filter is off by 1e-6 past 256 input elements", "gradients_match_oracle"),
    conv_mutant(
        GradInputOffPast7x7Filter,
        "grad_input is off by 1e-6 once the filter has more than 49 elements",
        "gradients_match_oracle",
    ),
    # past 8x8, the small cases' largest: a 1e-6 error shows only in float64 next to
    # an FFT's error, so this one needs the large float64 cases, past 256 elements too rare
    fft_mutant(
        FFTGradOffPast64, "the |rfft2| input gradient is off by 1e-6 past 64 input elements", "gradients_match_oracle"
    ),
]
CATALOGUE = CATALOGUE + SIZE_CATALOGUE


# ------------------------------------------------------ torch.compile / custom-op mutants
#
# Mistakes of the tracing world: each runs correctly in eager mode, so only
# the compile properties (fake tensors, torch.compile, graph breaks) can catch
# them. They need torch.library.custom_op (torch >= 2.4).

COMPILE_CATALOGUE = []

if COMPILE_SKIP_REASON is None:
    from torch.autograd import Function

    from npext._kernels import correlate_valid
    from npext.conv import _ConvolveFull

    def _mutant_op(name, fake):
        """npext_mutants::<name>: npext's valid correlation with another fake kernel."""

        def kernel(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
            return correlate_valid.op(x, k)

        op = torch.library.custom_op(
            f"npext_mutants::{name}", kernel, mutates_args=(), schema="(Tensor x, Tensor k) -> Tensor"
        )
        op.register_fake(fake)
        return op

    def _valid_shape(x, k):
        return (x.shape[0] - k.shape[0] + 1, x.shape[1] - k.shape[1] + 1)

    def _conv_with_op(op):
        """A ScipyConv2dFunction whose forward correlates with ``op``."""

        def forward(input, filter, bias):
            npext.conv.check_conv_args(input, filter, bias)
            dtype = result_dtype(input, filter, bias)
            return op(input.to(dtype), filter.to(dtype)) + bias.reshape(()).to(dtype)

        return staticmethod(forward)

    _fake_full = _mutant_op(
        "fake_full_shape",
        lambda x, k: x.new_empty(
            (x.shape[0] + k.shape[0] - 1, x.shape[1] + k.shape[1] - 1), dtype=torch.promote_types(x.dtype, k.dtype)
        ),
    )
    _fake_float32 = _mutant_op("fake_float32", lambda x, k: x.new_empty(_valid_shape(x, k), dtype=torch.float32))

    def _fake_reading_data(x, k):
        # looks at the values to decide the shape: a fake tensor has none
        if float(x.abs().sum()) == 0:
            return x.new_zeros(_valid_shape(x, k))
        return x.new_empty(_valid_shape(x, k), dtype=torch.promote_types(x.dtype, k.dtype))

    _fake_reads = _mutant_op("fake_reads_data", _fake_reading_data)
    _fake_strides = _mutant_op(
        "fake_transposed_strides",
        lambda x, k: x.new_empty(_valid_shape(x, k)[::-1], dtype=torch.promote_types(x.dtype, k.dtype)).t(),
    )

    class FakeKernelFullShape(Conv):
        forward = _conv_with_op(_fake_full)

    class FakeKernelAlwaysFloat32(Conv):
        forward = _conv_with_op(_fake_float32)

    class FakeKernelReadsData(Conv):
        forward = _conv_with_op(_fake_reads)

    class FakeKernelTransposedStrides(Conv):
        forward = _conv_with_op(_fake_strides)

    class ForwardCallsNumpyDirectly(Conv):
        # the tutorial's way: correct values, but no fake tensor can run it
        forward = conv_forward(lambda x, w, b: correlate2d(x, w, "valid") + b.reshape(()))

    class BackwardCallsNumpyForTheFilter(Conv):
        @staticmethod
        def backward(ctx, grad_output):
            input, filter, bias = ctx.saved_tensors
            dtype = result_dtype(input, grad_output)
            grad_filter = from_numpy(
                correlate2d(to_numpy(input, dtype), to_numpy(grad_output, dtype), "valid"), filter, filter.dtype
            )
            return (
                _ConvolveFull.apply(grad_output, filter).to(input.dtype),
                grad_filter,
                grad_output.sum().reshape(bias.shape).to(bias.dtype),
            )

    class NotAllowedInGraph(Function):
        # a correct Function built like ScipyConv2dFunction, but a plain
        # autograd.Function: Dynamo traces it itself and refuses its jvp
        forward = Conv.forward
        setup_context = Conv.setup_context
        backward = Conv.backward
        jvp = Conv.jvp
        vmap = Conv.vmap

    class CompiledPathAddsBiasTwice(Conv):
        # a separate code path for torch.compile, and a bug only there
        @staticmethod
        def forward(input, filter, bias):
            out = Conv.forward(input, filter, bias)
            if torch.compiler.is_compiling():
                out = out + bias.reshape(()).to(out.dtype)
            return out

    def _is_compiling_never_seen_in_a_traced_forward() -> str | None:
        """Whether this torch runs a KernelFunction's forward with is_compiling() True under compile.

        torch 2.13 and 2.15 do (AOTAutograd traces the forward with it set);
        torch 2.10 does not (measured: False on every call), so there a branch
        on is_compiling() inside the forward never runs, and the mutant's bug
        cannot happen.
        """
        seen = []

        class Probe(npext.ops.KernelFunction):
            @staticmethod
            def forward(x):
                seen.append(torch.compiler.is_compiling())
                return x * 2

            @staticmethod
            def setup_context(ctx, inputs, output):
                pass

            @staticmethod
            def backward(ctx, grad):
                return grad * 2

        torch.compile(lambda x: Probe.apply(x), backend="aot_eager", fullgraph=True)(torch.ones(2, requires_grad=True))
        if any(seen):
            return None
        return (
            f"torch {torch.__version__} never runs a Function's forward with torch.compiler.is_compiling() "
            "True, so the mutant's compile-only branch never runs: no bug to catch"
        )

    class FFTAbsInNumpyUnderCompile(RFFT2AbsFunction):
        @staticmethod
        def forward(input):
            # |X| and X from NumPy: right values eagerly, but untraceable
            spectrum = np.fft.rfft2(to_numpy(input, input.dtype))
            parts = np.stack([spectrum.real, spectrum.imag], axis=-1)
            return from_numpy(np.abs(spectrum), input, input.dtype), from_numpy(parts, input, input.dtype)

    COMPILE_CATALOGUE = [
        conv_mutant(
            FakeKernelFullShape,
            "the custom op's fake kernel gives the 'full' shape, the real one 'valid'",
            "fake_tensor_propagation",
        ),
        conv_mutant(FakeKernelAlwaysFloat32, "the fake kernel always says float32", "fake_tensor_propagation"),
        conv_mutant(FakeKernelReadsData, "the fake kernel reads the input's values", "fake_tensor_propagation"),
        conv_mutant(
            FakeKernelTransposedStrides,
            "the fake kernel's output is column-major, the real one row-major",
            "fake_tensor_propagation",
        ),
        conv_mutant(
            ForwardCallsNumpyDirectly,
            "the forward calls SciPy directly instead of through a custom op",
            "fake_tensor_propagation",
        ),
        conv_mutant(
            BackwardCallsNumpyForTheFilter,
            "the backward computes grad_filter in NumPy: right eagerly, untraceable",
            "batched_vjp_matches_loop",
        ),
        conv_mutant(
            NotAllowedInGraph,
            "a plain autograd.Function with a jvp: Dynamo refuses it under compile",
            "compiled_matches_eager",
        ),
        Mutant(
            "CompiledPathAddsBiasTwice",
            "a separate torch.compile path (is_compiling) adds the bias twice",
            CONV.with_apply(CompiledPathAddsBiasTwice.apply, name="CompiledPathAddsBiasTwice"),
            "conv",
            "compiled_matches_eager",
            not_a_bug_here=_is_compiling_never_seen_in_a_traced_forward,
        ),
        fft_mutant(FFTAbsInNumpyUnderCompile, "the FFT forward calls NumPy directly", "fake_tensor_propagation"),
    ]

CATALOGUE = CATALOGUE + COMPILE_CATALOGUE


# ------------------------------------------------------------ users' Functions of other kinds
#
# Several outputs, indices, writes in place, broadcasting: wrong versions of the
# users' Functions in tests/user_functions.py, each the correct one's declaration
# (tests/user_registry.py) with its apply swapped, so the catalogue proves the
# properties that only such Functions need.


def user_mutant(entry, cls, story, caught_by):
    return Mutant(cls.__name__, story, entry.with_apply(cls.apply, name=cls.__name__), entry.name, caught_by)


USER_CATALOGUE = [
    user_mutant(
        CUBE,
        uf.CubeIgnoresSecondGradOutput,
        "a Function of two outputs whose backward ignores the second grad_output",
        "gradients_match_oracle",
    ),
    user_mutant(
        SORT,
        uf.SortIndicesLeftDifferentiable,
        "a sort's index output returned as floats and not marked non-differentiable",
        "outputs_require_grad_as_declared",
    ),
    user_mutant(
        SORT,
        uf.SortReturnsInputUnsorted,
        "a sort's values output is the input, unsorted (PyTorch's own NumpySort test Function)",
        "forward_matches_oracle",
    ),
    user_mutant(
        EXP_,
        uf.ExpInplaceReturnsCopy,
        "an in-place Function writes its argument but returns a copy",
        "modifies_its_arguments_in_place",
    ),
    user_mutant(
        EXP_,
        uf.ExpInplaceForgetsMarkDirty,
        "an in-place Function writes its argument without ctx.mark_dirty",
        "modifies_its_arguments_in_place",
    ),
    user_mutant(
        ADD,
        uf.AddGradientAliasesGradOutput,
        "a backward returns grad_output itself as both gradients",
        "gradients_do_not_alias",
    ),
    user_mutant(
        MUL,
        uf.MulBroadcastMean,
        "a broadcast argument's gradient averaged instead of summed",
        "broadcasting_matches_oracle",
    ),
    user_mutant(
        SCALED_CUMSUM,
        uf.BackwardReadsGradOutputAsContiguous,
        "a backward reads grad_output's memory as if it were contiguous",
        "noncontiguous_matches_contiguous",
    ),
]

#: The correct Function each user mutant is a wrong version of (the control of its catches).
USER_FUNCTIONS = (CUBE, SORT, EXP_, ADD, MUL, SCALED_CUMSUM)

CATALOGUE = CATALOGUE + USER_CATALOGUE
