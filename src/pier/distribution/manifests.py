"""Manifests and indexes as the registry protocol carries them (Docker schema 2 and OCI).

A manifest's digest is the sha256 of its bytes as received, so parsed documents keep
their raw bytes. Parsing is strict about what Pier needs (a config and layers, or a list
of platform manifests) and bounded: a registry cannot make pierd hold a huge document.
"""

from __future__ import annotations

import json
import platform as host_platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from pier.errors import InvalidParameter, NotFound
from pier.oci import digest as dg

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_NONDIST_PREFIX = "application/vnd.oci.image.layer.nondistributable."
OCI_EMPTY = "application/vnd.oci.empty.v1+json"

MANIFEST_TYPES = (DOCKER_MANIFEST, OCI_MANIFEST)
INDEX_TYPES = (DOCKER_LIST, OCI_INDEX)
# What a pull asks for, in order of preference (as containerd's resolver does).
ACCEPT = ", ".join((DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX, "*/*"))

# distribution's own limit on a manifest PUT is 4 MiB; nothing real comes near it.
MAX_MANIFEST_SIZE = 4 << 20
MAX_CONFIG_SIZE = 8 << 20

_GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}


def _empty() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True, kw_only=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        out = f"{self.os}/{self.architecture}"
        return out + "/" + self.variant if self.variant else out

    def to_json(self) -> dict[str, str]:
        out = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            out["variant"] = self.variant
        return out


def host() -> Platform:
    machine = host_platform.machine()
    arch = _GO_ARCH.get(machine, machine)
    return Platform(os="linux", architecture=arch, variant="v8" if arch == "arm64" else "")


def parse_platform(spec: str) -> Platform:
    """containerd's platforms.Parse, for the forms clients send (`linux/arm64/v8`,
    `linux/amd64`, `arm64`)."""
    parts = spec.strip().lower().split("/")
    if not all(parts) or len(parts) > 3:
        raise InvalidParameter(
            f'"{spec}": unknown operating system or architecture: invalid argument'
        )
    if len(parts) == 1:
        if parts[0] in ("linux", "windows", "darwin", "freebsd"):
            return Platform(os=parts[0], architecture=host().architecture)
        return Platform(os="linux", architecture=_norm_arch(parts[0]))
    variant = parts[2] if len(parts) == 3 else ""
    arch = _norm_arch(parts[1])
    if arch == "arm64" and variant == "":
        variant = "v8"
    return Platform(os=parts[0], architecture=arch, variant=variant)


def _norm_arch(arch: str) -> str:
    return {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "i386": "386"}.get(arch, arch)


def matches(want: Platform, have: Mapping[str, Any] | None) -> bool:
    if not have:
        return False
    os_ = str(have.get("os") or "")
    arch = _norm_arch(str(have.get("architecture") or ""))
    variant = str(have.get("variant") or "")
    if arch == "arm64" and not variant:
        variant = "v8"
    if os_ != want.os or arch != want.architecture:
        return False
    return not want.variant or not variant or variant == want.variant


@dataclass(frozen=True, slots=True, kw_only=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    urls: tuple[str, ...] = ()
    platform: Mapping[str, Any] | None = None
    annotations: Mapping[str, str] = field(default_factory=_empty)
    artifact_type: str = ""

    @classmethod
    def from_json(cls, raw: Any) -> Descriptor:
        if not isinstance(raw, dict):
            raise InvalidParameter("invalid descriptor")
        try:
            size = int(raw["size"])
            dgst = dg.validate(str(raw["digest"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidParameter(f"invalid descriptor: {exc}") from exc
        if size < 0:
            raise InvalidParameter("invalid descriptor: negative size")
        plat = raw.get("platform")
        return cls(
            media_type=str(raw.get("mediaType") or ""),
            digest=dgst,
            size=size,
            urls=tuple(str(u) for u in raw.get("urls") or ()),
            platform=MappingProxyType(dict(plat)) if isinstance(plat, dict) else None,
            annotations=MappingProxyType(dict(raw.get("annotations") or {})),
            artifact_type=str(raw.get("artifactType") or ""),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform:
            out["platform"] = dict(self.platform)
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        return out

    @property
    def foreign(self) -> bool:
        """A foreign or OCI non-distributable layer (Windows base layers). dockerd 28 on
        Linux pulls it from the registry like any other (its `urls` are for Windows) and
        stores it as a plain layer, so a later push sends it as one (moby made pushing
        non-distributable layers the default in 28)."""
        return self.media_type == DOCKER_FOREIGN_LAYER or self.media_type.startswith(
            OCI_NONDIST_PREFIX
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest:
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    raw: bytes
    subject: Descriptor | None = None

    @property
    def digest(self) -> str:
        return dg.from_bytes(self.raw)


@dataclass(frozen=True, slots=True, kw_only=True)
class Index:
    media_type: str
    manifests: tuple[Descriptor, ...]
    raw: bytes

    @property
    def digest(self) -> str:
        return dg.from_bytes(self.raw)

    def select(self, want: Platform) -> Descriptor:
        """The manifest for `want`; moby's wording when there is none."""
        for desc in self.manifests:
            if desc.media_type in INDEX_TYPES + MANIFEST_TYPES and matches(want, desc.platform):
                return desc
        raise NotFound(f"no matching manifest for {want} in the manifest list entries")

    def platforms(self) -> list[Platform]:
        out = []
        for desc in self.manifests:
            p = desc.platform or {}
            if p.get("os") and p.get("architecture") and p.get("os") != "unknown":
                out.append(
                    Platform(
                        os=str(p["os"]),
                        architecture=str(p["architecture"]),
                        variant=str(p.get("variant") or ""),
                    )
                )
        return out


def load_json(raw: bytes, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidParameter(f"invalid {what}: {exc}") from exc
    if not isinstance(doc, dict):
        raise InvalidParameter(f"invalid {what}: not a JSON object")
    return doc


def parse(raw: bytes, content_type: str = "") -> Manifest | Index:
    """A manifest or an index; the media type comes from the document, else the header."""
    if len(raw) > MAX_MANIFEST_SIZE:
        raise InvalidParameter(f"manifest too large: {len(raw)} bytes")
    doc = load_json(raw, "manifest")
    media_type = str(doc.get("mediaType") or content_type.split(";")[0].strip())
    if not media_type:
        media_type = OCI_INDEX if "manifests" in doc else OCI_MANIFEST
    if media_type in (DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED) or doc.get("schemaVersion") == 1:
        raise InvalidParameter(
            "support for pulling Docker image manifest version 2, schema 1 has been removed"
        )
    if media_type in INDEX_TYPES or ("manifests" in doc and "layers" not in doc):
        items = doc.get("manifests")
        if not isinstance(items, list):
            raise InvalidParameter("invalid manifest list: no manifests")
        return Index(
            media_type=media_type,
            manifests=tuple(Descriptor.from_json(m) for m in items),
            raw=raw,
        )
    if media_type not in MANIFEST_TYPES:
        raise InvalidParameter(f"unsupported manifest media type {media_type!r}")
    layers = doc.get("layers")
    if not isinstance(layers, list) or "config" not in doc:
        raise InvalidParameter("invalid manifest: no config or layers")
    subject = doc.get("subject")
    return Manifest(
        media_type=media_type,
        config=Descriptor.from_json(doc["config"]),
        layers=tuple(Descriptor.from_json(layer) for layer in layers),
        raw=raw,
        subject=Descriptor.from_json(subject) if subject else None,
    )


def render_manifest(*, media_type: str, config: Descriptor, layers: Sequence[Descriptor]) -> bytes:
    """A schema-2 or OCI manifest as Docker writes one (Go's MarshalIndent, 3 spaces):
    the same image pushed by Docker and by Pier gets the same manifest digest."""
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": config.to_json(),
        "layers": [layer.to_json() for layer in layers],
    }
    return json.dumps(doc, indent=3).encode()
