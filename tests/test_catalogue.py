"""The suite proves its power: every mutant in the catalogue is caught.

Every property that applies (npext.testing's generic ones and the family's
laws) may hunt a mutant with ``npext.testing.hunt`` (derandomized, the ci
example budget, no shrinking). A mutant passes only if no property finds a
counterexample, and then this test fails. Every catch is checked against the
real Function on the very case that caught it (hunt's ``control``): a catch
the real Function shares is the property's fault, and fails the test.

A CI run needs only the verdict: it hunts with the mutant's ``caught_by``
property first and stops at the first catch. ``NPEXT_CATALOGUE_FULL=1`` runs
every property against every mutant, and every property against the real
Functions (which must come out clean), and writes what caught what to
build/catalogue/, from which ``python tools/catalogue_table.py`` makes the
table of docs/catalogue.md.
"""

import json
import os
import pathlib

import pytest

from npext.testing import hunt, properties_for
from tests.conftest import CI_EXAMPLES
from tests.mutants import CATALOGUE, USER_FUNCTIONS
from tests.registry import CONV, FUNCTIONS, RFFT2_ABS

REPORT_DIR = pathlib.Path(__file__).resolve().parent.parent / "build" / "catalogue"


#: NPEXT_CATALOGUE_FULL=1 runs every property against every mutant (for the
#: table of what caught what in docs/catalogue.md); otherwise a mutant's hunt starts with
#: its caught_by property and stops at the first that catches it.
FULL = os.environ.get("NPEXT_CATALOGUE_FULL") == "1"

#: The correct Function of each family: the control of every catch.
REAL = {"conv": CONV, "fft": RFFT2_ABS, **{entry.name: entry for entry in USER_FUNCTIONS}}


def hunt_all(entry, control=None, first=None, stop_at_first=False):
    """Hunt ``entry`` with each of its properties, ``first`` first."""
    ordered = sorted(properties_for(entry), key=lambda prop: prop.name != first)  # stable
    results = []
    for prop in ordered:
        results.append(hunt(entry, prop, max_examples=CI_EXAMPLES, control=control))
        if stop_at_first and results[-1].caught:
            break
    return results


@pytest.mark.catalogue
@pytest.mark.parametrize("mutant", CATALOGUE, ids=[m.name for m in CATALOGUE])
def test_mutant_is_caught(mutant):
    reason = mutant.not_a_bug_here() if mutant.not_a_bug_here else None
    if reason:
        pytest.skip(reason)
    assert mutant.caught_by in {prop.name for prop in properties_for(mutant.entry)}, mutant.caught_by
    results = hunt_all(mutant.entry, REAL[mutant.family], first=mutant.caught_by, stop_at_first=not FULL)
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    (REPORT_DIR / f"{mutant.name}.json").write_text(
        json.dumps(
            {
                "mutant": mutant.name,
                "story": mutant.story,
                "function": mutant.family,
                "complete": FULL,
                "hunts": [vars(r) for r in results],
            },
            indent=1,
        )
    )
    shared = [r.property for r in results if r.control_failed]
    assert not shared, f"{mutant.name}: the real Function fails the case that caught it, by {shared}"
    caught_by = [r.property for r in results if r.caught]
    assert caught_by, f"{mutant.name} ({mutant.story}) survived every property"


@pytest.mark.catalogue
@pytest.mark.skipif(not FULL, reason="each catch is checked on its own case instead; NPEXT_CATALOGUE_FULL=1 runs this")
@pytest.mark.parametrize("entry", FUNCTIONS + USER_FUNCTIONS, ids=[e.name for e in FUNCTIONS + USER_FUNCTIONS])
def test_real_function_survives_the_same_hunt(entry):
    false_catches = [r for r in hunt_all(entry) if r.caught]
    assert not false_catches, f"{entry.name} wrongly flagged: {false_catches}"
