"""Score pipelines on an experiential task stream and write the table of docs/benchmarks.md.

    python benchmarks/tasks_table.py [STREAM.jsonl] [--pipelines ...] [--permutations 2]
        [--context 5] [--out docs/benchmarks-tasks.md] [--reports DIR]

Every pipeline gets a fresh memory per replay order (the stream's own and
``--permutations`` shuffles). Besides the shipped pipelines, two AgentFly ablations are
built from ``pipelines/agentfly.yaml``: ``agentfly-similarity`` (policy weight 0:
similarity retrieval over the same case bank) and ``agentfly-no-feedback`` (the policy
without its feedback manager: the cases' own rewards as the only Q).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

from evolvelab.datasets.tasks import load_tasks, tasks_sample_path
from evolvelab.evaluation import environment
from evolvelab.evaluation.experiential import TaskSettings, evaluate_tasks_pipeline

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ["exprag", "agentfly", "agentfly-similarity", "agentfly-no-feedback", "arcmemo", "reme", "gmemory"]


def _variant(name: str, folder: Path) -> Path:
    """Return the pipeline file for ``name`` (a shipped one, or an AgentFly ablation)."""
    shipped = ROOT / "pipelines" / f"{name}.yaml"
    if shipped.exists():
        return shipped
    base = yaml.safe_load((ROOT / "pipelines" / "agentfly.yaml").read_text(encoding="utf-8"))
    base["name"] = name
    if name == "agentfly-similarity":
        base["retrieve"][0]["weight"] = 0.0
        base["manage"] = []
    elif name == "agentfly-no-feedback":
        base["manage"] = []
    else:
        raise SystemExit(f"unknown pipeline {name!r}")
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(base, sort_keys=False), encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stream", nargs="?", type=Path, default=None)
    parser.add_argument("--pipelines", nargs="+", default=DEFAULT)
    parser.add_argument("--permutations", type=int, default=2)
    parser.add_argument("--context", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--reports", type=Path, default=None)
    args = parser.parse_args()
    stream = args.stream or tasks_sample_path()
    data = load_tasks(stream)
    rows, curves = [], []
    with tempfile.TemporaryDirectory() as folder:
        for name in args.pipelines:
            started = time.perf_counter()
            report = evaluate_tasks_pipeline(_variant(name, Path(folder)), data, permutations=args.permutations,
                                             tasks=TaskSettings(context=args.context))
            seconds = time.perf_counter() - started
            exp = report.experience
            assert exp is not None and report.helpful_recall and report.misleading_rate
            if args.reports:
                args.reports.mkdir(parents=True, exist_ok=True)
                report.write(args.reports / f"{name}.json")
            spread = exp.robustness
            rows.append("| " + " | ".join([
                name, *(f"{report.helpful_recall[k]:.3f}" for k in ("1", "5", "10")),
                *(f"{report.misleading_rate[k]:.3f}" for k in ("1", "5", "10")),
                f"{exp.success_rate:.3f}",
                f"{spread['helpful_recall']['5'].mean:.3f} ± {spread['helpful_recall']['5'].std:.3f}",
                f"{spread['misleading_rate']['5'].mean:.3f} ± {spread['misleading_rate']['5'].std:.3f}",
                f"{report.search_ms.p50:.1f}", f"{seconds / (args.permutations + 1):.0f}",
            ]) + " |")  # fmt: skip
            curves.append(f"| {name} | " + " | ".join(
                f"{p.helpful_recall['5']:.2f} / {p.misleading_rate['5']:.2f}" for p in exp.curve) + " |")  # fmt: skip
            print(rows[-1], flush=True)
            print(curves[-1], flush=True)
    head = ("| pipeline | HR@1 | HR@5 | HR@10 | MR@1 | MR@5 | MR@10 | success | HR@5 over orders | "
            "MR@5 over orders | search p50 ms | s per replay |\n"
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")  # fmt: skip
    env = environment()
    first = load_tasks(stream)
    blocks = len(first.stream.queries)
    stretch = " | ".join(f"{s}-{min(s + 9, blocks)}" for s in range(1, blocks + 1, 10))
    curve_head = f"| pipeline | {stretch} |\n| --- |" + " ---: |" * len(range(1, blocks + 1, 10))
    text = "\n".join([
        head, *rows, "", "HR@5 / MR@5 over the stream (stream order, tasks per stretch):", "",
        curve_head, *curves, "",
        f"- data: `{stream.name}` ({blocks} tasks), feedback simulated, context {args.context}, "
        f"{args.permutations} permutations besides the stream order",
        f"- machine: {env.cpu}, {env.cpus} CPUs, {env.platform}, Python {env.python}, "
        f"evolvelab {env.evolvelab}",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- command: `python benchmarks/tasks_table.py {args.stream.name if args.stream else ''} "
        f"--pipelines {' '.join(args.pipelines)} --permutations {args.permutations} "
        f"--context {args.context}`",
    ])  # fmt: skip
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
