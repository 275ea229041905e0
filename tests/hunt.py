"""Run one property against one Function until it fails: the catalogue's engine."""

from __future__ import annotations

import time
from dataclasses import dataclass

from hypothesis import HealthCheck, Phase, find, settings
from hypothesis.errors import NoSuchExample

from tests.conftest import CI_EXAMPLES


@dataclass
class Hunt:
    property: str
    caught: bool
    seconds: float       # to the first failing example, or the whole search if none
    examples: int        # examples tried up to and including the first failure
    error: str = ""      # first line of the first failure


def hunt(entry, name, check, max_examples=CI_EXAMPLES) -> Hunt:
    """Search entry's cases for one that makes ``check`` fail.

    Derandomized and without shrinking: the verdict and the time to the first
    failure are what matter here, not the minimal example.
    """
    options = {"mixed_dtypes": True} if entry.mixed_dtypes else {}
    tried = 0
    first = {}
    start = time.perf_counter()

    def fails(case):
        nonlocal tried
        tried += 1
        try:
            check(entry, case)
        except Exception as error:  # any failure counts: assertion, gradcheck, autograd
            if not first:
                first.update(seconds=time.perf_counter() - start, examples=tried,
                             error=f"{type(error).__name__}: {str(error).strip().splitlines()[0][:120]}"
                             if str(error).strip() else type(error).__name__)
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
        find(entry.cases(**options), fails, settings=search)
    except NoSuchExample:
        return Hunt(name, False, time.perf_counter() - start, tried)
    return Hunt(name, True, first["seconds"], first["examples"], first["error"])
