"""Hypothesis profiles, chosen by HYPOTHESIS_PROFILE.

* ``ci``:       Hypothesis' own ci profile (derandomized, no database), loaded
                by default when CI=true; extended with our example count.
* ``default``:  the same example count, randomized: what a user's ``tox`` runs.
* ``dev``:      a quick look while editing.
* ``thorough``: ten times ci's examples, randomized.
* ``mutation``: ci without the shrink and explain phases, for mutmut: a
                mutant needs only a verdict, not a minimal example, and the
                verdicts are ci's (same derandomized examples).

No profile has a deadline: torch's first call into a kernel can take a
second, which is no bug of ours.
"""

import functools
import os

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import InvalidArgument

CI_EXAMPLES = 25

try:
    ci_parent = settings.get_profile("ci")
except InvalidArgument:  # Hypothesis releases before the built-in ci profile
    ci_parent = settings(derandomize=True, database=None, print_blob=True)

common = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("ci", ci_parent, max_examples=CI_EXAMPLES, **common)
settings.register_profile("default", max_examples=CI_EXAMPLES, **common)
settings.register_profile("dev", max_examples=5, **common)
settings.register_profile("thorough", max_examples=10 * CI_EXAMPLES, **common)
settings.register_profile(
    "mutation",
    ci_parent,
    max_examples=CI_EXAMPLES,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    **common,
)

settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "default"))

if os.environ.get("PYTEST_XDIST_WORKER"):
    # the workers fill the cores already; a second thread each only contends
    # (measured: tests/test_properties.py under -n 2 took 8 % less CPU)
    import torch

    torch.set_num_threads(1)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """Count the examples Hypothesis runs per test (junit property hypothesis_examples).

    The compatibility report (tools/compat_report.py) sums them per env.
    """
    handle = getattr(getattr(item, "obj", None), "hypothesis", None)
    inner = getattr(handle, "inner_test", None)
    if inner is None:  # not a @given test
        yield
        return
    calls = 0

    @functools.wraps(inner)
    def counted(*args, **kwargs):
        nonlocal calls
        calls += 1
        return inner(*args, **kwargs)

    handle.inner_test = counted  # Hypothesis documents inner_test as reassignable
    try:
        yield
    finally:
        handle.inner_test = inner
        item.user_properties.append(("hypothesis_examples", calls))


def pytest_collection_modifyitems(session, config, items):
    """Decisive tests first, the catalogue last: a broken Function turns red in seconds under -x.

    First the cheap properties over the registry (shape, dtype, the oracle for
    the output and every gradient, layouts: a wrong forward or backward fails
    one of them at the first example), then the rest in collection order, then
    the inductor tests (they compile C++) and the wheel test, and the catalogue,
    which hunts every mutant (minutes), last.
    """
    from npext.testing import PROPERTIES

    quick = {p.name for p in PROPERTIES if not p.small_cases and "supports_compile" not in p.requires}

    def cost(item):
        if item.get_closest_marker("catalogue"):
            return 3
        if item.get_closest_marker("slow_compile") or item.get_closest_marker("installed_wheel"):
            return 2
        callspec = getattr(item, "callspec", None)
        return 0 if callspec and callspec.params.get("property_name") in quick else 1

    items.sort(key=cost)  # stable: collection order within each group
