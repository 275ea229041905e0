"""Shapes of 2-D images and of filters that fit inside them."""

from __future__ import annotations

from hypothesis import strategies as st

from npext.testing import shapes


def _check_side(name: str, value: int, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def image_shapes(*, min_side: int = 1, max_side: int = 8) -> st.SearchStrategy[tuple[int, int]]:
    """(H, W) with each side in [min_side, max_side], odd and even, square or not.

    ``npext.testing.shapes`` in two dimensions, never empty. Sides shrink
    towards ``min_side``, so thin 1xN and Nx1 images come up early and are
    where failures shrink to.
    """
    _check_side("min_side", min_side)
    _check_side("max_side", max_side, min_side)
    return shapes(2, min_side=min_side, max_side=max_side)


def filter_shapes(image_shape: tuple[int, int]) -> st.SearchStrategy[tuple[int, int]]:
    """(kh, kw) that fits inside ``image_shape``: 1 <= kh <= H and 1 <= kw <= W.

    The filter equal to the whole image (a 1x1 output) is one of the draws.
    """
    height, width = image_shape
    _check_side("image height", height)
    _check_side("image width", width)
    return st.tuples(st.integers(1, height), st.integers(1, width))


@st.composite
def conv_shapes(draw, *, min_side: int = 1, max_side: int = 8):
    """(image_shape, filter_shape) pairs where the filter fits the image."""
    image = draw(image_shapes(min_side=min_side, max_side=max_side), label="image_shape")
    return image, draw(filter_shapes(image), label="filter_shape")
