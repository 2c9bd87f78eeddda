"""The plugin path end to end: install the example plugin, use it from YAML, survive a broken one.

The example distribution in ``plugins/evolvelab-jaccard`` is installed into a temporary
directory (``pip install --target``) that is put on ``PYTHONPATH`` of a child process, so
the test environment itself is left unchanged.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow  # pip installs the example plugin; commands run in subprocesses

PIPELINE = """\
version: 1
name: jaccard-demo
embedder: {type: hashing, dim: 32}
encode:
  - {type: turn}
store: {type: lancedb}
retrieve:
  - {type: hybrid, channels: [bm25, jaccard], k: 5}
  - {type: jaccard, k: 5}
"""

STREAM = [
    {"type": "event", "id": "e1", "user_id": "u", "content": "The red bicycle is in the garage."},
    {"type": "event", "id": "e2", "user_id": "u", "content": "Lunch was a bowl of ramen."},
    {"type": "query", "id": "q1", "user_id": "u", "text": "where is the red bicycle", "evidence": ["e1"]},
]


def evolvelab(args: list[str], pythonpath: Path, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "PYTHONPATH": str(pythonpath), "EVOLVELAB_HOME": str(tmp_path / "home"), **env}
    return subprocess.run(
        [sys.executable, "-m", "evolvelab", *args], capture_output=True, text=True, env=environ, cwd=tmp_path, timeout=300
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the installed example plugin and a deliberately broken one."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
         str(ROOT / "plugins" / "evolvelab-jaccard")],
        check=True, timeout=300,
    )  # fmt: skip
    broken = target / "evolvelab_broken-0.0.1.dist-info"
    broken.mkdir()
    (broken / "METADATA").write_text("Metadata-Version: 2.1\nName: evolvelab-broken\nVersion: 0.0.1\n")
    (broken / "entry_points.txt").write_text("[evolvelab]\nbroken = evolvelab_broken\n")
    (target / "evolvelab_broken.py").write_text("raise ImportError('this plugin is broken on purpose')\n")
    return target


def test_installed_plugin_is_listed_and_broken_one_reported(site: Path, tmp_path: Path) -> None:
    result = evolvelab(["plugins", "--json"], site, tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    jaccard = next(p for p in report["plugins"] if p["name"] == "jaccard")
    assert jaccard["dist"] == "evolvelab-jaccard" and jaccard["types"] == {"retriever": ["jaccard"]}
    [failure] = report["failures"]
    assert failure["name"] == "broken" and "broken on purpose" in failure["error"]
    assert "plugin broken (evolvelab-broken 0.0.1) failed to load" in result.stderr


def test_plugin_type_runs_from_yaml(site: Path, tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(PIPELINE)
    (tmp_path / "s.jsonl").write_text("".join(json.dumps(r) + "\n" for r in STREAM))
    result = evolvelab(["run", "p.yaml", "--stream", "s.jsonl"], site, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "recall@10 (turn budget) 1.000" in result.stdout


def test_load_plugins_allowlist_hides_plugins(site: Path, tmp_path: Path) -> None:
    result = evolvelab(["plugins", "--json"], site, tmp_path, EVOLVELAB_LOAD_PLUGINS="")
    names = [p["name"] for p in json.loads(result.stdout)["plugins"]]
    assert names == ["evolvelab"]


def test_strict_mode_fails_on_the_broken_plugin(site: Path, tmp_path: Path) -> None:
    result = evolvelab(["plugins"], site, tmp_path, EVOLVELAB_STRICT_PLUGINS="1")
    assert result.returncode != 0
    assert "broken on purpose" in result.stderr
