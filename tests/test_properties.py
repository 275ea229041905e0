"""Every generic property of npext.testing, and each family's laws, on every entry of the registry.

``property_tests`` makes one test per property (``test_scipy_conv2d[output_shape]``,
...); a property whose flag an entry does not declare shows as SKIPPED with
the reason. npext's entries declare every flag, so only the two properties
for Functions *without* second derivatives or forward AD are skipped.
"""

from npext.testing import property_tests
from tests.registry import (
    CONV,
    CONVOLVE_FULL,
    CORRELATE_VALID,
    ENTRIES,
    RFFT2,
    RFFT2_ABS,
    RFFT2_ABS_WITH_SPECTRUM,
    RFFT2_ADJOINT,
)

# the public Functions
test_scipy_conv2d = property_tests(CONV)
test_rfft2_abs = property_tests(RFFT2_ABS)
test_rfft2_abs_function = property_tests(RFFT2_ABS_WITH_SPECTRUM)  # both outputs: |X| and X

# the building blocks of their backwards
test_correlate_valid = property_tests(CORRELATE_VALID)
test_convolve_full = property_tests(CONVOLVE_FULL)
test_rfft2 = property_tests(RFFT2)
test_rfft2_adjoint = property_tests(RFFT2_ADJOINT)

assert len(ENTRIES) == 7, "a new registry entry needs its line above"
