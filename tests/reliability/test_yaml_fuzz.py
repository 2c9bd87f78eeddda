"""Fuzzing the YAML loader: any input gives a result or a located ConfigError, nothing else.

Four kinds of input, each through the pipeline loader and the evolve-spec loader: arbitrary
text, a soup of YAML fragments (anchors, aliases, tags, merge keys, numbers, dates, deep
brackets), edits of a valid pipeline file, and arbitrary bytes read from a file. Set
``EVOLVELAB_FUZZ_EXAMPLES`` to run more examples per kind (default 100). Each kind runs
with libyaml's parser and with PyYAML's pure-Python one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evolvelab import _compose
from evolvelab.errors import ConfigError
from evolvelab.loader import load_pipeline, parse_yaml, validate_pipeline
from evolvelab.registry import Registry
from evolvelab.search.specfile import load_spec, parse_spec

EXAMPLES = int(os.environ.get("EVOLVELAB_FUZZ_EXAMPLES", "100"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

VALID = """\
version: 1
name: fuzz
embedder: {type: hashing, dim: 32}
encode:
  - {type: turn}
store: {type: memory}
retrieve:
  - {type: hybrid, k: 10, channels: [bm25, vector]}
manage: []
"""

FRAGMENTS = [
    "\n", "\n  ", "\n    ", "  ", "- ", ": ", ", ", "[", "]", "{", "}", "? ", "---\n", "...\n",
    "&a ", "&b ", "*a", "*b", "<<: ", "<<: *a", "<<: [*a, *b]", "!foo ", "!!binary ",
    "!!python/name:os.system ", "!!python/object/apply:os.system ", "!!int ", "!!float ",
    "!!bool ", "!!null ", "!!str ", "!!map ", "!!seq ", "!!set ", "!!omap ", "!!timestamp ",
    "2023-02-30", "2024-01-01 25:00:00", "1e999", "1.0e+999", ".inf", ".nan", "0x", "0o17",
    "9" * 40, "190:20:30", "~", "null", "yes", "no", "true", "'", '"', '"\\ud800"', "\\x00",
    "\t", "#", "|\n  ", ">\n  ", "%YAML 1.1\n", "version: 1\n", "name: x\n", "type: ",
    "encode: ", "store: ", "retrieve: ", "manage: ", "k: ", "{$env: HOME}", "{$env: NOPE_X}",
    "{$env: X, default: 3}", "turn", "memory", "hybrid", "bm25", "[" * 40, "]" * 40,
    "\u2028", "\u0085", "\ufeff", "é", "\x00", "\ud800",
]  # fmt: skip


@pytest.fixture(params=["libyaml", "python"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Read with libyaml's parser (when installed) and with PyYAML's pure-Python one."""
    if request.param == "python":
        monkeypatch.setattr(_compose, "_PARSER", _compose._PyParser)
    elif _compose._PARSER is _compose._PyParser:
        pytest.skip("libyaml is not installed")
    return str(request.param)


def check(call: Callable[[], object]) -> None:
    """Run ``call``: a result, or a ConfigError whose problems all have a line."""
    try:
        call()
    except ConfigError as err:
        unlocated = [p for p in err.problems if p.line is None]
        assert not unlocated or "larger than" in err.render(), err.render()


def load_text(text: str, registry: Registry) -> None:
    check(lambda: validate_pipeline(parse_yaml(text, file="fuzz.yaml"), registry))
    check(lambda: parse_spec(text, file="spec.yaml", registry=registry))


soup = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=4), max_size=40).map("".join)


@st.composite
def edited(draw: st.DrawFn) -> str:
    """A valid pipeline with a few random insertions, deletions and replacements."""
    text = VALID
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        end = draw(st.integers(at, min(len(text), at + 12)))
        text = text[:at] + draw(st.sampled_from(FRAGMENTS) | st.just("")) + text[end:]
    return text


@pytest.mark.parametrize(
    "kind", ["text", "soup", "edited"],
)
def test_any_yaml_text_gives_a_result_or_a_located_config_error(
    kind: str, parser: str, registry: Registry, tally: Callable[[int, str], None]
) -> None:
    """Hypothesis: random text, YAML fragment soup and edited pipelines through both loaders."""
    strategy = {"text": st.text(max_size=200), "soup": soup, "edited": edited()}[kind]
    seen = 0

    @SETTINGS
    @given(strategy)
    def run(text: str) -> None:
        nonlocal seen
        seen += 1
        load_text(text, registry)

    run()
    tally(seen, "generated YAML texts")


def test_any_bytes_in_a_file_give_a_result_or_a_located_config_error(
    parser: str, tmp_path: Path, registry: Registry, tally: Callable[[int, str], None]
) -> None:
    """Hypothesis: random bytes (and broken UTF-8 inside a pipeline) read from a file."""
    path = tmp_path / "fuzz.yaml"
    seen = 0

    @SETTINGS
    @given(st.binary(max_size=200) | st.binary(max_size=8).map(lambda b: VALID.encode() + b))
    def run(data: bytes) -> None:
        nonlocal seen
        seen += 1
        path.write_bytes(data)
        check(lambda: load_pipeline(path, registry))
        check(lambda: load_spec(path, registry))

    run()
    tally(seen, "generated YAML files (bytes)")
