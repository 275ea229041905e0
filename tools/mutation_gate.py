"""Gate a mutmut run over src/npext on its kill score.

    python tools/mutation_gate.py                 # gate the results in mutants/
    python tools/mutation_gate.py --run           # fresh `mutmut run` first, then gate
    python tools/mutation_gate.py --min-score 0.98 --show-diffs

``mutmut run`` exits 0 however many mutants survive, so this script reads
its per-file state (``mutants/<source>.meta``: mutant name -> exit code, the
same files ``mutmut results`` and ``mutmut export-cicd-stats`` read), counts
the verdicts and fails when

* the score killed / (total - skipped - accepted equivalents) is below
  ``--min-score``;
* any mutant timed out, crashed (segfault / SIGKILL), was suspicious,
  interrupted or never checked: each of those is a broken run (a deadlocked
  fork, a missing OMP_NUM_THREADS=1, a run cut short), never a kill;
* the list of accepted equivalent mutants is stale: a listed mutant that no
  longer exists, whose mutation is no longer the one that was reviewed (the
  diff's hash changed: mutmut renumbers mutants when a function changes), or
  that the suite now kills (then it was not equivalent).

Accepted equivalents live in ``tools/equivalent_mutants.txt``, one a line:

    <mutant name>  <diff hash>  # <why no valid input can tell it apart>

The gate prints the diff hash of every survivor, so an entry is a copy of
its line plus the reason. A reason that begins with ``[cuda]`` marks a
mutant that is not equivalent but can only be killed on a CUDA machine (by
the tests tools/device_check.sh runs); the gate counts those apart. ``--run`` deletes ``mutants/`` first: mutmut keeps
earlier verdicts and does not rerun a survivor when only the tests changed,
so a gate on a reused ``mutants/`` can report survivors the suite now kills.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = ROOT / "mutants"
DEFAULT_EQUIVALENTS = ROOT / "tools" / "equivalent_mutants.txt"

# The default gate is every mutant accounted for. Each survivor of the
# reviewed source is killed by a test (in tests/: test_dtypes.py,
# test_forward_ad.py, test_bridge.py, ...; docs/catalogue.md, Mutation testing) or
# listed, with its reason, as equivalent, so the score there is 1.0. Any
# lower bar lets new survivors in unread: at ~600 mutants, 0.98 would pass a
# dozen, the size of a lost property (a weak dtype check let 20 through).
# A survivor that is truly equivalent costs one reviewed line in the list,
# and a changed function makes mutmut renumber its mutants, which the diff
# hashes catch, so the list cannot go stale silently either.
DEFAULT_MIN_SCORE = 1.0

# mutmut 3.8's exit-code -> verdict table (mutmut.stats.status_by_exit_code),
# copied so that the gate reads results without importing mutmut; any code
# not listed is "suspicious", as in mutmut.
STATUS_BY_EXIT_CODE = {
    1: "killed",
    3: "killed",  # an internal error in pytest: mutmut counts it a kill
    0: "survived",
    5: "no tests",
    2: "check was interrupted by user",
    None: "not checked",
    33: "no tests",
    34: "skipped",
    35: "suspicious",
    36: "timeout",
    37: "caught by type check",
    -24: "timeout",
    24: "timeout",
    152: "timeout",
    255: "timeout",
    -11: "segfault",
    -9: "segfault",
}
KILLED = {"killed", "caught by type check"}
BROKEN = {"timeout", "segfault", "suspicious", "check was interrupted by user", "not checked"}
ORDER = [
    "killed",
    "survived",
    "no tests",
    "timeout",
    "suspicious",
    "segfault",
    "not checked",
    "check was interrupted by user",
    "skipped",
    "caught by type check",
]


def status_of(exit_code) -> str:
    return STATUS_BY_EXIT_CODE.get(exit_code, "suspicious")


def read_results(mutants_dir: Path) -> dict[str, str]:
    """{mutant name: verdict} from every .meta file mutmut wrote under mutants_dir."""
    results = {}
    for meta in sorted(mutants_dir.rglob("*.py.meta")):
        data = json.loads(meta.read_text())
        for name, exit_code in data["exit_code_by_key"].items():
            results[name] = status_of(exit_code)
    return results


def mutant_diff(name: str) -> str:
    """The unified diff of one mutant against the source (what `mutmut show` prints)."""
    try:  # in-process: fast; mutmut's module layout as of 3.8
        from mutmut.mutation.diff_apply import get_diff_for_mutant
    except ImportError:
        get_diff_for_mutant = None
    if get_diff_for_mutant is not None:
        cwd = os.getcwd()
        os.chdir(ROOT)
        try:
            return get_diff_for_mutant(name)
        finally:
            os.chdir(cwd)
    shown = subprocess.run(["mutmut", "show", name], cwd=ROOT, capture_output=True, text=True, check=True)
    return shown.stdout.split("\n", 1)[1]  # drop mutmut's "# name: status" header


def diff_hash(diff: str) -> str:
    """A short hash of the mutation itself (the -/+ lines), not of its line numbers or context."""
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    return hashlib.sha256("\n".join(changed).encode()).hexdigest()[:10]


def read_equivalents(path: Path) -> dict[str, tuple[str, str]]:
    """{mutant name: (diff hash, reason)}; raises ValueError on a malformed line."""
    entries = {}
    if not path.exists():
        return entries
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        head, sep, reason = line.partition("#")
        fields = head.split()
        if not sep or not reason.strip() or len(fields) != 2:
            raise ValueError(f"{path}:{number}: expected '<mutant name>  <diff hash>  # <reason>', got {raw!r}")
        name, digest = fields
        if name in entries:
            raise ValueError(f"{path}:{number}: {name} is listed twice")
        entries[name] = (digest, reason.strip())
    return entries


def run_mutmut(max_children: int | None) -> int:
    """A fresh `mutmut run` in the environment the suite needs under fork."""
    shutil.rmtree(MUTANTS, ignore_errors=True)
    env = dict(os.environ)
    # mutmut forks a child per mutant after the suite has run in its own
    # process; an OpenMP pool started there deadlocks the children.
    env["OMP_NUM_THREADS"] = "1"
    env["MKL_NUM_THREADS"] = "1"
    env.setdefault("HYPOTHESIS_PROFILE", "mutation")
    command = ["mutmut", "run"] + ([f"--max-children={max_children}"] if max_children else [])
    print("$", " ".join(command), flush=True)
    return subprocess.run(command, cwd=ROOT, env=env).returncode


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="store_true", help="delete mutants/ and run `mutmut run` first")
    parser.add_argument(
        "--max-children", type=int, default=None, help="mutmut's parallel children (default: its own, the CPU count)"
    )
    parser.add_argument(
        "--min-score",
        type=float,
        default=DEFAULT_MIN_SCORE,
        help=f"lowest passing kill score, 0..1 (default {DEFAULT_MIN_SCORE})",
    )
    parser.add_argument(
        "--equivalents",
        type=Path,
        default=DEFAULT_EQUIVALENTS,
        help="accepted equivalent mutants (default tools/equivalent_mutants.txt)",
    )
    parser.add_argument("--show-diffs", action="store_true", help="print each survivor's diff")
    parser.add_argument("--json", type=Path, help="also write the counts and lists to this file")
    args = parser.parse_args(argv)
    if not 0 <= args.min_score <= 1:
        parser.error("--min-score is a fraction between 0 and 1")

    if args.run:
        code = run_mutmut(args.max_children)
        if code != 0:
            print(f"FAIL: mutmut run exited {code}", file=sys.stderr)
            return 2

    results = read_results(MUTANTS)
    if not results:
        print(f"FAIL: no mutmut results under {MUTANTS} (run `mutmut run`, or this with --run)", file=sys.stderr)
        return 2
    try:
        equivalents = read_equivalents(args.equivalents)
    except ValueError as error:
        print(f"FAIL: {error}", file=sys.stderr)
        return 2

    counts = Counter(results.values())
    problems = []

    # the equivalents list must describe this run's mutants exactly
    accepted = {}  # name -> reason; [cuda] ones included
    for name, (digest, reason) in equivalents.items():
        if name not in results:
            problems.append(f"{name} is listed as equivalent but is no mutant of this source")
            continue
        actual = diff_hash(mutant_diff(name))
        if actual != digest:
            problems.append(
                f"{name} is listed as equivalent for diff {digest}, but its diff is now {actual}: review it again"
            )
        elif results[name] in KILLED:
            problems.append(f"{name} is listed as equivalent but the suite kills it: it is not, remove it")
        elif results[name] in ("survived", "no tests"):
            accepted[name] = reason

    cuda_only = {n: r for n, r in accepted.items() if r.startswith("[cuda]")}
    total = len(results)
    denominator = total - counts["skipped"] - len(accepted)
    killed = sum(counts[s] for s in KILLED)
    score = killed / denominator if denominator else 1.0

    print(f"mutants: {total}")
    for status in ORDER:
        if counts[status]:
            print(f"  {status:<30} {counts[status]}")
    print(f"  {'of those, listed equivalent':<30} {len(accepted) - len(cuda_only)}")
    print(f"  {'of those, killed only on CUDA':<30} {len(cuda_only)} (tools/device_check.sh)")
    print(
        f"score: killed / (total - skipped - listed) = {killed} / {denominator} = {score:.4f}"
        f" (minimum {args.min_score})"
    )

    unexplained = sorted(n for n, s in results.items() if s in ("survived", "no tests") and n not in accepted)
    if unexplained:
        print(f"\nsurvivors not accepted as equivalent ({len(unexplained)}): name  diff-hash  verdict")
        for name in unexplained:
            diff = mutant_diff(name)
            print(f"  {name}  {diff_hash(diff)}  {results[name]}")
            if args.show_diffs:
                print("    " + "\n    ".join(diff.splitlines()[2:]))
    if accepted:
        print(f"\nlisted in {args.equivalents.name} ({len(accepted)}):")
        for name, reason in sorted(accepted.items()):
            print(f"  {name}  # {reason[:100]}")

    broken = sorted(n for n, s in results.items() if s in BROKEN)
    if broken:
        problems.append(
            f"{len(broken)} mutants timed out, crashed or were not checked (a setup problem, never a kill: "
            "OMP_NUM_THREADS=1? HYPOTHESIS_PROFILE=mutation? a run cut short?): "
            + ", ".join(f"{n} ({results[n]})" for n in broken)
        )
    if score < args.min_score:
        problems.append(f"score {score:.4f} is below the minimum {args.min_score}")

    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "counts": dict(counts),
                    "total": total,
                    "score": score,
                    "min_score": args.min_score,
                    "survivors": unexplained,
                    "equivalent": accepted,
                    "cuda_only": sorted(cuda_only),
                    "broken": broken,
                    "problems": problems,
                },
                indent=1,
            )
        )

    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    if not problems:
        print("PASS")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
