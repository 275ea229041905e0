"""Make the catalogue table of docs/catalogue.md from the last run of tests/test_catalogue.py.

    NPEXT_CATALOGUE_FULL=1 python -m pytest -m catalogue -n auto
    python tools/catalogue_table.py [--page docs/catalogue.md]

Reads build/catalogue/*.json; prints a Markdown table (one row per mutant:
its story, the properties that caught it, the time and examples to the first
failure of the fastest one) and, with --page (formerly --readme), writes
it into that page between the markers <!-- catalogue-table:start --> and <!-- catalogue-table:end -->.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
START, END = "<!-- catalogue-table:start -->", "<!-- catalogue-table:end -->"


def load(directory: pathlib.Path):
    rows = [json.loads(path.read_text()) for path in sorted(directory.glob("*.json"))]
    if not rows:
        sys.exit(f"no results in {directory}: run python -m pytest tests/test_catalogue.py first")
    if not all(row.get("complete") for row in rows):
        sys.exit(
            "these results stop at each mutant's first catch: for the table of every property "
            "that catches each mutant, run NPEXT_CATALOGUE_FULL=1 python -m pytest -m catalogue"
        )
    return sorted(rows, key=lambda row: (row["function"], row["mutant"]))


def table(rows) -> str:
    lines = [
        "| # | mutant | the mistake | caught by | first failure (s) | examples |",
        "|---|---|---|---|---|---|",
    ]
    firsts = []
    for number, row in enumerate(rows, 1):
        caught = [h for h in row["hunts"] if h["caught"]]
        fastest = min(caught, key=lambda h: h["seconds"]) if caught else None
        if fastest:
            firsts.append(fastest["seconds"])
        names = ", ".join(f"`{h['property']}`" for h in caught) or "**survived**"
        lines.append(
            f"| {number} | `{row['mutant']}` | {row['story'].replace('|', chr(92) + '|')} | {names} | "
            + (f"{fastest['seconds']:.3f} | {fastest['examples']} |" if fastest else "- | - |")
        )
    caught_count = sum(1 for row in rows if any(h["caught"] for h in row["hunts"]))
    lines.append("")
    lines.append(
        f"{caught_count} of {len(rows)} mutants caught. Time to the first failing example "
        f"(fastest property per mutant): median {statistics.median(firsts):.3f} s, "
        f"max {max(firsts):.3f} s."
    )
    return "\n".join(lines)


def splice(page: pathlib.Path, text: str) -> None:
    content = page.read_text()
    if START not in content or END not in content:
        sys.exit(f"{page} lacks the markers {START} / {END}")
    head, rest = content.split(START, 1)
    _, tail = rest.split(END, 1)
    page.write_text(f"{head}{START}\n{text}\n{END}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=pathlib.Path, default=ROOT / "build" / "catalogue")
    parser.add_argument(
        "--page",
        "--readme",  # its old name, from when the table was in the README
        type=pathlib.Path,
        metavar="PATH",
        help="write the table between the catalogue-table markers of this page (docs/catalogue.md)",
    )
    args = parser.parse_args()
    text = table(load(args.results))
    print(text)
    if args.page:
        splice(args.page, text)


if __name__ == "__main__":
    main()
