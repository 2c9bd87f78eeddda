"""The ``evolvelab`` command line: parse arguments, call the library, render, exit.

Exit codes: 0 success, 1 runtime failure, 2 configuration or usage problem.
Heavy libraries are imported inside commands so that ``evolvelab --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from evolvelab import __version__
from evolvelab.errors import ConfigError, EvolveLabError

if TYPE_CHECKING:
    from evolvelab.pipeline import Memory

__all__ = ["cli", "main"]

DEFAULT_SCHEMA = Path("pipelines/pipeline.schema.json")


def _fail_cleanly(func: Callable[..., Any]) -> Callable[..., Any]:
    """Render the project's errors instead of tracebacks: exit 2 for config, 1 otherwise."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as err:
            click.echo(err.render(), err=True)
            sys.exit(2)
        except EvolveLabError as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(1)
        except OSError as err:  # a file that cannot be written or read: say which, no traceback
            click.echo(f"error: {err}", err=True)
            sys.exit(1)
        except MemoryError:  # e.g. --data /dev/zero, or a file larger than memory
            click.echo("error: out of memory (is an input endless, or larger than memory?)", err=True)
            sys.exit(1)

    return wrapper


def _not_an_input(outputs: dict[str, Path | None], *inputs: Path | None) -> None:
    """Refuse an output file that is one of the command's input files (it would be replaced).

    Raises:
        click.UsageError: naming the option (exit 2); nothing is read or written yet.
    """
    given = {path.resolve() for path in inputs if path is not None and path.exists()}
    for option, path in outputs.items():
        if path is not None and path.exists() and path.resolve() in given:
            raise click.UsageError(
                f"{option} {path} is also an input of this command; writing it would replace "
                "the input: choose another file"
            )


class _PluginGroup(click.Group):
    """A group that adds plugin commands the first time commands are listed or looked up."""

    _loaded = False

    def _load_plugins(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        from evolvelab.registry import default_registry

        try:
            default_registry().add_commands(self)
        except EvolveLabError as err:
            click.echo(f"evolvelab: plugin commands unavailable: {err}", err=True)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugins()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is None:
            self._load_plugins()
            command = super().get_command(ctx, name)
        return command


@click.group(cls=_PluginGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="evolvelab")
def cli() -> None:
    """EvolveLab: memory pipelines for LLM agents, declared in YAML."""


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@_fail_cleanly
def validate(files: tuple[Path, ...]) -> None:
    """Check pipeline files without opening anything; report every problem."""
    from evolvelab.pipeline import Memory

    failed = False
    for file in files:
        try:
            memory = Memory.from_yaml(file)
        except ConfigError as err:
            click.echo(err.render(), err=True)
            failed = True
            continue
        click.echo(f"ok: {file} ({memory.name})")
    sys.exit(2 if failed else 0)


@cli.command()
@click.option(
    "-o", "--output", type=click.Path(path_type=Path),
    help="Where to write the JSON Schema ('-' for standard output; default: "
    "pipelines/pipeline.schema.json if ./pipelines is a folder, else ./pipeline.schema.json).",
)
@click.option("--builtins-only", is_flag=True, help="Describe built-in types only, not installed plugins.")
@click.option(
    "--markdown", type=click.Path(path_type=Path), help="Also write the Markdown type reference here."
)
@_fail_cleanly
def schema(output: Path | None, builtins_only: bool, markdown: Path | None) -> None:
    """Write the JSON Schema of pipeline files (for editors and CI)."""
    from evolvelab.registry import builtin_registry, default_registry

    registry = builtin_registry() if builtins_only else default_registry()
    if markdown is not None:
        from evolvelab.reference import types_markdown

        markdown.write_text(types_markdown(registry), encoding="utf-8")
        click.echo(f"wrote {markdown}")
    text = json.dumps(registry.pipeline_schema(), indent=2) + "\n"
    if str(output) == "-":
        click.echo(text, nl=False)
        return
    if output is None:  # beside the pipeline files; never a new folder
        output = DEFAULT_SCHEMA if DEFAULT_SCHEMA.parent.is_dir() else Path(DEFAULT_SCHEMA.name)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    click.echo(f"wrote {output}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@_fail_cleanly
def plugins(as_json: bool) -> None:
    """List plugins, the types each provides per stage, and load failures."""
    from evolvelab.plugin_report import plugin_report, render_plugin_report
    from evolvelab.registry import default_registry

    cli.list_commands(click.get_current_context())  # load plugin commands: their failures count
    report = plugin_report(default_registry())
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        render_plugin_report(report)


def _unicode_text(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Refuse an argument that is not valid text (bytes the terminal could not decode as UTF-8)."""
    for text in value if isinstance(value, tuple) else (value,):
        if isinstance(text, str) and any("\ud800" <= c <= "\udfff" for c in text):
            raise click.BadParameter(f"not valid UTF-8 text: {text!r}")
    return value


def _open_pipeline(path: Path, data_dir: Path | None) -> Memory:
    from evolvelab.pipeline import Memory

    return Memory.from_yaml(path, data_dir=data_dir)


@cli.command()
@click.argument("pipeline", type=click.Path(path_type=Path))
@click.option("--stream", "stream_path", type=click.Path(path_type=Path), help="Event stream (JSONL).")
@click.option("--sample", is_flag=True, help="Use the bundled sample stream.")
@click.option("-k", "k", default=10, show_default=True, type=click.IntRange(min=1),
              help="Hits per query (turn budget for recall).")  # fmt: skip
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(min=1),
              help="Events per add() call.")  # fmt: skip
@click.option("--data-dir", type=click.Path(path_type=Path), help="Where the stores keep their files.")
@click.option("--fresh", is_flag=True,
              help="Delete the pipeline's stored data first (only from a data folder EvolveLab created).")  # fmt: skip
@click.option("--show", default=10, show_default=True, type=click.IntRange(min=0),
              help="How many queries to show in the table.")  # fmt: skip
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write per-query results here.")  # fmt: skip
@_fail_cleanly
def run(
    pipeline: Path,
    stream_path: Path | None,
    sample: bool,
    k: int,
    batch_size: int,
    data_dir: Path | None,
    fresh: bool,
    show: int,
    json_out: Path | None,
) -> None:
    """Ingest a stream's events into PIPELINE, then answer the stream's queries."""
    from evolvelab.evaluation.runner import run_stream

    if sample == (stream_path is not None):
        raise click.UsageError("give exactly one of --stream FILE or --sample")
    if stream_path is None:
        from evolvelab.datasets.sample import sample_path

        stream_path = sample_path()
    _not_an_input({"--json": json_out}, pipeline, stream_path)
    folder = _open_pipeline(pipeline, data_dir).data_dir
    if not fresh:  # --fresh: the wipe refuses a folder in use (exit 2)
        _refuse_if_served(folder, "write into")
    run_stream(  # holds the folder's writer lock while it writes
        pipeline,
        stream_path,
        k=k,
        batch_size=batch_size,
        data_dir=data_dir,
        fresh=fresh,
        show=show,
        json_out=json_out,
    )


def _refuse_if_served(folder: Path, action: str) -> None:
    """Stop with a clear message if a live process (``evolvelab serve``, ``mcp``) writes ``folder``."""
    from evolvelab.datadir import in_use

    holder = in_use(folder) if folder.is_dir() else None
    if holder is not None:
        raise click.ClickException(
            f"refusing to {action} {folder}: it is in use by {holder} (an `evolvelab serve` or "
            "`evolvelab mcp` of this folder); go through that server, or stop it first"
        )


@cli.command()
@click.argument("pipeline", type=click.Path(path_type=Path))
@click.argument("query", callback=_unicode_text)
@click.option("--user", "user_id", callback=_unicode_text, help="Search this user's memory.")
@click.option("--agent", "agent_id", callback=_unicode_text, help="Search this agent's memory.")
@click.option("--session", "session_id", callback=_unicode_text, help="Only this session.")
@click.option("-k", "k", default=5, show_default=True, type=click.IntRange(min=1),
              help="How many hits.")  # fmt: skip
@click.option("--data-dir", type=click.Path(path_type=Path), help="Where the stores keep their files.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_fail_cleanly
def search(
    pipeline: Path,
    query: str,
    user_id: str | None,
    agent_id: str | None,
    session_id: str | None,
    k: int,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Search PIPELINE's stored memory for QUERY."""
    from evolvelab.types import Scope

    scope = Scope(user_id=user_id, agent_id=agent_id, session_id=session_id)
    memory = _open_pipeline(pipeline, data_dir)
    where = _stored_at(memory)
    if where is not None and not _holds_a_memory(memory, where):  # say so, create nothing
        click.echo(f"nothing stored: {pipeline} has no data at {where} (run it first, e.g. "
                   f"`evolvelab run {pipeline} --sample`, or pass --data-dir)", err=True)  # fmt: skip
        if as_json:
            click.echo("[]")
        return
    _refuse_if_served(memory.data_dir, "open")
    with memory:
        hits = memory.search(query, k=k, scope=scope)
        why = _why_nothing(memory, scope) if not hits else None
    if why:
        click.echo(why, err=True)
    if as_json:
        rows = [
            {
                "id": h.note.id,
                "score": h.score,
                "channel": h.channel,
                "content": h.note.content,
                "source_ids": h.note.source_ids,
                "explain": h.explain,
            }
            for h in hits
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(f"{len(hits)} hits for {query!r}"))
    for column in ("#", "score", "channel", "sources", "content"):
        table.add_column(column, overflow="fold")
    for rank, hit in enumerate(hits, start=1):  # stored text is shown as written, not as markup
        sources = ", ".join(hit.note.source_ids)
        table.add_row(str(rank), f"{hit.score:.3f}", escape(hit.channel), escape(sources),
                      escape(hit.note.content))  # fmt: skip
    Console().print(table)


def _stored_at(memory: Memory) -> Path | None:
    """Return where the note store keeps its files (``None``: not a local folder)."""
    path = getattr(memory.store.config, "path", None)
    if isinstance(path, str) and "://" in path:
        return None
    return Path(path) if path else memory.data_dir


_MEMORY_ENTRIES = ("lancedb", "graph", "eventlog")
"""What the built-in stores and the event log keep in a data folder."""


def _holds_a_memory(memory: Memory, where: Path) -> bool:
    """Return whether ``where`` (the note store's folder) holds a memory to search.

    A data folder counts if EvolveLab created it (its marker) or it holds a store's or
    the event log's folder; any other folder (one the user named by mistake) does not,
    and nothing is created in it.
    """
    from evolvelab.datadir import is_marked

    if not where.exists():
        return False
    if where != memory.data_dir or is_marked(where):
        return True
    return any((where / name).exists() for name in _MEMORY_ENTRIES)


def _why_nothing(memory: Memory, scope: Any) -> str | None:
    """Explain a search that found nothing: an empty scope, or a scope that was not given."""
    if memory.count(scope) > 0:
        return None
    given = {k: v for k, v in scope.model_dump().items() if v is not None}
    if given:
        shown = ", ".join(f"{k.removesuffix('_id')} {v!r}" for k, v in given.items())
        return f"no notes stored for {shown}"
    return ("no notes in the anonymous scope (no --user, --agent): notes are kept per user "
            "and agent, so search with --user NAME (and --agent NAME)")  # fmt: skip


def _parse_ks(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, ...] | None:
    """Parse ``--k 1,5,10,20`` into whole numbers of at least 1 (``None``: the default)."""
    if value is None:
        return None
    try:
        ks = tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        ks = ()
    if not ks or min(ks) < 1:
        raise click.BadParameter(f"expected comma-separated whole numbers >= 1, got {value!r}")
    return ks


DATASET_KINDS = ("locomo", "goodai", "jsonl", "tasks", "halumem", "longmemeval", "memoryagentbench")
CONVERTIBLE = ("locomo", "goodai", "halumem", "longmemeval", "memoryagentbench")


@cli.command()
@click.argument("dataset", type=click.Choice(CONVERTIBLE))
@click.argument("source", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The JSONL stream to write.")  # fmt: skip
@click.option("--seed", default=0, show_default=True, help="Interleaving seed (goodai).")
@_fail_cleanly
def convert(dataset: str, source: Path, output: Path, seed: int) -> None:
    """Convert a benchmark (LoCoMo, GoodAI, HaluMem, LongMemEval, MemoryAgentBench) to a stream."""
    from evolvelab.datasets import load_dataset
    from evolvelab.stream import write_stream

    _not_an_input({"-o": output}, source)
    data = load_dataset(dataset, source, seed=seed)
    header = [data.stream.header] if data.stream.header is not None else []
    write_stream(output, [*header, *data.stream.records])
    for note in data.notes:
        click.echo(f"note: {note.render()}", err=True)
    stream = data.stream
    click.echo(f"wrote {output}: {len(stream.events)} events, {len(stream.queries)} queries "
               f"in {len(stream.scopes())} scope(s)")  # fmt: skip


@cli.command("eval")
@click.argument("pipeline", type=click.Path(path_type=Path))
@click.option("--dataset", "kind", type=click.Choice(DATASET_KINDS), required=True,
              help="What --data holds.")  # fmt: skip
@click.option("--data", "source", type=click.Path(path_type=Path),
              help="The dataset file (or GoodAI folder).")  # fmt: skip
@click.option("--sample", is_flag=True,
              help="Use the bundled stream of the dataset kind (tasks or jsonl) instead of --data.")  # fmt: skip
@click.option("--k", "ks", default=None, callback=_parse_ks,
              help="Budgets to report, comma-separated [default: 1,5,10,20; tasks: 1,5,10].")  # fmt: skip
@click.option("--permutations", default=3, show_default=True, type=click.IntRange(min=0),
              help="Task streams: extra replay orders for the order-robustness spread.")  # fmt: skip
@click.option("--context", default=5, show_default=True, type=click.IntRange(min=1),
              help="Task streams: hits supplied to each task (their ids are fed back).")  # fmt: skip
@click.option("--feedback", type=click.Choice(["simulated", "recorded"]), default="simulated",
              show_default=True, help="Task streams: outcome fed back after each task.")  # fmt: skip
@click.option("--limit", type=click.IntRange(min=1), help="Ask only the first N questions.")
@click.option("--user", "users", multiple=True, callback=_unicode_text,
              help="Evaluate only this user id (repeatable).")  # fmt: skip
@click.option("--order", type=click.Choice(["end", "stream"]),
              help="Ask queries after all events (end) or where they stand (stream); "
                   "default: the dataset's.")  # fmt: skip
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(min=1),
              help="Events per add() call.")  # fmt: skip
@click.option("--seed", default=0, show_default=True, help="Interleaving seed (goodai).")
@click.option("--fresh/--no-fresh", default=True, show_default=True,
              help="Start from an empty memory (a temporary data dir unless --data-dir).")  # fmt: skip
@click.option("--data-dir", type=click.Path(path_type=Path),
              help="Keep the stores here (must be empty when fresh).")  # fmt: skip
@click.option("--qa", is_flag=True, help="Also generate answers with the pipeline's LLM and score them.")
@click.option("--judge", is_flag=True, help="With --qa: also ask the LLM to judge each answer.")
@click.option("--qa-notes", default=10, show_default=True, type=click.IntRange(min=1),
              help="Top hits given to the answering prompt.")  # fmt: skip
@click.option("--out", type=click.Path(path_type=Path), help="Write the JSON report here.")
@click.option("--details", is_flag=True, help="Put per-query results in the JSON report.")
@click.option("--md", "md_out", type=click.Path(path_type=Path), help="Write a Markdown report (plots beside it).")
@click.option("--html", "html_out", type=click.Path(path_type=Path), help="Write an HTML report.")
@click.option("--quiet", is_flag=True, help="No progress bars or tables.")
@_fail_cleanly
def eval_command(
    pipeline: Path, kind: str, source: Path | None, sample: bool, ks: tuple[int, ...] | None,
    permutations: int, context: int, feedback: str, limit: int | None,
    users: tuple[str, ...], order: str | None, batch_size: int, seed: int, fresh: bool,
    data_dir: Path | None, qa: bool, judge: bool, qa_notes: int, out: Path | None,
    details: bool, md_out: Path | None, html_out: Path | None, quiet: bool,
) -> None:  # fmt: skip
    """Score PIPELINE on a dataset: evidence recall on a turn budget, latency, optional QA.

    With --dataset tasks, replay an experiential task stream task by task: helpful recall
    and misleading rate per episode budget, their curve over the stream, order robustness.
    """
    from rich.console import Console

    from evolvelab.datasets import load_dataset
    from evolvelab.evaluation import evaluate_pipeline
    from evolvelab.evaluation.qa import QASettings

    if judge and not qa:
        raise click.UsageError("--judge needs --qa")
    source = _dataset_source(kind, source, sample)
    _not_an_input({"--out": out, "--md": md_out, "--html": html_out}, pipeline, source)
    data = load_dataset(kind, source, seed=seed)
    if kind == "tasks":
        if order is not None:
            raise click.UsageError("--order does not apply to --dataset tasks: it is replayed task by task")
        report = _eval_tasks(pipeline, data, ks, permutations, context, feedback, limit, users,
                             batch_size, fresh, data_dir, qa, quiet)  # fmt: skip
        _write_reports(report, out, details, md_out, html_out, quiet)
        return
    ks = ks or DEFAULT_EVAL_KS
    report = evaluate_pipeline(
        pipeline, data, fresh=fresh, data_dir=data_dir, ks=ks, limit=limit,
        scopes=users or None, order=order, batch_size=batch_size,
        qa=QASettings(notes=qa_notes, judge=judge) if qa else None,
        progress=not quiet, console=Console(stderr=True),
    )  # fmt: skip
    _write_reports(report, out, details, md_out, html_out, quiet)
    if report.session_recall and not quiet:
        _print_session_recall(report.session_recall, data, ks)


def _print_session_recall(scores: dict[str, dict[str, float]], data: Any, ks: tuple[int, ...]) -> None:
    """Print LongMemEval's session recall@k (sessions ranked by their first retrieved turn)."""
    for group, row in scores.items():
        cells = ", ".join(f"R@{k} {row[str(k)]:.3f}" for k in sorted(set(ks)))
        click.echo(f"session recall ({data.name}, {group}, {int(row['n'])} questions): {cells}")


DEFAULT_EVAL_KS = (1, 5, 10, 20)


def _dataset_source(kind: str, source: Path | None, sample: bool) -> Path:
    """Return the file to load: ``--data``, or the bundled stream with ``--sample``."""
    if sample == (source is not None):
        raise click.UsageError("give exactly one of --data FILE or --sample")
    if source is not None:
        return source
    if kind == "tasks":
        from evolvelab.datasets.tasks import tasks_sample_path

        return tasks_sample_path()
    if kind == "jsonl":
        from evolvelab.datasets.sample import sample_path

        return sample_path()
    raise click.UsageError(f"--sample is offered for --dataset tasks and jsonl, not {kind}")


def _eval_tasks(pipeline: Path, data: Any, ks: tuple[int, ...] | None, permutations: int,
                context: int, feedback: str, limit: int | None, users: tuple[str, ...],
                batch_size: int, fresh: bool, data_dir: Path | None, qa: bool, quiet: bool) -> Any:  # fmt: skip
    """Replay a task stream (``--dataset tasks``) and print its experiential scores."""
    from rich.console import Console

    from evolvelab.evaluation.experiential import TASK_KS, TaskSettings, evaluate_tasks_pipeline

    if qa:
        raise click.UsageError("--qa is not offered for --dataset tasks")
    report = evaluate_tasks_pipeline(
        pipeline, data, permutations=permutations, ks=ks or TASK_KS, limit=limit,
        scopes=users or None, batch_size=batch_size, fresh=fresh, data_dir=data_dir,
        tasks=TaskSettings(context=context, feedback=feedback),  # type: ignore[arg-type]
        progress=not quiet, console=Console(stderr=True),
    )  # fmt: skip
    if not quiet:
        from evolvelab.evaluation.experiential import render_experience

        render_experience(report)
    return report


def _write_reports(report: Any, out: Path | None, details: bool, md_out: Path | None,
                   html_out: Path | None, quiet: bool) -> None:  # fmt: skip
    from evolvelab.evaluation.report import render_report, write_html, write_markdown

    if not quiet and report.experience is None:
        render_report(report)
    for target, write in ((out, None), (md_out, write_markdown), (html_out, write_html)):
        if target is None:
            continue
        if write is None:
            report.write(target, details=details)
        else:
            write(report, target)
        click.echo(f"wrote {target}")


@cli.command()
@click.argument("reports", nargs=-1, required=True, type=click.Path(path_type=Path))
@_fail_cleanly
def compare(reports: tuple[Path, ...]) -> None:
    """Show evaluation reports (JSON from `evolvelab eval --out`) side by side."""
    from evolvelab.evaluation.report import render_compare
    from evolvelab.evaluation.schema import EvalReport

    render_compare([EvalReport.read(path) for path in reports])


@cli.command("evolve")
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("--trials", type=click.IntRange(min=1), help="Trial budget (default: the spec's).")
@click.option("--storage", help="Optuna storage URL (sqlite:///x.db, postgresql://...) or journal "
              "file (default: OUT/study.journal).")  # fmt: skip
@click.option("--study", "study_name", help="Study name (default: the spec's name).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="Worker processes on this machine.")  # fmt: skip
@click.option("--out", type=click.Path(path_type=Path), help="Results folder (default: runs/SPEC-STEM).")
@click.option("--seed", type=click.IntRange(0, 2**31 - 1), help="Sampler seed (default: the spec's).")
@click.option("--quiet", is_flag=True, help="No progress bar or results table.")
@_fail_cleanly
def evolve_command(
    spec: Path, trials: int | None, storage: str | None, study_name: str | None, workers: int,
    out: Path | None, seed: int | None, quiet: bool,
) -> None:  # fmt: skip
    """Search pipelines around SPEC's base pipeline(s); re-run the same command to resume."""
    from evolvelab.search.evolve import evolve
    from evolvelab.search.interrupt import SIGTERM_EXIT, terminate_as_interrupt

    out = out or Path("runs") / spec.stem
    stopped = False
    with terminate_as_interrupt() as termination:  # kill acts like Ctrl-C, and is never lost
        try:
            evolve(spec, out=out, trials=trials, storage=storage, study=study_name,
                   workers=workers, seed=seed, progress=not quiet)  # fmt: skip
        except KeyboardInterrupt:
            stopped = True
    if stopped or termination.received:
        click.echo("interrupted: finished trials are kept; re-run the same command to resume", err=True)
        sys.exit(SIGTERM_EXIT if termination.received else 130)


from evolvelab.server.commands import register as _register_server_commands  # noqa: E402

_register_server_commands(cli)  # serve, mcp, keys, rebuild, export


def main() -> None:
    """Run the command line (the ``evolvelab`` console script)."""
    cli(prog_name="evolvelab")


if __name__ == "__main__":
    main()
