"""The builder's values and the collaborators it is given (image service, container
service, a puller), each as the small Protocol the builder needs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import BinaryIO, Protocol

from pier.build.output import BuildOutput
from pier.containers.lifecycle import WaitResult
from pier.containers.model import Container, ContainerConfig, HostConfig, Ulimit
from pier.containers.service import CreateResult
from pier.errors import NotFound
from pier.images.model import ImageRecord, LayerBlob
from pier.oci import reference as refs
from pier.snapshots.types import Mount


def _no_args() -> Mapping[str, str | None]:
    return MappingProxyType({})


def _no_labels() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildRequest:
    """What `POST /build` asks (its query parameters, parsed)."""

    dockerfile: str = "Dockerfile"
    tags: tuple[refs.Reference, ...] = ()
    quiet: bool = False
    no_cache: bool = False
    remove: bool = True  # rm
    force_remove: bool = False  # forcerm
    pull: bool = False
    build_args: Mapping[str, str | None] = field(default_factory=_no_args)
    labels: Mapping[str, str] = field(default_factory=_no_labels)
    cache_from: tuple[str, ...] = ()
    target: str = ""
    network_mode: str = ""
    platform: str = ""
    shm_size: int = 0
    memory: int = 0
    memory_swap: int = 0
    cpu_shares: int = 0
    cpu_period: int = 0
    cpu_quota: int = 0
    cpuset_cpus: str = ""
    extra_hosts: tuple[str, ...] = ()
    ulimits: tuple[Ulimit, ...] = ()
    remote: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildResult:
    image_id: str
    tags: tuple[str, ...]


class BuildImages(Protocol):
    """What the builder needs of the image service."""

    @property
    def tmp_dir(self) -> Path: ...
    def lease(self, name: str) -> AbstractContextManager[object]: ...
    async def resolve(self, ref: str) -> ImageRecord: ...
    async def prepare_rootfs(self, image_id: str, key: str) -> list[Mount]: ...
    async def prepare_empty_rootfs(self, key: str) -> list[Mount]: ...
    async def rootfs_mounts(self, key: str) -> list[Mount]: ...
    async def remove_rootfs(self, key: str) -> None: ...
    async def store_layer(self, produce: Callable[[BinaryIO], None]) -> LayerBlob: ...
    async def layer_blobs(self, image_id: str) -> list[LayerBlob]: ...
    async def children(self, image_id: str) -> list[str]: ...
    async def ingest(
        self,
        *,
        layers: Sequence[LayerBlob],
        config: bytes,
        tags: Sequence[refs.Reference] = (),
        parent: str = "",
        made_here: bool = False,
    ) -> ImageRecord: ...
    async def tag(self, ref: str, repo: str, tag: str | None) -> None: ...


class BuildContainers(Protocol):
    """What RUN steps and commits need of the container service: its facade."""

    def get(self, ref: str) -> Container: ...
    def log_path(self, cid: str) -> Path: ...
    def stopped_event(self, cid: str) -> asyncio.Event: ...
    def on_created(
        self, cid: str, hook: Callable[[Container], Awaitable[None]]
    ) -> AbstractContextManager[None]: ...
    async def create(
        self, *, name: str | None, config: ContainerConfig, host_config: HostConfig
    ) -> CreateResult: ...
    async def start(self, ref: str) -> None: ...
    def wait(self, ref: str, condition: str | None) -> Awaitable[WaitResult]: ...
    async def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> None: ...
    async def pause(self, ref: str) -> None: ...
    async def unpause(self, ref: str) -> None: ...


class Puller(Protocol):
    """Brings a missing base image in (the distribution service, once it exists)."""

    async def pull(self, ref: str, *, platform: str, out: BuildOutput) -> None: ...


class NoPuller:
    """Until the distribution service is wired in: a missing base image is Docker's
    pull failure."""

    async def pull(self, ref: str, *, platform: str, out: BuildOutput) -> None:
        from pier.oci import reference as refs

        name = refs.parse_normalized(ref).familiar_name
        raise NotFound(
            f"pull access denied for {name}, repository does not exist or may require "
            "'docker login': denied: requested access to the resource is denied"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PruneReport:
    caches_deleted: tuple[str, ...]
    space_reclaimed: int
