"""Run the fault and fuzz tests and write their table into docs/reliability.md.

Every test in ``tests/reliability/`` (slow ones included) runs once; the fault and fuzz
loops report what they tried through the ``tally`` fixture (hostile files generated, kill
points, processes, HTTP faults). The first table has one row per test file (tests, passed,
what its loops tried), the second every test that counted, so the numbers in the docs are
the ones this run measured, on this machine, that day.

Usage::

    python benchmarks/reliability.py                 # run and rewrite the table
    python benchmarks/reliability.py --check         # run, print the table, change no file
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reliability.md"
BEGIN, END = "<!-- reliability-table:begin -->", "<!-- reliability-table:end -->"


def _outcomes(junit: Path) -> dict[str, tuple[str, float]]:
    """Map ``file::test`` node ids to (outcome, seconds) from a JUnit XML report."""
    out: dict[str, tuple[str, float]] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        module = case.get("classname", "").split(".")
        path = "/".join(module[: -1 if module and module[-1][:1].isupper() else None]) + ".py"
        node = f"{path}::{case.get('name')}"
        outcome = "passed"
        for tag in ("failure", "error", "skipped"):
            if case.find(tag) is not None:
                outcome = {"failure": "FAILED", "error": "ERROR", "skipped": "skipped"}[tag]
        out[node] = (outcome, float(case.get("time") or 0.0))
    return out


def run() -> tuple[list[dict[str, object]], dict[str, tuple[str, float]], float]:
    """Run the reliability tests; return the tallies, the outcomes and the wall time."""
    with tempfile.TemporaryDirectory() as tmp:
        tallies, junit = Path(tmp) / "tally.json", Path(tmp) / "junit.xml"
        env = {**os.environ, "EVOLVELAB_RELIABILITY_TALLY": str(tallies)}
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/reliability",
             f"--junitxml={junit}", "-o", "junit_family=xunit1"],
            cwd=ROOT, env=env, check=False,
        )  # fmt: skip
        wall = time.perf_counter() - started
        entries = json.loads(tallies.read_text()) if tallies.exists() else []
        outcomes = _outcomes(junit) if junit.exists() else {}
    return entries, outcomes, wall


def table(entries: list[dict[str, object]], outcomes: dict[str, tuple[str, float]], wall: float) -> str:
    """Render two Markdown tables: one row per test file, then every test that tallied."""
    by_node = {str(e["test"]): e for e in entries}
    files: dict[str, dict[str, object]] = {}
    for node, (outcome, seconds) in sorted(outcomes.items()):
        name = node.split("::")[0].removeprefix("tests/reliability/")
        row = files.setdefault(name, {"tests": 0, "passed": 0, "failed": [], "seconds": 0.0,
                                      "tried": {}})  # fmt: skip
        row["tests"] = int(row["tests"]) + 1  # type: ignore[call-overload]
        row["seconds"] = float(row["seconds"]) + seconds  # type: ignore[arg-type]
        if outcome == "passed":
            row["passed"] = int(row["passed"]) + 1  # type: ignore[call-overload]
        elif outcome != "skipped":
            row["failed"].append(node.split("::")[1])  # type: ignore[union-attr]
        entry = by_node.get(node)
        if entry and entry.get("count"):
            tried: dict[str, int] = row["tried"]  # type: ignore[assignment]
            tried[str(entry["unit"])] = tried.get(str(entry["unit"]), 0) + int(entry["count"])  # type: ignore[call-overload]
    lines = [
        "| file | tests | passed | what its fault and fuzz loops tried | seconds |",
        "|---|---:|---:|---|---:|",
    ]
    for name, row in files.items():
        tried = "; ".join(f"{count:,} {unit}" for unit, count in row["tried"].items()) or "—"  # type: ignore[union-attr]
        failed = f" (failed: {', '.join(row['failed'])})" if row["failed"] else ""  # type: ignore[arg-type]
        lines.append(
            f"| `{name}` | {row['tests']} | {row['passed']}{failed} | {tried} | {float(row['seconds']):.1f} |"  # type: ignore[arg-type]
        )
    passed = sum(1 for outcome, _ in outcomes.values() if outcome == "passed")
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines += [
        "",
        f"{passed} of {len(outcomes)} passed in {wall:.0f} s on {os.cpu_count()} cores, {stamp} "
        "(`python benchmarks/reliability.py`).",
        "",
        "The tests that count what they tried:",
        "",
        "| test | what it does | tried |",
        "|---|---|---:|",
    ]
    tests: dict[str, dict[str, object]] = {}  # parametrised cases add up under their test
    for node, entry in sorted(by_node.items()):
        if entry.get("count"):
            name = node.removeprefix("tests/reliability/").split("[")[0]
            row = tests.setdefault(name, {"about": entry.get("about", ""), "count": 0, "unit": entry["unit"]})
            row["count"] = int(row["count"]) + int(entry["count"])  # type: ignore[call-overload]
    for name, row in tests.items():
        lines.append(f"| `{name}` | {row['about']} | {int(row['count']):,} {row['unit']} |")  # type: ignore[call-overload]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="Print the table; change no file.")
    args = parser.parse_args()
    entries, outcomes, wall = run()
    rendered = table(entries, outcomes, wall)
    print(rendered)
    if args.check:
        return
    text = DOC.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        sys.exit(f"{DOC} has no {BEGIN} … {END} markers")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{BEGIN}\n{rendered}\n{END}{tail}", encoding="utf-8")


if __name__ == "__main__":
    main()
