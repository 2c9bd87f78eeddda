"""What a trial's file says: ``OUT/trials/NNNN.yaml`` is its pipeline under a comment header.

::

    # evolvelab evolve: trial 7 of study 'sample' (spec pipelines/evolve/sample.yaml)
    # origin: sampler
    # params:
    #   retrieve[0].k: 24
    # train (ana): recall@10 0.6845
    # reproduce: evolvelab eval runs/sample/trials/0007.yaml --dataset jsonl --data ... --user ana

The status line (just above the ``reproduce`` lines, one per dataset) says
``train: running`` while the trial runs, its scores or its error once it ends, and ``interrupted`` when its slot was
put back; it is rewritten in place, so error positions keep pointing at the right lines.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evolvelab.search.context import Context, Task

__all__ = [
    "INTERRUPTED",
    "RUNNING",
    "mark_released",
    "reproduce_command",
    "shown",
    "trial_header",
    "trial_path",
    "trial_status",
]

RUNNING = "train: running"
"""The status line of a trial that is being scored."""
INTERRUPTED = "not scored; its slot was put back (re-run the same command to resume)"
"""The status of a trial that was interrupted or whose worker died."""


def trial_path(ctx: Context, number: int) -> Path:
    """Return the file of trial ``number``."""
    return ctx.out / "trials" / f"{number:04d}.yaml"


def shown(path: str | Path) -> str:
    """Return ``path`` normalised: relative to the working directory when it lies below it
    or beside it (``../data/x.json``), else absolute."""
    full = Path(os.path.normpath(Path(path).absolute()))
    here = Path.cwd()
    if full.is_relative_to(here) or full.is_relative_to(here.parent):
        return os.path.relpath(full, here)
    return str(full)


def reproduce_command(ctx: Context, path: str, users: list[str], task: Task | None = None) -> str:
    """Return the ``evolvelab eval`` command that scores ``path`` as the search did.

    ``path`` is relative to the results folder; both it and the data file are written
    relative to the working directory the search ran in (absolute when outside it).
    ``task`` is the dataset (default: the first).
    """
    data = (task or ctx.tasks[0]).spec
    if data.type == "sample":
        from evolvelab.datasets.sample import sample_path

        kind, source = "jsonl", str(sample_path())
    else:
        kind, source = data.type, shown(ctx.spec.resolve(data.path or ""))
    parts = ["evolvelab eval", shown(ctx.out / path), "--dataset", kind, "--data", source]
    parts += [f"--user {u}" for u in users]
    if data.limit:
        parts.append(f"--limit {data.limit}")
    if data.order:
        parts.append(f"--order {data.order}")
    if data.type == "goodai" and data.seed:
        parts.append(f"--seed {data.seed}")
    return " ".join(parts)


def trial_header(
    ctx: Context, number: int, origin: str, params: dict[str, Any], status: str
) -> str:
    """Return a trial file's comment header; ``status`` is its one-line outcome."""
    lines = [
        f"# evolvelab evolve: trial {number} of study '{ctx.study}' (spec {ctx.spec_path})",
        f"# origin: {origin}",
    ]
    if params:
        lines.append("# params:")
        lines += [f"#   {name}: {json.dumps(value)}" for name, value in params.items()]
    lines.append(f"# {status}")
    for task in ctx.tasks:
        label = f" ({task.name})" if len(ctx.tasks) > 1 else ""
        reproduce = reproduce_command(ctx, f"trials/{number:04d}.yaml", task.train, task)
        lines.append(f"# reproduce{label}: {reproduce}")
    return "\n".join(lines) + "\n"


def trial_status(ctx: Context, values: list[float] | None, error: str | None) -> str:
    """Return the one-line outcome of a trial for its file header."""
    if error is not None or values is None:
        return "failed: " + (error or "no values").splitlines()[0]
    scores = ", ".join(f"{n} {v:.4g}" for n, v in zip(ctx.objective_names, values, strict=True))
    return f"{ctx.search_label}: {scores}"


def mark_released(ctx: Context, number: int, reason: str) -> None:
    """Rewrite the status line of trial ``number``'s file when it still says "running".

    A worker that was killed (``reason``: ``worker died``) never rewrote its trial's file;
    the process that put the slot back does it, if the file is on this machine.
    """
    path = trial_path(ctx, number)
    if not path.exists():
        return
    text = path.read_text(encoding="utf-8")
    running = f"\n# {RUNNING}\n"
    if running in text:
        status = f"\n# interrupted ({reason}): {INTERRUPTED}\n"
        path.write_text(text.replace(running, status, 1), encoding="utf-8")
