"""``type: decay``: the periodic step of a store whose notes fade.

Each run asks the store (any store offering
:class:`~evolvelab.modules.store.layered_decay.Decaying`, e.g. ``layered_decay``) for one
decay step over the owner of the scope just written: FinMem's decay, clean-up,
promotion and demotion, or MemoryBank's forgetting. On feedback it passes the outcome on,
so FinMem's importance follows results and MemoryBank can count use as recall.

Time is the owner's pipeline clock (which follows its event timestamps) or, with
``clock: scope``, the newest event time among the scope's notes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import Field

from evolvelab.config import ManagerConfig
from evolvelab.modules.store.layered_decay import Decaying
from evolvelab.stages import Manager, ManageReport
from evolvelab.types import Note, Outcome, Scope

__all__ = ["DecayConfig", "DecayManager"]


class DecayConfig(ManagerConfig):
    """Run the store's decay step: delete, move and forget notes as time passes.

    Example:
        ```yaml
        store: {type: layered_decay, mode: finmem}
        manage:
          - {type: decay, every: 1, clock: scope}
        ```
    """

    type: Literal["decay"] = "decay"
    clock: Literal["pipeline", "scope"] = Field(
        "pipeline",
        description="pipeline: decay to the owner's pipeline clock (its newest event seen); "
        "scope: to the newest event among the scope's own notes, when that is earlier.",
    )


class DecayManager(Manager):
    """Drive a decaying store: one step per run, feedback passed on."""

    config_model: ClassVar[type[DecayConfig]] = DecayConfig
    config: DecayConfig
    requires = (Decaying,)

    def manage(self, scope: Scope) -> ManageReport:
        """Run one decay step over every session of ``scope``'s owner.

        Returns:
            The store's report (``deleted``, ``updated``, reasons and layer counts in
            ``detail``).
        """
        store = self.resources.find(Decaying)
        owner = Scope(user_id=scope.user_id, agent_id=scope.agent_id)
        now = self.resources.clock.now(owner)
        return store.decay(owner, now, scope_clock=self.config.clock == "scope")

    def on_feedback(self, outcome: Outcome, notes: Sequence[Note]) -> ManageReport:
        """Pass the outcome of a task to the store for the notes that were used."""
        store = self.resources.find(Decaying)
        return store.reinforce(notes, outcome, outcome.at or self.resources.clock.now(outcome.scope))
