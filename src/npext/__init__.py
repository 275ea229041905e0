"""npext: NumPy/SciPy-backed custom autograd Functions with correct backward passes (write yours: npext.ops)."""

from . import ops
from .conv import ScipyConv2d, ScipyConv2dFunction
from .fft import BadFFTFunction, RFFT2AbsFunction, incorrect_fft, rfft2_abs

#: The version of npext (the package's metadata reads it from here).
__version__ = "0.1.0"

__all__ = [
    "BadFFTFunction",
    "RFFT2AbsFunction",
    "ScipyConv2d",
    "ScipyConv2dFunction",
    "__version__",
    "incorrect_fft",
    "ops",
    "rfft2_abs",
]
