"""Write the bundled sample stream (``evolvelab/data/sample.jsonl``) from the script beside it.

The sample is two invented friendships, ten sessions each over most of 2023, with gold
queries (docs/streams.md describes it). Its script is data and lives here, in the
checkout, not in the installed package; the package ships only the generated file.
Run from anywhere, with EvolveLab installed::

    python tools/sample/generate.py                                   # rewrites the bundled file
    python tools/sample/generate.py --out /tmp/sample.jsonl --seed 7  # another variant

and commit the script and ``evolvelab/data/sample.jsonl`` together: ``tests/test_sample.py``
runs this file and compares what it writes byte for byte with the committed stream.

The script is three YAML files: one per user (``ana.yaml``, ``ben.yaml``: the two speakers,
the conversation, the queries asked afterwards) and ``chitchat.yaml`` (small talk both
conversations draw from). A conversation's ``script`` is a tiny notation, one turn per line::

    @ 2023-01-14 10:05            a session starts (date and time of its first turn)
    A [ana.job]: I'm a pharmacist.  speaker A says it; the label lets queries cite it
    B {a cat on a radiator}: Look!  the braces hold an image caption (metadata "caption")
    ~                               seeded chit-chat goes here (one or two exchanges)

Event ids are ``user:S<session>:<turn>``; each turn follows the last by 25 to 150 seconds
(seeded). A query's ``evidence`` names labels, which become the labelled turns' event ids;
queries are asked the day after the user's last session.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from evolvelab.errors import ConfigError, Problem
from evolvelab.located import Located, parse_yaml, read_yaml_file
from evolvelab.stream import EventRecord, QueryRecord, StreamHeader, write_stream

__all__ = ["SCRIPT", "SEED", "build_sample", "load_script", "main", "write_sample"]

SEED = 20230114
"""The seed of the committed file."""
SCRIPT = Path(__file__).resolve().parent
"""The folder holding the script's YAML files."""
USERS = ("ana", "ben")
"""The conversations, in the order the generator reads them (the order feeds the seeded
choices, so it is part of what makes the committed file)."""
BUNDLED = SCRIPT.parents[1] / "evolvelab" / "data" / "sample.jsonl"
"""Where the package's copy lives in this checkout."""

_TURN = re.compile(
    r"^(?P<who>[AB])(?: \[(?P<label>[\w.]+)\])?(?: \{(?P<caption>[^}]+)\})?: (?P<text>.+)$"
)
_STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)


class ScriptQuery(BaseModel):
    """A question asked of one user's memory, with its short answer and gold evidence."""

    model_config = _STRICT
    category: Literal["single-hop", "multi-hop", "temporal", "knowledge-update", "adversarial"]
    question: str = Field(min_length=1)
    answer: str = Field(min_length=1)
    evidence: list[str] = Field(description="labels of the turns that answer it; [] if none")


class ScriptConversation(BaseModel):
    """One user scope: who talks (``A`` and ``B``), what they say, what is asked afterwards."""

    model_config = _STRICT
    user: str = Field(pattern=r"^[a-z]+$")
    speakers: list[str] = Field(min_length=2, max_length=2)
    script: str
    queries: list[ScriptQuery]


class Exchange(BaseModel):
    """One bit of chit-chat; ``follow_up`` gives the opener's speaker the last word."""

    model_config = _STRICT
    opener: str
    reply: str
    follow_up: str


class Chitchat(BaseModel):
    """Small talk for the script's ``~`` lines and the values of its ``{slots}``."""

    model_config = _STRICT
    filler: list[Exchange] = Field(min_length=1)
    slots: dict[str, list[str]]

    @model_validator(mode="after")
    def _every_slot_has_values(self) -> Chitchat:
        names = {name for name in self.slots if not name.startswith("weather_")}
        if {"weather_cold", "weather_mild", "weather_warm"} <= set(self.slots):
            names.add("weather")  # filled from the list for the session's season
        for exchange in self.filler:
            for text in (exchange.opener, exchange.reply, exchange.follow_up):
                unknown = set(re.findall(r"\{(\w+)\}", text)) - names
                if unknown:
                    raise ValueError(f"{text!r} uses {sorted(unknown)}; slots are {sorted(names)}")
        if any(not values for values in self.slots.values()):
            raise ValueError("every slot needs at least one value")
        return self


@dataclass(frozen=True)
class Script:
    """The whole script; each conversation with its parsed file (for error positions)."""

    conversations: list[tuple[ScriptConversation, Located]]
    chitchat: Chitchat


_Model = TypeVar("_Model", bound=BaseModel)


def _load(path: Path, model: type[_Model]) -> tuple[_Model, Located]:
    """Read one YAML file of the script into ``model``, or raise a located ``ConfigError``."""
    located = parse_yaml(read_yaml_file(path), file=str(path))
    if located.problems:
        raise ConfigError(located.problems)
    try:
        return model.model_validate(located.data), located
    except ValidationError as err:
        problems = [located.problem(tuple(e["loc"]), e["msg"]) for e in err.errors()]
        raise ConfigError(problems) from err


def load_script(folder: Path = SCRIPT) -> Script:
    """Read and check the script's YAML files in ``folder``.

    Raises:
        ConfigError: with the file, line and column of every problem found.
    """
    conversations = [_load(folder / f"{user}.yaml", ScriptConversation) for user in USERS]
    for user, (conv, located) in zip(USERS, conversations, strict=True):
        if conv.user != user:
            raise ConfigError([located.problem(("user",), f"expected {user!r} (the file's name)")])
    chitchat, _ = _load(folder / "chitchat.yaml", Chitchat)
    return Script(conversations=conversations, chitchat=chitchat)


def build_sample(
    seed: int = SEED, folder: Path = SCRIPT
) -> list[StreamHeader | EventRecord | QueryRecord]:
    """Build the sample stream's records: header, events (sessions by time), queries.

    Args:
        seed: seeds the chit-chat choices and turn timings; the default gives the
            committed file.
        folder: where the script's YAML files are.

    Raises:
        ConfigError: if the script is malformed or a query cites an unknown label.
    """
    script = load_script(folder)
    rng = random.Random(seed)
    sessions: list[tuple[datetime, str, list[EventRecord]]] = []
    queries: list[QueryRecord] = []
    for conv, located in script.conversations:
        labels: dict[str, str] = {}
        built = _Expander(conv, located, script.chitchat, rng).sessions(labels)
        sessions += built
        asked = built[-1][0].replace(hour=9, minute=0) + timedelta(days=1)
        for number, query in enumerate(conv.queries, start=1):
            missing = [name for name in query.evidence if name not in labels]
            if missing:
                path = ("queries", number - 1, "evidence")
                raise ConfigError([located.problem(path, f"no turn is labelled {missing}")])
            queries.append(QueryRecord(
                id=f"{conv.user}:q{number:02d}", text=query.question, user_id=conv.user,
                at=asked, evidence=[labels[n] for n in query.evidence], answer=query.answer,
                category=query.category,
            ))  # fmt: skip
    sessions.sort(key=lambda s: (s[0], s[1]))
    header = StreamHeader(
        name="evolvelab-sample",
        description=(
            "Two invented multi-session chats (users 'ana' and 'ben') with gold-evidence "
            f"queries; generated by tools/sample/generate.py with seed {seed}."
        ),
    )
    return [header, *(e for _, _, events in sessions for e in events), *queries]


def write_sample(path: str | Path, seed: int = SEED, folder: Path = SCRIPT) -> Path:
    """Write the sample stream to ``path`` and return the path."""
    write_stream(path, build_sample(seed, folder))
    return Path(path)


class _Expander:
    """Expands one conversation's script into timed, numbered event records."""

    def __init__(
        self, conv: ScriptConversation, located: Located, chitchat: Chitchat, rng: random.Random
    ) -> None:
        self.conv, self.located, self.chitchat, self.rng = conv, located, chitchat, rng

    def sessions(self, labels: dict[str, str]) -> list[tuple[datetime, str, list[EventRecord]]]:
        """Return the sessions as ``(start, id, events)``; fill ``labels`` with label → id."""
        conv, rng = self.conv, self.rng
        numbered = [(n, line.strip()) for n, line in enumerate(conv.script.splitlines())]
        lines = [(n, line) for n, line in numbered if line]
        turns = [_TURN.match(line) for _, line in lines]
        filler: list[Exchange] = []
        sessions: list[tuple[datetime, str, list[EventRecord]]] = []
        clock, session, events = datetime.min, "", []
        for i, ((n, line), match) in enumerate(zip(lines, turns, strict=True)):
            if line.startswith("@"):
                try:
                    clock = datetime.fromisoformat(line[1:].strip())
                except ValueError as err:
                    raise self._problem(n, f"not a date and time: {line[1:].strip()!r}") from err
                session, events = f"{conv.user}:S{len(sessions) + 1}", []
                sessions.append((clock, session, events))
            elif not session:
                raise self._problem(n, "the script must start with a session line ('@ DATE TIME')")
            elif line == "~":
                if not events:
                    raise self._problem(n, "chit-chat ('~') needs a turn before it in its session")
                # Chit-chat starts with the other speaker and hands back to whoever speaks next.
                last = events[-1].speaker or ""
                other = conv.speakers[1] if last == conv.speakers[0] else conv.speakers[0]
                upcoming = next((m for m in turns[i + 1 :] if m), None)
                chat: list[tuple[str, str]] = []
                follow_up = ""
                for _ in range(rng.choice((1, 1, 1, 1, 1, 2))):
                    filler = filler or rng.sample(self.chitchat.filler, len(self.chitchat.filler))
                    exchange = filler.pop()
                    opener, reply, follow_up = (
                        self._fill(t, clock)
                        for t in (exchange.opener, exchange.reply, exchange.follow_up)
                    )
                    chat += [(other, opener), (last, reply)]
                if upcoming and self._speaker(upcoming) == last:
                    chat.append((other, follow_up))
                for who, text in chat:
                    clock = self._say(events, session, clock, who, text)
            elif match is None:
                raise self._problem(n, f"cannot read script line {line!r}")
            else:
                caption = {"caption": match["caption"]} if match["caption"] else {}
                clock = self._say(events, session, clock, self._speaker(match), match["text"],
                                  caption)  # fmt: skip
                if match["label"] in labels:
                    raise self._problem(n, f"label {match['label']!r} used twice")
                if match["label"]:
                    labels[match["label"]] = events[-1].id
        if not sessions:
            raise ConfigError([self.located.problem(("script",), "the script has no session")])
        return sessions

    def _problem(self, number: int, message: str) -> ConfigError:
        """A problem at line ``number`` (0-based) of the script, placed in its YAML file.

        A ``script: |`` block starts on the line after its key; where the file's line there
        is not the script's line (another scalar style), the problem points at the key.
        """
        file, start = self.located.file, self.located.values.get(("script",))
        wanted = self.conv.script.splitlines()[number].strip()
        if start is not None:
            line = start[0] + 1 + number
            raw = Path(file).read_text(encoding="utf-8").splitlines()
            if line <= len(raw) and raw[line - 1].strip() == wanted:
                col = len(raw[line - 1]) - len(raw[line - 1].lstrip()) + 1
                return ConfigError([Problem(file, ("script",), message, line=line, col=col)])
        return ConfigError([self.located.problem(("script",), message)])

    def _speaker(self, match: re.Match[str]) -> str:
        """Return the name behind a script turn's ``A`` or ``B``."""
        return self.conv.speakers[0] if match["who"] == "A" else self.conv.speakers[1]

    def _say(
        self, events: list[EventRecord], session: str, clock: datetime, who: str, text: str,
        metadata: dict[str, str] | None = None,
    ) -> datetime:  # fmt: skip
        """Append one turn to ``events`` and return the clock for the next one."""
        events.append(EventRecord(
            id=f"{session}:{len(events) + 1}", content=text, speaker=who, timestamp=clock,
            session_id=session, metadata=metadata or {}, user_id=self.conv.user,
        ))  # fmt: skip
        return clock + timedelta(seconds=self.rng.randint(25, 150))

    def _fill(self, template: str, when: datetime) -> str:
        """Fill a chit-chat template's ``{slots}``, picking weather that suits the month."""
        season = "cold" if when.month in (11, 12, 1, 2, 3) else "mild"
        season = "warm" if when.month in (6, 7, 8) else season
        slots = self.chitchat.slots
        values: dict[str, str] = {}
        for slot in re.findall(r"\{(\w+)\}", template):
            name = f"weather_{season}" if slot == "weather" else slot
            values[slot] = self.rng.choice(slots[name])
        return template.format(**values)


def main(argv: list[str] | None = None) -> int:
    """Regenerate the sample stream (``python tools/sample/generate.py --out PATH``)."""
    parser = argparse.ArgumentParser(prog="python tools/sample/generate.py",
                                     description=main.__doc__)  # fmt: skip
    parser.add_argument("--out", type=Path, default=BUNDLED, help=f"default: {BUNDLED}")
    parser.add_argument("--seed", type=int, default=SEED, help="default: %(default)s")
    args = parser.parse_args(argv)
    try:
        path = write_sample(args.out, args.seed)
    except ConfigError as err:
        print(err.render(), file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
