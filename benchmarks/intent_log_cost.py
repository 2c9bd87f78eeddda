"""What the crash-repair intent log costs: adds with and without it, and a replay.

    python benchmarks/intent_log_cost.py [--batches 40] [--events 8]

Builds a LanceDB + graph (kuzu/ladybug) pipeline in a temporary folder, adds the same
batches with the intent log on and off (alternating, so machine load hits both alike),
and times opening a folder that a crash left with recorded intents. Prints medians.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from evolvelab import Memory, Scope

PIPELINE = """\
version: 1
name: intents
embedder: {type: hashing, dim: 64}
encode:
  - {type: turn}
store: {type: lancedb, path: %(root)s/notes}
graph: {type: kuzu, path: %(root)s/graph}
retrieve:
  - {type: bm25, k: 5}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--events", type=int, default=8)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp())
    scope = Scope(user_id="u", session_id="s")
    times: dict[bool, list[float]] = {True: [], False: []}
    with Memory.from_text(PIPELINE % {"root": root}, data_dir=root / "data") as memory:
        log = memory.resources.intents
        for k in range(args.batches):
            on = k % 2 == 0
            memory.resources.intents = log if on else None
            events = [{"id": f"e{k}-{i}", "content": f"turn {i} of batch {k}"}
                      for i in range(args.events)]  # fmt: skip
            start = time.perf_counter()
            memory.add(events, scope)
            times[on].append(time.perf_counter() - start)
        memory.resources.intents = log
        micro = []
        for k in range(200):  # the log alone: append + fsync + truncate
            start = time.perf_counter()
            with log.intent(Scope(user_id="u"), [f"e{k}-{i}" for i in range(args.events)]):
                pass
            micro.append(time.perf_counter() - start)
    with_log, without = statistics.median(times[True]), statistics.median(times[False])
    print(f"add of {args.events} events, lancedb + graph, {args.batches // 2} adds each, medians:")
    print(f"  with the intent log    {with_log * 1000:7.1f} ms")
    print(f"  without                {without * 1000:7.1f} ms")
    print(f"  difference             {(with_log - without) * 1000:7.1f} ms per add (noise-bound)")
    print(f"  the log alone          {statistics.median(micro) * 1000:7.2f} ms per add "
          f"(append + fsync + truncate, median of 200)")
    # a crash left 10 batches of recorded intents: time the open that replays them
    (root / "data" / "intents").mkdir(exist_ok=True)
    lines = "".join(
        f'{{"scope": {{"user_id": "u"}}, "ids": ["x{k}-{i}"]}}\n'
        for k in range(10)
        for i in range(8)
    )
    (root / "data" / "intents" / "1-crashed.log").write_text(lines)
    start = time.perf_counter()
    Memory.from_text(PIPELINE % {"root": root}, data_dir=root / "data").open().close()
    replay = time.perf_counter() - start
    start = time.perf_counter()
    Memory.from_text(PIPELINE % {"root": root}, data_dir=root / "data").open().close()
    clean = time.perf_counter() - start
    print(f"open after a crash (80 recorded intents): {replay * 1000:.0f} ms; "
          f"clean open: {clean * 1000:.0f} ms")


if __name__ == "__main__":
    main()
