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

# pytester: tests of npext.testing's pytest plugin run pytest in-process
pytest_plugins = ["pytester"]

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

    First the cheap properties over npext's own Functions, property by
    property (every Function's output against the oracle, then every output
    dtype, shape, every gradient against the oracle, ...: a wrong forward
    or backward fails one of them at its first failing example), then the same
    over the engine's examples (tests/test_npext_testing.py), then the wheel
    test, then the rest in collection order, then the inductor tests (they
    compile C++), and the catalogue last.

    The wheel test is one long subprocess (about 15 s): started near the end
    it left the other worker idle for 10 s of a 115 s run (measured); started
    early, the other worker's tests fill that time.
    """
    from npext.testing import PROPERTIES

    cheap = [p.name for p in PROPERTIES if not p.small_cases and "supports_compile" not in p.requires]
    # the forward's oracle first (a wrong value or shape), then the dtype, which the
    # oracle compares at the output's own precision: a float32 output passes it
    first = ("forward_matches_oracle", "output_dtype")
    cheap = [name for name in first if name in cheap] + [name for name in cheap if name not in first]
    order = {name: i for i, name in enumerate(cheap)}

    def cost(item):
        if item.get_closest_marker("catalogue"):
            return (5,)
        if item.get_closest_marker("slow_compile"):
            return (4,)
        if item.get_closest_marker("installed_wheel"):
            return (2,)
        callspec = getattr(item, "callspec", None)
        name = callspec.params.get("property_name") if callspec else None
        if name not in order:
            return (3,)
        return (0 if item.module.__name__.endswith("test_properties") else 1, order[name])

    items.sort(key=cost)  # stable: collection order within each group


def pytest_configure(config):
    # xdist's load scheduler first hands each worker a quarter of its share, in
    # one consecutive block: the second worker would start in the middle of the
    # list, and the decisive tests at its head would all run on the first.
    # Blocks of two deal them out to both workers.
    if getattr(config.option, "numprocesses", None) and getattr(config.option, "maxschedchunk", 0) is None:
        config.option.maxschedchunk = 2
