"""Mount requests: what `-v`/`Binds` ask for, parsed and checked when a container is
created (a malformed one is a 400 before anything exists), as moby's linux parser
(volume/mounts/linux_parser.go) reads them.

Only bind mounts of host paths exist in Pier so far; named and anonymous volumes are
refused with a 501 that names them, never dropped.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass

from pier.errors import InvalidParameter, NotImplementedByPier

PROPAGATIONS = frozenset({"private", "rprivate", "shared", "rshared", "slave", "rslave"})
_RW = frozenset({"rw", "ro"})
_LABELS = frozenset({"z", "Z"})
_COPY = frozenset({"nocopy"})
_CONSISTENCY = frozenset({"consistent", "cached", "delegated"})
_VOLUME_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")


@dataclass(frozen=True, slots=True, kw_only=True)
class BindMount:
    """A host path bind-mounted into the container."""

    source: str  # absolute, cleaned
    destination: str  # absolute, cleaned
    read_only: bool = False
    propagation: str = "rprivate"
    # The spec as the client wrote it (inspect's Mounts[].Mode is its mode part).
    mode: str = ""
    # `-v` creates a missing source directory; `--mount type=bind` refuses one.
    create_source: bool = True


def _valid_mode(mode: str) -> bool:
    if not mode:
        return True
    seen: dict[frozenset[str], int] = {}
    for option in mode.split(","):
        for group in (_RW, _LABELS, PROPAGATIONS, _COPY, _CONSISTENCY):
            if option in group:
                seen[group] = seen.get(group, 0) + 1
                break
        else:
            return False
    return all(count == 1 for count in seen.values())


def parse_bind(spec: str) -> BindMount:
    """One `Binds` entry: `src:dst[:mode]` (moby's ParseMountRaw)."""
    parts = spec.split(":", 3)
    if not parts[0]:
        raise InvalidParameter(f"invalid volume specification: '{spec}'")
    mode = ""
    if len(parts) == 1:
        raise NotImplementedByPier(
            f"anonymous volumes are not implemented in Pier yet: '{spec}' (a volume at "
            f"{parts[0]}); bind a host directory instead (-v /host/dir:{parts[0]})"
        )
    if len(parts) == 2:
        if _valid_mode(parts[1]):
            raise InvalidParameter(f"invalid volume specification: '{spec}'")
        source, target = parts
    elif len(parts) == 3:
        source, target, mode = parts
    else:
        raise InvalidParameter(f"invalid volume specification: '{spec}'")
    if not _valid_mode(mode):
        raise InvalidParameter(f"invalid mode: {mode}")
    if not source.startswith("/"):
        if not _VOLUME_NAME.match(source):
            raise InvalidParameter(
                f'create {source}: "{source}" includes invalid characters for a local '
                'volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you '
                "intended to pass a host directory, use absolute path"
            )
        raise NotImplementedByPier(
            f"named volumes are not implemented in Pier yet: '{spec}' (volume "
            f"{source!r}); bind a host directory instead"
        )
    if posixpath.normpath(target) == "/":
        raise InvalidParameter(
            f"invalid volume specification: '{spec}': invalid specification: "
            "destination can't be '/'"
        )
    if not target.startswith("/"):
        raise InvalidParameter(
            f"invalid volume specification: '{spec}': invalid mount config for type "
            f"\"bind\": invalid mount path: '{target}' mount path must be absolute"
        )
    options = mode.split(",") if mode else []
    if "nocopy" in options:
        raise InvalidParameter(f"invalid mode: {mode}")
    return BindMount(
        source=posixpath.normpath(source),
        destination=posixpath.normpath(target),
        read_only="ro" in options,
        propagation=next((o for o in options if o in PROPAGATIONS), "rprivate"),
        mode=mode,
    )


def parse_binds(specs: Iterable[str]) -> tuple[BindMount, ...]:
    out: list[BindMount] = []
    seen: set[str] = set()
    for spec in specs:
        bind = parse_bind(spec)
        if bind.destination in seen:
            raise InvalidParameter(f"Duplicate mount point: {bind.destination}")
        seen.add(bind.destination)
        out.append(bind)
    return tuple(out)
