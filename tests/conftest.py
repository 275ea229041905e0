"""Hypothesis profiles, chosen by HYPOTHESIS_PROFILE.

* ``ci``:       Hypothesis' own ci profile (derandomized, no database), loaded
                by default when CI=true; extended with our example count.
* ``default``:  the same example count, randomized: what a user's ``tox`` runs.
* ``dev``:      a quick look while editing.
* ``thorough``: ten times ci's examples, randomized.

No profile has a deadline: torch's first call into a kernel can take a
second, which is no bug of ours.
"""

import os

from hypothesis import HealthCheck, settings
from hypothesis.errors import InvalidArgument

CI_EXAMPLES = 25

try:
    ci_parent = settings.get_profile("ci")
except InvalidArgument:  # Hypothesis releases before the built-in ci profile
    ci_parent = settings(derandomize=True, database=None, print_blob=True)

common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", ci_parent, max_examples=CI_EXAMPLES, **common)
settings.register_profile("default", max_examples=CI_EXAMPLES, **common)
settings.register_profile("dev", max_examples=5, **common)
settings.register_profile("thorough", max_examples=10 * CI_EXAMPLES, **common)

settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "default")
)
