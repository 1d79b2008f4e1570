"""The `run` path of DESIGN §5: from a created container to a running process.

`RunPath.run` reads top to bottom. Each step does its file-system or runtime work,
registers its undo on the exit stack and returns the part of the runtime spec it is
responsible for; one pure function merges the parts. A failure at any step unwinds
the steps before it, so nothing is left behind: no mount, no monitor, no bundle.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from pier import timefmt
from pier.config import DaemonConfig, RuntimeConfig
from pier.containers import logconfig
from pier.containers.devices import resolve_devices
from pier.containers.etcfiles import EtcInputs, hosts_file, resolv_conf
from pier.containers.inroot import make_dirs_in_root
from pier.containers.lifecycle import LifecycleRegistry
from pier.containers.model import Container
from pier.containers.networking import (
    ContainerNetworks,
    Sandbox,
    bindings_of,
    has_own_network,
    link_targets,
)
from pier.containers.paths import ContainerPaths
from pier.containers.security import start_defaults
from pier.containers.spec import SpecPart, etc_mounts, merge_parts, namespaces
from pier.containers.user import resolve_user
from pier.containers.userns import (
    Remap,
    chown_to_root,
    hold_userns,
    mapping_of,
    netns_owner,
    open_netns,
)
from pier.containers.volumes_step import VolumeMounts
from pier.errors import InvalidParameter
from pier.networking.hostsfile import names_for
from pier.runtime.base import CreateRequest, Tasks
from pier.runtime.cgroups import init_realtime
from pier.runtime.spec import HostFacts, NamespaceMode, NamespaceSpec
from pier.snapshots.idmap import IdMapping, MappedNamespaces, mount_rootfs_idmapped
from pier.snapshots.mount import mount_all, unmount
from pier.snapshots.types import Mount


class RootfsMounts(Protocol):
    async def rootfs_mounts(self, key: str) -> list[Mount]: ...


class RunPath:
    def __init__(
        self,
        *,
        config: DaemonConfig,
        paths: ContainerPaths,
        images: RootfsMounts,
        runtime: Tasks,
        lifecycle: LifecycleRegistry,
        facts: HostFacts,
        pid_of: Callable[[str], int],
        networks: ContainerNetworks,
        find: Callable[[str], Container] | None = None,
        prepare_log: Callable[[Container], logconfig.LogPolicy],
        volume_mounts: VolumeMounts,
        remap: Remap | None = None,
    ) -> None:
        self._remap = remap
        self._namespaces = MappedNamespaces()  # for idmapped layers
        self._volume_mounts = volume_mounts
        self._prepare_log = prepare_log
        self._networks = networks
        self._config = config
        self._paths = paths
        self._images = images
        self._runtime = runtime
        self._lifecycle = lifecycle
        self._facts = facts
        self._pid_of = pid_of
        self._find = find

    def close(self) -> None:
        self._namespaces.close()

    async def run(self, record: Container, runtime: RuntimeConfig) -> tuple[int, str]:
        """Start `record`; returns the process's pid and the time it started."""
        async with contextlib.AsyncExitStack() as undo:
            parts = [
                await self._mount_rootfs(record, undo),
                await self._user_and_workdir(record),
                await self._mounts(record, undo),
                await self._devices(record),
                SpecPart(namespaces=namespaces(record.host_config, self._pid_of)),
            ]
            sandbox = await self._network(record, undo)
            if sandbox is not None and mapping_of(self._remap, record) is not None:
                await asyncio.to_thread(open_netns, sandbox.netns)
            netns = sandbox.netns if sandbox is not None else None
            held = await asyncio.to_thread(hold_userns, self._remap, record, netns, self._pid_of)
            undo.callback(held.close)
            parts += [
                held.part,
                _network_part(sandbox),
                await self._etc_files(record, sandbox),  # after networking: the address
                self._init(record),
            ]
            await self._write_bundle(record, parts)
            pid = await self._create_task(record, runtime, undo)
            held.close()
            await self._lifecycle.run_created_hooks(record)
            started_at = timefmt.now()
            await self._runtime.start(record.id, runtime)
            undo.pop_all()
            return pid, started_at
        raise AssertionError("unreachable")  # pragma: no cover

    # -- the steps, in order ---------------------------------------------------------

    async def _mount_rootfs(self, record: Container, undo: contextlib.AsyncExitStack) -> SpecPart:
        rootfs = self._paths.rootfs(record.id)
        mounts = await self._images.rootfs_mounts(record.id)
        if record.host_config.auto_remove:
            mounts = [_volatile(m) for m in mounts]
        mapping = mapping_of(self._remap, record)
        if mapping is None:
            await asyncio.to_thread(mount_all, mounts, rootfs)
        else:
            assert self._remap is not None
            namespaces = self._namespaces if self._remap.idmapped else None
            await asyncio.to_thread(
                mount_rootfs_idmapped, mounts, rootfs, namespaces=namespaces, mapping=mapping
            )
        undo.push_async_callback(asyncio.to_thread, unmount, rootfs)
        return SpecPart(rootfs=rootfs)

    async def _user_and_workdir(self, record: Container) -> SpecPart:
        """The user through the image's /etc/passwd and /etc/group, and the working
        directory, made (owned by that user) when the image lacks it, as Docker does."""
        rootfs = self._paths.rootfs(record.id)
        hc = record.host_config
        user = await asyncio.to_thread(resolve_user, rootfs, record.config.user, hc.group_add)
        cwd = record.config.working_dir or "/"
        owner = (user.uid, user.gid)
        mapping = mapping_of(self._remap, record)
        if mapping is not None:  # made through the host's view of the root
            owner = (mapping.host_uid(user.uid), mapping.host_gid(user.gid))
        await asyncio.to_thread(make_dirs_in_root, rootfs, cwd, *owner)
        return SpecPart(user=user, cwd=cwd)

    async def _mounts(self, record: Container, undo: contextlib.AsyncExitStack) -> SpecPart:
        """Binds (a missing `-v` source made), volumes (filled from the image when new),
        tmpfs: see containers.volumes_step."""
        rootfs = self._paths.rootfs(record.id)
        specs = await self._volume_mounts.mount(record, rootfs, undo)
        mapping = mapping_of(self._remap, record)
        if mapping is not None:
            volumes = {p.destination for p in record.binds if p.type == "volume"}
            sources = [Path(m.source) for m in specs if m.destination in volumes]
            await asyncio.to_thread(_own_new_volumes, sources, mapping)
        return SpecPart(mounts=specs)

    async def _devices(self, record: Container) -> SpecPart:
        """`--device` nodes, read from the host at each start (see containers.devices)."""
        if not record.host_config.devices:
            return SpecPart()
        return SpecPart(
            devices=await asyncio.to_thread(resolve_devices, record.host_config.devices)
        )

    async def _network(self, record: Container, undo: contextlib.AsyncExitStack) -> Sandbox | None:
        """A namespace of its own joined to the container's networks, with its ports
        published (bridge and user-defined networks); other modes are in the spec."""
        if not has_own_network(record):
            return None
        sandbox = await self._networks.run(
            record.id,
            name=record.name,
            bindings=bindings_of(record),
            dns=record.host_config.dns,
            links=link_targets(record, self._find) if self._find is not None else (),
            hosts_file=str(self._paths.container_dir(record.id) / "hosts"),
            host_names=names_for(record.config.hostname, record.config.domainname),
            owner=netns_owner(self._remap, record, self._pid_of),
        )
        undo.push_async_callback(self._networks.release, record.id)
        return sandbox

    async def _etc_files(self, record: Container, sandbox: Sandbox | None) -> SpecPart:
        cdir = self._paths.container_dir(record.id)
        files = EtcInputs(
            own=sandbox.own_hosts if sandbox is not None else (),
            links=sandbox.link_hosts if sandbox is not None else (),
            embedded_dns=sandbox is not None and sandbox.embedded_dns,
            host_gateway=self._networks.host_gateway(),
        )
        await asyncio.to_thread(_write_etc_files, cdir, record, files)
        mapping = mapping_of(self._remap, record)
        if mapping is not None:
            etc = [cdir / name for name in ("hostname", "hosts", "resolv.conf")]
            await asyncio.to_thread(chown_to_root, etc, mapping)
        return SpecPart(mounts=etc_mounts(cdir, record.host_config))

    def _init(self, record: Container) -> SpecPart:
        if not record.host_config.init:
            return SpecPart()
        found = shutil.which(self._config.init_path)
        if found is None:
            raise InvalidParameter(
                f"the init binary {self._config.init_path} was not found on the host"
            )
        return SpecPart(init_path=found)

    async def _write_bundle(self, record: Container, parts: Sequence[SpecPart]) -> None:
        if self._config.cpu_rt_period or self._config.cpu_rt_runtime:
            await asyncio.to_thread(
                init_realtime,
                record.host_config.cgroup_parent or self._config.cgroup_parent,
                period=self._config.cpu_rt_period,
                runtime=self._config.cpu_rt_runtime,
            )
        spec = merge_parts(
            start_defaults(record, self._config),
            parts,
            cgroup_parent=self._config.cgroup_parent,
            facts=self._facts,
        )
        await asyncio.to_thread(
            _write_json, self._paths.container_dir(record.id) / "config.json", spec
        )

    async def _create_task(
        self, record: Container, runtime: RuntimeConfig, undo: contextlib.AsyncExitStack
    ) -> int:
        # The log's files are set up for rotation before the monitor opens them.
        policy = await asyncio.to_thread(self._prepare_log, record)
        request = CreateRequest(
            cid=record.id,
            name=record.name,
            bundle=self._paths.container_dir(record.id),
            runtime=runtime,
            tty=record.config.tty,
            stdin=record.config.open_stdin,
            # dockerd never closes a terminal's input when a client leaves (a detached
            # `run -it` is attached to again): StdinOnce is for pipes.
            stdin_once=record.config.stdin_once and not record.config.tty,
            log_path=self._paths.log_path(record.id),
            log_size_max=policy.monitor_size_max,
        )
        pid = await self._runtime.create(request)
        undo.push_async_callback(self._runtime.delete, record.id, runtime, force=True)
        return pid


def _volatile(mount: Mount) -> Mount:
    # An overlay syncs its whole upper file system (the data root's disk) when it is
    # unmounted: 10 ms and more here, on every exit. A `--rm` container's layer goes
    # with it, so it has nothing to keep across a crash (Podman mounts these volatile
    # too); after a crash the removal at daemon start takes the layer away unmounted.
    if mount.type != "overlay" or "volatile" in mount.options:
        return mount
    return replace(mount, options=(*mount.options, "volatile"))


def _own_new_volumes(sources: Sequence[Path], mapping: IdMapping) -> None:
    # dockerd makes a remapped daemon's volumes owned by the remapped root; a volume
    # still owned by host root (new, or filled by nothing) is given to it here, so
    # the container's root can write to it.
    root = mapping.root_pair()
    for path in sources:
        st = os.stat(path)
        if (st.st_uid, st.st_gid) == (0, 0):
            os.chown(path, *root)


def _network_part(sandbox: Sandbox | None) -> SpecPart:
    if sandbox is None:
        return SpecPart()
    path = NamespaceSpec(mode=NamespaceMode.PATH, path=str(sandbox.netns))
    return SpecPart(namespaces={"network": path}, env=sandbox.link_env)


def _write_etc_files(cdir: Path, record: Container, files: EtcInputs) -> None:
    hc = record.host_config
    host_net = hc.network_mode == "host"
    _write_text(cdir / "hostname", record.config.hostname + "\n")
    extra = tuple(
        e.replace(":host-gateway", ":" + files.host_gateway) if files.host_gateway else e
        for e in hc.extra_hosts
    ) + tuple(f"{names}:{ip}" for ip, names in files.links)
    _write_text(
        cdir / "hosts",
        hosts_file(
            host_network=host_net,
            extra_hosts=extra,
            own=files.own,
        ),
    )
    _write_text(
        cdir / "resolv.conf",
        resolv_conf(
            host_network=host_net,
            dns=hc.dns,
            search=hc.dns_search,
            options=hc.dns_options,
            embedded=files.embedded_dns,
        ),
    )


def _write_text(path: Path, text: str) -> None:
    # Rewritten in place: the file is bind-mounted into a container that may be
    # running under another monitor (a restart), and a rename would detach it.
    path.write_text(text)


def _write_json(path: Path, body: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(body))
    os.replace(tmp, path)
