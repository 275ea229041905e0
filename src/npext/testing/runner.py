"""Running the properties: ``property_tests`` for pytest, ``hunt`` for wrong versions."""

from __future__ import annotations

import copy
import re
import time
from dataclasses import dataclass

from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky, NoSuchExample

from .entry import DeclarationError, check_declaration
from .oracle import set_current_property
from .properties import PROPERTIES, Property, all_properties

#: Examples per hunt: the example budget of npext's own ci profile.
HUNT_EXAMPLES = 25


def _test_name(entry_name: str) -> str:
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", entry_name)
    return "test_" + re.sub(r"\W+", "_", snake).strip("_").lower()


def property_tests(entry, *, properties=PROPERTIES):
    """A pytest test of ``entry``: one test per property, parametrized by the property's name.

    Assign it to a module-level name that starts with ``test_``::

        test_numpy_cumsum = property_tests(CUMSUM)

    and pytest collects ``test_numpy_cumsum[output_shape]``,
    ``test_numpy_cumsum[gradients_match_oracle]``, ... one per property of
    ``properties`` (the generic table by default) followed by the entry's
    ``extra_properties``. A property that needs a flag the entry does not
    declare is reported SKIPPED, with a reason that names the flag.

    Each test is a Hypothesis test: it draws a case from
    ``entry.cases(**entry.case_options)`` (shown as ``Draw 1 (case): ...``
    in a failure report, shrunk to a minimal example) and runs the check on
    it. The number of examples and the rest come from the Hypothesis
    profile in force, less two things: the deadline is off, because torch's
    first call into a kernel can take a second, and so is the explain phase
    (``_phases_without_explain``).
    """
    import pytest  # only here: hunt() and the properties work without pytest

    table = {}
    params = []
    for prop in all_properties(entry, properties):
        if not isinstance(prop, Property):
            raise TypeError(f"properties must be Property objects, got {prop!r}")
        if prop.name in table:
            raise ValueError(f"{entry.name}: two properties named {prop.name!r}")
        table[prop.name] = prop
        reason = prop.skip_reason(entry)
        marks = [pytest.mark.skip(reason=reason)] if reason else []
        params.append(pytest.param(prop.name, id=prop.name, marks=marks))

    def test(property_name, data):
        prop = table[property_name]
        case = data.draw(entry.case_strategy(large=not prop.small_cases), label="case")
        check_declaration(entry, case)
        set_current_property(property_name)
        prop.check(entry, case)

    # named before decorating: Hypothesis reports the inner function's name
    test.__name__ = test.__qualname__ = _test_name(entry.name)
    test.__doc__ = f"The properties of {entry.name}, one test each (npext.testing.property_tests)."
    test = given(data=st.data())(test)
    test = settings(deadline=None, phases=_phases_without_explain())(test)
    return pytest.mark.parametrize("property_name", params)(test)


def _phases_without_explain() -> tuple:
    """The profile's phases less Hypothesis' explain phase, which has nothing to say here.

    It reports which of the test's arguments could vary and still fail, and
    the case is drawn inside the test (``data.draw``): a report prints
    ``data=data(...)`` with no comment. On a failing ScipyConv2dFunction
    property it still ran about 300 more examples, 5.7 s against 2.2 s for
    generating and shrinking (measured): a red test that much later.
    """
    return tuple(phase for phase in settings.default.phases if phase.name != "explain")


@dataclass
class Hunt:
    """What ``hunt`` found."""

    property: str
    caught: bool
    seconds: float  # to the first failing example, or the whole search if none
    examples: int  # examples tried up to and including the first failure
    error: str = ""  # first line of the first failure
    control_failed: bool = False  # the control entry failed on the same case too: the property is at fault


def _resolve(entry, prop) -> Property:
    if isinstance(prop, Property):
        return prop
    for candidate in all_properties(entry):
        if candidate.name == prop:
            return candidate
    raise ValueError(f"{entry.name} has no property named {prop!r}")


def hunt(entry, prop, *, max_examples: int = HUNT_EXAMPLES, control=None) -> Hunt:
    """Search ``entry``'s cases for one on which property ``prop`` fails.

    ``prop`` is a ``Property`` or the name of one of the entry's properties.
    Use it to show that your properties catch the mistakes you fear: write a
    wrong version of your Function and hunt it,
    ``hunt(CUMSUM.with_apply(Wrong.apply), "gradients_match_oracle").caught``.

    The search is derandomized (the same examples on every run) and does not
    shrink: what matters here is the verdict and the time to the first
    failure, not the minimal example (``property_tests`` gives that). Any
    exception counts as a failure: an assertion, gradcheck's, autograd's own.
    Raises ValueError if the property does not apply to the entry's flags,
    and ``DeclarationError`` if the declaration itself is broken on a case
    (a strategy that draws no case, a grad_output that does not fit the
    oracle's outputs, an apply that returns no tensors): that is no catch.

    ``control`` is the correct version's entry (``hunt(WRONG, prop,
    control=RIGHT)``): the case that fails first is run on it too, a copy
    taken before the wrong version could modify it. A catch means something
    only if the correct version passes that very case; if it fails too, the
    property (or its tolerance) is at fault, and ``control_failed`` says so.
    """
    prop = _resolve(entry, prop)
    reason = prop.skip_reason(entry)
    if reason:
        raise ValueError(reason)
    tried = 0
    first = {}
    start = time.perf_counter()

    def fails(case):
        nonlocal tried
        tried += 1
        original = copy.deepcopy(case) if control is not None and not first else None
        check_declaration(entry, case)  # a broken declaration raises: it is no catch
        set_current_property(prop.name)
        try:
            prop.check(entry, case)
        except DeclarationError:
            raise
        except Exception as error:  # any failure counts: assertion, gradcheck, autograd
            if not first:
                first.update(
                    seconds=time.perf_counter() - start,
                    examples=tried,
                    error=f"{type(error).__name__}: {str(error).strip().splitlines()[0][:120]}"
                    if str(error).strip()
                    else type(error).__name__,
                )
                first["control_failed"] = original is not None and not _passes(prop, control, original)
            return True
        return False

    search = settings(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    try:
        find(entry.case_strategy(large=not prop.small_cases), fails, settings=search)
    except NoSuchExample:
        return Hunt(prop.name, False, time.perf_counter() - start, tried)
    except Flaky:
        # the property failed on a case and passed when Hypothesis replayed it: it
        # did fail, so the version is caught (``control`` checks the correct
        # version on that same case), and the error says it was not reproducible
        first["error"] = "Flaky (failed, then passed on the replay): " + first.get("error", "")
    return Hunt(prop.name, True, first["seconds"], first["examples"], first["error"], first["control_failed"])


def _passes(prop, entry, case) -> bool:
    try:
        prop.check(entry, case)
    except Exception:  # the same verdict as hunt's: any failure
        return False
    return True
