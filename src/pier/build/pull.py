"""A base image that is not here is pulled through the distribution service, and its
progress becomes lines of the build's output, as the classic builder shows a pull."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol

from pier.build.output import BuildOutput
from pier.distribution import manifests as mf
from pier.distribution.auth import AuthConfig
from pier.distribution.progress import Progress
from pier.distribution.pull import PullRequest
from pier.oci import reference as refs


class Distribution(Protocol):
    async def pull(self, req: PullRequest, progress: Progress) -> None: ...


class _Lines:
    """Pull messages as text lines, written in order by one task (Progress is called
    synchronously)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()

    def message(self, ident: str, status: str) -> None:
        self.queue.put_nowait(f"{ident}: {status}\n" if ident else f"{status}\n")

    def update(self, ident: str, status: str, current: int, total: int) -> None:
        return None  # progress bars are for a terminal; the build stream has lines

    def aux(self, body: Mapping[str, Any]) -> None:
        return None


class DistributionPuller:
    def __init__(self, distribution: Distribution) -> None:
        self._distribution = distribution

    async def pull(self, ref: str, *, platform: str, out: BuildOutput) -> None:
        named = refs.parse_normalized(ref).with_default_tag()
        lines = _Lines()

        async def relay() -> None:
            while (text := await lines.queue.get()) is not None:
                await out.stream(text)

        writer = asyncio.create_task(relay())
        try:
            await self._distribution.pull(
                PullRequest(
                    ref=named,
                    auth=AuthConfig(),
                    platform=mf.parse_platform(platform) if platform else None,
                ),
                lines,
            )
        finally:
            lines.queue.put_nowait(None)
            await writer
