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

    return wrapper


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
    "-o", "--output", type=click.Path(path_type=Path), default=DEFAULT_SCHEMA, show_default=True,
    help="Where to write the JSON Schema ('-' for standard output).",
)
@click.option("--builtins-only", is_flag=True, help="Describe built-in types only, not installed plugins.")
@click.option(
    "--markdown", type=click.Path(path_type=Path), help="Also write the Markdown type reference here."
)
@_fail_cleanly
def schema(output: Path, builtins_only: bool, markdown: Path | None) -> None:
    """Write the JSON Schema of pipeline files (for editors and CI)."""
    from evolvelab.config import pipeline_schema
    from evolvelab.registry import builtin_registry, default_registry

    registry = builtin_registry() if builtins_only else default_registry()
    if markdown is not None:
        from evolvelab.reference import types_markdown

        markdown.write_text(types_markdown(registry), encoding="utf-8")
        click.echo(f"wrote {markdown}")
    text = json.dumps(pipeline_schema(registry), indent=2) + "\n"
    if str(output) == "-":
        click.echo(text, nl=False)
        return
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

    report = plugin_report(default_registry())
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        render_plugin_report(report)


def _open_pipeline(path: Path, data_dir: Path | None) -> Memory:
    from evolvelab.pipeline import Memory

    return Memory.from_yaml(path, data_dir=data_dir)


@cli.command()
@click.argument("pipeline", type=click.Path(path_type=Path))
@click.option("--stream", "stream_path", type=click.Path(path_type=Path), help="Event stream (JSONL).")
@click.option("--sample", is_flag=True, help="Use the bundled sample stream.")
@click.option("-k", "k", default=10, show_default=True, help="Hits per query (turn budget for recall).")
@click.option("--batch-size", default=32, show_default=True, help="Events per add() call.")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Where the stores keep their files.")
@click.option("--fresh", is_flag=True, help="Delete the pipeline's stored data first.")
@click.option("--show", default=10, show_default=True, help="How many queries to show in the table.")
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="Also write per-query results here.")
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
    from evolvelab.runner import run_stream

    if sample == (stream_path is not None):
        raise click.UsageError("give exactly one of --stream FILE or --sample")
    if stream_path is None:
        from evolvelab.sample import sample_path

        stream_path = sample_path()
    run_stream(
        pipeline,
        stream_path,
        k=k,
        batch_size=batch_size,
        data_dir=data_dir,
        fresh=fresh,
        show=show,
        json_out=json_out,
    )


@cli.command()
@click.argument("pipeline", type=click.Path(path_type=Path))
@click.argument("query")
@click.option("--user", "user_id", help="Search this user's memory.")
@click.option("--agent", "agent_id", help="Search this agent's memory.")
@click.option("--session", "session_id", help="Only this session.")
@click.option("-k", "k", default=5, show_default=True, help="How many hits.")
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
    with _open_pipeline(pipeline, data_dir) as memory:
        hits = memory.search(query, k=k, scope=scope)
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
    from rich.table import Table

    table = Table(title=f"{len(hits)} hits for {query!r}")
    for column in ("#", "score", "channel", "sources", "content"):
        table.add_column(column, overflow="fold")
    for rank, hit in enumerate(hits, start=1):
        table.add_row(
            str(rank), f"{hit.score:.3f}", hit.channel, ", ".join(hit.note.source_ids), hit.note.content
        )
    Console().print(table)


def main() -> None:
    """Run the command line (the ``evolvelab`` console script)."""
    cli(prog_name="evolvelab")


if __name__ == "__main__":
    main()
