"""Load a served lexical pipeline with concurrent clients, then kill it mid-run.

Starts ``evolvelab serve`` (a BM25 pipeline on LanceDB, no embeddings) on a free
127.0.0.1 port and, for each client count (1, 4, 16, 64 by default), runs that many
asyncio HTTP clients for a bounded time. Each client loops: an add of ``--events`` events
(``POST /v1/events``) or, with probability ``--search-share``, a search
(``POST /v1/search``, k=10) in its own user's scope. Reported per level:

- acknowledged events per second and requests per second (adds + searches);
- add-ack latency and search latency p50/p95/p99 (ms, as the client sees them:
  HTTP, JSON, group commit and fsync included);
- the writer's commit group sizes over the level (``GET /v1/stats``), and the mean
  time per commit of each step (waiting for the store lock, encoding, log append and
  fsync, reading stored versions, the store write, managers);
- the server process's CPU time per acknowledged event and per request (Linux
  ``/proc``): what the server spends, which other jobs on the machine change less than
  they change latencies.

Then the crash check: 16 clients add for ``--crash-after`` seconds, the server gets
SIGKILL while requests are in flight, is restarted on the same data folder, and every
add that had been acknowledged (200) is looked up by note id. The goal is all of them.

With ``--with-memory``, the same levels then run against the in-process ``memory``
store in the same run (the server, log and fsync without LanceDB), and each level
reports the ratio of the two servers' CPU time per event: what the store costs, in
units of what the rest of the server costs, measured under the same machine load.
Each level also records the load average at its start and end.

Clients and server share the machine, so client CPU time counts against the server.
Every number is from this run (``--out`` keeps the JSON); the data are synthetic
sentences the script writes itself.

Usage::

    python benchmarks/serve_load.py [--clients 1,4,16,64] [--seconds 8] [--events 4]
        [--search-share 0.3] [--store lancedb|memory] [--with-memory] [--shared-user]
        [--no-fts-fresh] [--out serve_load.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

PIPELINE = """
version: 1
name: serve-load
embedder: {type: none}
encode:
  - {type: turn, speaker: true, link_turns: false}
store: {type: %s%s}
retrieve:
  - {type: bm25, k: 20}
"""
WORDS = ("tea coffee cat dog lisbon porto bakery cello harbour river garden chess piano "
         "football bread tuna mango winter summer train bicycle library museum").split()  # fmt: skip


def percentile(values: list[float], q: float) -> float | None:
    """Return the q-th percentile (nearest rank) of ``values``, or None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def start(pipeline: Path, data: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """Start the server; return the process and its URL once /healthz answers."""
    process = subprocess.Popen(
        [sys.executable, "-m", "evolvelab", "serve", str(pipeline), "--data-dir", str(data),
         "--port", "0", "--log-level", "warning", "--max-events", "1000"],
        stdout=subprocess.PIPE, stderr=log.open("ab"), env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert process.stdout is not None
    url = None
    while url is None:
        line = process.stdout.readline().decode()
        if not line:
            raise SystemExit(f"server exited: {log.read_text()[-2000:]}")
        if line.startswith("listening on "):
            url = line.split()[2]
    for _ in range(600):
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit("server did not answer")


def sentence(rng: random.Random, n: int) -> str:
    return f"Note {n}: " + " ".join(rng.choice(WORDS) for _ in range(8)) + "."


async def client(
    number: int, url: str, until: float, events: int, search_share: float,
    out: dict[str, Any], http: httpx.AsyncClient, shared: bool = False,
) -> None:  # fmt: skip
    """Add or search until ``until`` in user ``u{number}``'s scope (``shared``: one user for
    every client); record latencies and acknowledged note ids."""
    rng = random.Random(number)
    user = "shared" if shared else f"u{number}"
    sent = 0
    while time.monotonic() < until:
        if rng.random() < search_share:
            body = {"scope": {"user_id": user}, "query": " ".join(rng.sample(WORDS, 3)), "k": 10}
            start_time = time.perf_counter()
            response = await http.post(f"{url}/v1/search", json=body)
            if response.status_code == 200:
                out["search_ms"].append((time.perf_counter() - start_time) * 1000)
            else:
                out["errors"][response.status_code] += 1
            continue
        batch = [{"id": f"c{number}-{sent + i}", "content": sentence(rng, sent + i)} for i in range(events)]
        sent += events
        start_time = time.perf_counter()
        try:
            response = await http.post(f"{url}/v1/events", json={"scope": {"user_id": user}, "events": batch})
        except httpx.TransportError:
            out["errors"]["transport"] += 1
            return
        if response.status_code == 200:
            out["add_ms"].append((time.perf_counter() - start_time) * 1000)
            out["acked"].extend((user, note_id) for note_id in response.json()["ids"])
        else:
            out["errors"][response.status_code] += 1


def cpu_seconds(pid: int) -> float | None:
    """Return the CPU time (user + system, all threads) process ``pid`` has used (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def level(url: str, clients: int, seconds: float, events: int, share: float,
                offset: int, shared: bool = False, pid: int | None = None) -> dict[str, Any]:  # fmt: skip
    """Run ``clients`` clients for ``seconds``; return the measurements of the level.

    With the server's ``pid``, also its CPU time per acknowledged event and per request:
    what the server itself spends, which other jobs on the machine change much less than
    they change latency and throughput.
    """
    out: dict[str, Any] = {"add_ms": [], "search_ms": [], "acked": [], "errors": Counter()}
    load_before = os.getloadavg()[0]
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        before = (await http.get(f"{url}/v1/stats")).json()
        cpu_before = cpu_seconds(pid) if pid else None
        start_time = time.monotonic()
        until = start_time + seconds
        await asyncio.gather(*(client(offset + i, url, until, events, share, out, http, shared)
                               for i in range(clients)))  # fmt: skip
        elapsed = time.monotonic() - start_time
        cpu_after = cpu_seconds(pid) if pid else None
        after = (await http.get(f"{url}/v1/stats")).json()
    cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    requests = len(out["add_ms"]) + len(out["search_ms"])
    steps = {step: round((after["seconds"].get(step, 0.0) - before.get("seconds", {}).get(step, 0.0))
                         * 1000 / max(1, after["commits"] - before["commits"]), 2)
             for step in after.get("seconds", {})}  # fmt: skip
    groups = Counter({int(k): v for k, v in after["group_sizes"].items()})
    groups.subtract({int(k): v for k, v in before["group_sizes"].items()})
    commits = after["commits"] - before["commits"]
    sizes = [size for size, count in groups.items() for _ in range(count)]
    return {
        "clients": clients,
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "seconds": round(elapsed, 2),
        "events_per_s": round(len(out["acked"]) / elapsed, 1),
        "requests_per_s": round((len(out["add_ms"]) + len(out["search_ms"])) / elapsed, 1),
        "adds": len(out["add_ms"]),
        "searches": len(out["search_ms"]),
        **{f"add_p{q}_ms": _round(percentile(out["add_ms"], q)) for q in (50, 95, 99)},
        **{f"search_p{q}_ms": _round(percentile(out["search_ms"], q)) for q in (50, 95, 99)},
        "commits": commits,
        "adds_per_commit_mean": round((after["requests"] - before["requests"]) / commits, 2) if commits else None,
        "adds_per_commit_max": max(sizes) if sizes else None,
        "errors": dict(out["errors"]),
        "commit_ms_by_step": steps,
        "server_cpu_s": None if cpu is None else round(cpu, 2),
        "server_cpu_ms_per_event": round(cpu * 1000 / len(out["acked"]), 2) if cpu and out["acked"] else None,
        "server_cpu_ms_per_request": round(cpu * 1000 / requests, 2) if cpu and requests else None,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


async def crash_run(url: str, process: subprocess.Popen, after: float, events: int) -> list[tuple[str, str]]:
    """Add with 16 clients; SIGKILL the server ``after`` seconds in; return acknowledged ids."""
    out: dict[str, Any] = {"add_ms": [], "search_ms": [], "acked": [], "errors": Counter()}
    async with httpx.AsyncClient(timeout=60) as http:
        task = asyncio.gather(*(client(1000 + i, url, time.monotonic() + after + 30, events, 0.0, out, http)
                                for i in range(16)), return_exceptions=True)  # fmt: skip
        await asyncio.sleep(after)
        process.send_signal(signal.SIGKILL)
        await task
    return out["acked"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="1,4,16,64", help="Client counts, comma-separated.")
    parser.add_argument("--seconds", type=float, default=8.0, help="Seconds per level.")
    parser.add_argument("--events", type=int, default=4, help="Events per add request.")
    parser.add_argument("--search-share", type=float, default=0.3, help="Share of requests that search.")
    parser.add_argument("--crash-after", type=float, default=3.0, help="Seconds of load before SIGKILL.")
    parser.add_argument("--store", choices=["lancedb", "memory"], default="lancedb",
                        help="memory: the in-process store, to see the server's own cost "
                             "(no crash check: it keeps nothing on disk).")  # fmt: skip
    parser.add_argument("--with-memory", action="store_true",
                        help="Then run the same levels against --store memory and report the "
                             "ratio of server CPU per event (same run, same machine load).")  # fmt: skip
    parser.add_argument("--shared-user", action="store_true",
                        help="Every client writes and searches one user's memory (a shared agent "
                             "memory) instead of one user per client.")  # fmt: skip
    parser.add_argument("--no-fts-fresh", action="store_true",
                        help="LanceDB fts_fresh: false (no text-index update on every write).")
    parser.add_argument("--out", type=Path, help="Write the results as JSON here.")
    args = parser.parse_args()
    counts = [int(c) for c in args.clients.split(",")]
    load_at_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp:
        root = Path(tmp)
        levels, pipeline = _run_levels(root, args.store, counts, args)
        memory_levels = None
        if args.with_memory and args.store != "memory":
            memory_levels, _ = _run_levels(root / "memory", "memory", counts, args)
            for level_result, memory in zip(levels, memory_levels, strict=True):
                mine, theirs = level_result["server_cpu_ms_per_event"], memory["server_cpu_ms_per_event"]
                level_result["cpu_per_event_vs_memory"] = round(mine / theirs, 2) if mine and theirs else None
                print(json.dumps({"clients": level_result["clients"], "memory_store": memory,
                                  "cpu_per_event_vs_memory": level_result["cpu_per_event_vs_memory"]}),
                      flush=True)  # fmt: skip
        crash = None
        if args.store == "lancedb":
            log = root / "server.log"
            process, url = start(pipeline, root / "data", log)
            acked = asyncio.run(crash_run(url, process, args.crash_after, args.events))
            process.wait(30)
            process, url = start(pipeline, root / "data", log)
            missing = 0
            with httpx.Client(timeout=30) as http:
                for user, note_id in acked:
                    if http.get(f"{url}/v1/notes/{note_id}", params={"user_id": user}).status_code != 200:
                        missing += 1
            process.send_signal(signal.SIGTERM)
            process.wait(60)
            crash = {"acknowledged_before_sigkill": len(acked), "missing_after_restart": missing}
            print(json.dumps(crash), flush=True)
    results = {"machine": f"{platform.machine()}, {os.cpu_count()} logical cores", "store": args.store,
               "fts_fresh": not args.no_fts_fresh, "shared_user": args.shared_user,
               "load_average_at_start": load_at_start, "load_average_at_end": os.getloadavg()[0],
               "events_per_add": args.events,
               "search_share": args.search_share, "seconds_per_level": args.seconds,
               "levels": levels, "memory_store_levels": memory_levels, "crash": crash}  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(_markdown(results))


def _run_levels(root: Path, store: str, counts: list[int], args: argparse.Namespace) -> tuple[list[dict[str, Any]], Path]:
    """Serve a fresh ``store`` under ``root`` and run each client count against it."""
    root.mkdir(parents=True, exist_ok=True)
    pipeline = root / "serve-load.yaml"
    extra = ", fts_fresh: false" if args.no_fts_fresh and store == "lancedb" else ""
    pipeline.write_text(PIPELINE % (store, extra))
    process, url = start(pipeline, root / "data", root / "server.log")
    levels = []
    try:
        for index, count in enumerate(counts):
            result = asyncio.run(level(url, count, args.seconds, args.events, args.search_share,
                                       offset=index * 100, shared=args.shared_user,
                                       pid=process.pid))  # fmt: skip
            levels.append({"store": store, **result})
            print(json.dumps(levels[-1]), flush=True)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    return levels, pipeline


def _markdown(results: dict[str, Any]) -> str:
    head = ("| store, clients | events/s acked | requests/s | add p50 / p95 / p99 ms | search p50 / p95 / p99 ms "
            "| adds per commit (mean / max) | server CPU ms per event / request | vs memory store "
            "| load average | errors |\n"
            "|---|---|---|---|---|---|---|---|---|---|")  # fmt: skip
    rows = [
        f"| {r.get('store', results['store'])}, {r['clients']} | {r['events_per_s']} | {r['requests_per_s']} | "
        f"{r['add_p50_ms']} / {r['add_p95_ms']} / {r['add_p99_ms']} | "
        f"{r['search_p50_ms']} / {r['search_p95_ms']} / {r['search_p99_ms']} | "
        f"{r['adds_per_commit_mean']} / {r['adds_per_commit_max']} | "
        f"{r['server_cpu_ms_per_event']} / {r['server_cpu_ms_per_request']} | "
        f"{r.get('cpu_per_event_vs_memory') or '-'} | {r['load_average'][0]} → {r['load_average'][1]} | "
        f"{r['errors'] or '-'} |"
        for r in [*results["levels"], *(results.get("memory_store_levels") or [])]
    ]
    steps = [
        f"{r['clients']} clients: " + ", ".join(f"{k} {v}" for k, v in r["commit_ms_by_step"].items())
        for r in results["levels"] if r.get("commit_ms_by_step")
    ]  # fmt: skip
    crash = results["crash"]
    tail = "\n\nMean ms per commit, by step (server clock):\n" + "\n".join(steps) if steps else ""
    tail += "" if crash is None else (
        f"\nSIGKILL under load: {crash['acknowledged_before_sigkill']} notes acknowledged, "
        f"{crash['missing_after_restart']} missing after restart.")  # fmt: skip
    load = (f"\nLoad average {results['load_average_at_start']:.1f} at the start, "
            f"{results['load_average_at_end']:.1f} at the end.")  # fmt: skip
    return "\n".join([head, *rows]) + tail + load


if __name__ == "__main__":
    main()
