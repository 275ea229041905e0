"""Bad input gets a clear TypeError or ValueError in our words, naming the argument."""

import re

import numpy as np
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

import npext
from strategies import conv_shapes, image_shapes
from tests.registry import CONV

conv = npext.ScipyConv2dFunction.apply
X = torch.zeros(5, 6)
W = torch.zeros(3, 2)
B = torch.zeros(1, 1)

CONV_ERRORS = [
    # (args, error type, words the message must contain)
    ((X.numpy(), W, B), TypeError, ["input", "torch.Tensor", "ndarray"]),
    ((X, [[1.0]], B), TypeError, ["filter", "torch.Tensor", "list"]),
    ((X, W, 0.5), TypeError, ["bias", "torch.Tensor", "float"]),
    ((X.long(), W, B), TypeError, ["input", "floating", "torch.int64"]),
    ((X, W.bool(), B), TypeError, ["filter", "floating", "torch.bool"]),
    ((X, W, B.to(torch.complex64)), TypeError, ["bias", "floating", "torch.complex64"]),
    ((X.to(torch.complex128), W, B), TypeError, ["input", "floating", "complex128"]),
    ((X[0], W, B), ValueError, ["input", "2-D", "1-D", "(6,)"]),
    ((X[None], W, B), ValueError, ["input", "2-D", "3-D"]),
    ((X, W[0], B), ValueError, ["filter", "2-D", "1-D"]),
    ((X[:, :0], W, B), ValueError, ["input", "empty", "(5, 0)"]),
    ((X, W[:0], B), ValueError, ["filter", "empty", "(0, 2)"]),
    ((X, W, B[:0]), ValueError, ["bias", "empty"]),
    ((X, torch.zeros(6, 2), B), ValueError, ["filter", "larger than input", "dimension 0"]),
    ((X, torch.zeros(2, 7), B), ValueError, ["filter", "larger than input", "dimension 1"]),
    ((X, torch.zeros(9, 9), B), ValueError, ["filter", "larger than input"]),
    ((X, W, torch.zeros(1, 2)), ValueError, ["bias", "one element", "(1, 2)"]),
    ((X, W, torch.zeros(2)), ValueError, ["bias", "one element", "(2,)"]),
]


@pytest.mark.parametrize("args, error, words", CONV_ERRORS)
def test_conv_rejects_bad_input(args, error, words):
    with pytest.raises(error) as info:
        conv(*args)
    for word in words:
        assert word in str(info.value), f"{word!r} missing from: {info.value}"


@given(image=image_shapes(max_side=6), extra=st.tuples(st.integers(0, 3), st.integers(0, 3)))
@example(image=(1, 1), extra=(1, 0))
@example(image=(4, 4), extra=(0, 1))
def test_conv_rejects_every_filter_larger_than_input(image, extra):
    """SciPy would swap its arguments here (or fail obscurely); we refuse clearly."""
    filter_shape = (image[0] + extra[0], image[1] + extra[1])
    x, w = torch.zeros(image), torch.zeros(filter_shape)
    if extra == (0, 0):
        assert conv(x, w, B).shape == (1, 1)
    else:
        with pytest.raises(ValueError, match="larger than input"):
            conv(x, w, B)


@pytest.mark.parametrize("function", [npext.rfft2_abs, npext.incorrect_fft], ids=["rfft2_abs", "incorrect_fft"])
@pytest.mark.parametrize(
    "value, error, words",
    [
        (np.zeros((3, 3)), TypeError, ["input", "torch.Tensor"]),
        (torch.zeros(3, 3, dtype=torch.int32), TypeError, ["input", "floating", "int32"]),
        (torch.zeros(3, 3, dtype=torch.complex64), TypeError, ["input", "floating"]),
        (torch.zeros(3), ValueError, ["input", "2-D", "1-D"]),
        (torch.zeros(2, 3, 4), ValueError, ["input", "2-D", "3-D"]),
        (torch.zeros(0, 3), ValueError, ["input", "empty"]),
    ],
)
def test_fft_rejects_bad_input(function, value, error, words):
    with pytest.raises(error) as info:
        function(value)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("sizes", [(0, 3), (3, -1), (2.0, 3), (True, 3), ("3", 3)])
def test_module_rejects_bad_sizes(sizes):
    with pytest.raises(ValueError, match=r"filter_(width|height) must be a positive int"):
        npext.ScipyConv2d(*sizes)


def test_module_rejects_input_smaller_than_filter():
    with pytest.raises(ValueError, match="filter of shape \\(3, 3\\) is larger than input of shape \\(2, 5\\)"):
        npext.ScipyConv2d(3, 3)(torch.zeros(2, 5))


# ---------------------------------------------------------------- the argument is named first


def _corrupt(value: torch.Tensor, how: str, ndim_checked: bool):
    if how == "not a tensor":
        return value.tolist()
    if how == "integer dtype":
        return value.long()
    if how == "empty":
        return value.reshape(-1)[:0].reshape((0, *tuple(value.shape[1:]))) if value.dim() else value.reshape(0)
    assert ndim_checked
    return value[None]  # one dimension too many


@given(
    shapes=conv_shapes(),
    argument=st.integers(0, 2),
    how=st.sampled_from(["not a tensor", "integer dtype", "empty", "too many dims"]),
)
def test_conv_error_messages_begin_with_the_arguments_name(shapes, argument, how):
    """'input must ...', 'filter must ...', 'bias must ...': the argument is named first, as itself."""
    name = ("input", "filter", "bias")[argument]
    if name == "bias" and how == "too many dims":
        how = "empty"  # a bias may have any number of dimensions
    args = [torch.zeros(shapes[0]), torch.zeros(shapes[1]), torch.zeros(1, 1)]
    args[argument] = _corrupt(args[argument], how, ndim_checked=name != "bias")
    with pytest.raises((TypeError, ValueError)) as info:
        CONV.apply(*args)
    assert re.match(rf"{name} must ", str(info.value)), f"{how} {name}: {info.value}"


@given(image=image_shapes(max_side=6), extra=st.tuples(st.integers(0, 3), st.integers(0, 3)).filter(any))
def test_conv_filter_larger_than_input_message_says_why(image, extra):
    filter_shape = (image[0] + extra[0], image[1] + extra[1])
    dim = 0 if extra[0] else 1
    with pytest.raises(ValueError) as info:
        CONV.apply(torch.zeros(image), torch.zeros(filter_shape), torch.zeros(1, 1))
    assert str(info.value) == (
        f"filter of shape {filter_shape} is larger than input of shape {image} in dimension {dim}; "
        "a 'valid' correlation needs the filter to fit inside the input"
    )


@pytest.mark.parametrize("function", [npext.rfft2_abs, npext.incorrect_fft], ids=["rfft2_abs", "incorrect_fft"])
@given(shape=image_shapes(max_side=4), how=st.sampled_from(["not a tensor", "integer dtype", "empty", "too many dims"]))
def test_fft_error_messages_begin_with_the_arguments_name(function, shape, how):
    with pytest.raises((TypeError, ValueError)) as info:
        function(_corrupt(torch.zeros(shape), how, ndim_checked=True))
    assert re.match(r"input must ", str(info.value)), f"{how}: {info.value}"


# Under vmap each Function's vmap rule checks one entry of the batch, so the
# errors are the ones a single call gives, in the same words.
VMAP_ERRORS = [
    # (function, batched args, in_dims, error, words)
    (npext.rfft2_abs, (torch.zeros(2, 3, 4, 5),), (0,), ValueError, ["input", "2-D", "3-D"]),
    (npext.rfft2_abs, (torch.zeros(4, 2),), (1,), ValueError, ["input", "2-D", "1-D"]),
    (npext.rfft2_abs, (torch.zeros(2, 0, 5),), (0,), ValueError, ["input", "empty"]),
    (conv, (torch.zeros(2, 1, 5, 6), W, B), (0, None, None), ValueError, ["input", "2-D", "3-D"]),
    (conv, (X, torch.zeros(3, 6, 2), B), (None, 0, None), ValueError, ["filter", "larger than input", "dimension 0"]),
    (conv, (X, W, torch.zeros(2, 1, 2)), (None, None, 0), ValueError, ["bias", "one element", "(1, 2)"]),
]


@pytest.mark.parametrize("function, args, in_dims, error, words", VMAP_ERRORS)
def test_vmap_rejects_bad_entries_in_the_single_calls_words(function, args, in_dims, error, words):
    with pytest.raises(error) as info:
        torch.func.vmap(function, in_dims=in_dims)(*args)
    assert str(info.value).startswith(f"{words[0]} "), f"not {words[0]!r} first: {info.value}"
    for word in words:
        assert word in str(info.value), f"{word!r} missing from: {info.value}"


@pytest.mark.parametrize(
    "function, args, in_dims",
    [(npext.rfft2_abs, (torch.ones(1, 4, 5),), (0,)), (conv, (torch.ones(1, 5, 6), W, B), (0, None, None))],
)
def test_vmap_over_a_batch_of_one(function, args, in_dims):
    """The rule's check reads the batch's first entry, which is all a batch of one has."""
    out = torch.func.vmap(function, in_dims=in_dims)(*args)
    single = function(*[a[0] if d == 0 else a for a, d in zip(args, in_dims, strict=True)])
    assert torch.equal(out, single[None])
