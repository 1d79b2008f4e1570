"""The JSON of the build endpoints: the legacy builder's message stream, prune's
report and `docker diff`'s changes."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pier.build.model import PruneReport
from pier.images.diff import Change


def message(body: Mapping[str, Any]) -> bytes:
    # moby's stream formatter ends every message with CRLF.
    return json.dumps(body, separators=(",", ":")).encode() + b"\r\n"


def stream_line(text: str) -> bytes:
    return message({"stream": text})


def aux_line(value: Mapping[str, Any]) -> bytes:
    return message({"aux": dict(value)})


def error_line(text: str, code: int = 0) -> bytes:
    detail: dict[str, Any] = {"code": code, "message": text} if code else {"message": text}
    return message({"errorDetail": detail, "error": text})


def prune_report(report: PruneReport) -> dict[str, Any]:
    return {"CachesDeleted": list(report.caches_deleted), "SpaceReclaimed": report.space_reclaimed}


def changes(items: Sequence[Change]) -> list[dict[str, Any]]:
    return [{"Path": c.path, "Kind": c.kind} for c in items]
