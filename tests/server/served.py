"""Helpers of the server tests: start real ``evolvelab serve`` processes on free 127.0.0.1 ports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

LEXICAL = """
version: 1
name: served
embedder: {type: none}
encode:
  - {type: turn, speaker: true, link_turns: false}
store: {type: lancedb}
retrieve:
  - {type: bm25, k: 20}
"""


@dataclass
class Served:
    """A running server: its URL, process, data folder and the stderr it wrote."""

    url: str
    process: subprocess.Popen
    data_dir: Path
    log_path: Path
    keys: dict[str, str] = field(default_factory=dict)

    def headers(self, tenant: str) -> dict[str, str]:
        """Return the Authorization header of ``tenant``'s key."""
        return {"Authorization": f"Bearer {self.keys[tenant]}"}

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        """Send ``sig`` and wait for the process to end; return its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)


def write_pipeline(folder: Path, text: str = LEXICAL, name: str = "served.yaml") -> Path:
    """Write a small lexical pipeline file (no model download, real LanceDB)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def start_server(pipeline: Path, data_dir: Path, *extra: str, keys: dict[str, str] | None = None,
                 log_path: Path | None = None, timeout: float = 90) -> Served:  # fmt: skip
    """Start ``evolvelab serve`` on a free port and wait until it answers /healthz."""
    import httpx

    log_path = log_path or data_dir.parent / f"{data_dir.name}-server.log"
    stderr = log_path.open("ab")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "evolvelab", "serve", str(pipeline), "--data-dir", str(data_dir),
         "--port", "0", *extra],
        stdout=subprocess.PIPE, stderr=stderr, env=env, cwd=data_dir.parent,
    )  # fmt: skip
    deadline = time.monotonic() + timeout
    url = None
    assert process.stdout is not None
    while url is None:
        line = process.stdout.readline().decode()
        if not line:
            process.wait(5)
            raise AssertionError(f"server exited ({process.returncode}): {log_path.read_text()[-2000:]}")
        if line.startswith("listening on "):
            url = line.split()[2]
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("server did not start in time")
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return Served(url, process, data_dir, log_path, dict(keys or {}))
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("server did not answer /healthz in time")
