"""Creating a container: the request checked and completed into a record.

Everything a client can get wrong is found here, before anything exists (moby does
the same at create): the name, the runtime, the network mode, the image, the command,
the mount requests. Then the root file system's snapshot and the container's
directory are made and the record is stored, each undone if a later step fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from pier import timefmt
from pier.config import DaemonConfig
from pier.containers import health, userns
from pier.containers.announce import Announcer
from pier.containers.model import Container, ContainerConfig, HostConfig
from pier.containers.mounts import MountPoint, MountRequests, plan_mounts
from pier.containers.names import generate_name
from pier.containers.networking import (
    ContainerNetworks,
    check_links,
    endpoints_with_links,
)
from pier.containers.paths import ContainerPaths
from pier.containers.security import host_warnings, parse_security_opts
from pier.containers.spec import merge_env
from pier.containers.store import ContainerStore, check_name
from pier.containers.userns import Remap
from pier.containers.volumes_step import VolumeMounts
from pier.errors import InvalidParameter, NoSuchContainer
from pier.snapshots.types import Mount


class ImageConfigView(Protocol):
    """The image config fields a container inherits (read-only)."""

    @property
    def user(self) -> str: ...
    @property
    def env(self) -> tuple[str, ...]: ...
    @property
    def entrypoint(self) -> tuple[str, ...] | None: ...
    @property
    def cmd(self) -> tuple[str, ...] | None: ...
    @property
    def working_dir(self) -> str: ...
    @property
    def labels(self) -> Mapping[str, str]: ...
    @property
    def exposed_ports(self) -> tuple[str, ...]: ...
    @property
    def volumes(self) -> tuple[str, ...]: ...
    @property
    def stop_signal(self) -> str: ...
    @property
    def healthcheck(self) -> Mapping[str, Any] | None: ...


class ImageView(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def config(self) -> ImageConfigView: ...


class Images(Protocol):
    """What containers need of the image service."""

    async def resolve(self, ref: str) -> ImageView: ...
    async def prepare_rootfs(self, image_id: str, key: str) -> list[Mount]: ...
    async def rootfs_mounts(self, key: str) -> list[Mount]: ...
    async def remove_rootfs(self, key: str) -> None: ...
    async def rootfs_usage(self, key: str) -> int: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateResult:
    id: str
    warnings: tuple[str, ...]


class Creator:
    def __init__(
        self,
        *,
        config: DaemonConfig,
        store: ContainerStore,
        paths: ContainerPaths,
        images: Images,
        announce: Announcer,
        networks: ContainerNetworks,
        volume_mounts: VolumeMounts,
        remap: Remap | None = None,
    ) -> None:
        self._remap = remap
        self._networks = networks
        self._volume_mounts = volume_mounts
        self._config = config
        self._store = store
        self._paths = paths
        self._images = images
        self._announce = announce

    async def create(
        self, *, name: str | None, config: ContainerConfig, host_config: HostConfig
    ) -> CreateResult:
        generated = not name
        name = self._name(name)
        runtime = self._config.runtime(host_config.runtime or None)
        host_config = replace(host_config, runtime=runtime.name)
        host_config, net_warnings = self._network_mode(host_config)
        userns.check_create(self._remap, host_config)
        plan = self._networks.plan(host_config.network_mode, endpoints_with_links(host_config))
        # Parsed before the image is looked up, so bad mounts are a 400 at once.
        requests = MountRequests(
            binds=host_config.binds,
            mounts=host_config.mounts,
            tmpfs=host_config.tmpfs,
            volumes_from=host_config.volumes_from,
            volume_driver=host_config.volume_driver,
        )
        plan_mounts(requests, self._mounts_of)
        warnings = host_warnings(parse_security_opts(host_config.security_opt)) + net_warnings
        image = await self._images.resolve(config.image)
        config, path, args = merge_image_config(config, image.config)
        mounts = plan_mounts(replace(requests, volumes=config.volumes), self._mounts_of)
        cid = secrets.token_hex(32)
        if not config.hostname:
            host_net = host_config.network_mode == "host"
            config = replace(config, hostname=os.uname().nodename if host_net else cid[:12])
        record = Container(
            id=cid,
            name=name,
            created=timefmt.now(),
            image_id=image.id,
            path=path,
            args=args,
            config=config,
            host_config=host_config,
        )
        async with contextlib.AsyncExitStack() as undo:
            record = replace(record, binds=await self._volume_mounts.prepare(mounts, undo))
            await self._images.prepare_rootfs(image.id, cid)
            undo.push_async_callback(self._images.remove_rootfs, cid)
            await asyncio.to_thread(self._paths.rootfs(cid).mkdir, parents=True)
            undo.callback(shutil.rmtree, self._paths.container_dir(cid), True)
            if generated and self._store.find_name(record.name) is not None:
                # A concurrent create took the generated name while this one awaited:
                # pick another (moby reserves generated names, retrying on a clash).
                record = replace(record, name=self._name(None))
            self._store.add(record)
            undo.callback(self._store.remove, cid)
            await asyncio.to_thread(
                self._networks.register,
                cid,
                name=record.name,
                hostname=config.hostname,
                labels=config.labels,
                plan=plan,
            )
            undo.pop_all()
        await self._announce("create", record)
        return CreateResult(id=cid, warnings=warnings)

    def _mounts_of(self, ref: str) -> tuple[MountPoint, ...]:
        try:
            return self._store.get(ref).binds
        except NoSuchContainer as exc:  # moby: a bad --volumes-from is the client's
            raise InvalidParameter(exc.message) from None

    def _name(self, name: str | None) -> str:
        if name:
            name = check_name(name)
            self._store.name_conflict(name)
            return name
        return generate_name(lambda n: self._store.find_name(n) is not None)

    def _network_mode(self, hc: HostConfig) -> tuple[HostConfig, tuple[str, ...]]:
        mode = hc.network_mode or "default"
        if mode == "default":
            hc = replace(hc, network_mode="bridge")  # dockerd stores the default's name
        if mode.startswith("container:"):
            self._store.get(mode.partition(":")[2])
        check_links(mode, hc.links, self._store.get)
        if mode == "host" and (hc.port_bindings or hc.publish_all_ports):
            # dockerd discards them, and says so.
            hc = replace(hc, port_bindings=(), publish_all_ports=False)
            return hc, ("Published ports are discarded when using host network mode",)
        return hc, ()


def merge_image_config(
    config: ContainerConfig, image: ImageConfigView
) -> tuple[ContainerConfig, str, tuple[str, ...]]:
    """Docker's merge of the create request with the image's config, and the
    resulting Path and Args (moby daemon/commit.go merge, getEntrypointAndArgs)."""
    entrypoint = config.entrypoint
    cmd = config.cmd
    if not entrypoint:
        if not cmd:
            cmd = image.cmd
        if entrypoint is None:
            entrypoint = image.entrypoint
    if entrypoint == ("",):
        entrypoint = ()
    labels = dict(image.labels)
    labels.update(config.labels)
    merged = replace(
        config,
        entrypoint=entrypoint,
        cmd=cmd,
        env=merge_env(image.env, config.env),
        user=config.user or image.user,
        working_dir=config.working_dir or image.working_dir,
        labels=labels,
        exposed_ports=tuple(dict.fromkeys(image.exposed_ports + config.exposed_ports)),
        volumes=tuple(dict.fromkeys(image.volumes + config.volumes)),
        stop_signal=config.stop_signal or image.stop_signal,
        healthcheck=health.merge(config.healthcheck, image.healthcheck),
    )
    argv = tuple(entrypoint or ()) + tuple(cmd or ())
    if not argv:
        raise InvalidParameter("no command specified")
    return merged, argv[0], argv[1:]
