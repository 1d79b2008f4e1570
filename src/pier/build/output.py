"""Where a build's progress goes, and how stages built side by side still read in order.

`BuildOutput` is what the API supplies (JSON `stream` and `aux` messages). Stages run
concurrently, but the output reads as the classic builder's: stage after stage. A
stage's lines go out as they come while every stage before it has finished;
otherwise they wait in its buffer and are flushed, in stage order, as soon as the
stages before it are done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, Protocol


class BuildOutput(Protocol):
    async def stream(self, text: str) -> None:
        """A line (or part of one) of the build's output, for the client's stdout."""
        ...

    async def aux(self, value: Mapping[str, Any]) -> None:
        """An `aux` message (`{"ID": "sha256:..."}` when an image is made)."""
        ...


class StageWriter(Protocol):
    async def __call__(self, text: str) -> None: ...


_Entry = tuple[str, Any]  # ("stream", text) or ("aux", value)


class OrderedOutput:
    """One writer per stage (in build order); writes of later stages are held back
    while an earlier stage still runs."""

    def __init__(self, out: BuildOutput, stages: Sequence[int]) -> None:
        self._out = out
        self._order = list(stages)
        self._buffers: dict[int, list[_Entry]] = {s: [] for s in stages}
        self._done: set[int] = set()
        self._live = self._order[0] if self._order else -1
        self._lock = asyncio.Lock()

    def writer(self, stage: int) -> StageWriter:
        async def write(text: str) -> None:
            await self._emit(stage, ("stream", text))

        return write

    async def aux(self, stage: int, value: Mapping[str, Any]) -> None:
        await self._emit(stage, ("aux", value))

    async def _emit(self, stage: int, entry: _Entry) -> None:
        async with self._lock:
            if stage == self._live:
                await self._send(entry)
            else:
                self._buffers[stage].append(entry)

    async def _send(self, entry: _Entry) -> None:
        kind, value = entry
        if kind == "aux":
            await self._out.aux(value)
        else:
            await self._out.stream(value)

    async def direct(self, text: str) -> None:
        """Output that belongs to no stage (meta ARG steps, the summary)."""
        async with self._lock:
            await self._out.stream(text)

    async def finished(self, stage: int) -> None:
        async with self._lock:
            self._done.add(stage)
            await self._advance()

    async def flush_all(self) -> None:
        """On failure: everything held back, in stage order."""
        async with self._lock:
            for stage in self._order:
                for entry in self._buffers[stage]:
                    await self._send(entry)
                self._buffers[stage].clear()

    async def _advance(self) -> None:
        while self._live in self._done:
            index = self._order.index(self._live)
            if index + 1 >= len(self._order):
                self._live = -1
                return
            self._live = self._order[index + 1]
            for entry in self._buffers[self._live]:
                await self._send(entry)
            self._buffers[self._live].clear()
