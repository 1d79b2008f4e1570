"""A container's mounts: volumes made at create, mounted by the run path, released
when the run ends and, for anonymous ones, removed with the container (`rm -v`,
`--rm`).

The run step mounts in depth order (a parent before what is mounted inside it) and
describes every mount as a `MountSpec`: binds of host paths (a missing `-v` source is
made), volumes (their directory, with image content copied into an empty one first)
and tmpfs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from pier.containers.inroot import open_in_root
from pier.containers.model import Container
from pier.containers.mounts import MountPoint, sorted_for_mounting
from pier.errors import InvalidParameter, SystemFailure
from pier.runtime.spec import MountSpec

# Docker's default options of a tmpfs mount; the user's come after and win.
_TMPFS_DEFAULTS = ("noexec", "nosuid", "nodev")


class VolumeRef(Protocol):
    @property
    def name(self) -> str: ...


class ContainerVolumes(Protocol):
    """What containers need of the volume service."""

    async def ensure(
        self,
        name: str | None,
        *,
        anonymous: bool = False,
        options: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> VolumeRef: ...
    async def acquire(self, name: str, cid: str, *, destination: str, read_only: bool) -> Path: ...
    async def release(self, name: str, cid: str) -> None: ...
    async def copy_up(self, name: str, fill: Callable[[Path], None]) -> None: ...
    async def remove_anonymous(self, names: Sequence[str]) -> None: ...
    def mountpoint(self, name: str) -> Path: ...


class VolumeMounts:
    def __init__(self, *, volumes: ContainerVolumes) -> None:
        self._volumes = volumes

    async def prepare(
        self, points: Sequence[MountPoint], undo: contextlib.AsyncExitStack
    ) -> tuple[MountPoint, ...]:
        """At create: every volume exists (a named one is made on first use, an
        anonymous one gets its generated name); undone if the create fails."""
        out = []
        for point in points:
            if point.type == "volume":
                if point.driver not in ("", "local"):
                    raise_driver(point)
                volume = await self._volumes.ensure(
                    point.name or None,
                    anonymous=point.anonymous,
                    options=point.volume_options,
                    labels=point.volume_labels,
                )
                if point.anonymous:
                    undo.push_async_callback(self._volumes.remove_anonymous, [volume.name])
                # Recorded as dockerd records it: inspect shows where the data is.
                source = str(self._volumes.mountpoint(volume.name))
                point = replace(point, name=volume.name, source=source)
            out.append(point)
        return tuple(out)

    async def mount(
        self, record: Container, rootfs: Path, undo: contextlib.AsyncExitStack
    ) -> tuple[MountSpec, ...]:
        """The run step: the mounts of this run, in mounting order."""
        specs = []
        for point in sorted_for_mounting(record.binds):
            if point.type == "bind":
                await asyncio.to_thread(_make_bind_source, point)
                specs.append(_bind_spec(point.source, point))
            elif point.type == "volume":
                path = await self._volumes.acquire(
                    point.name, record.id, destination=point.destination, read_only=point.read_only
                )
                undo.push_async_callback(self._volumes.release, point.name, record.id)
                if point.copy_data:
                    await self._copy_up(point, rootfs)
                specs.append(_bind_spec(str(path), point))
            else:
                specs.append(
                    MountSpec(
                        destination=point.destination,
                        type="tmpfs",
                        source="tmpfs",
                        options=_TMPFS_DEFAULTS + point.tmpfs_options,
                    )
                )
        return tuple(specs)

    async def release(self, record: Container) -> None:
        """The run ended: volumes with a device of their own are unmounted when no
        other running container uses them."""
        for point in record.binds:
            if point.type == "volume" and point.name:
                await self._volumes.release(point.name, record.id)

    async def remove_anonymous(self, record: Container) -> None:
        await self._volumes.remove_anonymous(
            [p.name for p in record.binds if p.type == "volume" and p.anonymous and p.name]
        )

    async def _copy_up(self, point: MountPoint, rootfs: Path) -> None:
        def fill(target: Path) -> None:
            _copy_from_root(rootfs, point.destination, target)

        if await asyncio.to_thread(_is_dir_in_root, rootfs, point.destination):
            await self._volumes.copy_up(point.name, fill)


def raise_driver(point: MountPoint) -> None:
    raise InvalidParameter(
        f"create {point.name}: error looking up volume plugin {point.driver}: plugin "
        f'"{point.driver}" not found'
    )


def _bind_spec(source: str, point: MountPoint) -> MountSpec:
    return MountSpec(
        destination=point.destination,
        type="bind",
        source=source,
        options=("rbind", "ro" if point.read_only else "rw", point.propagation or "rprivate"),
    )


def _make_bind_source(point: MountPoint) -> None:
    if os.path.exists(point.source):
        return
    if not point.create_source:
        raise InvalidParameter(
            'invalid mount config for type "bind": bind source path does not exist: ' + point.source
        )
    try:
        os.makedirs(point.source, exist_ok=True)  # Docker creates a missing `-v` source
    except OSError as exc:
        raise SystemFailure(
            f"error while creating mount source path '{point.source}': {exc}"
        ) from exc


def _is_dir_in_root(rootfs: Path, path: str) -> bool:
    try:
        with open_in_root(rootfs, path, os.O_PATH | os.O_DIRECTORY):
            return True
    except OSError:
        return False


def _copy_from_root(rootfs: Path, path: str, target: Path) -> None:
    """The content of `path` in the container's root (resolved inside it) copied into
    `target` with owners, modes and times, symlinks as symlinks; `target` takes the
    directory's own owner and mode (moby's copyExistingContents)."""
    with open_in_root(rootfs, path, os.O_RDONLY | os.O_DIRECTORY) as fd:
        # The descriptor pins the resolved directory: `cp` reaches it through /proc,
        # so no path it walks is resolved against the host.
        source = f"/proc/{os.getpid()}/fd/{fd}"
        info = os.fstat(fd)
        if any(os.scandir(fd)):
            result = subprocess.run(
                ["cp", "-a", "--", f"{source}/.", str(target)],
                capture_output=True,
                check=False,
            )
            if result.returncode != 0:
                raise SystemFailure(
                    f"copying the image's {path} into its volume failed: "
                    + result.stderr.decode(errors="replace").strip()
                )
        os.chown(target, info.st_uid, info.st_gid)
        os.chmod(target, stat.S_IMODE(info.st_mode))
