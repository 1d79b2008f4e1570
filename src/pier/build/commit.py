"""`docker commit` and `docker diff`: a container's rw layer as an image, or as a list
of changes (moby daemon/commit.go, daemon/changes.go).

The committed config is the container's own, overridden by the request's Config
(moby's merge), then changed by `--change` instructions; the image's parent is the
container's image and its history gains one entry whose `created_by` is the
container's command. A running container is paused while its layer is read, unless
`pause=false`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Protocol

from pier import timefmt
from pier.build.changes import apply_changes
from pier.build.model import BuildContainers, BuildImages
from pier.containers.model import Container
from pier.errors import InvalidParameter, PierError
from pier.images import diff
from pier.oci import reference as refs
from pier.oci.image import HistoryEntry, ImageConfig, ImageSpec


class EventSink(Protocol):
    def publish(
        self, type: str, action: str, actor_id: str, attributes: Mapping[str, str] | None = None
    ) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class CommitRequest:
    container: str
    repo: str = ""
    tag: str = ""
    author: str = ""
    comment: str = ""
    pause: bool = True
    changes: tuple[str, ...] = ()
    config: Mapping[str, Any] | None = None  # the body: a container Config


def container_image_config(c: Container) -> ImageConfig:
    cfg = c.config
    return ImageConfig(
        user=cfg.user,
        env=cfg.env,
        entrypoint=cfg.entrypoint if cfg.entrypoint else None,
        cmd=cfg.cmd,
        working_dir=cfg.working_dir,
        labels=MappingProxyType(dict(cfg.labels)),
        exposed_ports=tuple(sorted(cfg.exposed_ports)),
        volumes=tuple(sorted(cfg.volumes)),
        stop_signal=cfg.stop_signal,
        healthcheck=cfg.healthcheck,
        shell=cfg.shell,
        on_build=cfg.on_build,
    )


def merge(user: ImageConfig, base: ImageConfig, user_raw: Mapping[str, Any]) -> ImageConfig:
    """moby's commit merge: the request's fields win, the container's fill the gaps."""
    env = list(user.env)
    keys = {e.partition("=")[0] for e in env}
    env += [e for e in base.env if e.partition("=")[0] not in keys]
    labels = dict(base.labels)
    labels.update(user.labels)
    cmd, entrypoint = user.cmd, user.entrypoint
    if not entrypoint:
        if not cmd:
            cmd = base.cmd
        if "Entrypoint" not in user_raw or user_raw.get("Entrypoint") is None:
            entrypoint = base.entrypoint
    return replace(
        user,
        user=user.user or base.user,
        env=tuple(env),
        labels=MappingProxyType(labels),
        exposed_ports=tuple(sorted(set(base.exposed_ports) | set(user.exposed_ports))),
        cmd=cmd,
        entrypoint=entrypoint,
        healthcheck=user.healthcheck if user.healthcheck is not None else base.healthcheck,
        working_dir=user.working_dir or base.working_dir,
        volumes=tuple(sorted(set(base.volumes) | set(user.volumes))),
        stop_signal=user.stop_signal or base.stop_signal,
        on_build=user.on_build or base.on_build,
        shell=user.shell if user.shell is not None else base.shell,
    )


class Committer:
    def __init__(
        self, *, images: BuildImages, containers: BuildContainers, events: EventSink | None = None
    ) -> None:
        self._images = images
        self._containers = containers
        self._events = events

    async def changes(self, ref: str) -> list[diff.Change]:
        container = self._containers.get(ref)
        mounts = await self._images.rootfs_mounts(container.id)
        return await asyncio.to_thread(diff.changes, diff.layout(mounts))

    async def commit(self, req: CommitRequest) -> str:
        container = self._containers.get(req.container)
        new_ref: refs.Reference | None = None
        if req.repo:
            new_ref = refs.parse_normalized(req.repo)
            if new_ref.digest:
                raise InvalidParameter("cannot commit to digest reference")
            new_ref = new_ref.with_tag(req.tag) if req.tag else new_ref.with_default_tag()
        base = container_image_config(container)
        user = ImageConfig.from_json(req.config) if req.config else ImageConfig()
        config = merge(user, base, req.config or {})
        config = await asyncio.to_thread(apply_changes, config, req.changes)
        paused = False
        if req.pause and container.state.has_process and not container.state.paused:
            await self._containers.pause(container.id)
            paused = True
        try:
            parent = await self._images.resolve(container.image_id)
            mounts = await self._images.rootfs_mounts(container.id)
            layout = diff.layout(mounts)
            has_files = await asyncio.to_thread(lambda: any(True for _ in diff._entries(layout)))
            layer = (
                await self._images.store_layer(lambda out: diff.write_layer(layout, out))
                if has_files
                else None
            )
        finally:
            if paused:
                with contextlib.suppress(PierError):
                    await self._containers.unpause(container.id)
        created = timefmt.now()
        entry = HistoryEntry(
            created=created,
            created_by=" ".join(container.config.cmd or ()),
            author=req.author,
            comment=req.comment,
            empty_layer=layer is None,
        )
        spec = ImageSpec(
            architecture=parent.architecture,
            os=parent.os,
            variant=parent.variant,
            author=req.author,
            comment=req.comment,
            created=created,
            parent=parent.id,
            config=config,
            diff_ids=(*parent.diff_ids, *((layer.digest,) if layer else ())),
            history=(*parent.history, entry),
            extra=MappingProxyType({"container": container.id}),
        )
        blobs = await self._images.layer_blobs(parent.id)
        if layer is not None:
            blobs.append(layer)
        rec = await self._images.ingest(
            layers=blobs, config=spec.to_bytes(), parent=parent.id, made_here=True
        )
        if new_ref is not None:
            await self._images.tag(rec.id, new_ref.name, new_ref.tag)
        if self._events is not None:
            # moby sets imageRef always, empty when the commit names no tag
            imageref = new_ref.familiar() if new_ref is not None else ""
            attributes = {"comment": req.comment, "imageID": rec.id, "imageRef": imageref}
            attributes.update(container.config.labels)
            attributes["image"] = container.config.image
            attributes["name"] = container.name
            self._events.publish("container", "commit", container.id, attributes)
        return rec.id
