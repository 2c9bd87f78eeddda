"""Score every pipeline on LoCoMo and write the benchmark table of the docs.

Usage::

    python benchmarks/locomo_table.py ../shared/data/locomo/locomo-dev.json \
        [--pipelines pipelines/*.yaml] [--out docs/benchmarks.md] [--limit N] [--reports DIR]

Each pipeline runs on a fresh temporary memory (``evaluate_pipeline``): the conversations
are ingested in order, then every question is asked; recall is measured on a turn budget
(``docs/evaluation.md``). The page gets recall@1/5/10/20, recall@10 per category, search
latency p50/p95, the ingest rate, the machine, the date and the command. A pipeline that
fails is listed with its error and the others still run. ``--reports DIR`` also keeps each
pipeline's JSON report (compare them with ``evolvelab compare``).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from datetime import UTC, datetime
from pathlib import Path

from evolvelab.datasets import load_dataset
from evolvelab.errors import EvolveLabError
from evolvelab.evaluation import EvalReport, environment, evaluate_pipeline
from evolvelab.evaluation.report import markdown_table

ROOT = Path(__file__).resolve().parents[1]
KS = ("1", "5", "10", "20")


def _row(name: str, report: EvalReport) -> list[str]:
    def num(value: float | None, digits: int = 3) -> str:
        return "–" if value is None else f"{value:.{digits}f}"

    categories = [num(report.by_category[c].recall.get("10")) if c in report.by_category else "–"
                  for c in ("1", "2", "3", "4", "5")]  # fmt: skip
    return [name, *[num(report.recall.get(k)) for k in KS], *categories,
            num(report.search_ms.p50, 1), num(report.search_ms.p95, 1),
            num(report.ingest.per_second, 1)]  # fmt: skip


def _page(rows: list[list[str]], failures: list[str], data: Path, digest: str, questions: str,
          command: str) -> str:  # fmt: skip
    env = environment()
    header = ["pipeline", "R@1", "R@5", "R@10", "R@20", "multi-hop", "temporal", "open-domain",
              "single-hop", "adversarial", "search p50 ms", "search p95 ms", "ingest events/s"]  # fmt: skip
    lines = [
        "# Benchmarks: LoCoMo evidence recall\n",
        "Every pipeline in `pipelines/`, scored on the LoCoMo development conversations with "
        "`evolvelab eval` semantics: a fresh memory per pipeline, each conversation ingested "
        "in order (its own scope), then every question asked. **Recall@k is on a turn "
        "budget**: the ranked hits are expanded into their source turn ids, de-duplicated "
        "and cut at k ids ([evaluation.md](evaluation.md)). The category columns are "
        "recall@10. Latency is per search, query embedding included; the ingest rate counts "
        "encoding, storing and end-of-conversation management.\n",
        markdown_table((header, rows)),
    ]
    if failures:
        lines.append("Pipelines that failed:\n\n" + "".join(f"- {f}\n" for f in failures))
    lines.append(
        f"- data: `{data.name}` (sha256 {digest[:12]}…), {questions}\n"
        f"- machine: {env.cpu}, {env.cpus} CPUs, {env.platform}, Python {env.python}, "
        f"evolvelab {env.evolvelab}\n"
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}\n"
        f"- command: `{command}`\n\n"
        "Timings depend on the machine and on what else runs on it; compare them within "
        "one table only.\n"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the exit code (1 if every pipeline failed)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="LoCoMo JSON file (e.g. locomo-dev.json)")
    parser.add_argument("--pipelines", nargs="+", type=Path,
                        default=sorted((ROOT / "pipelines").glob("*.yaml")),
                        help="pipeline files (default: pipelines/*.yaml)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md",
                        help="the Markdown page to write")  # fmt: skip
    parser.add_argument("--limit", type=int, help="ask only the first N questions (a quick check)")
    parser.add_argument("--reports", type=Path, help="also keep each JSON report in this folder")
    args = parser.parse_args(argv)

    data = load_dataset("locomo", args.data)
    digest = hashlib.sha256(args.data.read_bytes()).hexdigest()
    if args.reports is not None:
        args.reports.mkdir(parents=True, exist_ok=True)
    rows: list[list[str]] = []
    failures: list[str] = []
    questions = ""
    for pipeline in args.pipelines:
        name = pipeline.stem
        print(f"== {name}", file=sys.stderr, flush=True)
        try:
            report = evaluate_pipeline(pipeline, data, limit=args.limit, progress=True)
        except EvolveLabError as err:
            failures.append(f"`{name}`: {' '.join(str(err).split())}")
            print(f"   failed: {err}", file=sys.stderr)
            continue
        rows.append(_row(report.pipeline, report))
        questions = f"{report.questions} scored questions ({report.skipped} without valid evidence)"
        if args.limit:
            questions += f", first {args.limit} questions only"
        if args.reports is not None:
            report.write(args.reports / f"{name}.json")
        print(f"   recall@10 {report.recall.get('10', 0):.3f}", file=sys.stderr)
    given = argv if argv is not None else sys.argv[1:]
    shown = [args.data.name if Path(a).resolve() == args.data.resolve() else a for a in given]
    command = " ".join(["python benchmarks/locomo_table.py", *shown])
    args.out.write_text(_page(rows, failures, args.data, digest, questions, command), encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
