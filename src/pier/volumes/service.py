"""VolumeService: Docker's volumes with the `local` driver.

A volume is a record in pier.db and a directory `<data-root>/volumes/<name>/_data`.
Records are kept in memory (requests never scan the database); the directory is made
before the record is written and removed after the record is deleted, so a crash
leaves at worst an unrecorded directory, never a record without its data.

Who uses a volume is asked of the container store (`users_of`), never counted here:
the containers' records are the truth after a restart. Copy-up (image content copied
into a new, empty volume) is marked by a file beside `_data` while it runs, so a copy a
crash interrupted is started again, never taken for done.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pier import timefmt
from pier.errors import Conflict, InvalidParameter, NoSuchVolume, NotFound
from pier.events import EventBus
from pier.metadata import Database
from pier.volumes import names
from pier.volumes.local import LocalDriver, check_options
from pier.volumes.model import ANONYMOUS_LABEL, NewVolume, Volume
from pier.volumes.store import VolumeStore

_COPYING = "copy-up.incomplete"


@dataclass(frozen=True, slots=True, kw_only=True)
class Pruned:
    names: tuple[str, ...]
    reclaimed: int


class VolumeService:
    def __init__(
        self,
        *,
        root: Path,
        db: Database,
        events: EventBus,
        users_of: Callable[[str], list[str]],
        running_users_of: Callable[[str], list[str]],
    ) -> None:
        self._driver = LocalDriver(root)
        self._store = VolumeStore(db)
        self._events = events
        self._users_of = users_of
        self._running_users_of = running_users_of
        self._volumes = self._store.load()
        self._locks: dict[str, asyncio.Lock] = {}

    # -- lookups -------------------------------------------------------------------

    def get(self, name: str) -> Volume:
        volume = self._volumes.get(name)
        if volume is None:
            raise NoSuchVolume(name)
        return volume

    def list(self) -> builtins.list[Volume]:
        return sorted(self._volumes.values(), key=lambda v: v.name)

    def mountpoint(self, name: str) -> Path:
        return self._driver.data_path(name)

    def users(self, name: str) -> builtins.list[str]:
        return self._users_of(name)

    async def usage(self, name: str) -> int:
        return await asyncio.to_thread(self._driver.usage, name)

    # -- create and remove ---------------------------------------------------------

    async def create(self, request: NewVolume) -> Volume:
        """`POST /volumes/create`: an existing volume of that name is returned as it
        is, as dockerd does."""
        name = names.check_name(request.name) if request.name else names.generate()
        if request.driver not in ("", "local"):
            raise NotFound(
                f"create {name}: error looking up volume plugin {request.driver}: plugin "
                f'"{request.driver}" not found'
            )
        try:
            check_options(request.options)
        except InvalidParameter as exc:
            raise InvalidParameter(f"create {name}: {exc.message}") from None
        async with self._lock(name):
            existing = self._volumes.get(name)
            if existing is not None:
                return existing
            volume = Volume(
                name=name,
                created_at=timefmt.local_rfc3339(time.time()),
                labels=dict(request.labels),
                options=dict(request.options),
            )
            await asyncio.to_thread(self._driver.make, name)
            await asyncio.to_thread(self._store.put, volume)
            self._volumes[name] = volume
        self._events.publish("volume", "create", name, {"driver": volume.driver})
        return volume

    async def ensure(
        self,
        name: str | None,
        *,
        anonymous: bool = False,
        options: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> Volume:
        """A container's volume: created on first use (a name), or made (None)."""
        if name is not None and name in self._volumes:
            return self._volumes[name]
        all_labels = dict(labels or {})
        if anonymous:
            all_labels[ANONYMOUS_LABEL] = ""
        return await self.create(
            NewVolume(name=name or "", labels=all_labels, options=dict(options or {}))
        )

    async def remove(self, name: str, *, force: bool = False) -> None:
        async with self._lock(name):
            volume = self._volumes.get(name)
            if volume is None:
                if force:
                    return
                raise NoSuchVolume(name)
            users = self._users_of(name)
            if users:
                raise Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")
            await asyncio.to_thread(self._store.delete, name)
            del self._volumes[name]
            await asyncio.to_thread(self._driver.remove, name)
        self._events.publish("volume", "destroy", name, {"driver": volume.driver})

    async def remove_anonymous(self, names_: Sequence[str]) -> None:
        """`rm -v` and `--rm`: the container's anonymous volumes nothing else uses."""
        for name in names_:
            volume = self._volumes.get(name)
            if volume is None or not volume.anonymous or self._users_of(name):
                continue
            with contextlib.suppress(Conflict, NotFound):
                await self.remove(name)

    async def prune(self, filters: Mapping[str, builtins.list[str]]) -> Pruned:
        """Unused volumes: anonymous ones only unless the `all` filter (Docker 23+)."""
        for key in filters:
            if key not in ("label", "label!", "all"):
                raise InvalidParameter(f"invalid filter '{key}'")
        every = any(v.lower() in ("1", "true") for v in filters.get("all", []))
        removed: builtins.list[str] = []
        reclaimed = 0
        for volume in self.list():
            if not every and not volume.anonymous:
                continue
            if not _labels_match(volume, filters) or self._users_of(volume.name):
                continue
            size = await self.usage(volume.name)
            try:
                await self.remove(volume.name)
            except (Conflict, NotFound):
                continue
            removed.append(volume.name)
            reclaimed += size
        self._events.publish("volume", "prune", "", {"reclaimed": str(reclaimed)})
        return Pruned(names=tuple(removed), reclaimed=reclaimed)

    # -- use by containers ---------------------------------------------------------

    async def acquire(self, name: str, cid: str, *, destination: str, read_only: bool) -> Path:
        """The host path to mount for container `cid` (its device mounted first
        when the volume has mount options)."""
        volume = self.get(name)
        async with self._lock(name):
            await asyncio.to_thread(self._driver.make, name)
            if volume.needs_mount:
                await asyncio.to_thread(self._driver.mount, name, volume.options)
        self._events.publish(
            "volume",
            "mount",
            name,
            {
                "container": cid,
                "destination": destination,
                "driver": volume.driver,
                "propagation": "",
                "read/write": "false" if read_only else "true",
            },
        )
        return self._driver.data_path(name)

    async def release(self, name: str, cid: str) -> None:
        volume = self._volumes.get(name)
        if volume is None:
            return
        async with self._lock(name):
            others = [u for u in self._running_users_of(name) if u != cid]
            if volume.needs_mount and not others:
                await asyncio.to_thread(self._driver.unmount, name)
        self._events.publish("volume", "unmount", name, {"container": cid, "driver": volume.driver})

    async def copy_up(self, name: str, fill: Callable[[Path], None]) -> None:
        """Fill a volume from image content once: when `_data` is empty, or when an
        earlier copy was interrupted (its marker is still there: start again)."""
        async with self._lock(name):
            await asyncio.to_thread(self._copy_up, name, fill)

    def _copy_up(self, name: str, fill: Callable[[Path], None]) -> None:
        data = self._driver.data_path(name)
        marker = data.parent / _COPYING
        if marker.exists():
            for entry in os.scandir(data):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
        elif any(os.scandir(data)):
            return
        marker.touch()
        fill(data)
        os.sync()  # the copy is on disk before the marker says it is done
        marker.unlink()

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())


def _labels_match(volume: Volume, filters: Mapping[str, builtins.list[str]]) -> bool:
    def has(item: str) -> bool:
        key, eq, value = item.partition("=")
        return key in volume.labels and (not eq or volume.labels[key] == value)

    if not all(has(item) for item in filters.get("label", [])):
        return False
    return not any(has(item) for item in filters.get("label!", []))
