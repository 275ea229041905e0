"""The CI test matrix, read from tox.ini's labels (stdlib only; runs `python -m tox config`).

    python tools/ci_matrix.py compat                          # the boundary envs
    python tools/ci_matrix.py compat newest --experimental nightly

prints one line of JSON for a GitHub Actions matrix (`fromJSON`):

    {"include": [{"env": "py310-torch20", "python": "3.10", "experimental": false}, ...]}

The rule that keeps it generic: an env of a label is a job when it installs the
package (tox's `skip_install` is false). A label's helpers that only clean or
report (compat-clean, report) install nothing and stay out without being named,
and a new test env in tox.ini needs no workflow edit. A job's Python is its
env's base_python, i.e. the pyXY factor of its name; a test env without one is
an error. Envs of --experimental labels are marked experimental: CI lets them
fail and reports them apart. An env in both kinds of label is not experimental.
"""

from __future__ import annotations

import argparse
import configparser
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def env_settings(labels: list[str]) -> dict[str, dict[str, str]]:
    """skip_install and base_python of every env of the labels, in the labels' order, as tox resolves them."""
    cmd = [sys.executable, "-m", "tox", "config", "-m", *labels, "-k", "skip_install", "base_python"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(out)
    prefix = "testenv:"
    return {s[len(prefix) :]: dict(parser[s]) for s in parser.sections() if s.startswith(prefix)}


def python_version(env: str, base_python: str) -> str:
    """'py310' (tox's base_python for a py310-... env) or 'python3.10' -> '3.10'."""
    m = re.fullmatch(r"(?:py|python)?(\d)\.?(\d+)", base_python.strip())
    if not m:
        sys.exit(f"{env}: base_python {base_python.strip()!r} names no Python version; give the env a pyXY factor")
    return f"{m.group(1)}.{m.group(2)}"


def test_envs(label: str) -> list[tuple[str, str]]:
    """(env, Python version) of each env of the label that installs the package."""
    envs = [
        (env, python_version(env, conf["base_python"]))
        for env, conf in env_settings([label]).items()
        if conf["skip_install"].strip().lower() == "false"
    ]
    if not envs:
        sys.exit(f"tox.ini's label {label!r} has no test env (or no such label)")
    return envs


def matrix(labels: list[str], experimental: list[str]) -> dict:
    include, seen = [], set()
    for flag, group in ((False, labels), (True, experimental)):
        for label in group:
            for env, python in test_envs(label):
                if env not in seen:
                    seen.add(env)
                    include.append({"env": env, "python": python, "experimental": flag})
    return {"include": include}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("labels", nargs="+", metavar="LABEL", help="tox.ini labels whose test envs must pass")
    ap.add_argument(
        "--experimental", action="append", default=[], metavar="LABEL", help="a label whose test envs may fail"
    )
    args = ap.parse_args(argv)
    result = matrix(args.labels, args.experimental)
    for job in result["include"]:
        note = "  (experimental: may fail)" if job["experimental"] else ""
        print(f"{job['env']:24} Python {job['python']}{note}", file=sys.stderr)
    print(json.dumps(result, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
