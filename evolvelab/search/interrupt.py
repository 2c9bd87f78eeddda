"""SIGTERM during a search: stop like Ctrl-C, and never let the signal be swallowed.

``kill`` (SIGTERM) should stop ``evolvelab evolve`` the way Ctrl-C does: the running
trial's slot is put back and the command exits non-zero. Turning SIGTERM into
``KeyboardInterrupt`` does most of that, but Python cannot raise an exception out of a
finaliser or a weak-reference callback (a ``WeakSet`` tidying up, a ``__del__``): the
exception is printed as ``Exception ignored in ...`` and the program carries on, so a
SIGTERM that lands there near the end of a search used to exit 0 as if nothing happened.

:func:`terminate_as_interrupt` remembers that the signal came, so the caller checks
:attr:`Termination.received` after the search returns, and keeps the "ignored" noise of
that one interrupt off the terminal::

    with terminate_as_interrupt() as termination:
        evolve(...)
    if termination.received:
        sys.exit(143)
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

__all__ = ["SIGTERM_EXIT", "Termination", "terminate_as_interrupt"]

SIGTERM_EXIT = 128 + signal.SIGTERM
"""The exit status of a command stopped by SIGTERM (143), as shells report it."""


@dataclass
class Termination:
    """Whether SIGTERM arrived while :func:`terminate_as_interrupt` was active."""

    received: bool = False


@contextmanager
def terminate_as_interrupt() -> Iterator[Termination]:
    """Raise ``KeyboardInterrupt`` on SIGTERM inside the block, and remember that it came.

    Yields:
        The :class:`Termination` to check once the block is left, whether it ended
        with ``KeyboardInterrupt`` or (the signal swallowed by a finaliser) normally.
    """
    termination = Termination()
    previous_hook = sys.unraisablehook

    def on_term(signum: int, frame: FrameType | None) -> None:
        termination.received = True
        raise KeyboardInterrupt

    def unraisable(info: Any) -> None:
        if termination.received and issubclass(info.exc_type, KeyboardInterrupt):
            return  # our own interrupt, lost in a finaliser; the caller reports it
        previous_hook(info)

    previous = signal.signal(signal.SIGTERM, on_term)
    sys.unraisablehook = unraisable
    try:
        yield termination
    finally:
        signal.signal(signal.SIGTERM, previous)
        sys.unraisablehook = previous_hook
