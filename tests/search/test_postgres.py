"""A study shared through a real PostgreSQL server, as workers on several machines share it.

The test starts its own server (initdb + pg_ctl into a temporary folder, on a free loopback
port; as root it runs the server as the ``postgres`` user) and stops it afterwards. It is
skipped, saying why, where the server binaries or the psycopg2 driver are missing:
``apt-get install postgresql`` and ``pip install 'evolvelab[postgres]'``.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from evolvelab.search.evolve import evolve
from evolvelab.search.study import open_storage


def _bindir() -> Path | None:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """Start a throw-away PostgreSQL server; yield its URL; stop and delete it."""
    bindir = _bindir()
    if bindir is None:
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql"
        )
    if importlib.util.find_spec("psycopg2") is None:
        pytest.skip("the psycopg2 driver is not installed: pip install 'evolvelab[postgres]'")
    prefix: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="evolvelab-pg-"))
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server as")
        prefix = ["runuser", "-u", "postgres", "--"]
        folder.chmod(0o755)
        os.chown(folder, user.pw_uid, user.pw_gid)
    data, port = folder / "data", _free_port()

    def run(*args: str) -> None:
        subprocess.run([*prefix, *args], check=True, capture_output=True, timeout=120)

    run(
        str(bindir / "initdb"),
        "-D",
        str(data),
        "-U",
        "postgres",
        "--auth=trust",
        "-E",
        "UTF8",
        "--no-sync",
    )
    run(
        str(bindir / "pg_ctl"),
        "-D",
        str(data),
        "-l",
        str(folder / "server.log"),
        "-w",
        "-t",
        "60",
        "-o",
        f"-p {port} -h 127.0.0.1 -k {folder} -F",
        "start",
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
def test_workers_share_a_postgresql_study(postgres_url: str, write_spec, tmp_path: Path) -> None:
    spec = write_spec()
    result = evolve(
        spec, out=tmp_path / "a", storage=postgres_url, trials=6, workers=2, progress=False
    )
    assert (result.complete, result.failed, result.running, result.waiting) == (6, 0, 0, 0)
    # A second machine running the same command finds the budget used and only reports.
    again = evolve(spec, out=tmp_path / "b", storage=postgres_url, trials=6, progress=False)
    assert again.complete == 6 and (tmp_path / "b" / "trials" / "0005.yaml").is_file()
    study = optuna.load_study(study_name="quick", storage=open_storage(postgres_url))
    assert [t.number for t in study.trials] == list(range(6))
    assert all(t.state.name == "COMPLETE" for t in study.trials)
