"""npext.testing as a user meets it: the built wheel, installed in a fresh environment.

The test builds npext's wheel, installs it into a new virtual environment,
writes the README's "Check your own Function" example and its "Write your
own" Function (each read from the README between its markers, so they cannot
drift apart) as a user's test files, adds a wrong backward beside them, and
runs pytest there in a subprocess. The correct Functions must pass every
property that applies (the others skipped, with the flag named): the
"Write your own" one, built with npext.ops and declaring every flag, the
compile properties included where this torch compiles it. The wrong backward
must fail with Hypothesis' minimal example and a message that names the
gradient.

The fresh environment sees torch, NumPy, SciPy, Hypothesis and pytest through
a .pth file listing this environment's site-packages: a path line in a .pth
file adds a directory but runs none of its own .pth files, so an editable
npext here stays invisible there, and the environment's own site-packages,
first on its path, holds the installed wheel. The run checks that npext
was imported from there. (A venv made with system_site_packages=True would
see the *base* interpreter's packages, not this environment's.)
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import venv
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from npext._bridge import PRELOADS_DYNAMO
from npext.ops import COMPILE_SUPPORTED
from npext.testing import PROPERTIES
from tests.helpers import page_block

ROOT = Path(__file__).resolve().parent.parent

WRONG_BACKWARD = '''\
"""A wrong version of the README's Function: the adjoint's reversal forgotten."""

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from npext.testing import property_tests
from test_numpy_cumsum import CUMSUM, NumpyCumsum


class CumsumForgetsToReverse(NumpyCumsum):
    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        return torch.from_numpy(np.cumsum(grad_output.detach().cpu().numpy(), axis=0))


test_cumsum_forgets_to_reverse = property_tests(
    CUMSUM.with_apply(CumsumForgetsToReverse.apply, name="CumsumForgetsToReverse")
)
'''

# What a user's CI would set: a fixed, small example budget (the default 100
# examples are more than this test's time allows).
CONFTEST = """\
from hypothesis import settings

settings.register_profile("user", max_examples=10, derandomize=True, database=None)
settings.load_profile("user")
"""

# `import npext` first and alone, to see what it pulls in; then pytest.
RUN = """\
import sys

import npext

print("npext imported from", npext.__file__)
print("imported with npext:", sorted({"hypothesis", "pytest", "torch._dynamo"} & set(sys.modules)))
import pytest

sys.exit(pytest.main(sys.argv[1:]))
"""


def build_wheel(workdir: Path) -> Path:
    """npext's wheel, built by setuptools' PEP 517 hook from a copy of the project files."""
    project = workdir / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, project / name)
    shutil.copytree(ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"))
    dist = workdir / "dist"
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from setuptools import build_meta; build_meta.build_wheel(sys.argv[1])",
            str(dist),
        ],
        cwd=project,
        check=True,
        capture_output=True,
        text=True,
    )
    (wheel,) = dist.glob("npext-*.whl")
    return wheel


def install_command(python: Path, wheel: Path):
    """This environment's installer, installing into the fresh one (None if it has none)."""
    # asked of pip's metadata, not of the import system: setuptools' distutils
    # shim (a meta path finder) turns itself off for good when anything looks
    # up the module "pip", and inductor's next C++ build in this process then
    # fails on the stdlib distutils it finds (importlib.util.find_spec did that)
    try:
        importlib.metadata.distribution("pip")
        has_pip = True
    except importlib.metadata.PackageNotFoundError:
        has_pip = False
    if has_pip:
        return [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            "--disable-pip-version-check",
            "--quiet",
            str(wheel),
        ]
    if shutil.which("uv"):  # environments made by tox-uv have no pip
        return ["uv", "pip", "install", "--python", str(python), "--no-deps", "--offline", str(wheel)]
    return None


def fresh_environment(workdir: Path, wheel: Path) -> Path:
    """A new venv with the wheel installed; returns its python."""
    env_dir = workdir / "venv"
    venv.create(env_dir, with_pip=False, symlinks=os.name != "nt")
    python = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    command = install_command(python, wheel)
    if command is None:
        pytest.skip("neither pip nor uv is available to install the wheel")
    subprocess.run(command, check=True, capture_output=True, text=True)
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    ours = [p for p in sys.path if Path(p).name in ("site-packages", "dist-packages") and Path(p).is_dir()]
    (Path(site) / "_dependencies_from_the_test_environment.pth").write_text("\n".join(ours) + "\n")
    return python


@pytest.mark.installed_wheel
def test_a_user_checks_their_own_function_with_the_installed_wheel(tmp_path):
    wheel = build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = archive.read(metadata).decode()
    assert "npext/testing/__init__.py" in names and "npext/testing/properties/__init__.py" in names
    assert "Provides-Extra: testing" in metadata
    assert re.search(r"Requires-Dist: hypothesis.*extra == .testing.", metadata), metadata
    assert re.search(r"Requires-Dist: pytest.*extra == .testing.", metadata), metadata

    python = fresh_environment(tmp_path, wheel)
    user = tmp_path / "user"
    user.mkdir()
    (user / "test_numpy_cumsum.py").write_text(page_block("README.md", "check-your-own"))
    (user / "test_owens_t.py").write_text(page_block("docs/writing-a-backward.md", "write-your-own"))
    (user / "test_wrong_backward.py").write_text(WRONG_BACKWARD)
    (user / "conftest.py").write_text(CONFTEST)
    (user / "pytest.ini").write_text("[pytest]\n")
    (user / "run.py").write_text(RUN)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "HYPOTHESIS_PROFILE")}
    run = subprocess.run(
        [
            str(python),
            "run.py",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            "-rs",
            "--junitxml=results.xml",
            "test_numpy_cumsum.py",
            "test_owens_t.py",
            "test_wrong_backward.py::test_cumsum_forgets_to_reverse[gradients_match_oracle]",
        ],
        cwd=user,
        env=env,
        capture_output=True,
        text=True,
        timeout=420,
    )
    output = run.stdout + run.stderr
    print(output)  # shown with -s, and on failure

    # the installed wheel, not this source tree, nothing of the test extra, and no
    # Dynamo (2 s) before torch.compile asks for it, except where npext must import
    # it up front (torch 2.3: npext._bridge.preload_dynamo_on_torch_2_3)
    (location,) = re.findall(r"npext imported from (.+)", output)
    assert Path(location).resolve().is_relative_to((tmp_path / "venv").resolve()), location
    preloaded = ["torch._dynamo"] if PRELOADS_DYNAMO else []
    assert f"imported with npext: {preloaded}" in output

    results = {case.get("name"): case for case in ET.parse(user / "results.xml").getroot().iter("testcase")}
    correct = {name: case for name, case in results.items() if name.startswith("test_numpy_cumsum[")}
    # one test per generic property, applicable or skipped with its reason
    assert len(correct) == len(PROPERTIES), sorted(results)
    for name, case in correct.items():
        assert case.find("failure") is None and case.find("error") is None, f"{name} failed:\n{output}"
        skipped = case.find("skipped")
        if skipped is not None:
            message = skipped.get("message", "")
            assert re.search(r"declares (supports_\w+=False|modifies=\(\))|has no parameter with a default", message), (
                message
            )
    assert sum(case.find("skipped") is None for case in correct.values()) == 12, output

    # the README's own-form Function: every flag on, so only the properties of the opposite
    # flags, of in-place writes and of defaults skip, and compile's where this torch cannot
    owens_t = {name: case for name, case in results.items() if name.startswith("test_owens_t[")}
    assert len(owens_t) == len(PROPERTIES), sorted(results)
    allowed_skips = r"declares (supports_(gradgrad|forward_ad)=True|modifies=\(\))|has no parameter with a default"
    if not COMPILE_SUPPORTED:
        allowed_skips += "|declares supports_compile=False"
    for name, case in owens_t.items():
        assert case.find("failure") is None and case.find("error") is None, f"{name} failed:\n{output}"
        skipped = case.find("skipped")
        if skipped is not None:
            assert re.search(allowed_skips, skipped.get("message", "")), skipped.get("message")
    ran = {name for name, case in owens_t.items() if case.find("skipped") is None}
    assert len(ran) == (19 if COMPILE_SUPPORTED else 16), sorted(ran)
    assert ("test_owens_t[compiled_matches_eager]" in ran) is COMPILE_SUPPORTED

    wrong = results["test_cumsum_forgets_to_reverse[gradients_match_oracle]"]
    assert wrong.find("failure") is not None, output
    assert run.returncode == 1, output
    assert "CumsumForgetsToReverse: gradient of argument 0 (x) differs from the oracle" in output
    assert "beyond the allowed error" in output and "times the allowed error" in output
    assert "Falsifying example" in output or "Failing test case" in output  # Hypothesis' heading, old or new
    assert "Draw 1 (case): Case(args=(tensor(" in output
