"""``type: note`` — A-MEM notes: content plus keywords, tags and context.

A-MEM (Xu et al., 2025) builds each memory as a note m = {content, time, keywords K,
tags G, context X} and embeds the enriched note, f(concat(c, K, G, X)).

With an LLM configured, one structured request per event returns the attributes (the
``NoteAttributes`` schema below; the prompt asks, like A-MEM's ``analyze_content``, for
keywords most important first without speaker names or times, broad category tags, and
one sentence of context). Without one, a documented deterministic rule fills them:

- keywords: the most frequent content words that are not stop words (longer words first
  on ties, then first use);
- tags: capitalised names and phrases in the text, then the speaker, the event kind;
- context: "<speaker> said this in session <session> on <date>." from what the event knows.

With ``embed_attributes`` (the default) the note is embedded over :func:`enriched_text`:
content, context, keywords and tags. The ``zettelkasten_link`` manager re-embeds notes it
evolves with the same function, so both always agree on what a vector stands for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import BaseModel, Field

from evolvelab.config import EncoderConfig
from evolvelab.llm import llm_available
from evolvelab.modules.encode.turn import note_from_event, render_event
from evolvelab.stages import Encoder
from evolvelab.text import keywords, proper_nouns
from evolvelab.types import Event, Note, Scope

__all__ = ["NoteAttributes", "NoteConfig", "NoteEncoder", "enriched_text"]


class NoteConfig(EncoderConfig):
    """Build A-MEM notes (keywords, tags, context), through the LLM when one is configured.

    Example:
        ```yaml
        encode:
          - {type: note, keywords: 5, tags: 3}
        ```
    """

    type: Literal["note"] = "note"
    keywords: int = Field(5, ge=0, le=20, description="How many keywords to keep.")
    tags: int = Field(3, ge=0, le=20, description="How many tags to keep.")
    speaker: bool = Field(True, description="Prefix the content with 'speaker: '.")
    metadata: list[str] = Field(
        default_factory=list, description="Event metadata keys appended to the content."
    )
    embed_attributes: bool = Field(
        True,
        description="Embed content plus context, keywords and tags (A-MEM), not content alone.",
    )


class NoteAttributes(BaseModel):
    """What the LLM returns for one event."""

    keywords: list[str] = Field(
        description="Salient keywords (nouns, verbs, key concepts), most important first; "
        "no speaker names, no times."
    )
    tags: list[str] = Field(description="Broad category tags: domain, format, type.")
    context: str = Field(
        description="One sentence: the topic, its key points, and who is involved or why."
    )


_PROMPT = (
    "You write memory notes for an assistant. Analyse the message below and return:\n"
    "- keywords: up to {keywords} specific nouns, verbs or key concepts, the most important "
    "first; leave out speaker names and times;\n"
    "- tags: up to {tags} broad categories the message belongs to (its domain, format or "
    "type), for grouping related memories;\n"
    "- context: one sentence saying what the message is about, its key points, and who is "
    "involved or why it matters.\n\n"
    "Speaker: {speaker}\nTime: {time}\nMessage: {content}"
)


def enriched_text(note: Note) -> str:
    """Return the text A-MEM embeds for a note: content, context, keywords and tags.

    Example:
        >>> enriched_text(Note(id="n1", content="Ana: I adopted a cat.", context="Pets.",
        ...                    keywords=["cat", "adopted"], tags=["pets"]))
        'Ana: I adopted a cat.\\nPets.\\ncat adopted\\npets'
    """
    parts = [note.content, note.context, " ".join(note.keywords), " ".join(note.tags)]
    return "\n".join(part for part in parts if part)


class NoteEncoder(Encoder):
    """One A-MEM note per event."""

    config_model: ClassVar[type[NoteConfig]] = NoteConfig
    config: NoteConfig

    def _deterministic(self, event: Event, text: str) -> NoteAttributes:
        tags = [*proper_nouns(event.content)]
        if event.speaker:
            tags.append(event.speaker)
        tags.append(event.kind)
        where = f" in session {event.session_id}" if event.session_id else ""
        when = f" on {event.timestamp:%d %B %Y}" if event.timestamp else ""
        who = event.speaker or "Someone"
        return NoteAttributes(
            keywords=keywords(text, self.config.keywords),
            tags=list(dict.fromkeys(tags))[: self.config.tags],
            context=f"{who} said this{where}{when}.",
        )

    def _ask(self, event: Event) -> NoteAttributes:
        prompt = _PROMPT.format(
            keywords=self.config.keywords,
            tags=self.config.tags,
            speaker=event.speaker or "unknown",
            time=event.timestamp.isoformat() if event.timestamp else "unknown",
            content=event.content,
        )
        llm = self.resources.llm
        assert llm is not None
        answer = llm.extract([{"role": "user", "content": prompt}], NoteAttributes)
        return NoteAttributes(
            keywords=answer.keywords[: self.config.keywords],
            tags=answer.tags[: self.config.tags],
            context=answer.context,
        )

    def encode(self, events: Sequence[Event], scope: Scope) -> list[Note]:
        """Return one note per event, with keywords, tags and context filled in."""
        use_llm = llm_available(self.resources.llm)
        notes: list[Note] = []
        for event in events:
            text = render_event(
                event, speaker=self.config.speaker, date=False, metadata=self.config.metadata
            )
            attrs = self._ask(event) if use_llm else self._deterministic(event, event.content)
            note = note_from_event(event, scope, text, "note").model_copy(
                update={"keywords": attrs.keywords, "tags": attrs.tags, "context": attrs.context}
            )
            notes.append(note)
        if self.config.embed_attributes and notes:
            vectors = self.resources.embedder.embed([enriched_text(n) for n in notes])
            notes = [
                n.model_copy(update={"embedding": [float(x) for x in v]})
                for n, v in zip(notes, vectors, strict=True)
            ]
        return notes
