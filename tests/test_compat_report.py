"""tools/compat_report.py renders each env's row, its torch.compile column included, from junit files."""

import importlib.util
import json
import os
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "compat_report.py"
if not SCRIPT.exists():  # mutmut's copy of the tree (mutants/) has no tools/
    pytest.skip(f"{SCRIPT} not found", allow_module_level=True)

spec = importlib.util.spec_from_file_location("compat_report", SCRIPT)
compat_report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compat_report)

NO_CUSTOM_OP = "torch 2.3.1+cu121 has no torch.library.custom_op (torch >= 2.4): npext runs eagerly only"
FLAG = "ScipyConv2dFunction declares supports_compile=False; {} applies to supports_compile=True"


def case(classname, name, outcome="passed", message=""):
    body = {
        "passed": "",
        "failed": '<failure message="AssertionError: compiled output differs">trace</failure>',
        "skipped": f'<skipped type="pytest.skip" message="{message}">file.py:23: {message}</skipped>',
    }[outcome]
    return f'<testcase classname="{classname}" name="{name}" time="0.1">{body}</testcase>'


def junit(cases, failures=0, skipped=0):
    return (
        '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" '
        f'errors="0" failures="{failures}" skipped="{skipped}" tests="{len(cases)}" time="12.3">'
        + "".join(cases)
        + "</testsuite></testsuites>"
    )


def eager_cases(compile_outcome="passed", message=""):
    """Two eager tests, the three compile properties and two test_compile.py tests, compile ones as told."""
    props = [
        case("tests.test_properties", f"test_scipy_conv2d[{p}]", compile_outcome, message.format(p))
        for p in compat_report.COMPILE_PROPERTIES
    ]
    return [
        case("tests.test_properties", "test_scipy_conv2d[output_shape]"),
        case("tests.test_gradients", "test_conv_gradcheck"),
        *props,
        case("tests.test_compile", "test_inductor_matches_eager[dtype0]", compile_outcome, message),
        case("tests.test_compile", "test_opcheck[conv]", compile_outcome, message),
    ]


@pytest.fixture
def junit_dir(tmp_path):
    directory = tmp_path / "junit"
    directory.mkdir()

    def write(env, cases, **counts):
        (directory / f"{env}.xml").write_text(junit(cases, **counts))
        (directory / f"{env}.versions.json").write_text(json.dumps({"python": "3.11.7", "torch": "2.3.1"}))
        # the junit is written after the versions: an older junit means pytest never finished
        xml = directory / f"{env}.xml"
        stamp = (directory / f"{env}.versions.json").stat().st_mtime + 1
        os.utime(xml, (stamp, stamp))

    return directory, write


def render(directory, tmp_path, envs):
    tox_ini = tmp_path / "tox.ini"
    tox_ini.write_text("[tox]\nlabels =\n    compat = compat-clean, " + ", ".join(envs) + ", report\n")
    text, ok = compat_report.table(directory, tox_ini)
    lines = text.splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        rows[cells[0].strip("`")] = dict(zip(header, cells, strict=True))
    return rows, ok


def test_compile_column_tested_skipped_failed_missing(junit_dir, tmp_path):
    directory, write = junit_dir
    write("py313-torch215", eager_cases())
    # torch 2.3: the properties skip on the registry's flag, test_compile.py on the module's reason
    old = eager_cases()[:2] + [
        case("tests.test_properties", f"test_scipy_conv2d[{p}]", "skipped", FLAG.format(p))
        for p in compat_report.COMPILE_PROPERTIES
    ]
    old += [case("tests.test_compile", n, "skipped", NO_CUSTOM_OP) for n in ("test_a", "test_b[x]")]
    write("py311-torch23", old, skipped=5)
    broken = eager_cases()
    broken[2] = case("tests.test_properties", "test_scipy_conv2d[compiled_matches_eager]", "failed")
    write("py312-torch210", broken, failures=1)

    rows, ok = render(directory, tmp_path, ["py311-torch23", "py312-torch210", "py313-torch215", "py310-torch20"])
    column = {env: r["torch.compile path"] for env, r in rows.items()}
    assert column == {
        "py311-torch23": f"skipped: {NO_CUSTOM_OP}",
        "py312-torch210": "FAILED (1 of 5 tests)",
        "py313-torch215": "tested (5 tests)",
        "py310-torch20": "—",
    }
    assert rows["py311-torch23"]["result"] == "pass" and rows["py311-torch23"]["tests"] == "2 (+5 skipped)"
    assert rows["py312-torch210"]["result"] == "fail"
    assert rows["py313-torch215"]["time"] == "12 s"
    assert not ok


def test_flag_skips_do_not_count_as_compile_skipped(junit_dir, tmp_path):
    """An entry without supports_compile skips the properties; the others' compile tests still ran."""
    directory, write = junit_dir
    cases = eager_cases()
    cases.append(case("tests.test_properties", "test_mine[no_graph_breaks]", "skipped", FLAG.format("no_graph_breaks")))
    cases.append(case("tests.test_cuda", "test_cuda_conv", "skipped", "needs a CUDA device"))
    write("py313-torch25", cases, skipped=2)
    rows, ok = render(directory, tmp_path, ["py313-torch25"])
    assert rows["py313-torch25"]["torch.compile path"] == "tested (5 tests)"
    assert ok


def test_compile_column_other_skips_and_no_compile_tests(junit_dir, tmp_path):
    directory, write = junit_dir
    # a run compile test beside one skipped for another reason; an env whose suite has none
    partly = [*eager_cases()[:3], case("tests.test_compile", "test_x", "skipped", "needs a C++ compiler | gcc")]
    write("py312-torch22", partly, skipped=1)
    write("py", eager_cases()[:2])
    rows, _ = render(directory, tmp_path, ["py312-torch22"])
    assert rows["py312-torch22"]["torch.compile path"] == "tested (1 test, +1 skipped)"
    assert rows["py"]["torch.compile path"] == "not tested (no compile tests)"
    # a reason with a pipe stays one cell
    write("py312-torch22", [*eager_cases()[:2], case("tests.test_compile", "test_x", "skipped", "a | b")], skipped=1)
    rows, _ = render(directory, tmp_path, ["py312-torch22"])
    assert rows["py312-torch22"]["torch.compile path"] == "skipped: a \\| b"


@pytest.mark.parametrize("flag", ["--page", "--readme"])
def test_page_flag_splices_the_table_between_the_markers(junit_dir, tmp_path, flag):
    """`table --page PATH` (or its old name, --readme) rewrites only what lies between the page's markers."""
    directory, write = junit_dir
    write("py313-torch215", eager_cases())
    tox_ini = tmp_path / "tox.ini"
    tox_ini.write_text("[tox]\nlabels =\n    compat = compat-clean, py313-torch215, report\n")
    page = tmp_path / "compatibility.md"
    page.write_text(f"# Compatibility\n\nbefore\n\n{compat_report.START}\nold table\n{compat_report.END}\n\nafter\n")
    args = ["table", "--junit-dir", str(directory), "--tox-ini", str(tox_ini), flag, str(page)]
    assert compat_report.main(args) == 0
    text = page.read_text()
    head, rest = text.split(compat_report.START)
    table, tail = rest.split(compat_report.END)
    assert head == "# Compatibility\n\nbefore\n\n" and tail == "\n\nafter\n"
    assert "old table" not in table and "| `py313-torch215` |" in table
