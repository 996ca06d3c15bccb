"""An engine's outcomes, started before anyone iterates them.

Imports no Dagster: the CLI starts the engine with it before it imports Dagster, so the first
vendor calls do not wait for Dagster to start (pipelines/orchestration/run.py). The outcomes are
then taken in the thread that runs the asset's body, where Dagster turns a stop signal into an
interrupt: the engine's own graceful stop (pipelines/engine/engine.py) handles it there.
"""

from __future__ import annotations

from typing import Iterator

from pipelines.engine.engine import Engine
from pipelines.engine.outcome import Outcome
from pipelines.plan.plan import Planned


class Outcomes:
    """`engine` building `to_build` from construction on; iterated once. `waiting()` says whether
    more outcomes have landed than were taken; `drain()` stops the engine after an early exit and
    returns what nobody took."""

    def __init__(self, engine: Engine, to_build: list[Planned], context: dict[str, Planned]):
        self.engine, self._taken = engine, False
        engine.start(to_build, context)

    def waiting(self) -> bool:
        return self.engine.waiting()

    def __iter__(self) -> Iterator[Outcome]:
        if self._taken:  # once: a second reader would wait for an end already taken
            return iter(self.drain())
        self._taken = True
        return self.engine.results()

    def drain(self) -> list[Outcome]:
        return self.engine.drain()
