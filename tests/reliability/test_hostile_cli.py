"""Hostile input through the command line, as a user would type it: exit 2 with a located
message, never a traceback, nothing stored lost, nothing silently dropped.

Each case here was found by attacking the CLI with inputs that were not in the other
reliability tests; each failed (a traceback, a wrong exit code, or a silent surprise)
before the fix that came with it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from evolvelab.cli import cli
from evolvelab.errors import ConfigError
from evolvelab.search.specfile import parse_spec

BASE = """\
version: 1
name: base
embedder: {type: hashing, dim: 32}
encode: [{type: turn}]
store: {type: memory}
retrieve: [{type: bm25, k: 5}]
"""

SPEC = """\
version: 1
name: {name}
base: [base.yaml]
dataset: {{type: sample, split: {{folds: 2}}}}
trials: 1
"""

# spec names that used to be accepted, then named best.yaml's pipeline `<name>-evolved`,
# which is not a valid pipeline name (or a path outside the results folder)
BAD_SPEC_NAMES = {
    "a path": "a/b",
    "an absolute path": "/tmp/evolved",
    "a parent folder": "../x",
    "unicode": "héllo",
    "a leading dot": ".hidden",
    "too long for its suffixes": "a" * 81,
    "an environment value that is a path": "{$env: HOME}",
}


@pytest.mark.parametrize("name", list(BAD_SPEC_NAMES.values()), ids=list(BAD_SPEC_NAMES))
def test_an_evolve_spec_name_is_a_plain_name_with_room_for_suffixes(
    name: str, tmp_path: Path, tally: Callable[[int, str], None]
) -> None:
    """`evolvelab evolve` refuses it, located at the name, before any trial runs."""
    (tmp_path / "base.yaml").write_text(BASE)
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(name=name))
    result = CliRunner().invoke(cli, ["evolve", str(spec), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, (result.output, result.exception)
    assert f"{spec}:2:7: name: " in result.output, result.output
    assert not (tmp_path / "out").exists()
    tally(1, "hostile evolve spec names")


def test_the_longest_spec_name_still_names_valid_evolved_pipelines() -> None:
    """80 characters: `<name>-evolved` and `<name>-p0001` are valid pipeline names."""
    from evolvelab.config import check_name

    spec = parse_spec(SPEC.format(name="a" * 80))
    for derived in (f"{spec.name}-evolved", f"{spec.name}-p123456789"):
        assert check_name(derived) == derived
    with pytest.raises(ConfigError) as caught:
        parse_spec(SPEC.format(name="a" * 81))
    assert "at most 80 characters" in caught.value.render()


# a YAML boolean where a number belongs: pydantic's lax mode read `true` as 1, silently
BOOLEAN_NUMBERS = {
    "an integer field": ("retrieve: [{type: bm25, k: true}]", (6, 28), "retrieve[0].k"),
    "a float field": ("store: {type: memory, bm25_k1: yes}", (5, 32), "store.bm25_k1"),
    "the version": ("version: true", (1, 10), "version"),
}


@pytest.mark.parametrize("case", list(BOOLEAN_NUMBERS), ids=list(BOOLEAN_NUMBERS))
def test_a_boolean_is_not_read_as_a_number_in_a_pipeline(
    case: str, tmp_path: Path, tally: Callable[[int, str], None]
) -> None:
    """`k: true` used to run with k=1; now `validate` says where the boolean is."""
    replacement, (line, col), where = BOOLEAN_NUMBERS[case]
    key = replacement.split(":", 1)[0]
    text = "\n".join(
        replacement if row.startswith(f"{key}:") else row for row in BASE.splitlines()
    ) + "\n"
    path = tmp_path / "p.yaml"
    path.write_text(text)
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert f"{path}:{line}:{col}: {where}: expected a number, not a boolean" in result.output
    tally(1, "booleans in number fields")


def test_booleans_where_booleans_belong_still_validate(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(BASE.replace("encode: [{type: turn}]", "encode: [{type: turn, speaker: no}]"))
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 0, result.output


def test_a_boolean_is_not_read_as_a_number_in_an_evolve_spec(tmp_path: Path) -> None:
    """`trials: true` used to run one trial."""
    text = SPEC.format(name="s").replace("trials: 1", "trials: true")
    with pytest.raises(ConfigError) as caught:
        parse_spec(text, file="spec.yaml")
    [problem] = caught.value.problems
    assert (problem.line, problem.col, problem.path) == (5, 9, ("trials",))
    assert problem.message == "expected a number, not a boolean (true)"


# --- streams ---------------------------------------------------------------------------

PIPELINE = BASE.replace("name: base", "name: hostile-stream")
EVENT = '{"type": "event", "id": "e1", "content": "I adopted a cat called Miso.", "user_id": "kim"}'
QUERY = '{"type": "query", "id": "q1", "text": "What is the cat called?", "user_id": "kim"}'


def _run(tmp_path: Path, *lines: str, pipeline: str = PIPELINE) -> tuple[Path, object]:
    (tmp_path / "p.yaml").write_text(pipeline)
    stream = tmp_path / "s.jsonl"
    stream.write_text("".join(line + "\n" for line in lines))
    args = ["run", str(tmp_path / "p.yaml"), "--stream", str(stream), "--data-dir", str(tmp_path / "d")]
    return stream, CliRunner().invoke(cli, args)


@pytest.mark.parametrize("version", ["true", "1.0"])
def test_a_stream_header_version_is_the_integer_1(
    version: str, tmp_path: Path, tally: Callable[[int, str], None]
) -> None:
    """`"version": true` and `1.0` used to pass the strict reader as version 1."""
    header = '{"type": "stream", "name": "s", "version": ' + version + "}"
    stream, result = _run(tmp_path, header, EVENT)
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    assert f"{stream}:1:44: version: " in result.output  # type: ignore[attr-defined]
    assert not (tmp_path / "d").exists()
    tally(1, "stream headers with a non-integer version")


OUTCOMES = {
    "an unknown query": (
        '{"type": "outcome", "query_id": "q9", "success": true, "user_id": "kim"}',
        "s.jsonl:3:33: query_id: outcome for query 'q9', which is not in the stream",
    ),
    "another scope than its query": (
        '{"type": "outcome", "query_id": "q1", "success": true, "user_id": "lee"}',
        "s.jsonl:3:67: user_id: outcome for query 'q1' in scope user_id='lee', but the query "
        "is in scope user_id='kim' (line 2)",
    ),
}


@pytest.mark.parametrize("case", list(OUTCOMES), ids=list(OUTCOMES))
def test_an_outcome_that_matches_no_query_is_a_warning(
    case: str, tmp_path: Path, tally: Callable[[int, str], None]
) -> None:
    """Such an outcome used to be read without a word (nothing would ever use it)."""
    from evolvelab.stream import read_stream

    line, message = OUTCOMES[case]
    stream, result = _run(tmp_path, EVENT, QUERY, line)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert message in " ".join(result.output.split()), result.output  # type: ignore[attr-defined]
    [warning] = read_stream(stream).warnings
    assert warning.render().startswith(f"{stream.parent}/{message}")
    tally(1, "outcomes matching no query")


@pytest.mark.slow
def test_a_stream_that_does_not_fit_in_memory_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    """`--stream /dev/zero` (endless) under a 2 GB address-space limit: a located error."""
    import resource
    import subprocess
    import sys

    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    (tmp_path / "p.yaml").write_text(PIPELINE)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))

    args = ["run", "p.yaml", "--stream", "/dev/zero", "--data-dir", "d"]
    result = subprocess.run(
        [sys.executable, "-m", "evolvelab", *args], capture_output=True, text=True,
        cwd=tmp_path, timeout=120, preexec_fn=limit,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert "/dev/zero: cannot read stream: it does not fit in memory" in result.stderr
    assert not (tmp_path / "d").exists()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["locomo", "longmemeval"])
def test_a_dataset_that_does_not_fit_in_memory_is_an_error_not_a_traceback(
    kind: str, tmp_path: Path
) -> None:
    """Whatever runs out of memory on the command line says so (exit 1), without a traceback."""
    import resource
    import subprocess
    import sys

    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    (tmp_path / "p.yaml").write_text(PIPELINE)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))

    args = ["eval", "p.yaml", "--dataset", kind, "--data", "/dev/zero", "--quiet"]
    result = subprocess.run(
        [sys.executable, "-m", "evolvelab", *args], capture_output=True, text=True,
        cwd=tmp_path, timeout=120, preexec_fn=limit,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert "error: out of memory" in result.stderr


@pytest.mark.parametrize(
    ("slot", "item", "col"),
    [("retrieve", "[{type: lsh, seed: -1}]", 30), ("manage", "[{type: thought_manage, seed: -1}]", 39)],
    ids=["lsh", "thought_manage"],
)
def test_a_negative_seed_is_refused_by_validate(
    slot: str, item: str, col: int, tmp_path: Path, tally: Callable[[int, str], None]
) -> None:
    """`seed: -1` validated, then `run` failed after ingesting ('expected non-negative integer')."""
    text = BASE.replace("retrieve: [{type: bm25, k: 5}]", f"{slot}: {item}")
    if slot == "manage":
        text += "retrieve: [{type: bm25, k: 5}]\n"
    path = tmp_path / "p.yaml"
    path.write_text(text.replace("store: {type: memory}", "store: {type: lancedb}"))
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert f"{path}:6:{col}: {slot}[0].seed: input should be greater than or equal to 0" in result.output
    tally(1, "negative seeds")


# --- text from files shown on the terminal -------------------------------------------------

MARKUP_STREAM = [
    '{"type": "event", "id": "e1", "content": "Miso the cat [/red] sleeps [bold]all day", "user_id": "kim"}',
    '{"type": "query", "id": "q1", "text": "cat [link=http://evil.example]click[/link]", '
    '"user_id": "kim", "evidence": ["e1"], "category": "[/yellow]odd"}',
    '{"type": "query", "id": "q2", "text": "dog", "user_id": "kim", "evidence": ["[/yellow]e9"]}',
]


@pytest.mark.slow
def test_text_that_looks_like_terminal_markup_is_shown_as_written(
    tmp_path: Path, tally: Callable[[int, str], None]
) -> None:
    """`[/red]` in an event crashed `run` after the ingest (rich MarkupError traceback);
    `[link=...]` in a query turned into a hyperlink. Both are printed as written now."""
    lance = PIPELINE.replace("store: {type: memory}", "store: {type: lancedb}")
    stream, result = _run(tmp_path, *MARKUP_STREAM, pipeline=lance)
    output = " ".join(result.output.split())  # type: ignore[attr-defined]
    assert result.exit_code == 0, (output, result.exception)  # type: ignore[attr-defined]
    assert "[/red]" in output and "[bold]all" in output, output  # folded in its column
    assert "[link=http://evil.ex" in output and "click[/link]" in output, output
    assert "'[/yellow]e9' names no event" in output, output
    args = ["search", str(tmp_path / "p.yaml"), "cat", "--user", "kim", "--data-dir", str(tmp_path / "d")]
    found = CliRunner().invoke(cli, args)
    assert found.exit_code == 0, (found.output, found.exception)
    assert "[/red]" in found.output
    evaluated = CliRunner().invoke(
        cli, ["eval", str(tmp_path / "p.yaml"), "--dataset", "jsonl", "--data", str(stream)]
    )
    assert evaluated.exit_code == 0, (evaluated.output, evaluated.exception)
    assert "[/yellow]odd" in evaluated.output
    tally(3, "streams with markup-like text (run, search, eval)")


def test_control_characters_in_a_located_problem_are_escaped(tmp_path: Path) -> None:
    """An escape sequence in a YAML value or key reached the terminal raw (title, colours)."""
    path = tmp_path / "p.yaml"
    path.write_text(
        BASE.replace("encode: [{type: turn}]", 'encode: [{type: "\\e]0;pwned\\aturn"}]')
        .replace("{type: bm25, k: 5}", '{type: bm25, k: 5, "\\e[2Jbogus": 1}')
    )
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "unknown encoder type '\\x1b]0;pwned\\x07turn'" in result.output
    assert "retrieve[0].\\x1b[2Jbogus: unknown field" in result.output


def test_a_query_with_a_huge_evidence_list_is_read_in_bounded_time(
    tmp_path: Path, tally: Callable[[int, str], None]
) -> None:
    """100,000 evidence ids that name no event: the reader re-parsed the whole line for each
    id (minutes, gigabytes). Now the line is located once and the warnings are summarised."""
    import json
    import time

    from evolvelab.stream import parse_stream

    ids = [f"x{i}" for i in range(100_000)]
    text = EVENT + "\n" + json.dumps(
        {"type": "query", "id": "q1", "text": "cat?", "user_id": "kim", "evidence": ids}
    ) + "\n"
    start = time.perf_counter()
    stream = parse_stream(text, "s.jsonl")
    assert time.perf_counter() - start < 10
    shown = [w for w in stream.warnings if "names no event" in w.message]
    assert len(shown) == 20 and shown[0].col == 78 and shown[0].path == ("evidence", 0)
    [rest] = [w for w in stream.warnings if "more" in w.message]
    assert rest.message == "99,980 more evidence ids name no event in scope user_id='kim'"
    tally(len(ids), "dangling evidence ids in one query")


def test_an_output_file_that_is_an_input_file_is_refused(
    tmp_path: Path, tally: Callable[[int, str], None]
) -> None:
    """`run --json s.jsonl --stream s.jsonl` replaced the user's stream with the results;
    `eval --out` and `convert -o` could do the same to the data. Refused, exit 2, file kept."""
    (tmp_path / "p.yaml").write_text(PIPELINE)
    stream = tmp_path / "s.jsonl"
    stream.write_text(EVENT + "\n" + QUERY + "\n")
    before = stream.read_bytes()
    pipeline_file = str(tmp_path / "p.yaml")
    same = str(tmp_path / "." / "s.jsonl")  # another spelling of the same file
    commands = [
        ["run", pipeline_file, "--stream", str(stream), "--json", same],
        ["run", pipeline_file, "--stream", str(stream), "--json", pipeline_file],
        ["eval", pipeline_file, "--dataset", "jsonl", "--data", str(stream), "--out", same],
        ["eval", pipeline_file, "--dataset", "jsonl", "--data", str(stream), "--md", same],
        ["eval", pipeline_file, "--dataset", "jsonl", "--data", str(stream), "--html", pipeline_file],
        ["convert", "locomo", str(stream), "-o", same],
    ]
    for args in commands:
        result = CliRunner().invoke(cli, [*args, "--data-dir", str(tmp_path / "d")] if args[0] == "run" else args)
        assert result.exit_code == 2, (args, result.output, result.exception)
        assert "is also an input of this command" in result.output, result.output
        assert stream.read_bytes() == before and (tmp_path / "p.yaml").read_text() == PIPELINE
    tally(len(commands), "outputs naming an input file")


def test_run_says_it_does_not_use_the_streams_outcomes(tmp_path: Path) -> None:
    """`run` ingests events and asks queries; its outcomes used to be skipped without a word."""
    outcome = '{"type": "outcome", "query_id": "q1", "success": true, "user_id": "kim"}'
    _, result = _run(tmp_path, EVENT, QUERY, outcome, outcome)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    output = " ".join(result.output.split())  # type: ignore[attr-defined]
    assert "2 outcome records not used: run ingests events and asks queries" in output, output
