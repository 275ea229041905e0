"""Shapes of 2-D images and of filters that fit inside them."""

from __future__ import annotations

from hypothesis import strategies as st

from npext.testing import shapes

#: The large share of cases: sides up to 96 and filters up to 24 per side, so
#: inputs pass 256 elements, filters pass 7x7, and the kernels' direct/FFT
#: switch is crossed both ways; 1xN and Nx1 shapes stay in. Only properties
#: whose cost grows about linearly with the size draw them (``large=True``).
LARGE_MAX_SIDE = 96
#: The small class's largest side (most cases): a case with a larger side is large.
SMALL_MAX_SIDE = 8
LARGE_MAX_FILTER_SIDE = 24


def size_classes(large: bool) -> st.SearchStrategy[bool]:
    """Whether one case is large: never unless ``large``, then about one case in three.

    Shrinks to False (small), so a failure that needs no size is reported
    small, and one that needs size keeps it and shrinks the sides instead.
    """
    if not large:
        return st.just(False)
    return st.integers(0, 2).map(lambda i: i == 2)


def _check_side(name: str, value: int, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def image_shapes(*, min_side: int = 1, max_side: int = SMALL_MAX_SIDE) -> st.SearchStrategy[tuple[int, int]]:
    """(H, W) with each side in [min_side, max_side], odd and even, square or not.

    ``npext.testing.shapes`` in two dimensions, never empty. Sides shrink
    towards ``min_side``, so thin 1xN and Nx1 images come up early and are
    where failures shrink to.
    """
    _check_side("min_side", min_side)
    _check_side("max_side", max_side, min_side)
    return shapes(2, min_side=min_side, max_side=max_side)


def filter_shapes(image_shape: tuple[int, int], *, max_side: int | None = None) -> st.SearchStrategy[tuple[int, int]]:
    """(kh, kw) that fits inside ``image_shape``: 1 <= kh <= H and 1 <= kw <= W (and <= max_side).

    The filter equal to the whole image (a 1x1 output) is one of the draws.
    """
    height, width = image_shape
    _check_side("image height", height)
    _check_side("image width", width)
    cap = max_side or max(height, width)
    _check_side("max_side", cap)
    return st.tuples(st.integers(1, min(height, cap)), st.integers(1, min(width, cap)))


@st.composite
def conv_shapes(draw, *, min_side: int = 1, max_side: int = SMALL_MAX_SIDE, max_filter_side: int | None = None):
    """(image_shape, filter_shape) pairs where the filter fits the image."""
    image = draw(image_shapes(min_side=min_side, max_side=max_side), label="image_shape")
    return image, draw(filter_shapes(image, max_side=max_filter_side), label="filter_shape")


def sized_conv_shapes(big: bool, *, min_side: int = 1, max_side: int = SMALL_MAX_SIDE):
    """``conv_shapes`` of the small class (sides up to max_side) or, if ``big``, the large one."""
    if big:
        return conv_shapes(min_side=min_side, max_side=LARGE_MAX_SIDE, max_filter_side=LARGE_MAX_FILTER_SIDE)
    return conv_shapes(min_side=min_side, max_side=max_side)
