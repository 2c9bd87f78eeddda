"""Plain-text analysis shared by the deterministic (no-LLM) paths: tokens, stop words, keywords."""

from __future__ import annotations

import re
from collections import Counter

__all__ = ["STOP_WORDS", "keywords", "proper_nouns", "tokens"]

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_CAPITALISED = re.compile(r"(?<![.!?]\s)(?<!^)\b([A-Z][A-Za-z]+(?:\s+[A-Z][A-Za-z]+)*)")

STOP_WORDS = frozenset(
    """
    a about above after again against all also am an and any are aren't as at be because been
    before being below between both but by can can't cannot could couldn't did didn't do does
    doesn't doing don't down during each few for from further get got had hadn't has hasn't have
    haven't having he he'd he'll he's her here here's hers herself him himself his how how's i
    i'd i'll i'm i've if in into is isn't it it's its itself just let's like me more most much
    mustn't my myself no nor not now of off oh ok okay on once only or other ought our ours
    ourselves out over own really same shan't she she'd she'll she's should shouldn't so some
    such than that that's the their theirs them themselves then there there's these they they'd
    they'll they're they've this those through to too under until up us very was wasn't we we'd
    we'll we're we've well were weren't what what's when when's where where's which while who
    who's whom why why's will with won't would wouldn't yeah yes you you'd you'll you're you've
    your yours yourself yourselves
    """.split()
)


def tokens(text: str) -> list[str]:
    """Return the lower-cased alphanumeric tokens of ``text`` (apostrophes kept inside words)."""
    return _WORD.findall(text.lower())


def keywords(text: str, n: int) -> list[str]:
    """Return up to ``n`` salient words: frequent, long, not stop words; ties by first use."""
    words = [w for w in tokens(text) if w not in STOP_WORDS and len(w) > 2 and not w.isdigit()]
    counts = Counter(words)
    first = {w: i for i, w in reversed(list(enumerate(words)))}
    ranked = sorted(counts, key=lambda w: (-counts[w], -min(len(w), 8), first[w]))
    return ranked[:n]


def proper_nouns(text: str) -> list[str]:
    """Return capitalised words and phrases that do not start a sentence, in order of appearance."""
    seen: dict[str, None] = {}
    for match in _CAPITALISED.finditer(text):
        phrase = match.group(1)
        if phrase.lower() not in STOP_WORDS:
            seen.setdefault(phrase, None)
    return list(seen)
