"""Shared fixtures: a built-ins-only registry and an isolated EVOLVELAB_HOME."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.register_assert_rewrite("evolvelab.testing.contracts")

from evolvelab.registry import Registry, builtin_registry  # noqa: E402


@pytest.fixture
def registry() -> Registry:
    """The built-in types only, whatever plugins are installed."""
    return builtin_registry()


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep every store a test opens under its own temporary directory."""
    home = tmp_path / "home"
    monkeypatch.setenv("EVOLVELAB_HOME", str(home))
    return home
