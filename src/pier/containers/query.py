"""`GET /containers/json` selection: all/limit and Docker's filters, as pure logic."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence

from pier.containers.model import Container, Status
from pier.errors import InvalidParameter

_KNOWN = {
    "id",
    "name",
    "label",
    "status",
    "ancestor",
    "exited",
    "before",
    "since",
    "network",
    "health",
    "isolation",
    "is-task",
    "volume",
    "publish",
    "expose",
}


_HEALTHS = ("none", "starting", "healthy", "unhealthy")


def select(
    containers: Sequence[Container],
    *,
    all: bool,
    limit: int | None,
    filters: Mapping[str, Sequence[str]],
    ancestor_ids: Collection[str] = (),
    before: Container | None = None,
    since: Container | None = None,
) -> list[Container]:
    """`containers` newest first; `ancestor_ids` are the image IDs the `ancestor`
    filter values resolved to; `before`/`since` the containers they name."""
    for key in filters:
        if key not in _KNOWN:
            raise InvalidParameter(f"invalid filter '{key}'")
    statuses = set(filters.get("status", ()))
    for value in statuses:
        if value not in {s.value for s in Status}:
            raise InvalidParameter(f"invalid filter 'status={value}'")
    healths = set(filters.get("health", ()))
    for value in healths:
        if value not in _HEALTHS:
            raise InvalidParameter(
                f"invalid filter 'health={value}': invalid value for health ({value}): "
                f"must be one of {', '.join(_HEALTHS)}"
            )
    exited: set[int] = set()
    for value in filters.get("exited", ()):
        try:
            exited.add(int(value))
        except ValueError:
            raise InvalidParameter(f"invalid filter 'exited={value}'") from None
    # Filters that can only match stopped containers imply --all (as Docker does).
    if exited or statuses - {"running", "paused"} or (limit is not None and limit > 0):
        all = True
    if before is not None or since is not None:
        all = True
    out: list[Container] = []
    for c in containers:
        if not all and not c.state.running:
            continue
        if not _matches(c, filters, statuses, exited, ancestor_ids):
            continue
        if before is not None and c.created >= before.created:
            continue
        if since is not None and c.created <= since.created:
            continue
        out.append(c)
    if limit is not None and limit > 0:
        out = out[:limit]
    return out


def _matches(
    c: Container,
    filters: Mapping[str, Sequence[str]],
    statuses: set[str],
    exited: set[int],
    ancestor_ids: Collection[str],
) -> bool:
    ids = filters.get("id")
    if ids and not any(c.id.startswith(v) for v in ids):
        return False
    names = filters.get("name")
    if names and not any(_search(v, c.name) for v in names):
        return False
    labels = filters.get("label")
    if labels and not all(_label_matches(c.config.labels, v) for v in labels):
        return False
    if statuses and c.state.status.value not in statuses:
        return False
    if exited and (c.state.status != Status.EXITED or c.state.exit_code not in exited):
        return False
    if "ancestor" in filters and c.image_id not in ancestor_ids:
        return False
    healths = filters.get("health")
    if healths and (c.health.status.value if c.health else "none") not in healths:
        return False
    return True


def _search(pattern: str, name: str) -> bool:
    try:
        return re.search(pattern.lstrip("/"), name) is not None
    except re.error:
        return pattern.lstrip("/") in name


def _label_matches(labels: Mapping[str, str], expr: str) -> bool:
    key, eq, value = expr.partition("=")
    if key.endswith("!") and eq:
        return labels.get(key[:-1]) != value
    if key not in labels:
        return False
    return not eq or labels[key] == value
