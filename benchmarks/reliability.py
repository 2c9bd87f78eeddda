"""Run the fault and fuzz tests and write their table into docs/reliability.md.

Every test in ``tests/reliability/`` (slow ones included) runs once; each reports what it
tried through the ``tally`` fixture (hostile files generated, kill points, processes, HTTP
faults). The table lists each test, its outcome and its count, so the numbers in the docs
are the ones this run measured, on this machine, today.

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
    """Render the Markdown table (tests without a tally are listed with their outcome)."""
    by_node = {str(e["test"]).split("[")[0]: e for e in entries}
    lines = [
        "| test | what it does | tried | outcome | seconds |",
        "|---|---|---:|---|---:|",
    ]
    for node, (outcome, seconds) in sorted(outcomes.items()):
        entry = by_node.get(node.split("[")[0], {})
        tried = f"{entry['count']:,} {entry['unit']}" if entry.get("count") else "—"
        name = node.removeprefix("tests/reliability/")
        lines.append(f"| `{name}` | {entry.get('about', '')} | {tried} | {outcome} | {seconds:.1f} |")
    passed = sum(1 for outcome, _ in outcomes.values() if outcome == "passed")
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines.append("")
    lines.append(
        f"{passed} of {len(outcomes)} passed in {wall:.0f} s on {os.cpu_count()} cores, {stamp} "
        "(`python benchmarks/reliability.py`)."
    )
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
