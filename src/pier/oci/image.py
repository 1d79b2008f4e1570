"""The image config (Docker/OCI `application/vnd.oci.image.config.v1+json`) as typed values.

The image ID is the sha256 of the config bytes as stored, so a config read from
elsewhere is never re-serialised: callers keep its bytes. Parsing keeps unknown keys
in `extra` so a config Pier builds from a parsed one loses nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from pier.errors import InvalidParameter


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


# Docker's container-config keys that ImageConfig models; everything else goes to `extra`.
_CONFIG_KEYS = (
    "User",
    "Env",
    "Entrypoint",
    "Cmd",
    "WorkingDir",
    "Labels",
    "ExposedPorts",
    "Volumes",
    "StopSignal",
    "Healthcheck",
    "Shell",
    "OnBuild",
)


def _strs(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def _opt_strs(value: Any) -> tuple[str, ...] | None:
    return None if value is None else _strs(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageConfig:
    """The runtime defaults of an image (the `config` object of the image config)."""

    user: str = ""
    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    working_dir: str = ""
    labels: Mapping[str, str] = field(default_factory=_empty)
    exposed_ports: tuple[str, ...] = ()  # "80/tcp"
    volumes: tuple[str, ...] = ()
    stop_signal: str = ""
    healthcheck: Mapping[str, Any] | None = None
    shell: tuple[str, ...] | None = None
    on_build: tuple[str, ...] = ()
    # Keys Pier does not model, kept verbatim.
    extra: Mapping[str, Any] = field(default_factory=_empty)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | None) -> ImageConfig:
        if not raw:
            return cls()
        return cls(
            user=str(raw.get("User") or ""),
            env=_strs(raw.get("Env")),
            entrypoint=_opt_strs(raw.get("Entrypoint")),
            cmd=_opt_strs(raw.get("Cmd")),
            working_dir=str(raw.get("WorkingDir") or ""),
            labels=MappingProxyType(dict(raw.get("Labels") or {})),
            exposed_ports=tuple(sorted(raw.get("ExposedPorts") or {})),
            volumes=tuple(sorted(raw.get("Volumes") or {})),
            stop_signal=str(raw.get("StopSignal") or ""),
            healthcheck=(
                MappingProxyType(dict(raw["Healthcheck"])) if raw.get("Healthcheck") else None
            ),
            shell=_opt_strs(raw.get("Shell")),
            on_build=_strs(raw.get("OnBuild")),
            extra=MappingProxyType({k: v for k, v in raw.items() if k not in _CONFIG_KEYS}),
        )

    def to_json(self) -> dict[str, Any]:
        """Docker's form; empty fields omitted as Go's `omitempty` would, except the few
        Docker always writes."""
        out: dict[str, Any] = dict(self.extra)
        if self.user:
            out["User"] = self.user
        if self.exposed_ports:
            out["ExposedPorts"] = {p: {} for p in self.exposed_ports}
        if self.env:
            out["Env"] = list(self.env)
        if self.cmd is not None:
            out["Cmd"] = list(self.cmd)
        if self.healthcheck is not None:
            out["Healthcheck"] = dict(self.healthcheck)
        if self.volumes:
            out["Volumes"] = {v: {} for v in self.volumes}
        if self.working_dir:
            out["WorkingDir"] = self.working_dir
        if self.entrypoint is not None:
            out["Entrypoint"] = list(self.entrypoint)
        if self.on_build:
            out["OnBuild"] = list(self.on_build)
        if self.labels:
            out["Labels"] = dict(self.labels)
        if self.stop_signal:
            out["StopSignal"] = self.stop_signal
        if self.shell is not None:
            out["Shell"] = list(self.shell)
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryEntry:
    created: str = ""
    created_by: str = ""
    author: str = ""
    comment: str = ""
    empty_layer: bool = False

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> HistoryEntry:
        return cls(
            created=str(raw.get("created") or ""),
            created_by=str(raw.get("created_by") or ""),
            author=str(raw.get("author") or ""),
            comment=str(raw.get("comment") or ""),
            empty_layer=bool(raw.get("empty_layer")),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"created": self.created}
        if self.author:
            out["author"] = self.author
        if self.created_by:
            out["created_by"] = self.created_by
        if self.comment:
            out["comment"] = self.comment
        if self.empty_layer:
            out["empty_layer"] = True
        return out


_SPEC_KEYS = (
    "architecture",
    "os",
    "variant",
    "author",
    "comment",
    "created",
    "docker_version",
    "config",
    "rootfs",
    "history",
    "parent",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageSpec:
    """The whole image config document."""

    architecture: str = ""
    os: str = ""
    variant: str = ""
    author: str = ""
    comment: str = ""
    created: str = ""
    docker_version: str = ""
    parent: str = ""
    config: ImageConfig = field(default_factory=ImageConfig)
    diff_ids: tuple[str, ...] = ()
    history: tuple[HistoryEntry, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=_empty)

    @classmethod
    def from_bytes(cls, data: bytes) -> ImageSpec:
        try:
            raw = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidParameter(f"invalid image config: {exc}") from exc
        if not isinstance(raw, dict):
            raise InvalidParameter("invalid image config: not an object")
        return cls.from_json(raw)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ImageSpec:
        rootfs = raw.get("rootfs") or {}
        return cls(
            architecture=str(raw.get("architecture") or ""),
            os=str(raw.get("os") or ""),
            variant=str(raw.get("variant") or ""),
            author=str(raw.get("author") or ""),
            comment=str(raw.get("comment") or ""),
            created=str(raw.get("created") or ""),
            docker_version=str(raw.get("docker_version") or ""),
            parent=str(raw.get("parent") or ""),
            config=ImageConfig.from_json(raw.get("config")),
            diff_ids=_strs(rootfs.get("diff_ids")),
            history=tuple(HistoryEntry.from_json(h) for h in raw.get("history") or ()),
            extra=MappingProxyType({k: v for k, v in raw.items() if k not in _SPEC_KEYS}),
        )

    def to_json(self) -> dict[str, Any]:
        # Key order follows Docker's image.Image struct, so Pier's configs look like Docker's.
        out: dict[str, Any] = {}
        if self.parent:
            out["parent"] = self.parent
        if self.comment:
            out["comment"] = self.comment
        out["created"] = self.created
        if self.docker_version:
            out["docker_version"] = self.docker_version
        if self.author:
            out["author"] = self.author
        out["config"] = self.config.to_json()
        out["architecture"] = self.architecture
        if self.variant:
            out["variant"] = self.variant
        out["os"] = self.os
        out["rootfs"] = {"type": "layers", "diff_ids": list(self.diff_ids)}
        out["history"] = [h.to_json() for h in self.history]
        out.update(self.extra)
        return out

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_json(), separators=(",", ":")).encode()
