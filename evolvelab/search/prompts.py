"""What the LLM mutation operator says to the model, and the answers it accepts.

Two requests, both structured (one pydantic answer each):

* **diagnose and design** (:func:`design_messages` → :class:`Proposal`): the best trials'
  pipeline YAML, the best trial's failure profile (recall per category, a sample of
  missed questions with their gold evidence and what was retrieved instead) and a
  catalogue of the stage types the registry knows (read by :mod:`evolvelab.describe`).
  The model answers with a defect diagnosis per stage and one complete new pipeline YAML.
* **repair** (:func:`repair_messages` → :class:`Repair`): the YAML that failed, with line
  numbers, and the compiler-style error text. The model answers with corrected YAML.

Every piece of text taken from a trial is cut to a fixed length, so a request stays
bounded whatever the data holds. With the built-in types a design request is 20,000 to
25,000 characters (5,000 to 6,500 tokens; the type catalogue is most of it); it never
exceeds :data:`MAX_PROMPT_CHARS` characters (about 11,000 tokens).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from evolvelab.describe import FieldDescription, describe_types
from evolvelab.search.summary import Miss, TrialSummary

if typing.TYPE_CHECKING:
    from evolvelab.registry import Registry

__all__ = [
    "MAX_PROMPT_CHARS", "STAGES", "Diagnosis", "Proposal", "Repair", "catalogue",
    "design_messages", "repair_messages", "sample_misses",
]  # fmt: skip

STAGES = ("encode", "store", "retrieve", "manage")
"""The four parts of a memory system a diagnosis covers (MemEvolve's E / U / R / G)."""

MAX_PROMPT_CHARS = 44_000
"""Upper bound of one request's text (system plus user message), in characters."""

# Per-piece limits, in characters unless named otherwise. Together with the counts below
# they keep a request under MAX_PROMPT_CHARS; a test checks it with oversized inputs.
_MAX_TRIALS = 3
_MAX_YAML = (3_000, 1_200, 1_200)  # best trial, then the runners-up
_MAX_CATEGORIES = 12
_MAX_QUESTION = 240
_MAX_EVIDENCE = 180
_MAX_GOLD = 3
_MAX_RETRIEVED = 3
_MAX_MISSES = 10
_MAX_CATALOGUE = 18_000
_MAX_DESCRIPTION = 60
_MAX_REPAIR_YAML = 6_000
_MAX_ERRORS = 4_000


class _Answer(BaseModel):
    """Base of the answers: strict, so a model inventing keys is re-asked."""

    model_config = ConfigDict(extra="forbid")


class Diagnosis(_Answer):
    """What limits the current pipeline, stage by stage (MemEvolve's defect profile)."""

    encode: str = Field(description="Defects of the encode stages (how events become "
                        "notes), citing missed questions; 'none found' if none.")
    store: str = Field(description="Defects of the store (what is kept and indexed, graph "
                       "or not); 'none found' if none.")
    retrieve: str = Field(description="Defects of the retrieve stages (channels, k, fusion, "
                          "expansion), citing missed questions; 'none found' if none.")
    manage: str = Field(description="Defects of the manage stages (linking, dedupe, decay, "
                        "pruning) or of their absence; 'none found' if none.")


class Proposal(_Answer):
    """A defect diagnosis per stage and one new pipeline designed to fix it."""

    diagnosis: Diagnosis = Field(description="Defects found, per stage.")
    design: str = Field(description="What the new pipeline changes and why, in 2-3 sentences.")
    pipeline_yaml: str = Field(
        description="The complete new pipeline as YAML text (version, name, embedder, "
        "encode, store, retrieve, manage), using only types and fields from the catalogue."
    )


class Repair(_Answer):
    """A corrected pipeline YAML after validation errors."""

    fix: str = Field(description="What was changed to fix the errors, in one sentence.")
    pipeline_yaml: str = Field(description="The complete corrected pipeline as YAML text, "
                               "keeping the design's intent; only catalogue types and fields.")


def _cut(text: str, limit: int) -> str:
    """Return ``text`` on one line, at most ``limit`` characters (an ellipsis marks a cut)."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _cut_block(text: str, limit: int) -> str:
    """Return multi-line ``text`` without comment-only lines, at most ``limit`` characters."""
    lines = [ln.rstrip() for ln in text.splitlines() if ln.strip() and ln.lstrip()[0] != "#"]
    body = "\n".join(lines)
    return body if len(body) <= limit else body[:limit].rsplit("\n", 1)[0] + "\n# … (cut)"


# catalogue ------------------------------------------------------------------------

_SLOTS = (
    ("encoder", "encode", "a list; each stage turns events into notes, in order"),
    ("store", "store", "one mapping; `graph:` may add a second store that keeps links"),
    ("retriever", "retrieve", "a list; stages apply in order, later ones re-rank or expand"),
    ("manager", "manage", "a list, may be empty; `every: N` runs it after every N adds"),
    ("embedder", "embedder", "one mapping"),
)


def _type_text(annotation: Any) -> str:
    """Render a field annotation compactly: ``int``, ``list[str]``, ``a|b`` for literals."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_text(args[0])
    if origin is Literal:
        return "|".join(str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return "|".join(_type_text(a) for a in args).replace("NoneType", "null")
    if origin is not None:
        inner = ",".join(_type_text(a) for a in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    return getattr(annotation, "__name__", str(annotation)).replace("NoneType", "null")


def _tunable(field: FieldDescription) -> str:
    item = field.tunable
    if item is None:
        return ""
    when = "".join(
        f", when {name}: {'|'.join(map(str, values))}" for name, values in (item.when or {}).items()
    )  # a conditional field: it has an effect only there
    if item.choices is not None:
        return f" [tune: {', '.join(map(str, item.choices))}{when}]"
    return f" [tune: {item.low:g}..{item.high:g}{' log' if item.log else ''}{when}]"


def _field_text(field: FieldDescription, describe: bool) -> str:
    default = "required" if field.required else repr(field.default)
    text = f"{field.name}: {_type_text(field.annotation)} = {default}{_tunable(field)}"
    if describe and field.description:
        text += f" - {_cut(field.description, _MAX_DESCRIPTION)}"
    return text


def _catalogue(registry: Registry, skip_fields: Sequence[str], describe: bool) -> str:
    lines: list[str] = []
    for kind, slot, how in _SLOTS:
        lines.append(f"## {slot}: ({how})")
        seen: dict[str, str] = {}
        operational = kind in ("store", "embedder")
        for info in describe_types(registry, kind):
            head = f"- {info.name}: {_cut(info.summary, 120)}"
            if kind == "store":
                head += f" Offers: {', '.join(info.offers) or 'nothing'}."
            elif info.needs:
                head += f" Needs a store with: {', '.join(info.needs)}."
            lines.append(head)
            shared: dict[str, list[str]] = {}
            names_only: list[str] = []
            for field in info.fields:
                if field.name in skip_fields:
                    continue
                if operational and field.plain:
                    names_only.append(field.name)
                    continue
                text = _field_text(field, describe and not operational)
                if text in seen:
                    shared.setdefault(seen[text], []).append(field.name)
                    continue
                seen[text] = info.name
                lines.append(f"    {text}")
            for owner, names in shared.items():
                lines.append(f"    (as in {owner}: {', '.join(names)})")
            if names_only:
                lines.append(f"    (operational, rarely worth changing: {', '.join(names_only)})")
    return "\n".join(lines)


def catalogue(registry: Registry, *, skip_fields: Sequence[str] = ("path",)) -> str:
    """Describe every stage type ``registry`` knows, compactly, for the model.

    One block per slot; per type its one-line description, what it needs from the store
    (or, for stores, what they offer) and each field as ``name: type = default [tune:
    range] - description``. Stores' and embedders' plain knobs (neither tunable nor a
    choice) are only named; a field defined exactly as in an earlier type of the same
    slot is named, not repeated. LLM types are left out: proposals keep the evaluated
    pipeline's ``llm``. When many plugins make the text longer than
    ``_MAX_CATALOGUE`` characters, descriptions are dropped, then the tail is cut.

    Args:
        registry: the types proposals may use (built-ins plus installed plugins).
        skip_fields: fields never shown (``path``: the evolver picks data directories).

    Returns:
        The catalogue, at most ``_MAX_CATALOGUE`` characters plus one line.
    """
    text = _catalogue(registry, skip_fields, describe=True)
    if len(text) > _MAX_CATALOGUE:
        text = _catalogue(registry, skip_fields, describe=False)
    if len(text) > _MAX_CATALOGUE:
        text = text[:_MAX_CATALOGUE].rsplit("\n- ", 1)[0] + "\n(catalogue cut for length)"
    return text


# the design request ---------------------------------------------------------------

_SYSTEM = """\
You improve long-term memory pipelines for LLM agents. A pipeline is a YAML file: \
`encode` stages turn conversation events into notes, a `store` keeps them, `retrieve` \
stages answer a question with a ranked list of notes, `manage` stages keep the memory \
healthy. Pipelines are scored mainly by recall@k: whether the notes made from a \
question's gold evidence turns are among the first k retrieved.

Rules for every pipeline you write:
- `version: 1`, a `name`, then the slots; use only types and fields listed in the catalogue.
- Write complete YAML, not a diff. Omit fields you leave at their defaults.
- Do not set `path` on stores and do not use `$env`: the evaluator picks data directories.
- Do not add an `llm:` key; the evaluated pipeline's LLM setting is kept as it is.
- Every stage's store needs must be met (e.g. graph_links needs a store that offers it, \
either `store:` or a `graph:` store).
- Change what the diagnosis points at; a few targeted changes beat a rewrite."""


def _recall_text(recall: dict[str, float]) -> str:
    return ", ".join(f"recall@{k}={v:.3f}" for k, v in list(recall.items())[:6]) or "not recorded"


def _categories_text(by_category: dict[str, dict[str, Any]]) -> list[str]:
    lines = []
    for code, info in list(by_category.items())[:_MAX_CATEGORIES]:
        name = _cut(str(info.get("name") or code), 40)
        recall = info.get("recall") if isinstance(info.get("recall"), dict) else {}
        scores = _recall_text(recall)  # type: ignore[arg-type]
        count = info.get("questions", "?")
        lines.append(f"- {_cut(str(code), 20)} ({name}, {count} questions): {scores}")
    if len(by_category) > _MAX_CATEGORIES:
        lines.append(f"- … {len(by_category) - _MAX_CATEGORIES} more categories")
    return lines or ["- no categories recorded"]


def sample_misses(misses: Sequence[Miss], limit: int) -> list[Miss]:
    """Pick up to ``limit`` misses, taking categories in turn so each is represented.

    Args:
        misses: the trial's misses, in the order the evaluator recorded them.
        limit: how many to keep.

    Returns:
        The sample, deterministic for a given input.
    """
    queues: dict[str | None, list[Miss]] = {}
    for miss in misses:
        queues.setdefault(miss.category, []).append(miss)
    picked: list[Miss] = []
    while len(picked) < limit and any(queues.values()):
        for queue in queues.values():
            if queue and len(picked) < limit:
                picked.append(queue.pop(0))
    return picked


def _miss_text(number: int, miss: Miss) -> list[str]:
    lines = [f"{number}. [{_cut(str(miss.category), 30)}] Q: {_cut(miss.question, _MAX_QUESTION)}"]
    for i, text in enumerate(miss.gold_text[:_MAX_GOLD]):
        ident = miss.gold[i] if i < len(miss.gold) else "?"
        lines.append(f"   gold {_cut(ident, 30)}: {_cut(text, _MAX_EVIDENCE)}")
    if len(miss.gold) > _MAX_GOLD:
        lines.append(f"   (+{len(miss.gold) - _MAX_GOLD} more gold turns)")
    if not miss.retrieved_text and miss.retrieved:
        ids = ", ".join(_cut(r, 30) for r in miss.retrieved[:8])
        lines.append(f"   retrieved ids instead: {ids}")
    for i, text in enumerate(miss.retrieved_text[:_MAX_RETRIEVED]):
        ident = miss.retrieved[i] if i < len(miss.retrieved) else "?"
        lines.append(f"   got #{i + 1} {_cut(ident, 30)}: {_cut(text, _MAX_EVIDENCE)}")
    return lines


def design_messages(
    best: Sequence[TrialSummary],
    registry: Registry,
    *,
    max_misses: int = 8,
    llm_note: str = "",
) -> list[dict[str, str]]:
    """Build the diagnose-and-design request.

    Args:
        best: the best trials, best first; the first is the parent whose failures are
            shown; at most three are shown at all.
        registry: the types the proposal may use (for the catalogue).
        max_misses: how many missed questions to show (at most 10).
        llm_note: a sentence on the evaluated pipeline's LLM, e.g. that it has none.

    Returns:
        Chat messages: a system message with the rules and a user message with the data,
        together at most :data:`MAX_PROMPT_CHARS` characters.
    """
    parent = best[0]
    head: list[str] = ["# Best pipelines so far (best first)"]
    for i, trial in enumerate(best[:_MAX_TRIALS]):
        names = trial.objectives or [f"objective {j + 1}" for j in range(len(trial.values))]
        values = ", ".join(f"{n} = {v:.4g}" for n, v in zip(names, trial.values[:4], strict=False))
        head += [
            f"## Trial {trial.number}: {values or 'no values'}; {_recall_text(trial.recall)}",
            "```yaml",
            _cut_block(trial.pipeline_yaml, _MAX_YAML[i]),
            "```",
        ]
    head += [
        f"# Failure profile of trial {parent.number}",
        "Recall by question category:",
        *_categories_text(parent.by_category),
        "",
        "Missed questions (gold evidence turns not retrieved in the top k), with what was "
        "retrieved first instead:",
    ]
    tail = [
        "",
        "# Catalogue of stage types and fields",
        catalogue(registry),
        "",
        "# Your task",
        *([llm_note] if llm_note else []),
        f"Diagnose what limits trial {parent.number}'s pipeline, stage by stage, from the "
        "evidence above (which kinds of questions fail, whether the gold turns lie near "
        "the retrieved ones, whether wording or dates differ). Then design one new "
        "pipeline that fixes the main defect and write it as complete YAML.",
    ]
    sample = sample_misses(parent.misses, max(0, min(max_misses, _MAX_MISSES)))
    while True:
        body = [line for n, miss in enumerate(sample, 1) for line in _miss_text(n, miss)]
        user = "\n".join([*head, *(body or ["(none recorded)"]), *tail])
        if len(_SYSTEM) + len(user) <= MAX_PROMPT_CHARS or not sample:
            break
        sample = sample[:-1]  # only when plugins made the catalogue huge
    return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": user}]


def repair_messages(
    pipeline_yaml: str, errors: str, registry: Registry, *, design: str = ""
) -> list[dict[str, str]]:
    """Build the repair request: the failing YAML with line numbers and the error text.

    Args:
        pipeline_yaml: the YAML the model proposed last.
        errors: the rendered validation errors (``ConfigError.render()``).
        registry: the types the proposal may use (for the catalogue).
        design: the design rationale of the first answer, to keep its intent.

    Returns:
        Chat messages: the system rules and one user message.
    """
    text = pipeline_yaml[:_MAX_REPAIR_YAML]
    numbered = "\n".join(f"{i:3d} | {line}" for i, line in enumerate(text.splitlines(), 1))
    error_text = errors if len(errors) <= _MAX_ERRORS else errors[:_MAX_ERRORS] + "\n…"
    parts = [
        "The pipeline YAML you proposed does not validate.",
        f"Intent of the design: {_cut(design, 600)}" if design else "",
        "# Errors (file:line:col: path: message)",
        error_text,
        "# Your YAML (line numbers added; do not copy them)",
        numbered,
        "# Catalogue of stage types and fields",
        catalogue(registry),
        "# Your task",
        "Return the complete corrected YAML. Fix every error listed; keep the rest as it is.",
    ]
    return [
        {"role": "system", "content": _SYSTEM},
        {"role": "user", "content": "\n".join(p for p in parts if p)},
    ]
