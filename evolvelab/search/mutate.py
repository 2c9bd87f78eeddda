"""The LLM mutation operator: diagnose the best pipelines' failures, design a new one.

MemEvolve's diagnose-and-design step, on pipeline YAML instead of provider code. One
structured request shows the model the best trials' YAML, the best trial's failure
profile and the catalogue of stage types (:mod:`evolvelab.search.prompts`); it answers
with a defect diagnosis per stage (encode, store, retrieve, manage) and a complete new
pipeline YAML. The YAML is parsed, validated against the registry's schema and
build-checked; when that fails, the error text goes back to the model for up to
``repairs`` corrections.

Before validation every proposal is made safe to evaluate: ``path`` keys are removed
from every stage (the evolver gives each trial a fresh data directory), the ``llm``
slot is set to the evaluated pipeline's (a proposal never adds an LLM, its cost or its
key), ``$env`` references and YAML anchors are refused, and the name gets a suffix
derived from the content so it never collides with the parent's.

Failure policy: nothing the model says, and nothing the endpoint does, raises.
Endpoint errors, answers of the wrong type and pipelines that never validate all end
as a :class:`~evolvelab.search.summary.MutationResult` with ``pipeline=None`` and the
reasons in ``errors``, so the evolver records the attempt and carries on. Only caller
mistakes (no trials, a negative repair count, no LLM) raise, before any request.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from evolvelab.errors import ConfigError, EvolveLabError, Problem
from evolvelab.llm import NoLLMError, llm_available
from evolvelab.loader import parse_yaml, validate_pipeline
from evolvelab.search.prompts import STAGES, Proposal, Repair, design_messages, repair_messages
from evolvelab.search.summary import MutationResult, TrialSummary

if TYPE_CHECKING:
    from evolvelab.registry import Registry
    from evolvelab.stages import LLM

__all__ = ["MutationError", "propose_mutation"]

A = TypeVar("A", bound=BaseModel)

PROPOSAL_FILE = "proposal.yaml"
"""The file name validation errors cite for a proposal (the model's YAML, line by line)."""

_SUFFIX = re.compile(r"-llm-[0-9a-f]{6}$")
_FENCE = re.compile(r"^\s*```[A-Za-z]*\s*\n(?P<body>.*?)\n\s*```\s*$", re.DOTALL)
_FENCED = re.compile(r"```(?:ya?ml)?[ \t]*\n(?P<body>.*?)\n[ \t]*```", re.DOTALL | re.IGNORECASE)
_ANCHOR = re.compile(r"(?:^|[\s\[{,])&[^\s,\]}]+", re.MULTILINE)
_SLOTS = ("store", "graph", "embedder", "encode", "retrieve", "manage")
_HEAD = ("version", "name", "description")
_MAX_ERROR = 600
_MAX_YAML = 20_000


class MutationError(EvolveLabError):
    """The mutation operator was called wrongly (no trials, a negative repair count)."""


def _cut(text: str, limit: int = _MAX_ERROR) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mapping(text: str) -> dict[str, Any]:
    """Return a trial's pipeline YAML as data, or ``{}`` when it does not parse."""
    try:
        data = parse_yaml(text, file="<trial>").data
    except ConfigError:
        return {}
    return data if isinstance(data, dict) else {}


def _canonical(data: Mapping[str, Any]) -> str:
    """Return the pipeline's content as canonical JSON, name and description left out."""
    body = {k: v for k, v in data.items() if k not in ("name", "description")}
    return json.dumps(body, sort_keys=True, default=str)


def _llm_note(parent: Mapping[str, Any]) -> str:
    """Say what the evaluated pipeline's LLM is, so the design does not rely on one it lacks."""
    llm = parent.get("llm")
    kind = llm.get("type") if isinstance(llm, Mapping) else None
    if kind in (None, "none"):
        return (
            "The evaluated pipeline has no LLM (llm: none) and your proposal keeps it so: "
            "stages that can use an LLM run their rule-based fallback, and options that "
            "require an LLM (e.g. guard paths: llm) fail. Prefer stages that work without one."
        )
    model = llm.get("model", "?") if isinstance(llm, Mapping) else "?"
    return (
        f"The evaluated pipeline uses an LLM ({kind}, model {model}) and your proposal keeps "
        "it; every LLM-using stage adds requests, so use them where the diagnosis needs them."
    )


def _ask(llm: LLM, messages: list[dict[str, str]], model: type[A]) -> tuple[A | None, str | None]:
    """Ask ``llm`` for a ``model`` answer; return it, or the reason there is none.

    Assertion errors (a FakeLLM whose script does not match the requests) propagate:
    they mean the test is wrong, not the proposal.
    """
    try:
        answer = llm.extract(messages, model)
    except AssertionError:
        raise
    except EvolveLabError as err:
        return None, f"llm: {_cut(str(err))}"
    except Exception as err:  # noqa: BLE001 - a plugin LLM's bug must not stop the evolver
        return None, f"llm: {type(err).__name__}: {_cut(str(err))}"
    if not isinstance(answer, model):
        return None, f"llm: answered with a {type(answer).__name__}, expected a {model.__name__}"
    return answer, None


def _unfence(text: str) -> str:
    """Return YAML text without the Markdown code fence models like to wrap it in.

    Models also put prose around the fence ("Here is the pipeline: ```yaml ... ```
    It adds ..."); then the first fenced block is the YAML.
    """
    match = _FENCE.match(text) or _FENCED.search(text)
    return match.group("body") if match else text


def _refusal(text: str) -> str:
    """Return why a proposal's text is refused before parsing, or ``""``.

    Misses quote dataset text, so a proposal may echo instructions planted there: it must
    not read the environment, and must not expand anchors into a huge document.
    """
    if len(text) > _MAX_YAML:
        return f"the YAML is {len(text)} characters long; keep it under {_MAX_YAML}"
    if "$env" in text:
        return "$env references are not allowed in proposals"
    if _ANCHOR.search(text):
        return "YAML anchors and aliases (&name, *name) are not allowed in proposals"
    return ""


def _sanitise(data: dict[str, Any], parent: Mapping[str, Any]) -> None:
    """Make a proposal safe to evaluate, in place: no paths, the parent's LLM setting."""
    for slot in _SLOTS:
        value = data.get(slot)
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, dict):
                item.pop("path", None)
    if "llm" in parent:
        data["llm"] = copy.deepcopy(parent["llm"])
    else:
        data.pop("llm", None)


def _rename(data: dict[str, Any], parent: Mapping[str, Any], design: str) -> None:
    """Name the proposal after its parent plus a content digest; describe it unless it is."""
    root = str(parent.get("name") or data.get("name") or "pipeline")
    digest = hashlib.sha256(_canonical(data).encode()).hexdigest()[:6]
    data["name"] = f"{_SUFFIX.sub('', root)}-llm-{digest}"
    if data.get("description") in (None, "", parent.get("description")):
        data["description"] = _cut(f"LLM mutation of {root}: {' '.join(design.split())}", 300)


def _build(spec: Any, located: Any, registry: Registry) -> None:
    """Build (never open) a Memory from the spec: the default build-time check."""
    from evolvelab.pipeline import Memory

    Memory(spec, registry=registry, located=located)


def _check(
    text: str,
    *,
    parent: Mapping[str, Any],
    known: Sequence[tuple[int, str]],
    design: str,
    registry: Registry,
    validate: Callable[[dict[str, Any]], None] | None,
) -> tuple[dict[str, Any] | None, str]:
    """Validate one proposal; return the safe mapping, or ``None`` and the error text."""
    refusal = _refusal(text)
    if refusal:
        return None, ConfigError([Problem(PROPOSAL_FILE, (), refusal)]).render()
    try:
        located = parse_yaml(text, file=PROPOSAL_FILE)
        if isinstance(located.data, dict):
            _sanitise(located.data, parent)
            for number, content in known:
                if _canonical(located.data) == content:
                    message = (
                        f"the proposal repeats trial {number}'s pipeline unchanged; change at "
                        "least one stage or field"
                    )
                    return None, ConfigError([Problem(PROPOSAL_FILE, (), message)]).render()
            _rename(located.data, parent, design)
            head = {key: located.data[key] for key in _HEAD if key in located.data}
            located.data = {**head, **located.data}
        spec = validate_pipeline(located, registry)
        data = copy.deepcopy(located.data)
        if validate is None:
            _build(spec, located, registry)
        else:
            validate(copy.deepcopy(data))
    except ConfigError as err:
        return None, err.render()
    except AssertionError:
        raise
    except EvolveLabError as err:
        return None, f"{PROPOSAL_FILE}: {_cut(str(err))}"
    except Exception as err:  # noqa: BLE001 - a stage's own check must not stop the evolver
        return None, f"{PROPOSAL_FILE}: build failed: {type(err).__name__}: {_cut(str(err))}"
    return data, ""


def propose_mutation(
    llm: LLM,
    *,
    best: Sequence[TrialSummary],
    registry: Registry,
    validate: Callable[[dict[str, Any]], None] | None = None,
    repairs: int = 2,
    max_misses: int = 8,
) -> MutationResult:
    """Ask ``llm`` to diagnose the best trials and design a new, validated pipeline.

    One design request, then up to ``repairs`` repair requests while the proposal does
    not validate. Each repair request carries the rendered errors and the failing YAML.

    Args:
        llm: an opened LLM (``OpenAILLM``, ``OllamaLLM``, a plugin's, or ``FakeLLM``).
        best: finished trials, best first. The first is the parent: its failures are
            shown and its name and ``llm`` setting are inherited; up to three are shown.
        registry: the stage types proposals may use and are validated against.
        validate: a build-time check of a schema-valid mapping, raising
            :class:`~evolvelab.errors.ConfigError` (or another EvolveLabError) for
            problems; default: build a ``Memory`` from the spec without opening it.
        repairs: how many repair rounds to allow after the first proposal.
        max_misses: how many missed questions the design request shows (at most 10).

    Returns:
        A MutationResult: ``pipeline`` is the validated, sanitised mapping (or ``None``),
        ``diagnosis`` holds one entry per stage plus ``design`` (the rationale),
        ``rounds`` the requests made, ``errors`` every failure met, oldest first, and
        ``usage`` the LLM calls, tokens and seconds the operator spent.

    Raises:
        MutationError: if ``best`` is empty or ``repairs`` is negative.
        NoLLMError: if ``llm`` is absent or ``NoLLM``; the operator is off without one.
    """
    if not best:
        raise MutationError("propose_mutation needs at least one finished trial in `best`")
    if repairs < 0:
        raise MutationError(f"repairs must be 0 or more, got {repairs}")
    if not llm_available(llm):
        raise NoLLMError("evolve (LLM mutation)", Proposal.__name__)
    parent = _mapping(best[0].pipeline_yaml)
    known = []
    for trial in best:
        if mapping := _mapping(trial.pipeline_yaml):
            _sanitise(mapping, parent)
            known.append((trial.number, _canonical(mapping)))
    start = llm.usage.as_dict()
    errors: list[str] = []
    diagnosis: dict[str, str] = {}
    rounds = 1
    messages = design_messages(best, registry, max_misses=max_misses, llm_note=_llm_note(parent))
    proposal, failure = _ask(llm, messages, Proposal)
    pipeline: dict[str, Any] | None = None
    if proposal is None:
        errors.append(f"round 1: {failure}")
    else:
        diagnosis = {stage: getattr(proposal.diagnosis, stage) for stage in STAGES}
        diagnosis["design"] = proposal.design
        text = _unfence(proposal.pipeline_yaml)
        while True:
            pipeline, problem = _check(
                text, parent=parent, known=known, design=proposal.design,
                registry=registry, validate=validate,
            )  # fmt: skip
            if pipeline is not None:
                break
            errors.append(f"round {rounds}: {problem}")
            if rounds > repairs:
                break
            rounds += 1
            request = repair_messages(text, problem, registry, design=proposal.design)
            repair, failure = _ask(llm, request, Repair)
            if repair is None:
                errors.append(f"round {rounds}: {failure}")
                break
            text = _unfence(repair.pipeline_yaml)
    end = llm.usage.as_dict()
    usage = {key: round(end[key] - start[key], 3) for key in end}
    return MutationResult(
        pipeline=pipeline, diagnosis=diagnosis, rounds=rounds, errors=errors, usage=usage
    )
