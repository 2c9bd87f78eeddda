"""Generate experiential task streams: episodes with outcomes, annotated for memory.

Each task is an **episode** an agent lived through, written as stream records in the
order a replay meets them:

1. a ``query`` record (id ``T0007``): the goal, asked of memory *before* the episode;
   ``evidence`` lists the steps of other episodes that would help it and
   ``misleading`` the steps that would mislead it;
2. the episode's events (``session_id`` ``T0007``): a ``task`` event (id ``T0007``) with
   the goal, then ``action``, ``tool`` and ``observation`` steps (``T0007:01`` …, each with
   ``metadata.task_id`` and ``metadata.subproblem``, e.g. ``heat/microwave``), then an
   ``outcome`` event (``T0007:end``) whose ``metadata.success`` says how it went and, for
   a failure, ``metadata.failed_at`` names the sub-problem and the text gives the reason;
3. an ``outcome`` record for the query with the same success and reason.

Goals are drawn from the families of :mod:`evolvelab.datasets._task_world`: a goal is a
sequence of sub-problems (a skill and one of its variants), so later tasks share
sub-problems with earlier ones. An episode fails with probability ``fail_rate`` at one
of its sub-problems, through that variant's pitfall.

Annotations relate every task to every other episode (the evaluation keeps only the
episodes ingested before the task is asked, so the same file serves any replay order):

- an episode **helps** a task when it carried out one of the task's sub-problems
  correctly; its steps for that sub-problem are listed in ``evidence``;
- an episode that does not help **misleads** a task when it failed at one of the task's
  sub-problems (its failing steps and its outcome event are listed), or when it did the
  same skill by another variant on the same object or data (``heat/stove`` for a task
  that needs ``heat/microwave``, both on the mug): copying it would be wrong.

Write a stream with ``python -m evolvelab.datasets.tasks_generate --tasks 300 --seed 7
--out tasks.jsonl``; the bundled sample (``evolvelab/data/tasks-sample.jsonl``) is
``--tasks 60 --seed 11`` (a test rebuilds it byte for byte).
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from evolvelab.datasets._task_world import FAMILIES, Family, Variant
from evolvelab.errors import EvolveLabError
from evolvelab.stream import EventRecord, OutcomeRecord, QueryRecord, StreamHeader, write_stream

__all__ = ["AGENT", "SAMPLE_SEED", "SAMPLE_TASKS", "Episode", "build_tasks", "main", "write_tasks"]

AGENT = "solver"
"""The scope (``agent_id``) every generated record belongs to: one agent's experience."""
SAMPLE_SEED, SAMPLE_TASKS = 11, 60
START = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
_SLOT = re.compile(r"\{(\w+)\}")
Step = tuple[str, str, str]
"""A generated step: (event id, kind, text)."""
Line = StreamHeader | EventRecord | QueryRecord | OutcomeRecord
_SLOT_VARIANT = {"place": ("place", {"cabinet": "closed", "drawer": "closed"}, "open"),
                 "auth": ("data", {"sales": "oauth", "inventory": "oauth", "invoices": "oauth"},
                          "api key")}  # fmt: skip
"""Skills whose variant follows from a slot value (a closed cabinet, a data source's login)."""


@dataclass
class Episode:
    """One generated task: its goal, plan, steps and how it ended."""

    id: str
    family: str
    goal: str
    slots: dict[str, str]
    plan: list[Variant]
    success: bool
    failed_at: str | None
    reason: str
    segments: dict[str, list[str]] = field(default_factory=dict)
    """Sub-problem key → the ids of this episode's steps for it."""
    correct: set[str] = field(default_factory=set)
    """Sub-problems carried out correctly."""

    @property
    def surface(self) -> set[str]:
        """The object or data this episode worked on (what makes two tasks look alike)."""
        return {self.slots[s] for s in ("obj", "data") if s in self.slots}


def _fill(text: str, slots: dict[str, str]) -> str:
    return _SLOT.sub(lambda m: slots.get(m.group(1), m.group(0)), text)


def _plan(family: Family, skills: tuple[str, ...], slots: dict[str, str],
          rng: random.Random) -> list[Variant]:  # fmt: skip
    plan = []
    for skill in skills:
        variants = family.of(skill)
        if skill in _SLOT_VARIANT:
            slot, table, default = _SLOT_VARIANT[skill]
            name = table.get(slots.get(slot, ""), default)
            plan.append(next(v for v in variants if v.name == name))
        else:
            plan.append(rng.choice(variants))
    return plan


def _episode(number: int, rng: random.Random, fail_rate: float,
             prefix: str = "") -> tuple[Episode, list[Step]]:  # fmt: skip
    family = FAMILIES[rng.choice(sorted(FAMILIES))]
    goal = rng.choice(family.goals)
    slots = {name: rng.choice(values) for name, values in family.slots.items()}
    plan = _plan(family, goal.skills, slots, rng)
    for variant in plan:
        slots.setdefault(variant.skill, variant.name)
    fails = rng.random() < fail_rate
    failing = rng.randrange(len(plan)) if fails else None
    task_id = f"{prefix}T{number:04d}"
    episode = Episode(task_id, family.name, _fill(goal.text, slots), slots, plan,
                      success=not fails, failed_at=None, reason="")  # fmt: skip
    steps: list[Step] = []
    for index, variant in enumerate(plan):
        wrong = index == failing
        for kind, text in variant.pitfall if wrong else variant.steps:
            step_id = f"{task_id}:{len(steps) + 1:02d}"
            steps.append((step_id, kind, _fill(text, slots)))
            episode.segments.setdefault(variant.key, []).append(step_id)
        if wrong:
            episode.failed_at, episode.reason = variant.key, variant.reason
            break
        episode.correct.add(variant.key)
    return episode, steps


def _annotate(task: Episode, others: list[Episode], routine: frozenset[str]) -> tuple[list[str], list[str]]:
    """Return the helpful and the misleading step ids of ``others`` for ``task``.

    An episode may hold both: steps that help with one sub-problem and steps that would
    mislead on another. Routine skills are left out of both.
    """
    plan = [v for v in task.plan if v.skill not in routine]
    needs = {v.key for v in plan}
    wanted = {v.skill: v.key for v in plan}
    helpful: list[str] = []
    misleading: list[str] = []
    for other in others:
        helpful.extend(i for key in sorted(needs & other.correct) for i in other.segments[key])
        if other.failed_at in needs:
            misleading.extend([*other.segments[other.failed_at], f"{other.id}:end"])
        if task.surface & other.surface:
            for variant in other.plan:
                if variant.key in other.segments and wanted.get(variant.skill) not in (None, variant.key):
                    misleading.extend(other.segments[variant.key])
    return helpful, misleading


def _blocks(tasks: int, rng: random.Random, fail_rate: float, prefix: str,
            scope: dict[str, str]) -> tuple[list[list[Line]], int]:  # fmt: skip
    """Return one agent's task blocks (query, events, outcome per task) and its failures."""
    built = [_episode(n, rng, fail_rate, prefix) for n in range(1, tasks + 1)]
    episodes = [episode for episode, _ in built]
    blocks: list[list[Line]] = []
    for number, (episode, steps) in enumerate(built):
        when = START + timedelta(hours=number)
        others = [e for e in episodes if e.id != episode.id]
        helpful, misleading = _annotate(episode, others, FAMILIES[episode.family].routine)
        block: list[Line] = [QueryRecord(id=episode.id, text=episode.goal, at=when, evidence=helpful,
                                         misleading=misleading, category=episode.family,
                                         **scope)]  # fmt: skip
        common = {"session_id": episode.id, **scope}
        block.append(EventRecord(id=episode.id, content=episode.goal, kind="task", timestamp=when,
                                 metadata={"family": episode.family}, **common))  # fmt: skip
        keys = {i: key for key, ids in episode.segments.items() for i in ids}
        for minute, (step_id, kind, text) in enumerate(steps, start=1):
            block.append(EventRecord(
                id=step_id, content=text, kind=kind, timestamp=when + timedelta(minutes=minute),
                metadata={"task_id": episode.id, "subproblem": keys[step_id]}, **common))  # fmt: skip
        end = when + timedelta(minutes=len(steps) + 1)
        text = "success: the goal is done" if episode.success else f"failed: {episode.reason}"
        metadata: dict[str, str | bool] = {"task_id": episode.id, "success": episode.success}
        if episode.failed_at is not None:
            metadata["failed_at"] = episode.failed_at
        block.append(EventRecord(id=f"{episode.id}:end", content=text, kind="outcome",
                                 timestamp=end, metadata=metadata, **common))  # fmt: skip
        block.append(OutcomeRecord(query_id=episode.id, success=episode.success,
                                   score=1.0 if episode.success else 0.0, at=end,
                                   detail=episode.reason, **scope))  # fmt: skip
        blocks.append(block)
    return blocks, sum(not e.success for e in episodes)


def build_tasks(tasks: int = SAMPLE_TASKS, seed: int = SAMPLE_SEED, *, fail_rate: float = 0.3,
                users: int = 1, name: str | None = None) -> list[Line]:  # fmt: skip
    """Build a task stream's records: a header, then per task its query, events and outcome.

    Args:
        tasks: how many tasks (episodes) per user.
        seed: seeds every choice; the same arguments always give the same records.
        fail_rate: the chance that an episode fails at one of its sub-problems.
        users: how many independent agents' experience to write. One: the scope is
            ``agent_id: solver``. More: user ``user<u>`` each (agent ``solver``), task ids
            ``U<u>-T0001`` …, tasks interleaved in turn (so an evolve spec can split by user).
        name: the stream's name (default ``tasks-<tasks>-seed<seed>``, plus ``-users<N>``).

    Raises:
        EvolveLabError: for fewer than 2 tasks or 1 user, or a fail rate outside [0, 1].
    """
    if tasks < 2 or users < 1:
        raise EvolveLabError(f"a task stream needs at least 2 tasks and 1 user, got {tasks}, {users}")
    if not 0.0 <= fail_rate <= 1.0:
        raise EvolveLabError(f"fail rate must be between 0 and 1, got {fail_rate}")
    per_user: list[list[list[Line]]] = []
    failed = 0
    for user in range(1, users + 1):
        if users == 1:
            rng, prefix, scope = random.Random(seed), "", {"agent_id": AGENT}
        else:
            rng, prefix = random.Random(f"{seed}:{user}"), f"U{user}-"
            scope = {"user_id": f"user{user}", "agent_id": AGENT}
        blocks, lost = _blocks(tasks, rng, fail_rate, prefix, scope)
        per_user.append(blocks)
        failed += lost
    suffix = f"-users{users}" if users > 1 else ""
    header = StreamHeader(
        name=name or f"tasks-{tasks}-seed{seed}{suffix}",
        description=f"Generated experiential task stream (evolvelab.datasets.tasks_generate, "
        f"seed {seed}): {tasks * users} episodes of household, tool-use and puzzle tasks, {failed} "
        "failed; queries annotate helpful (evidence) and misleading steps of other episodes.",
    )
    records: list[Line] = [header]
    for number in range(tasks):
        for blocks in per_user:
            records.extend(blocks[number])
    return records


def write_tasks(path: str | Path, tasks: int = SAMPLE_TASKS, seed: int = SAMPLE_SEED,
                *, fail_rate: float = 0.3, users: int = 1) -> Path:  # fmt: skip
    """Write a generated task stream to ``path`` and return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_stream(target, build_tasks(tasks, seed, fail_rate=fail_rate, users=users))
    return target


def _default_out() -> Path:
    return Path(__file__).resolve().parents[1] / "data" / "tasks-sample.jsonl"


def main(argv: list[str] | None = None) -> int:
    """Write a task stream (``python -m evolvelab.datasets.tasks_generate``)."""
    parser = argparse.ArgumentParser(prog="python -m evolvelab.datasets.tasks_generate",
                                     description="Generate an experiential task stream.")  # fmt: skip
    parser.add_argument("--tasks", type=int, default=SAMPLE_TASKS, help="number of tasks")
    parser.add_argument("--seed", type=int, default=SAMPLE_SEED, help="random seed")
    parser.add_argument("--fail-rate", type=float, default=0.3, help="chance an episode fails")
    parser.add_argument("--users", type=int, default=1,
                        help="independent agents (user scopes), tasks interleaved")  # fmt: skip
    parser.add_argument("--out", type=Path, default=None,
                        help="where to write (default: the bundled sample)")  # fmt: skip
    args = parser.parse_args(argv)
    try:
        path = write_tasks(args.out or _default_out(), args.tasks, args.seed,
                           fail_rate=args.fail_rate, users=args.users)  # fmt: skip
    except EvolveLabError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {path}: {args.tasks} tasks x {args.users} user(s) (seed {args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
