"""RUN --mount (BuildKit's syntax), made into bind mounts of the step's container.

- `type=bind` (the default): a directory or file of the build context, or of a stage
  or image with `from=`, at `target`; writes are discarded (the context and a
  mounted stage are the build's own copies), read-only unless `rw`.
- `type=cache`: a directory that persists between builds, named by `id` (default: the
  target), under the data root; `builder prune` empties them.
- `type=tmpfs`: an empty directory that goes with the step.
- `type=secret` and `type=ssh` need a session the legacy API does not have: refused.

Mounts are part of the step's cache key; a cache mount's contents are not.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
from dataclasses import dataclass
from pathlib import Path

from pier.build import copy as copying
from pier.errors import InvalidParameter, NotImplementedByPier

_KNOWN = frozenset(
    {
        "type",
        "target",
        "dst",
        "destination",
        "source",
        "src",
        "from",
        "id",
        "ro",
        "readonly",
        "rw",
        "readwrite",
        "sharing",
        "mode",
        "uid",
        "gid",
        "size",
        "required",
        "env",
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunMount:
    type: str
    target: str
    source: str = ""
    from_: str = ""
    id: str = ""
    readonly: bool = False
    mode: int = 0o755
    uid: int = 0
    gid: int = 0

    def describe(self) -> str:
        """What the cache key knows of the mount."""
        return (
            f"{self.type},target={self.target},source={self.source},from={self.from_},"
            f"id={self.id},ro={self.readonly}"
        )


def parse(spec: str, workdir: str) -> RunMount:
    fields: dict[str, str] = {}
    for part in spec.split(","):
        key, eq, value = part.strip().partition("=")
        key = key.lower()
        if key not in _KNOWN:
            raise InvalidParameter(f"unexpected key '{key}' in '{part}'")
        fields[key] = value if eq else "true"
    kind = fields.get("type", "bind")
    if kind in ("secret", "ssh"):
        raise NotImplementedByPier(
            f"RUN --mount=type={kind} needs a BuildKit session, which the legacy build API "
            "does not have"
        )
    if kind not in ("bind", "cache", "tmpfs"):
        raise InvalidParameter(f"unsupported mount type {kind!r}")
    target = fields.get("target") or fields.get("dst") or fields.get("destination") or ""
    if not target:
        raise InvalidParameter("mount target is required")
    if not target.startswith("/"):
        target = posixpath.join("/", workdir or "/", target)
    readonly = kind == "bind"
    if fields.get("rw") == "true" or fields.get("readwrite") == "true":
        readonly = False
    if fields.get("ro") == "true" or fields.get("readonly") == "true":
        readonly = True
    try:
        mode = int(fields.get("mode", "755"), 8)
        uid = int(fields.get("uid", "0"))
        gid = int(fields.get("gid", "0"))
    except ValueError as exc:
        raise InvalidParameter(f"invalid mount option in {spec!r}: {exc}") from None
    return RunMount(
        type=kind,
        target=posixpath.normpath(target),
        source=fields.get("source") or fields.get("src") or "",
        from_=fields.get("from", ""),
        id=fields.get("id", ""),
        readonly=readonly,
        mode=mode,
        uid=uid,
        gid=gid,
    )


def cache_dir(cache_root: Path, m: RunMount) -> Path:
    name = hashlib.sha256((m.id or m.target).encode()).hexdigest()[:32]
    path = cache_root / name
    if not path.is_dir():
        path.mkdir(parents=True, mode=m.mode)
        os.chmod(path, m.mode)
        os.chown(path, m.uid, m.gid)
    return path


def bind_source(root: Path, m: RunMount) -> Path:
    path = copying.in_scope(root, m.source or ".")
    if not path.exists():
        raise InvalidParameter(f'failed to compute cache key: "/{m.source.lstrip("/")}" not found')
    return path


def bind(source: Path, m: RunMount) -> str:
    return f"{source}:{m.target}:{'ro' if m.readonly else 'rw'}"
