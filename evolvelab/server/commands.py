"""Command-line commands of the server: ``serve``, ``mcp``, ``keys``, ``rebuild``, ``export``.

Attached to the main ``evolvelab`` group by :func:`register`. Heavy libraries (FastAPI,
uvicorn, the MCP SDK, LanceDB) are imported inside the commands.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from evolvelab.pipeline import Memory

__all__ = ["register"]

_LOOPBACK = ("localhost",)


def _fail_cleanly(func: Callable[..., Any]) -> Callable[..., Any]:
    """Render the project's errors as the main command line does (looked up when called)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from evolvelab.cli import _fail_cleanly as render

        return render(func)(*args, **kwargs)

    return wrapper


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _open(pipeline: Path, data_dir: Path | None) -> Memory:
    """Build the pipeline and open it with its event log, recovering what the stores lack."""
    from evolvelab.pipeline import Memory

    memory = Memory.from_yaml(pipeline, data_dir=data_dir)
    report = memory.use_event_log()
    if report.entries:
        click.echo(f"recovered {report.entries} log entries ({report.events} events) "
                   "that the stores had not absorbed", err=True)  # fmt: skip
    for failure in report.failures:
        click.echo(f"warning: recovery: {failure}", err=True)
    return memory


def _open_replica(pipeline: Path, data_dir: Path | None) -> Memory:
    """Open the pipeline to read beside the writer process: no log writes, no writer lock.

    Raises:
        click.UsageError: for a pipeline with a graph store (its database admits one process).
    """
    from evolvelab.eventlog import EventLog
    from evolvelab.pipeline import Memory
    from evolvelab.rebuild import log_dir

    memory = Memory.from_yaml(pipeline, data_dir=data_dir)
    if memory.graph is not None:
        raise click.UsageError("--read-only needs a pipeline without a graph store: the graph "
                               "database admits one process at a time")  # fmt: skip
    memory.open()
    memory.log = EventLog(log_dir(memory.data_dir))  # read for export and history, never opened
    return memory


def _logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    for name in ("evolvelab.access", "evolvelab.server"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False


@click.command()
@click.argument("pipeline", type=click.Path(path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535),
              help="Port (0: a free one; the address is printed).")  # fmt: skip
@click.option("--data-dir", type=click.Path(path_type=Path),
              help="The data folder: stores and the event log (one server per folder).")  # fmt: skip
@click.option("--keys", "keys_file", type=click.Path(path_type=Path),
              help="API keys file (evolvelab keys add); without it: no auth, 127.0.0.1 only.")  # fmt: skip
@click.option("--cors-origin", multiple=True, help="Allow this browser origin (repeatable); default: CORS off.")
@click.option("--no-mcp", is_flag=True, help="Do not serve MCP at /mcp.")
@click.option("--max-wait-ms", default=2.0, show_default=True, type=click.FloatRange(0, 50),
              help="Group commit: how long to wait for more concurrent writes.")  # fmt: skip
@click.option("--max-events", default=500, show_default=True, type=click.IntRange(min=1),
              help="Events (or messages) per request at most.")  # fmt: skip
@click.option("--max-body-bytes", default=1_048_576, show_default=True, type=click.IntRange(min=1024),
              help="Largest request body.")  # fmt: skip
@click.option("--read-only", is_flag=True,
              help="A read replica beside the writer of DATA_DIR: search, read, export; no writes.")  # fmt: skip
@click.option("--log-queries/--no-log-queries", default=True, show_default=True,
              help="Keep searches in the event log (export turns them into queries to evolve on).")  # fmt: skip
@click.option("--serial-reads", is_flag=True,
              help="Run searches one at a time (automatic for retrieve stages that cache or write).")  # fmt: skip
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]),
              help="Server log on stderr; info writes one access-log line per request.")  # fmt: skip
@_fail_cleanly
def serve(
    pipeline: Path, host: str, port: int, data_dir: Path | None, keys_file: Path | None,
    cors_origin: tuple[str, ...], no_mcp: bool, max_wait_ms: float, max_events: int,
    max_body_bytes: int, read_only: bool, log_queries: bool, serial_reads: bool, log_level: str,
) -> None:  # fmt: skip
    """Serve PIPELINE to agents over REST (and MCP at /mcp) until SIGTERM or Ctrl-C."""
    if keys_file is None and not _is_loopback(host):
        raise click.UsageError(
            f"refusing to bind {host} without --keys: an unauthenticated server binds "
            "127.0.0.1 only (create keys with: evolvelab keys add TENANT --file KEYS.yaml)"
        )
    import uvicorn

    from evolvelab.server.api import Limits
    from evolvelab.server.app import create_app
    from evolvelab.server.keys import KeyRing
    from evolvelab.server.service import MemoryService

    keys = KeyRing.load(keys_file) if keys_file is not None else None
    limits = Limits(max_events=max_events, max_body_bytes=max_body_bytes)
    memory = _open_replica(pipeline, data_dir) if read_only else _open(pipeline, data_dir)
    service = MemoryService(memory, max_wait=max_wait_ms / 1000,
                            concurrent_reads=False if serial_reads else None,
                            log_queries=log_queries, read_only=read_only)  # fmt: skip
    app = create_app(service, keys=keys, limits=limits, cors_origins=list(cors_origin),
                     mcp=not no_mcp, host=host)  # fmt: skip
    _logging(log_level)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        memory.close()
        raise click.ClickException(f"cannot bind {host}:{port}: {err}") from err
    bound = sock.getsockname()[1]
    auth = (f"API keys from {keys_file} ({len(set(keys.tenants.values()))} tenants)" if keys
            else "no --keys: no authentication, bound to 127.0.0.1 only")  # fmt: skip
    reads = "concurrent" if service.concurrent_reads else "one at a time"
    if service.reads_during_commits:
        reads += ", beside commits"
    if read_only:
        auth += "; read-only replica (writes answer 405)"
    click.echo(f"evolvelab serve: pipeline {memory.name!r}, data in {memory.data_dir}; {auth}; "
               f"searches run {reads}")  # fmt: skip
    click.echo(f"listening on http://{host}:{bound} (REST /v1, MCP {'off' if no_mcp else '/mcp'}, "
               "docs /docs)")  # fmt: skip
    sys.stdout.flush()
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=20, server_header=False)  # fmt: skip
    uvicorn.Server(config).run(sockets=[sock])  # on SIGTERM: drains, then exits by the signal


@click.command("mcp")
@click.argument("pipeline", type=click.Path(path_type=Path))
@click.option("--data-dir", type=click.Path(path_type=Path), help="The data folder.")
@click.option("--user", "user_id", help="Default user of every tool call.")
@click.option("--agent", "agent_id", help="Default agent of every tool call.")
@_fail_cleanly
def mcp_command(pipeline: Path, data_dir: Path | None, user_id: str | None, agent_id: str | None) -> None:
    """Serve PIPELINE as an MCP server over stdio (e.g. for a desktop assistant)."""
    from evolvelab.server.mcp_tools import Defaults, build_mcp
    from evolvelab.server.service import MemoryService

    memory = _open(pipeline, data_dir)
    service = MemoryService(memory)
    server = build_mcp(service, defaults=Defaults(user_id=user_id, agent_id=agent_id))
    service.start()
    try:
        server.run("stdio")
    finally:
        service.stop()


@click.group()
def keys() -> None:
    """Manage API keys of `evolvelab serve --keys` (only hashes are stored)."""


@keys.command("add")
@click.argument("tenant")
@click.option("--file", "path", type=click.Path(path_type=Path), required=True, help="The keys file.")
@_fail_cleanly
def keys_add(tenant: str, path: Path) -> None:
    """Generate a key for TENANT; it is printed once and only its hash is stored."""
    from evolvelab.server.keys import TENANT_PATTERN, add_key

    if not TENANT_PATTERN.match(tenant):
        raise click.BadParameter("use letters, digits, '_', '.', '-' (at most 64, starting with "
                                 "a letter or digit)", param_hint="TENANT")  # fmt: skip
    key_id, key = add_key(path, tenant)
    click.echo(key)
    click.echo(f"key {key_id} for tenant {tenant!r} added to {path}; it is shown only this once",
               err=True)  # fmt: skip


@keys.command("list")
@click.option("--file", "path", type=click.Path(path_type=Path), required=True, help="The keys file.")
@_fail_cleanly
def keys_list(path: Path) -> None:
    """List key ids and their tenants (never the keys)."""
    from evolvelab.server.keys import list_keys

    for entry in list_keys(path):
        click.echo(f"{entry['id']}\t{entry['tenant']}\t{entry.get('created', '')}")


@keys.command("revoke")
@click.argument("key_id")
@click.option("--file", "path", type=click.Path(path_type=Path), required=True, help="The keys file.")
@_fail_cleanly
def keys_revoke(key_id: str, path: Path) -> None:
    """Remove the key KEY_ID (or every key of a tenant of that name); restart the server."""
    from evolvelab.server.keys import revoke_key

    removed = revoke_key(path, key_id)
    if not removed:
        raise click.ClickException(f"no key or tenant {key_id!r} in {path}")
    click.echo(f"removed {removed} key(s) from {path}")


@click.command()
@click.argument("pipeline", type=click.Path(path_type=Path))
@click.option("--from", "source", type=click.Path(path_type=Path, exists=True, file_okay=False),
              required=True, help="The data folder whose event log to replay.")  # fmt: skip
@click.option("--data-dir", type=click.Path(path_type=Path),
              help="Where the new stores go (default: the pipeline's); must be new or empty.")  # fmt: skip
@click.option("--fresh", is_flag=True, help="Delete --data-dir's contents first.")
@_fail_cleanly
def rebuild(pipeline: Path, source: Path, data_dir: Path | None, fresh: bool) -> None:
    """Derive PIPELINE's stores from the event log of another data folder."""
    import time

    from evolvelab.datadir import wipe
    from evolvelab.pipeline import Memory
    from evolvelab.rebuild import log_dir
    from evolvelab.rebuild import rebuild as rebuild_from

    if not (log_dir(source) / "log.jsonl").exists():
        raise click.BadParameter(f"no event log in {source} (expected {log_dir(source)}/log.jsonl)",
                                 param_hint="--from")  # fmt: skip
    memory = Memory.from_yaml(pipeline, data_dir=data_dir)
    if fresh and memory.data_dir.exists():
        if memory.data_dir.resolve() == source.resolve():
            raise click.UsageError("--fresh would delete the folder being read (--from)")
        wipe(memory.data_dir)  # only a data folder EvolveLab created and marked
    start = time.perf_counter()
    try:
        report = rebuild_from(memory, source)
    finally:
        memory.close()
    click.echo(f"rebuilt {memory.name!r} in {memory.data_dir} from {source}: {report.events} events, "
               f"{report.updates} corrections, {report.deletes} deletions, {report.forgets} "
               f"erasures, {report.outcomes} outcomes in {time.perf_counter() - start:.1f}s")  # fmt: skip
    for failure in report.failures:
        click.echo(f"warning: {failure}", err=True)
    if report.failures:
        sys.exit(1)


@click.command()
@click.argument("data_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--user", "user_id", help="Only this user.")
@click.option("--agent", "agent_id", help="Only this agent.")
@click.option("--tenant", help="Only this tenant of a server with --keys (user ids as it sees them).")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write here instead of stdout.")
@_fail_cleanly
def export(data_dir: Path, user_id: str | None, agent_id: str | None, tenant: str | None,
           output: Path | None) -> None:  # fmt: skip
    """Write DATA_DIR's event log as a JSONL stream (for evolvelab run/eval/evolve)."""
    from evolvelab.eventlog import EventLog
    from evolvelab.rebuild import export_records, log_dir
    from evolvelab.server.service import Tenant
    from evolvelab.stream import StreamHeader, dump_stream

    log = EventLog(log_dir(data_dir))  # read only: never opened for writing here
    if not log.path.exists():
        raise click.BadParameter(f"no event log here (expected {log.path})", param_hint="DATA_DIR")
    who = Tenant(tenant)
    owners = None
    if user_id is not None or agent_id is not None or tenant is not None:
        owners = who.owners(user_id, agent_id)
    header = StreamHeader(name=f"export-{Path(data_dir).resolve().name}",
                          description=f"evolvelab export of {data_dir}")  # fmt: skip
    out = output.open("w", encoding="utf-8", newline="\n") if output else sys.stdout
    count = 0
    try:
        out.write(dump_stream([header]))
        for record in export_records(log, owners, who.outside):
            out.write(dump_stream([record]))
            count += 1
    finally:
        if output:
            out.close()
    click.echo(f"exported {count} records", err=True)


def register(cli: click.Group) -> None:
    """Attach the server commands to the main command group."""
    for command in (serve, mcp_command, keys, rebuild, export):
        cli.add_command(command)
