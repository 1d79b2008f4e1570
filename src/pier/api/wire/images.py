"""Docker's JSON for images (PascalCase lives here): ImageRecord -> API bodies."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pier import API_VERSION, timefmt
from pier.images.model import HistoryItem, ImageRecord
from pier.oci.image import ImageConfig


def _version_lt(version: str, other: str) -> bool:
    def key(v: str) -> tuple[int, ...]:
        return tuple(int(p) for p in v.split(".") if p.isdigit())

    return key(version) < key(other)


def _list_or_none(value: Sequence[str] | None) -> list[str] | None:
    return None if value is None else list(value)


def container_config(config: ImageConfig) -> dict[str, Any]:
    """The image's `Config`, in the shape of Docker's container config (fields without
    `omitempty` in Docker are always present, as null when unset)."""
    out: dict[str, Any] = {
        "Hostname": "",
        "Domainname": "",
        "User": config.user,
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
    }
    if config.exposed_ports:
        out["ExposedPorts"] = {p: {} for p in config.exposed_ports}
    out.update(
        {
            "Tty": False,
            "OpenStdin": False,
            "StdinOnce": False,
            "Env": list(config.env) if config.env else None,
            "Cmd": _list_or_none(config.cmd),
        }
    )
    if config.healthcheck is not None:
        out["Healthcheck"] = dict(config.healthcheck)
    if config.extra.get("ArgsEscaped"):
        out["ArgsEscaped"] = True
    out.update(
        {
            "Image": str(config.extra.get("Image") or ""),
            "Volumes": {v: {} for v in config.volumes} if config.volumes else None,
            "WorkingDir": config.working_dir,
            "Entrypoint": _list_or_none(config.entrypoint),
            "OnBuild": list(config.on_build) if config.on_build else None,
            "Labels": dict(config.labels) if config.labels else None,
        }
    )
    if config.stop_signal:
        out["StopSignal"] = config.stop_signal
    if config.shell is not None:
        out["Shell"] = list(config.shell)
    return out


class SummaryCache:
    """The encoded items of `GET /images/json`, kept per image while the catalog hands
    out the same record (records are remade only when an image or its references
    change), so a listing costs a join, not a dict and an encoding per image. Used on
    the event loop only."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, bool], tuple[ImageRecord, bytes]] = {}

    def render(
        self, recs: Sequence[ImageRecord], *, api_version: str = API_VERSION, complete: bool = True
    ) -> bytes:
        """The response body, as `json_response` would send the `image_summary` of each.
        `complete`: an unfiltered listing, whose images are all there are; only such a
        listing may drop the items of the others (a filtered one would throw away what
        the next full listing needs)."""
        legacy = _version_lt(api_version, "1.44")
        parts: list[bytes] = []
        fresh: dict[tuple[str, bool], tuple[ImageRecord, bytes]] = {}
        for rec in recs:
            key = (rec.id, legacy)
            item = self._items.get(key)
            if item is None or item[0] is not rec:
                body = json.dumps(_summary(rec, legacy), separators=(",", ":")).encode()
                item = (rec, body)
            fresh[key] = item
            parts.append(item[1])
        if complete and len(self._items) > 2 * len(fresh) + 64:
            self._items = fresh  # mostly removed images: start over
        else:
            self._items.update(fresh)
        return b"[" + b",".join(parts) + b"]\n"


def image_summary(rec: ImageRecord, *, api_version: str = API_VERSION) -> dict[str, Any]:
    """An item of `GET /images/json`."""
    return _summary(rec, _version_lt(api_version, "1.44"))


def _summary(rec: ImageRecord, legacy: bool) -> dict[str, Any]:
    labels = rec.config.labels
    out: dict[str, Any] = {
        "Containers": -1,
        "Created": int(rec.created_seconds),
        "Id": rec.id,
        "Labels": dict(labels) if labels else None,
        "ParentId": rec.parent,
        "RepoDigests": list(rec.repo_digests),
        "RepoTags": list(rec.repo_tags),
        "SharedSize": -1,
        "Size": rec.size,
    }
    if legacy:
        out["VirtualSize"] = rec.size
        # Before 1.44 untagged images were listed with placeholder names.
        if not rec.repo_tags:
            out["RepoTags"] = ["<none>:<none>"]
        if not rec.repo_digests:
            out["RepoDigests"] = ["<none>@<none>"]
    return out


def image_inspect(
    rec: ImageRecord,
    *,
    api_version: str = API_VERSION,
    graph_driver_data: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The body of `GET /images/{name}/json`."""
    out: dict[str, Any] = {
        "Id": rec.id,
        "RepoTags": list(rec.repo_tags),
        "RepoDigests": list(rec.repo_digests),
        "Parent": rec.parent,
        "Comment": rec.comment,
        "Created": rec.created,
    }
    if _version_lt(api_version, "1.45"):
        out["Container"] = ""
        out["ContainerConfig"] = container_config(ImageConfig())
    out.update(
        {
            "DockerVersion": rec.docker_version,
            "Author": rec.author,
            "Config": container_config(rec.config),
            "Architecture": rec.architecture,
        }
    )
    if rec.variant:
        out["Variant"] = rec.variant
    out.update({"Os": rec.os, "Size": rec.size})
    if _version_lt(api_version, "1.44"):
        out["VirtualSize"] = rec.size
    out["GraphDriver"] = {"Data": dict(graph_driver_data or {}), "Name": "overlay2"}
    out["RootFS"] = {"Type": "layers", "Layers": list(rec.diff_ids)}
    out["Metadata"] = {"LastTagTime": rec.last_tag_time or "0001-01-01T00:00:00Z"}
    return out


def history_item(item: HistoryItem) -> dict[str, Any]:
    return {
        "Comment": item.comment,
        "Created": int(timefmt.parse_seconds(item.created)),
        "CreatedBy": item.created_by,
        "Id": item.id,
        "Size": item.size,
        # Docker sends null for the rows below the top one.
        "Tags": list(item.tags) if item.tags else None,
    }
