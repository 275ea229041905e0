"""The suite proves its power: every mutant in the catalogue is caught.

Every property that applies (npext.testing's generic ones and the family's
laws) is run against every mutant with ``npext.testing.hunt``
(derandomized, the ci example budget, no shrinking). A mutant passes only if
no property finds a counterexample, and then this test fails. The real Functions go through
the same harness and must come out clean, so a catch is never the harness's
own doing. Each run writes what caught what to build/catalogue/, from which
``python tools/catalogue_table.py`` makes the README's table.
"""

import json
import os
import pathlib

import pytest

from npext.testing import hunt, properties_for
from tests.conftest import CI_EXAMPLES
from tests.mutants import CATALOGUE
from tests.registry import FUNCTIONS

REPORT_DIR = pathlib.Path(__file__).resolve().parent.parent / "build" / "catalogue"


#: NPEXT_CATALOGUE_FULL=1 runs every property against every mutant (for the
#: README's table of what caught what); otherwise a mutant's hunt stops at the
#: first property that catches it, cheapest first (the order of PROPERTIES).
FULL = os.environ.get("NPEXT_CATALOGUE_FULL") == "1"


def hunt_all(entry, stop_at_first=False):
    results = []
    for prop in properties_for(entry):
        results.append(hunt(entry, prop, max_examples=CI_EXAMPLES))
        if stop_at_first and results[-1].caught:
            break
    return results


@pytest.mark.catalogue
@pytest.mark.parametrize("mutant", CATALOGUE, ids=[m.name for m in CATALOGUE])
def test_mutant_is_caught(mutant):
    reason = mutant.not_a_bug_here() if mutant.not_a_bug_here else None
    if reason:
        pytest.skip(reason)
    results = hunt_all(mutant.entry, stop_at_first=not FULL)
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
    caught_by = [r.property for r in results if r.caught]
    assert caught_by, f"{mutant.name} ({mutant.story}) survived every property"


@pytest.mark.catalogue
@pytest.mark.parametrize("entry", FUNCTIONS, ids=[e.name for e in FUNCTIONS])
def test_real_function_survives_the_same_hunt(entry):
    false_catches = [r for r in hunt_all(entry) if r.caught]
    assert not false_catches, f"{entry.name} wrongly flagged: {false_catches}"
