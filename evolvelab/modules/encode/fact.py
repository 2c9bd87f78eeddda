"""``type: fact`` — short standalone facts, each tied to the events it came from (Mem0's step 1).

With an LLM configured, one structured request per chunk of events (or per event, with
``per: event``) returns the facts (the ``ExtractedFacts`` schema below); each fact names
the ids of the events it comes from. Models write those ids loosely, so they are read
leniently (:func:`resolve_source_ids`): ``"[e0]"``, ``"E0"``, ``" e0 "``, ``"e0, e1"``
and bare numbers all find event ``e0`` (``e1``); ids the request did not contain are
ignored. A fact none of whose ids can be resolved is kept, tied to every event of its
request and marked ``metadata.sources = "request"``. Only a fact with no text is dropped,
and it is counted in the add's report (``AddResult.dropped``), never lost silently.

Without an LLM, a documented deterministic rule turns sentences into facts:

1. split the event text into sentences (at ``.``, ``!`` or ``?`` followed by a space);
2. drop questions and sentences with fewer than ``min_words`` content words (words of
   three letters or more that are not stop words or numbers);
3. resolve the first person: the first first-person word names the speaker (``I``,
   ``me``, ``myself`` → "Ana"; ``my``, ``mine`` → "Ana's"; ``I'm`` → "Ana is"; ``I've`` →
   "Ana has"; ``I'd``/``I'll`` → "Ana would"/"will"; ``we``, ``us`` → "Ana and others";
   ``our`` → "Ana's"), later ones become singular "they" forms (``my`` → "their",
   ``I'm`` → "they are"), so a name is not repeated within a fact; a common
   present-tense verb right after that first ``I`` (adverbs skipped) takes its
   third-person form ("I live" → "Ana lives"); other verbs are left as they are;
4. with ``first_person_only: true``, keep only sentences that spoke in the first person.

"Ana: I moved to Porto last week. Isn't that mad?" gives one fact, "Ana moved to Porto
last week.". Every fact is a note of kind ``fact`` whose ``source_ids`` are its events,
``valid_from`` the time of its newest event, and whose id is derived from its owner, its
sources and its text, so re-ingesting a stream gives the same ids. Facts already in the
store are not emitted again: re-ingesting never reopens a fact an update manager closed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from evolvelab.config import EncoderConfig, Tunable
from evolvelab.llm import llm_available
from evolvelab.stages import Encoder
from evolvelab.text import STOP_WORDS, keywords, tokens
from evolvelab.types import Event, MetadataValue, Note, Scope, stable_id

__all__ = [
    "ExtractedFact",
    "ExtractedFacts",
    "FactConfig",
    "FactEncoder",
    "content_words",
    "facts_from_text",
    "resolve_source_ids",
]

EMPTY_FACT = "LLM fact with empty text"
"""The reason an LLM fact is dropped (shown in ``AddResult.dropped``)."""


class FactConfig(EncoderConfig):
    """Extract short standalone facts from events, through the LLM when one is configured.

    Example:
        ```yaml
        encode:
          - {type: fact, per: batch, chunk: 20, min_words: 2}
        ```
    """

    type: Literal["fact"] = "fact"
    per: Literal["batch", "event"] = Field(
        "batch",
        description="LLM path: one request per chunk of events (batch) or per event.",
    )
    chunk: int = Field(
        20, ge=1, le=200, description="LLM path, per: batch: most events in one request."
    )
    min_words: Annotated[int, Tunable(1, 4)] = Field(
        2, ge=0, le=20, description="Rule path: content words a sentence needs to become a fact."
    )
    first_person_only: Annotated[bool, Tunable(choices=(False, True))] = Field(
        False, description="Rule path: keep only sentences spoken in the first person."
    )
    keywords: int = Field(5, ge=0, le=20, description="Keywords stored with each fact.")


class ExtractedFact(BaseModel):
    """One fact the LLM found.

    ``source_ids`` accepts what models write besides a list of strings: numbers
    (``[0, 1]``), one string (``"e0"``) or ``null``; the encoder then resolves each id
    leniently against the request's events (:func:`resolve_source_ids`).
    """

    model_config = ConfigDict(coerce_numbers_to_str=True)

    text: str = Field(description="One short standalone sentence; people named, no pronouns.")
    source_ids: list[str] = Field(description="Ids of the messages the fact comes from.")

    @field_validator("source_ids", mode="before")
    @classmethod
    def _listify(cls, value: object) -> object:
        if value is None:
            return []
        return [value] if isinstance(value, str | int | float) else value


class ExtractedFacts(BaseModel):
    """What the LLM returns for one request."""

    facts: list[ExtractedFact] = Field(description="The facts worth remembering, in order.")


_PROMPT = (
    "Extract the facts worth remembering from the conversation below: preferences, plans, "
    "events, relationships, jobs, places, possessions and changes to any of these. Write each "
    "fact as one short standalone sentence that names people instead of using pronouns "
    "(\"Ana moved to Porto\", not \"I moved\") and keeps dates and places. Skip greetings and "
    "small talk. Give every fact the ids of the messages it comes from, exactly as written in "
    "the brackets.\n\nMessages:\n{messages}"
)

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[.!?][\"')\]])\s+")
_ADVERBS = frozenset(
    "also just still never always even now only finally actually already really "
    "usually often sometimes mostly honestly".split()
)
_VERBS_S = {
    "live": "lives", "love": "loves", "like": "likes", "hate": "hates", "work": "works",
    "want": "wants", "need": "needs", "think": "thinks", "know": "knows", "prefer": "prefers",
    "drink": "drinks", "eat": "eats", "play": "plays", "teach": "teaches", "own": "owns",
    "feel": "feels", "miss": "misses", "enjoy": "enjoys", "study": "studies", "go": "goes",
    "do": "does", "have": "has", "am": "is", "don't": "doesn't", "get": "gets", "take": "takes",
    "run": "runs", "swim": "swims", "write": "writes", "read": "reads", "use": "uses",
    "keep": "keeps", "start": "starts", "hope": "hopes", "mean": "means", "say": "says",
    "visit": "visits", "cook": "cooks", "walk": "walks", "sleep": "sleeps", "wish": "wishes",
    "haven't": "hasn't", "can": "can", "cannot": "cannot",
}  # fmt: skip
_I_VERB = re.compile(
    rf"\bI((?:\s+(?:no longer|{'|'.join(sorted(_ADVERBS))}))*)\s+([a-z]+(?:'t)?)\b"
)
_PRONOUN = re.compile(
    r"\b(?:I['’]m|I\s+am|I['’]ve|I\s+have|I['’]d|I['’]ll|I|[Mm]e|[Mm]yself|[Mm]y|[Mm]ine"
    r"|[Ww]e['’](?:re|ve|d|ll)|[Ww]e|[Uu]s|[Oo]urselves|[Oo]urs|[Oo]ur)\b"
)
_NAMED = {
    "i'm": "{s} is", "i am": "{s} is", "i've": "{s} has", "i have": "{s} has", "i'd": "{s} would",
    "i'll": "{s} will", "i": "{s}", "me": "{s}", "myself": "{s}", "my": "{s}'s", "mine": "{s}'s",
    "we're": "{s} and others are", "we've": "{s} and others have", "we'd": "{s} and others would",
    "we'll": "{s} and others will", "we": "{s} and others", "us": "{s} and others",
    "ourselves": "{s} and others", "ours": "{s}'s", "our": "{s}'s",
}  # fmt: skip
_THEY = {
    "i'm": "they are", "i am": "they are", "i've": "they have", "i have": "they have",
    "i'd": "they would", "i'll": "they will", "i": "they", "me": "them", "myself": "themselves",
    "my": "their", "mine": "theirs", "we're": "they are", "we've": "they have",
    "we'd": "they would", "we'll": "they will", "we": "they", "us": "them",
    "ourselves": "themselves", "ours": "theirs", "our": "their",
}  # fmt: skip


_ID_EDGES = "[](){}<>\"'`#*.,;:!?"
_ID_PARTS = re.compile(r"[\s,;|/]+|\]\s*\[")


def _id_key(text: str) -> str:
    """Normalise an id the way a model may have written it: no spaces, brackets, case."""
    return "".join(text.split()).strip(_ID_EDGES).casefold()


def resolve_source_ids(written: Sequence[str], ids: Sequence[str]) -> tuple[list[str], int]:
    """Map the source ids a model wrote onto the ids the request contained.

    Each written id is tried as it is, then normalised (spaces, surrounding brackets,
    quotes and punctuation removed, case folded), then split at commas, semicolons,
    spaces or ``][`` so that ``"e0, e1"`` and ``"[e0][e1]"`` name two events. A
    normalised form shared by two different ids resolves to neither.

    Args:
        written: the ids as the model wrote them.
        ids: the ids of the events in the request.

    Returns:
        The resolved ids (in the order written, without repeats) and how many written
        ids resolved to nothing.

    Example:
        >>> resolve_source_ids(["[E0]", " e1 ", "e9", "e0"], ["e0", "e1", "e2"])
        (['e0', 'e1'], 1)
    """
    exact = set(ids)
    loose: dict[str, str | None] = {}
    for event_id in ids:
        key = _id_key(event_id)
        loose[key] = event_id if loose.get(key, event_id) == event_id else None

    def one(text: str) -> str | None:
        return text if text in exact else loose.get(_id_key(text))

    found: list[str] = []
    unresolved = 0
    for text in written:
        hit = one(text)
        parts = [hit] if hit is not None else [one(p) for p in _ID_PARTS.split(text) if p]
        resolved = [part for part in parts if part is not None]
        found.extend(resolved)
        unresolved += not resolved
    return list(dict.fromkeys(found)), unresolved


def content_words(text: str) -> list[str]:
    """Return the words that carry content: three letters or more, not stop words, not numbers."""
    return [w for w in tokens(text) if len(w) > 2 and w not in STOP_WORDS and not w.isdigit()]


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(" ".join(text.split())) if s.strip()]


def _resolve(sentence: str, speaker: str) -> tuple[str, bool]:
    """Name the speaker at the first first-person word, "they" after; say whether any changed."""
    out: list[str] = []
    pos = 0
    for match in _PRONOUN.finditer(sentence):
        key = " ".join(match.group(0).lower().replace("’", "'").split())
        out.append(sentence[pos : match.start()])
        pos = match.end()
        if len(out) > 1:
            out.append(_THEY[key])
            continue
        replacement = _NAMED[key].format(s=speaker)
        verb = _I_VERB.match(sentence, match.start()) if key == "i" else None
        if verb is not None:
            word = verb.group(2)
            replacement = f"{speaker}{verb.group(1)} {_VERBS_S.get(word, word)}"
            pos = verb.end()
        out.append(replacement)
    if not out:
        return sentence, False
    out.append(sentence[pos:])
    return "".join(out), True


def facts_from_text(
    text: str, speaker: str | None, *, min_words: int = 2, first_person_only: bool = False
) -> list[tuple[str, bool]]:
    """Apply the deterministic rule to one event's text.

    Args:
        text: the event text.
        speaker: who said it; first-person words are left alone without one.
        min_words: content words a sentence needs.
        first_person_only: keep only sentences spoken in the first person.

    Returns:
        ``(fact, resolved)`` pairs in order; ``resolved`` says the first person was rewritten.

    Example:
        >>> facts_from_text("I moved to Porto. Isn't that mad?", "Ana")
        [('Ana moved to Porto.', True)]
    """
    out: list[tuple[str, bool]] = []
    for sentence in _sentences(text):
        if sentence.endswith("?") or len(content_words(sentence)) < min_words:
            continue
        fact, resolved = _resolve(sentence, speaker) if speaker else (sentence, False)
        if first_person_only and not resolved:
            continue
        out.append((fact, resolved))
    return out


class FactEncoder(Encoder):
    """Facts from events: one LLM request per chunk of events, or the sentence rule."""

    config_model: ClassVar[type[FactConfig]] = FactConfig
    config: FactConfig

    def _note(
        self,
        text: str,
        events: Sequence[Event],
        scope: Scope,
        subject: str | None,
        tied_to: str | None = None,
    ) -> Note:
        last = max(events, key=lambda e: (e.timestamp is not None, e.timestamp or 0, e.id))
        sources = list(dict.fromkeys(e.id for e in events))
        note_scope = scope.narrowed(last.session_id)
        metadata: dict[str, MetadataValue] = {}
        if last.speaker:
            metadata["speaker"] = last.speaker
        if subject:
            metadata["subject"] = subject
        if tied_to:
            metadata["sources"] = tied_to
        normalised = " ".join(content_words(text)) or text.lower()
        fields = {
            "id": stable_id("f", scope.user_id, scope.agent_id, "\x1e".join(sources), normalised),
            "content": text,
            "kind": "fact",
            "source_ids": sources,
            "scope": note_scope,
            "valid_from": last.timestamp,
            "keywords": keywords(text, self.config.keywords),
            "metadata": metadata,
        }
        if last.timestamp is not None:
            fields["created_at"] = last.timestamp
        return Note(**fields)

    def _by_rule(self, events: Sequence[Event], scope: Scope) -> list[Note]:
        notes = []
        for event in events:
            found = facts_from_text(
                event.content,
                event.speaker,
                min_words=self.config.min_words,
                first_person_only=self.config.first_person_only,
            )
            for text, resolved in found:
                notes.append(self._note(text, [event], scope, event.speaker if resolved else None))
        return notes

    def _ask(self, events: Sequence[Event], scope: Scope) -> list[Note]:
        lines = []
        for event in events:
            when = f"{event.timestamp:%Y-%m-%d} " if event.timestamp else ""
            lines.append(f"[{event.id}] {when}{event.speaker or 'unknown'}: {event.content}")
        llm = self.resources.llm
        assert llm is not None
        prompt = _PROMPT.format(messages="\n".join(lines))
        answer = llm.extract([{"role": "user", "content": prompt}], ExtractedFacts)
        by_id = {event.id: event for event in events}
        notes = []
        for fact in answer.facts:
            text = " ".join(fact.text.split())
            if not text:
                self.report_dropped(EMPTY_FACT)
                continue
            found, _ = resolve_source_ids(fact.source_ids, list(by_id))
            if found:
                notes.append(self._note(text, [by_id[i] for i in found], scope, None))
            else:
                notes.append(self._note(text, events, scope, None, tied_to="request"))
        return notes

    def encode(self, events: Sequence[Event], scope: Scope) -> list[Note]:
        if not llm_available(self.resources.llm):
            notes = self._by_rule(events, scope)
        elif self.config.per == "event":
            notes = [n for event in events for n in self._ask([event], scope)]
        else:
            size = self.config.chunk
            chunks = [events[i : i + size] for i in range(0, len(events), size)]
            notes = [n for chunk in chunks for n in self._ask(chunk, scope)]
        unique = list({note.id: note for note in notes}.values())
        owner = Scope(user_id=scope.user_id, agent_id=scope.agent_id)
        known = {n.id for n in self.resources.store.get([n.id for n in unique], owner)}
        return [note for note in unique if note.id not in known]
