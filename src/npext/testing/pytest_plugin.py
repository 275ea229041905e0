"""``pytest -p npext.testing.pytest_plugin --npext-margins``: how close each property ran to its bound.

Every comparison a property makes books the largest ratio of error to
allowed error it saw (``npext.testing.margins``: below 1 passes). With
``--npext-margins`` the terminal summary prints the largest per Function and
property, over every example of the run: a user sees whether a correct
Function runs at a thousandth of its bound or at nine tenths of it. Under
pytest-xdist each worker sends its own, and the summary takes the largest.
"""

from __future__ import annotations

import json

import pytest

_OPTION = "--npext-margins"
_KEY = "npext_margins"


def pytest_addoption(parser):
    parser.getgroup("npext").addoption(
        _OPTION,
        action="store_true",
        help="print the largest ratio of error to allowed error per Function and property (below 1 passes)",
    )


def pytest_configure(config):
    config._npext_margins = {}


def _merge(config, margins: dict) -> None:
    collected = config._npext_margins
    for key, value in margins.items():
        collected[key] = max(collected.get(key, 0.0), value)


def _own_margins() -> dict:
    from npext.testing.oracle import margins

    return {f"{name}\t{prop}": ratio for (name, prop), ratio in margins().items()}


def pytest_sessionfinish(session):
    config = session.config
    if not config.getoption(_OPTION):
        return
    if hasattr(config, "workeroutput"):  # an xdist worker: hand ours to the controller
        config.workeroutput[_KEY] = json.dumps(_own_margins())
    else:
        _merge(config, _own_margins())


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """(pytest-xdist, on the controller) a worker finished: take its margins."""
    output = getattr(node, "workeroutput", {}).get(_KEY)
    if output:
        _merge(node.config, json.loads(output))


def pytest_terminal_summary(terminalreporter, config):
    if not config.getoption(_OPTION):
        return
    margins = config._npext_margins
    terminalreporter.section("npext margins: largest |error| / allowed error")
    if not margins:
        terminalreporter.write_line("no comparison with an allowed error ran")
        return
    width = max(len(key.split("\t")[0]) for key in margins)
    for key in sorted(margins, key=lambda k: -margins[k]):
        name, prop = key.split("\t")
        terminalreporter.write_line(f"{name:<{width}}  {margins[key]:9.3g}  {prop}")
