"""The bundled sample stream: reproducible, well-formed, and shaped like a memory benchmark.

The stream's script and generator live in the checkout (``tools/sample/``), not in the
package; the generator tests run that file and skip where there is no checkout.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

import evolvelab
from evolvelab.datasets.sample import sample_path
from evolvelab.errors import ConfigError
from evolvelab.stream import EventRecord, QueryRecord, Stream, read_stream

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT / "tools" / "sample" / "generate.py"
needs_checkout = pytest.mark.skipif(
    not GENERATOR.is_file(), reason=f"the sample's generator is not here ({GENERATOR}): no checkout"
)
CATEGORIES = {"single-hop", "multi-hop", "temporal", "knowledge-update", "adversarial"}
STOP = set(
    "the a an and or of to in on at for is was did does do what which who when how why with from "
    "her his him he she has have had this that it its be been their they there over during year "
    "now days new about into up out as by are were these those".split()
)


@pytest.fixture(scope="module")
def sample() -> Stream:
    return read_stream(sample_path())


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    """``tools/sample/generate.py``, imported from its file."""
    spec = importlib.util.spec_from_file_location("evolvelab_sample_generator", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic resolves the models' annotations through it
    spec.loader.exec_module(module)
    return module


def words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.lower()) if len(w) > 2 and w not in STOP}


@needs_checkout
def test_the_committed_sample_is_exactly_what_the_generator_writes(tmp_path: Path) -> None:
    # Run as the docs say, from another folder: the generator finds its script by itself.
    out = tmp_path / "sample.jsonl"
    done = subprocess.run(
        [sys.executable, str(GENERATOR), "--out", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"wrote {out}\n"
    assert out.read_bytes() == sample_path().read_bytes(), "run: python tools/sample/generate.py"


@needs_checkout
def test_the_generator_is_seeded(
    generator: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert generator.build_sample() == generator.build_sample()
    assert generator.main(["--out", str(tmp_path / "other.jsonl"), "--seed", "7"]) == 0
    assert capsys.readouterr().out == f"wrote {tmp_path / 'other.jsonl'}\n"
    assert (tmp_path / "other.jsonl").read_bytes() != sample_path().read_bytes()
    assert read_stream(tmp_path / "other.jsonl").warnings == ()


@needs_checkout
def test_a_query_citing_a_label_no_turn_has_is_refused_at_its_line(
    generator: ModuleType, tmp_path: Path
) -> None:
    script = tmp_path / "script"
    shutil.copytree(GENERATOR.parent, script)
    ben = script / "ben.yaml"
    ben.write_text(ben.read_text(encoding="utf-8").replace(
        "evidence: [ben.tortoise]", "evidence: [ben.tortoize]", 1), encoding="utf-8")  # fmt: skip
    line = ben.read_text(encoding="utf-8").splitlines().index("    evidence: [ben.tortoize]") + 1
    with pytest.raises(ConfigError) as caught:
        generator.build_sample(folder=script)
    assert [p.render() for p in caught.value.problems] == [
        f"{ben}:{line}:15: queries[1].evidence: no turn is labelled ['ben.tortoize']"
    ]


@needs_checkout
def test_an_unreadable_script_line_is_refused_at_its_line_in_the_yaml_file(
    generator: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "script"
    shutil.copytree(GENERATOR.parent, script)
    ana = script / "ana.yaml"
    lines = ana.read_text(encoding="utf-8").splitlines()
    at = lines.index("  B: Oof. I don't know how you stay so calm with queues like that.")
    lines[at] = "  B Oof, no colon."
    ana.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        generator.build_sample(folder=script)
    assert [p.render() for p in caught.value.problems] == [
        f"{ana}:{at + 1}:3: script: cannot read script line 'B Oof, no colon.'"
    ]


@needs_checkout
def test_a_yaml_value_of_the_wrong_kind_is_a_located_problem(
    generator: ModuleType, tmp_path: Path
) -> None:
    script = tmp_path / "script"
    shutil.copytree(GENERATOR.parent, script)
    chitchat = script / "chitchat.yaml"
    text = chitchat.read_text(encoding="utf-8")
    chitchat.write_text(text.replace("  show:\n", "  show: 3\n  unused:\n", 1), encoding="utf-8")
    line = chitchat.read_text(encoding="utf-8").splitlines().index("  show: 3") + 1
    with pytest.raises(ConfigError) as caught:
        generator.build_sample(folder=script)
    assert [p.render() for p in caught.value.problems] == [
        f"{chitchat}:{line}:9: slots.show: Input should be a valid list"
    ]


def test_the_sample_is_installed_package_data() -> None:
    path = sample_path()
    assert path.name == "sample.jsonl" and path.parent.name == "data" and path.is_file()


def test_the_package_holds_no_script_of_the_sample() -> None:
    package = Path(evolvelab.__file__).parent  # the one imported: a checkout or an install
    assert not list(package.rglob("sample_script.py"))
    assert not (package / "sample.py").exists(), "the sample is a dataset: evolvelab/datasets/"


def test_every_evidence_id_names_an_event_of_the_query_user(sample: Stream) -> None:
    assert sample.warnings == ()
    events = {(e.user_id, e.id): e for e in sample.events}
    for query in sample.queries:
        assert query.evidence is not None, query.id
        for gold in query.evidence:
            assert gold.startswith(f"{query.user_id}:"), (query.id, gold)
            assert (query.user_id, gold) in events, (query.id, gold)
            assert events[query.user_id, gold].timestamp <= query.at


def test_sizes_are_in_range_and_both_users_are_present(sample: Stream) -> None:
    assert sample.header is not None and sample.header.name == "evolvelab-sample"
    assert 300 <= len(sample.events) <= 400
    assert 40 <= len(sample.queries) <= 60
    assert not sample.outcomes
    assert {s.user_id for s in sample.scopes()} == {"ana", "ben"}
    assert {q.user_id for q in sample.queries} == {"ana", "ben"}
    for user in ("ana", "ben"):
        sessions = Counter(e.session_id for e in sample.events if e.user_id == user)
        assert len(sessions) == 10 and all(12 <= n <= 30 for n in sessions.values())


def test_ids_timestamps_and_sessions_are_consistent(sample: Stream) -> None:
    last: dict[str | None, EventRecord] = {}
    for record in sample.events:
        assert re.fullmatch(rf"{record.user_id}:S\d+:\d+", record.id)
        assert record.session_id == record.id.rsplit(":", 1)[0]
        assert record.timestamp is not None and record.speaker
        previous = last.get(record.user_id)
        if previous is not None:
            assert previous.timestamp is not None and previous.timestamp < record.timestamp
            if previous.session_id == record.session_id:
                assert previous.speaker != record.speaker, "speakers take turns"
        last[record.user_id] = record
    # Sessions of the two users are interleaved by time, so batching by scope matters.
    users = [e.user_id for e in sample.events]
    assert sum(a != b for a, b in zip(users, users[1:], strict=False)) > 2


def test_every_category_is_present_with_evidence_of_the_right_shape(sample: Stream) -> None:
    by_category: dict[str, list[QueryRecord]] = {}
    for query in sample.queries:
        by_category.setdefault(str(query.category), []).append(query)
        assert query.answer
    assert set(by_category) == CATEGORIES
    assert all(len(qs) >= 5 for qs in by_category.values())
    assert all(q.evidence == [] for q in by_category["adversarial"])
    for query in by_category["multi-hop"]:
        assert query.evidence and len({g.rsplit(":", 1)[0] for g in query.evidence}) >= 2, query.id
    for category in CATEGORIES - {"adversarial", "multi-hop"}:
        assert all(q.evidence for q in by_category[category])


def test_most_questions_are_paraphrased(sample: Stream) -> None:
    events = {(e.user_id, e.id): e for e in sample.events}
    names = {"ana", "marta", "ben", "priya"}
    answerable = [q for q in sample.queries if q.evidence]
    shared = []
    for query in answerable:
        cited = [events[query.user_id, gold] for gold in query.evidence or ()]
        text = " ".join(f"{e.content} {e.metadata.get('caption', '')}" for e in cited)
        shared.append(len((words(query.text) - names) & words(text)))
    paraphrased = sum(n <= 1 for n in shared)
    assert paraphrased >= 0.6 * len(answerable)
    assert paraphrased < len(answerable), "some questions should still share their evidence's words"


def test_the_docs_describe_the_sample_as_it_is(sample: Stream) -> None:
    doc = (ROOT / "docs" / "streams.md").read_text()
    counts = Counter(q.category for q in sample.queries)
    assert f"{len(sample.events)} turns in all" in doc
    assert f"{len(sample.queries)} queries" in doc
    for category, n in counts.items():
        assert f"{n} {category}" in doc, category


def test_no_sentence_is_taken_from_locomo(sample: Stream) -> None:
    locomo = ROOT.parent / "shared" / "data" / "locomo" / "locomo-dev.json"
    if not locomo.is_file():
        pytest.skip("LoCoMo dev data not available here")
    turns = set()
    for conversation in json.loads(locomo.read_text()):
        for key, session in conversation["conversation"].items():
            if key.startswith("session_") and isinstance(session, list):
                turns.update(turn["text"].strip().lower() for turn in session)
    ours = [e.content.strip().lower() for e in sample.events]
    ours += [q.text.strip().lower() for q in sample.queries]
    assert [t for t in ours if len(t) > 30 and t in turns] == []
