"""Every ``>>>`` example in the package runs and shows what it says.

One test per module that holds an example (found by walking the package, so a new module's
examples are checked without a line here). The examples run in an empty temporary folder
with ``$EVOLVELAB_HOME`` inside it: an example must bring what it needs (a hashing
embedder, a memory store, a file it writes itself, a ``FakeLLM``), never a model, a
network, a dataset or the checkout's own files. ``evolvelab.__main__`` is left out: importing
it runs the command line.
"""

from __future__ import annotations

import doctest
import importlib
import io
import pkgutil
import re
from pathlib import Path
from types import ModuleType

import pytest

import evolvelab

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
PROMPT = re.compile(r"^\s*>>>", re.MULTILINE)


def _fail(name: str) -> None:
    raise ImportError(f"cannot import {name} to look for examples in it")


def modules_with_examples() -> list[tuple[str, Path]]:
    """Each module of the package whose source holds ``>>>``, with its file."""
    found = []
    for info in pkgutil.walk_packages(evolvelab.__path__, "evolvelab.", onerror=_fail):
        if info.name.rsplit(".", 1)[-1] == "__main__":
            continue
        spec = info.module_finder.find_spec(info.name, None)
        origin = Path(spec.origin) if spec and spec.origin else None
        if origin and origin.suffix == ".py" and PROMPT.search(origin.read_text(encoding="utf-8")):
            found.append((info.name, origin))
    return found


def run_examples(module: ModuleType, source: str) -> tuple[int, int, str]:
    """Run ``module``'s examples; return how many ran, how many failed, and the failures.

    Raises:
        AssertionError: if ``source`` holds a prompt that doctest does not run (one under a
            variable or inside a function, where the finder does not look, or skipped).
    """
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report = io.StringIO()
    for test in sorted(doctest.DocTestFinder().find(module), key=lambda t: t.name):
        runner.run(test, out=report.write)
    prompts = len(PROMPT.findall(source))
    assert runner.tries == prompts, f"{module.__name__}: {prompts} '>>>' lines, {runner.tries} run"
    return runner.tries, runner.failures, report.getvalue()


MODULES = modules_with_examples()


def test_the_walk_finds_the_modules_with_examples() -> None:
    names = [name for name, _ in MODULES]
    assert "evolvelab.types" in names and "evolvelab.datadir" in names
    assert not any(name.endswith("__main__") for name in names)


def _module(doc: str) -> ModuleType:
    module = ModuleType("example", doc)
    module.__file__ = "example.py"
    return module


def test_a_wrong_example_fails_and_says_what_it_got() -> None:
    doc = """Add.\n\n    >>> 1 + 1\n    3\n"""
    tried, failed, report = run_examples(_module(doc), doc)
    assert (tried, failed) == (1, 1) and "Expected:\n    3\nGot:\n    2" in report


def test_a_skipped_example_counts_as_not_run() -> None:
    doc = """Add.\n\n    >>> 1 + 1  # doctest: +SKIP\n    3\n"""
    with pytest.raises(AssertionError, match="1 '>>>' lines, 0 run"):
        run_examples(_module(doc), doc)


@pytest.mark.parametrize("name,source", MODULES, ids=[name for name, _ in MODULES])
def test_examples_run(
    name: str, source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EVOLVELAB_HOME", str(tmp_path / "home"))
    module = importlib.import_module(name)
    _, failed, report = run_examples(module, source.read_text(encoding="utf-8"))
    assert failed == 0, report
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == [], f"{name}: its examples left {left} in the working folder"
