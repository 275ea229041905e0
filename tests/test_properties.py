"""Every generic property and law, as a Hypothesis test over the registry."""

import pytest
from hypothesis import given, strategies as st

from tests.properties import properties_for, skipped_properties_for
from tests.registry import FUNCTIONS

CASES = [
    pytest.param(entry, name, check, id=f"{entry.name}-{name}")
    for entry in FUNCTIONS
    for name, check in properties_for(entry)
] + [
    # shown as skipped, with the reason, rather than dropped
    pytest.param(entry, name, None, id=f"{entry.name}-{name}", marks=pytest.mark.skip(reason=reason))
    for entry in FUNCTIONS
    for name, reason in skipped_properties_for(entry)
]


@pytest.mark.parametrize("entry, name, check", CASES)
@given(data=st.data())
def test_property(entry, name, check, data):
    options = {"mixed_dtypes": True} if entry.mixed_dtypes else {}
    case = data.draw(entry.cases(**options), label="case")
    check(entry, case)
