"""Compatibility table for the tox matrix (stdlib only).

Subcommands, all run by tox.ini:

  record FILE      inside a test env: write its Python/torch/NumPy/SciPy versions
                   to FILE as JSON (read from package metadata; nothing imported)
  clean DIR        delete the *.xml / *.versions.json results in DIR
  table            read DIR/<env>.xml (pytest --junitxml) and <env>.versions.json
                   and print a Markdown table, with a column saying whether the
                   torch.compile path was tested; --output FILE writes it to a file,
                   --page docs/compatibility.md splices it between the
                   compat-table markers of that page (--readme: the old name),
                   --strict exits 1 unless every row passed.

The expected envs are the `compat` label of tox.ini (--label picks others; CI
reports its nightly env apart with `--label nightly`); an expected env without
results is reported as "missing", never left out.
"""

from __future__ import annotations

import argparse
import configparser
import datetime as dt
import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

START, END = "<!-- compat-table:start -->", "<!-- compat-table:end -->"
EXAMPLES_PROPERTY = "hypothesis_examples"  # written per test by tests/conftest.py
DISTS = ("torch", "numpy", "scipy", "hypothesis", "pytest")

# The compile tests: every test of tests/test_compile.py, and the compile
# properties of the generic table, e.g. tests.test_properties /
# test_scipy_conv2d[compiled_matches_eager] in the junit.
COMPILE_MODULE = "tests.test_compile"
COMPILE_PROPERTIES_MODULE = "tests.test_properties"
COMPILE_PROPERTIES = ("compiled_matches_eager", "no_graph_breaks", "fake_tensor_propagation")
# An entry that declares supports_compile=False skips the compile properties
# with this in the reason (npext.testing.Property.skip_reason): it makes no
# claim about compile, so such a skip says nothing about whether torch's
# compile path was tested.
FLAG_SKIP = "declares supports_compile=False"


def record(path: Path) -> None:
    import importlib.metadata as md
    import importlib.util
    import platform

    info: dict[str, str | None] = {"python": platform.python_version()}
    for dist in DISTS:
        try:
            info[dist] = md.version(dist)
        except md.PackageNotFoundError:
            info[dist] = None
    # torch.__version__ carries the build (+cu121, +cpu); read it without importing torch.
    spec = importlib.util.find_spec("torch")
    if spec and spec.submodule_search_locations:
        version_py = Path(next(iter(spec.submodule_search_locations)), "version.py")
        m = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)", version_py.read_text(), re.M)
        if m:
            info["torch"] = m.group(1)
    info["recorded"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(info, indent=2) + "\n")
    print(f"versions: {info}")


def clean(directory: Path) -> None:
    for pattern in ("*.xml", "*.versions.json"):
        for f in directory.glob(pattern):
            f.unlink()


def expected_envs(tox_ini: Path, label: str = "compat") -> list[str]:
    cp = configparser.ConfigParser(interpolation=None)
    cp.read(tox_ini)
    for line in cp.get("tox", "labels", fallback="").splitlines():
        name, _, envs = line.partition("=")
        if name.strip() == label:
            return [e.strip() for e in envs.split(",") if e.strip()]
    return []


def suite_stats(xml_path: Path) -> dict:
    root = ET.parse(xml_path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    total = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0, "time": 0.0}
    for s in suites:
        for key in total:
            total[key] += type(total[key])(s.get(key, 0))
    examples = [
        int(p.get("value"))
        for p in root.iter("property")
        if p.get("name") == EXAMPLES_PROPERTY and (p.get("value") or "").isdigit()
    ]
    total["examples"] = sum(examples) if examples else None
    return total


def is_compile_test(case: ET.Element) -> bool:
    classname, name = case.get("classname", ""), case.get("name", "")
    if classname == COMPILE_MODULE or classname.startswith(COMPILE_MODULE + "."):
        return True
    if classname == COMPILE_PROPERTIES_MODULE:
        return any(name.endswith(f"[{prop}]") for prop in COMPILE_PROPERTIES)
    return False


def n_tests(n: int) -> str:
    return f"{n} test" + ("" if n == 1 else "s")


def compile_path(xml_path: Path) -> str:
    """Whether the env tested the torch.compile path: tested (N tests), skipped: <reason>, or FAILED."""
    passed, failed, reasons = 0, 0, {}
    for case in ET.parse(xml_path).getroot().iter("testcase"):
        if not is_compile_test(case):
            continue
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif (skip := case.find("skipped")) is not None:
            reason = skip.get("message") or (skip.text or "").strip() or "no reason given"
            if FLAG_SKIP not in reason:
                reasons[reason] = reasons.get(reason, 0) + 1
        else:
            passed += 1
    skipped = sum(reasons.values())
    if failed:
        return f"FAILED ({failed} of {n_tests(failed + passed + skipped)})"
    if passed:
        return f"tested ({n_tests(passed)}" + (f", +{skipped} skipped" if skipped else "") + ")"
    if reasons:
        # the commonest reason; the others are rare enough to count only
        reason = max(reasons, key=reasons.get)
        others = f" (+{skipped - reasons[reason]} skipped otherwise)" if skipped > reasons[reason] else ""
        return f"skipped: {reason}{others}"
    return "not tested (no compile tests)"


def cell(text: str) -> str:
    """text as one Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def row(env: str, junit_dir: Path) -> list[str]:
    xml, ver = junit_dir / f"{env}.xml", junit_dir / f"{env}.versions.json"
    v = json.loads(ver.read_text()) if ver.exists() else {}
    cells = [f"`{env}`"] + [v.get(k) or "—" for k in ("python", "torch", "numpy", "scipy")]
    if not xml.exists() or (ver.exists() and xml.stat().st_mtime < ver.stat().st_mtime):
        # no env at all (e.g. interpreter or install missing) vs. env whose pytest never finished
        return [*cells, "missing" if not v else "error", "—", "—", "—", "—", "—"]
    s = suite_stats(xml)
    bad = s["failures"] + s["errors"]
    ran = s["tests"] - s["skipped"]
    result = "fail" if bad else ("pass" if ran else "no tests")
    tests = f"{ran}" + (f" (+{s['skipped']} skipped)" if s["skipped"] else "")
    examples = "—" if s["examples"] is None else f"{s['examples']:,}"
    return [*cells, result, tests, str(bad), examples, f"{s['time']:.0f} s", cell(compile_path(xml))]


def table(junit_dir: Path, tox_ini: Path, labels: list[str] | None = None) -> tuple[str, bool]:
    envs = []
    for label in labels or ["compat"]:
        envs += [e for e in expected_envs(tox_ini, label) if e not in ("compat-clean", "report") and e not in envs]
    found = sorted(p.name[: -len(".xml")] for p in junit_dir.glob("*.xml"))
    envs += [e for e in found if e not in envs]  # e.g. `py`, or envs run by hand
    head = [
        "env",
        "Python",
        "torch",
        "NumPy",
        "SciPy",
        "result",
        "tests",
        "failures",
        "examples",
        "time",
        "torch.compile path",
    ]
    rows = [row(e, junit_dir) for e in envs]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n", all(r[5] == "pass" for r in rows)


def splice(page: Path, text: str) -> None:
    content = page.read_text()
    start, end = content.find(START), content.find(END)
    if start < 0 or end < start:
        sys.exit(f"{page}: markers {START} / {END} not found")
    page.write_text(content[: start + len(START)] + "\n" + text + content[end:])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("record").add_argument("file", type=Path)
    sub.add_parser("clean").add_argument("dir", type=Path)
    t = sub.add_parser("table")
    t.add_argument("--junit-dir", type=Path, default=Path(".tox/junit"))
    t.add_argument("--tox-ini", type=Path, default=Path("tox.ini"))
    t.add_argument(
        "--label",
        action="append",
        dest="labels",
        metavar="LABEL",
        help="expected envs: this tox.ini label (repeatable; default compat)",
    )
    t.add_argument("--output", type=Path, help="also write the table to this file")
    t.add_argument(
        "--page",
        "--readme",  # its old name, from when the table was in the README
        type=Path,
        metavar="PATH",
        help="splice the table between the compat-table markers of this page (docs/compatibility.md)",
    )
    t.add_argument("--strict", action="store_true", help="exit 1 unless every env passed")
    args = ap.parse_args(argv)

    if args.cmd == "record":
        record(args.file)
    elif args.cmd == "clean":
        clean(args.dir)
    else:
        text, ok = table(args.junit_dir, args.tox_ini, args.labels)
        print(text, end="")
        if args.output:
            args.output.write_text(text)
        if args.page:
            splice(args.page, text)
        return 1 if args.strict and not ok else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
