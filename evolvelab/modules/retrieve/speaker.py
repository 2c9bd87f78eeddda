"""``type: speaker`` — favour what the people a question names said.

A question about a person ("What did Tim suggest for the trip?") is most often answered by
something that person said, yet lexical and vector scores barely notice whose turn a note
is: the name is one word among many, and in a two-person conversation each person's name
is in half the turns. This refiner scales the score of every hit whose speaker the
question names, then re-ranks::

    score(n) *= 1 + boost      if speaker(n) is named and score(n) >= 0
    score(n) /= 1 + boost      if speaker(n) is named and score(n) < 0

so a named speaker's hit always moves up and the order among them is kept. The speaker
is ``metadata.speaker`` (the ``turn`` encoder writes it). A name matches as a whole word,
in any case; a name of several words also matches by its first word when that word is
three letters or more and not an abbreviation ("Ana Ruiz" is named by "Ana"; "Dr. Ruiz"
and "Mrs. Ruiz" only in full). When the query names every speaker among the hits, or
none, the order is unchanged.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from evolvelab.config import RetrieverConfig, Tunable
from evolvelab.stages import Retriever
from evolvelab.types import Hit, Query

__all__ = ["SpeakerConfig", "SpeakerRetriever", "names_speaker"]


class SpeakerConfig(RetrieverConfig):
    """Multiply the score of hits spoken by someone the query names.

    Example:
        ```yaml
        retrieve:
          - {type: bm25, k: 40}
          - {type: speaker, boost: 0.3, k: 20}
        ```
    """

    type: Literal["speaker"] = "speaker"
    boost: Annotated[float, Tunable(0.0, 1.0)] = Field(
        0.3, ge=0.0, le=10.0, description="A named speaker's hit scores x (1 + boost)."
    )
    field: str = Field(
        "speaker",
        min_length=1,
        description="The metadata key holding who said a note.",
    )
    k: Annotated[int, Tunable(5, 100, log=True)] = Field(
        20, ge=1, le=1000, description="How many notes to keep after re-ranking."
    )


@lru_cache(maxsize=4096)
def _pattern(name: str) -> re.Pattern[str]:
    words = name.split()
    options = [re.escape(name)]
    if len(words) > 1 and len(words[0]) >= 3 and words[0].isalpha():
        options.append(re.escape(words[0]))
    return re.compile(r"(?<!\w)(?:" + "|".join(options) + r")(?!\w)", re.IGNORECASE)


def names_speaker(text: str, speaker: str) -> bool:
    """Return whether ``text`` names ``speaker`` (whole words, any case).

    Example:
        >>> names_speaker("What did Tim suggest?", "Tim"), names_speaker("Timothy?", "Tim")
        (True, False)
    """
    return bool(speaker.strip()) and _pattern(speaker.strip()).search(text) is not None


class SpeakerRetriever(Retriever):
    """Boost hits whose speaker the query names, then re-rank."""

    config_model: ClassVar[type[SpeakerConfig]] = SpeakerConfig
    config: SpeakerConfig
    source = False

    def retrieve(self, query: Query, previous: list[Hit]) -> list[Hit]:
        boost = self.config.boost
        named: dict[str, bool] = {}
        boosted = []
        for hit in previous:
            speaker = hit.note.metadata.get(self.config.field)
            if isinstance(speaker, str) and speaker:
                if speaker not in named:
                    named[speaker] = names_speaker(query.text, speaker)
                if named[speaker]:
                    factor = 1.0 + boost
                    score = hit.score * factor if hit.score >= 0 else hit.score / factor
                    explain = {**hit.explain, "speaker_boost": score - hit.score}
                    hit = hit.model_copy(update={"score": score, "explain": explain})
            boosted.append(hit)
        boosted.sort(key=lambda h: -h.score)
        return boosted[: self.config.k]
