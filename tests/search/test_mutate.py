"""The LLM mutation operator: what it asks, what it accepts, how it repairs, what it costs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import httpx2
import pytest
from pydantic import BaseModel

from evolvelab.errors import ConfigError, Problem
from evolvelab.llm import LLMConnectionError, NoLLM, NoLLMError, OllamaLLM, OllamaLLMConfig
from evolvelab.loader import parse_yaml, validate_pipeline
from evolvelab.registry import Registry
from evolvelab.search.mutate import MutationError, propose_mutation
from evolvelab.search.prompts import (
    MAX_PROMPT_CHARS,
    Diagnosis,
    Proposal,
    Repair,
    catalogue,
    design_messages,
    sample_misses,
)
from evolvelab.search.summary import Miss, MutationResult, TrialSummary
from evolvelab.stages import LLM
from evolvelab.testing.fake_llm import FakeLLM, FakeLLMConfig

T = TypeVar("T", bound=BaseModel)
ROOT = Path(__file__).resolve().parents[2]

PARENT_YAML = """\
# the hand-written starting point
version: 1
name: hybrid
description: BM25 and vectors fused by reciprocal rank.
embedder: {type: minilm}
llm: {type: none}
encode:
  - {type: turn, speaker: true}
store:
  type: lancedb
  path: /srv/memories/hybrid
retrieve:
  - {type: hybrid, channels: [bm25, vector], weights: [1.0, 0.7], k: 10}
"""

GOOD_YAML = """\
version: 1
name: hybrid-neighbours
embedder: {type: minilm}
encode:
  - {type: turn, speaker: true, date: true}
store: {type: lancedb}
retrieve:
  - {type: hybrid, channels: [bm25, vector], weights: [1.0, 0.7], k: 20}
  - {type: neighbours, window: 1, weight: 0.5, k: 10}
"""


def trial(number: int = 7, yaml_text: str = PARENT_YAML, **overrides: Any) -> TrialSummary:
    """A finished trial with a small, invented failure profile."""
    values: dict[str, Any] = {
        "number": number,
        "pipeline_yaml": yaml_text,
        "values": [0.612],
        "objectives": ["recall@10 (maximize, share)"],
        "recall": {"5": 0.48, "10": 0.612},
        "by_category": {
            "1": {"name": "multi-hop", "questions": 31, "recall": {"10": 0.42}},
            "2": {"name": "temporal", "questions": 27, "recall": {"10": 0.55}},
        },
        "misses": [
            Miss(
                question="When did Mira start learning the cello?",
                category="2",
                gold=["s1:4"],
                gold_text=["Mira: I finally signed up for cello lessons last week!"],
                retrieved=["s3:2", "s1:5"],
                retrieved_text=[
                    "Jon: My cousin plays the violin.",
                    "Jon: That is brave, lessons at 40!",
                ],
            ),
            Miss(
                question="Which two cities has Jon lived in?",
                category="1",
                gold=["s2:1", "s5:3"],
                gold_text=[
                    "Jon: Back when I lived in Lyon the bakeries were great.",
                    "Jon: Porto is home now.",
                ],
                retrieved=["s4:4"],
                retrieved_text=["Mira: I love city trips."],
            ),
        ],
    }
    values.update(overrides)
    return TrialSummary(**values)


def proposal(
    yaml_text: str = GOOD_YAML, design: str = "Add neighbour turns; date the turns."
) -> Proposal:
    return Proposal(
        diagnosis=Diagnosis(
            encode="Turns carry no dates, so temporal questions miss.",
            store="none found",
            retrieve="Gold turns sit next to retrieved ones (s1:4 vs s1:5).",
            manage="none found",
        ),
        design=design,
        pipeline_yaml=yaml_text,
    )


def fake(*answers: BaseModel) -> FakeLLM:
    llm = FakeLLM().queue(*answers)
    llm.open()
    return llm


def user_text(llm: FakeLLM, call: int) -> str:
    messages, _ = llm.calls[call]
    return messages[-1]["content"]


# --- the design request ------------------------------------------------------------------


def test_design_request_shows_yaml_failure_profile_and_catalogue(registry: Registry) -> None:
    llm = fake(proposal())
    propose_mutation(llm, best=[trial()], registry=registry)
    messages, model = llm.calls[0]
    assert model is Proposal
    assert [m["role"] for m in messages] == ["system", "user"]
    text = user_text(llm, 0)
    assert "## Trial 7: recall@10 (maximize, share) = 0.612; recall@5=0.480, recall@10=0.612" in text
    assert "  - {type: hybrid, channels: [bm25, vector], weights: [1.0, 0.7], k: 10}" in text
    assert "# the hand-written starting point" not in text  # comments are dropped
    assert "- 2 (temporal, 27 questions): recall@10=0.550" in text
    assert "Q: When did Mira start learning the cello?" in text
    assert "gold s1:4: Mira: I finally signed up for cello lessons last week!" in text
    assert "got #1 s3:2: Jon: My cousin plays the violin." in text
    assert "- neighbours: Give the turns around each hit a share of its score" in text
    assert "no LLM (llm: none)" in text
    assert sum(len(m["content"]) for m in messages) < 30_000  # about 7,000 tokens


def test_design_request_stays_bounded_whatever_the_trial_holds(registry: Registry) -> None:
    huge = "x" * 20_000
    misses = [
        Miss(
            question=huge,
            category=str(i % 40),
            gold=["g"] * 9,
            gold_text=[huge] * 9,
            retrieved=["r"] * 50,
            retrieved_text=[huge] * 50,
        )
        for i in range(200)
    ]
    categories = {str(i): {"name": huge, "questions": 3, "recall": {"10": 0.1}} for i in range(80)}
    big = trial(
        pipeline_yaml=PARENT_YAML + "# padding\n" + ("description2: " + huge + "\n") * 5,
        misses=misses,
        by_category=categories,
    )
    messages = design_messages([big, big, big, big, big], registry, max_misses=50)
    text = messages[1]["content"]
    assert sum(len(m["content"]) for m in messages) <= MAX_PROMPT_CHARS
    assert text.count(" Q: ") == 10  # at most ten misses, whatever is asked
    assert text.count("## Trial") == 3
    assert "… 68 more categories" in text


def test_misses_are_sampled_across_categories() -> None:
    misses = [Miss(question=f"q{i}", category="a") for i in range(5)]
    misses += [Miss(question="b0", category="b"), Miss(question="c0", category="c")]
    assert [m.question for m in sample_misses(misses, 4)] == ["q0", "b0", "c0", "q1"]


def test_catalogue_lists_every_type_with_ranges_but_no_paths_or_llms(registry: Registry) -> None:
    text = catalogue(registry)
    for kind in ("encoder", "store", "retriever", "manager", "embedder"):
        for name in registry.names(kind):
            assert f"\n- {name}: " in text
    assert "    k: int = 20 [tune: 5..100 log]" in text  # descriptions go when the catalogue is long
    assert "link_expand" in text and "Needs a store with: graph_links." in text
    assert "\n    path: " not in text
    assert "- openai:" not in text and "- ollama:" not in text


# --- accepting, repairing, giving up -----------------------------------------------------


def test_a_valid_proposal_comes_back_as_a_validated_mapping(registry: Registry) -> None:
    llm = fake(proposal())
    result = propose_mutation(llm, best=[trial()], registry=registry)
    assert isinstance(result, MutationResult)
    assert result.errors == [] and result.rounds == 1
    pipeline = result.pipeline
    assert pipeline is not None
    validate_pipeline(parse_yaml(json.dumps(pipeline)), registry)
    assert pipeline["retrieve"][1] == {"type": "neighbours", "window": 1, "weight": 0.5, "k": 10}
    assert list(pipeline)[:3] == ["version", "name", "description"]
    assert re.fullmatch(r"hybrid-llm-[0-9a-f]{6}", pipeline["name"])
    assert pipeline["description"] == "LLM mutation of hybrid: Add neighbour turns; date the turns."
    assert pipeline["llm"] == {"type": "none"}  # the parent's, kept
    assert result.diagnosis["retrieve"].startswith("Gold turns sit next to")
    assert set(result.diagnosis) == {"encode", "store", "retrieve", "manage", "design"}
    llm.assert_empty()


def test_an_invalid_proposal_is_repaired_with_the_error_text(registry: Registry) -> None:
    typo = GOOD_YAML.replace("type: neighbours", "type: neighbors")
    llm = fake(proposal(typo), Repair(fix="Spelled neighbours.", pipeline_yaml=GOOD_YAML))
    result = propose_mutation(llm, best=[trial()], registry=registry)
    assert result.pipeline is not None and result.rounds == 2
    assert result.pipeline["retrieve"][1]["type"] == "neighbours"
    _, model = llm.calls[1]
    assert model is Repair
    repair = user_text(llm, 1)
    assert "proposal.yaml:9:12: retrieve[1].type: unknown retriever type 'neighbors'" in repair
    assert "(did you mean 'neighbours'?)" in repair
    assert "  9 |   - {type: neighbors, window: 1, weight: 0.5, k: 10}" in repair
    assert "Intent of the design: Add neighbour turns" in repair
    assert len(result.errors) == 1 and result.errors[0].startswith("round 1: proposal.yaml:9:12:")
    llm.assert_empty()


def test_every_round_failing_gives_no_pipeline_and_all_errors(registry: Registry) -> None:
    bad = GOOD_YAML.replace("k: 20", "k: 0")
    llm = fake(
        proposal(bad), Repair(fix="-", pipeline_yaml=bad), Repair(fix="-", pipeline_yaml=bad)
    )
    result = propose_mutation(llm, best=[trial()], registry=registry, repairs=2)
    assert result.pipeline is None and result.rounds == 3
    assert [e.split(":", 1)[0] for e in result.errors] == ["round 1", "round 2", "round 3"]
    assert all(
        "retrieve[0].k: input should be greater than or equal to 1" in e for e in result.errors
    )
    assert result.diagnosis["encode"]  # the diagnosis is kept even without a pipeline
    llm.assert_empty()


def test_junk_stage_types_end_as_clear_errors(registry: Registry) -> None:
    junk = "version: 1\nname: x\nencode: [{type: telepathy}]\nstore: {type: cloud9}\nretrieve: [{type: vector}]\n"
    llm = fake(proposal(junk))
    result = propose_mutation(llm, best=[trial()], registry=registry, repairs=0)
    assert result.pipeline is None and result.rounds == 1
    [error] = result.errors
    assert "encode[0].type: unknown encoder type 'telepathy'" in error
    assert "allowed: " + ", ".join(registry.names("encoder")) in error
    assert "store.type: unknown store type 'cloud9'" in error


@pytest.mark.parametrize(
    "text,message",
    [
        ("version: 1\nname: [unclosed\n", "invalid YAML"),
        ("just a sentence about memory", "a pipeline file must be a mapping"),
        (GOOD_YAML.replace("k: 20", "k: {$env: HOME}"), "$env references are not allowed"),
        (GOOD_YAML + "x: &a [1, 1]\ny: [*a, *a]\n", "anchors and aliases"),
        (GOOD_YAML + "#" * 20_000, "keep it under 20000"),
    ],
)
def test_unusable_text_is_an_error_not_an_exception(
    registry: Registry, text: str, message: str
) -> None:
    result = propose_mutation(fake(proposal(text)), best=[trial()], registry=registry, repairs=0)
    assert result.pipeline is None and message in result.errors[0]


def test_build_time_problems_are_caught_without_opening(registry: Registry) -> None:
    needs_graph = GOOD_YAML.replace(
        "type: neighbours, window: 1, weight: 0.5, k: 10", "type: link_expand"
    )
    llm = fake(proposal(needs_graph), Repair(fix="Dropped link_expand.", pipeline_yaml=GOOD_YAML))
    result = propose_mutation(llm, best=[trial()], registry=registry)
    assert result.pipeline is not None and result.rounds == 2
    assert "retriever 'link_expand' needs graph_links" in result.errors[0]
    assert "retriever 'link_expand' needs graph_links" in user_text(llm, 1)


def test_the_callers_validate_replaces_the_build_check(registry: Registry) -> None:
    seen: list[dict[str, Any]] = []

    def validate(mapping: dict[str, Any]) -> None:
        seen.append(mapping)
        if len(seen) == 1:
            raise ConfigError([Problem("<trial>", ("retrieve", 1), "too slow for the budget")])

    llm = fake(
        proposal(), Repair(fix="-", pipeline_yaml=GOOD_YAML.replace("window: 1", "window: 2"))
    )
    result = propose_mutation(llm, best=[trial()], registry=registry, validate=validate)
    assert result.pipeline == seen[1] and result.rounds == 2
    assert "<trial>: retrieve[1]: too slow for the budget" in result.errors[0]


def test_a_proposal_repeating_a_best_trial_is_sent_back(registry: Registry) -> None:
    same = PARENT_YAML.replace("name: hybrid", "name: renamed")
    llm = fake(proposal(same), Repair(fix="-", pipeline_yaml=GOOD_YAML))
    result = propose_mutation(llm, best=[trial()], registry=registry)
    assert result.pipeline is not None
    assert "repeats trial 7's pipeline unchanged" in result.errors[0]


def test_a_fenced_answer_is_accepted(registry: Registry) -> None:
    result = propose_mutation(
        fake(proposal(f"```yaml\n{GOOD_YAML}```\n")), best=[trial()], registry=registry
    )
    assert result.pipeline is not None and result.errors == []


# --- making proposals safe ---------------------------------------------------------------


def test_paths_are_stripped_from_every_store(registry: Registry) -> None:
    escaping = GOOD_YAML.replace(
        "store: {type: lancedb}", "store: {type: lancedb, path: /etc/evil}"
    )
    escaping += "graph: {type: kuzu, path: ../../outside}\n"
    result = propose_mutation(fake(proposal(escaping)), best=[trial()], registry=registry)
    assert result.pipeline is not None
    assert result.pipeline["store"] == {"type": "lancedb"}
    assert result.pipeline["graph"] == {"type": "kuzu"}
    assert "/etc/evil" not in json.dumps(result.pipeline)


@pytest.mark.parametrize(
    "parent_llm,expected",
    [
        ("llm: {type: none}\n", {"type": "none"}),
        ("", None),
        ("llm: {type: ollama, model: llama3.2}\n", {"type": "ollama", "model": "llama3.2"}),
    ],
)
def test_the_llm_slot_is_the_parents(registry: Registry, parent_llm: str, expected: Any) -> None:
    parent = PARENT_YAML.replace("llm: {type: none}\n", parent_llm)
    sneaky = GOOD_YAML + "llm: {type: openai, model: gpt-4o, api_key_env: OPENAI_API_KEY}\n"
    result = propose_mutation(
        fake(proposal(sneaky)), best=[trial(yaml_text=parent)], registry=registry
    )
    assert result.pipeline is not None
    assert result.pipeline.get("llm") == expected


def test_names_do_not_grow_across_generations(registry: Registry) -> None:
    child = PARENT_YAML.replace("name: hybrid", "name: hybrid-llm-0a1b2c")
    result = propose_mutation(fake(proposal()), best=[trial(yaml_text=child)], registry=registry)
    assert result.pipeline is not None
    assert re.fullmatch(r"hybrid-llm-[0-9a-f]{6}", result.pipeline["name"])
    assert result.pipeline["name"] != "hybrid-llm-0a1b2c"


# --- the LLM failing ---------------------------------------------------------------------


class _Broken(LLM):
    """An LLM plugin that misbehaves: raises, or answers with the wrong type."""

    config_model: ClassVar[type[FakeLLMConfig]] = FakeLLMConfig

    def __init__(self, answer: Any) -> None:
        super().__init__(FakeLLMConfig())
        self.answer = answer

    def extract(self, messages: list[dict[str, str]], response_model: type[T]) -> T:
        self.usage.calls += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "answer,message",
    [
        (
            LLMConnectionError("openai LLM 'm' at http://x/v1: endpoint unreachable"),
            "llm: openai LLM 'm' at http://x/v1: endpoint unreachable",
        ),
        (RuntimeError("plugin bug"), "llm: RuntimeError: plugin bug"),
        (
            Repair(fix="-", pipeline_yaml=GOOD_YAML),
            "llm: answered with a Repair, expected a Proposal",
        ),
        ({"pipeline_yaml": GOOD_YAML}, "llm: answered with a dict, expected a Proposal"),
    ],
)
def test_llm_failures_end_as_errors(registry: Registry, answer: Any, message: str) -> None:
    llm = _Broken(answer)
    result = propose_mutation(llm, best=[trial()], registry=registry)
    assert result.pipeline is None and result.rounds == 1 and result.diagnosis == {}
    assert result.errors == [f"round 1: {message}"]
    assert result.usage["calls"] == 1


def test_a_failing_repair_request_stops_the_loop(registry: Registry) -> None:
    def down(messages: Any, model: Any) -> BaseModel:
        raise LLMConnectionError("endpoint timed out")

    llm = fake(proposal(GOOD_YAML.replace("k: 20", "k: 0")), down)
    result = propose_mutation(llm, best=[trial()], registry=registry, repairs=3)
    assert result.pipeline is None and result.rounds == 2
    assert result.errors[1] == "round 2: llm: endpoint timed out"


def test_caller_mistakes_raise_before_any_request(registry: Registry) -> None:
    with pytest.raises(MutationError, match="at least one finished trial"):
        propose_mutation(fake(), best=[], registry=registry)
    with pytest.raises(MutationError, match="repairs must be 0 or more"):
        propose_mutation(fake(), best=[trial()], registry=registry, repairs=-1)
    with pytest.raises(NoLLMError, match="needs an LLM"):
        propose_mutation(NoLLM(), best=[trial()], registry=registry)


# --- usage -------------------------------------------------------------------------------


def test_usage_counts_only_the_operators_requests(registry: Registry) -> None:
    typo = GOOD_YAML.replace("type: neighbours", "type: neighbors")
    llm = fake(proposal(typo), Repair(fix="-", pipeline_yaml=GOOD_YAML))
    llm.usage.calls, llm.usage.prompt_tokens = 40, 10_000  # spent by the pipeline's stages
    result = propose_mutation(llm, best=[trial()], registry=registry)
    assert result.usage["calls"] == 2
    assert result.usage["prompt_tokens"] == llm.usage.prompt_tokens - 10_000 > 1_000
    assert result.usage["completion_tokens"] > 0


def test_through_an_ollama_endpoint(registry: Registry) -> None:
    """The real adapter (instructor, JSON mode) over a mocked Ollama: schema and usage."""
    requests: list[dict[str, Any]] = []

    def reply(request: httpx2.Request) -> httpx2.Response:
        requests.append(json.loads(request.content))
        content = proposal().model_dump_json()
        return httpx2.Response(
            200,
            json={
                "id": "c1",
                "object": "chat.completion",
                "created": 0,
                "model": "llama3.2",
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": content},
                    }
                ],
                "usage": {"prompt_tokens": 5100, "completion_tokens": 420, "total_tokens": 5520},
            },
        )

    client = httpx2.Client(transport=httpx2.MockTransport(reply))
    llm = OllamaLLM(OllamaLLMConfig(model="llama3.2"), http_client=client)
    llm.open()
    result = propose_mutation(llm, best=[trial()], registry=registry)
    assert result.pipeline is not None
    assert (
        result.usage["calls"],
        result.usage["prompt_tokens"],
        result.usage["completion_tokens"],
    ) == (1, 5100, 420)
    assert requests[0]["model"] == "llama3.2"
    assert "Q: When did Mira start learning the cello?" in json.dumps(requests[0]["messages"])


# --- the docs ----------------------------------------------------------------------------


def test_the_prompt_in_the_docs_is_the_real_one(registry: Registry) -> None:
    page = (ROOT / "docs" / "evolve-mutation.md").read_text(encoding="utf-8")
    shown = page.split("<!-- prompt -->", 2)[1]
    llm = fake(proposal())
    propose_mutation(llm, best=[trial()], registry=registry)
    rendered = "\n".join(m["content"] for m in llm.calls[0][0])
    lines = [ln for ln in shown.splitlines() if ln.strip() and not ln.startswith(("```", "[…"))]
    assert len(lines) > 20
    for line in lines:
        assert line in rendered, line
