"""The build cache: which image a step made on which parent (table `build_cache`).

dockerd's classic builder finds a cached step among the children of the parent
image whose container config equals the step's; Pier keeps that comparison as a key
(the sha256 of the step's canonical description: instruction after substitution,
build arguments, the config it runs with, COPY's source hash) per parent. A hit
counts only while the image still exists with that parent, so removing images
invalidates the cache by itself; `prune` forgets the entries. Rows live in pier.db,
so the cache survives a daemon restart.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from pier.metadata import Database

_SCHEMA = """
CREATE TABLE IF NOT EXISTS build_cache (
    parent   TEXT NOT NULL,
    key      TEXT NOT NULL,
    image_id TEXT NOT NULL,
    created  REAL NOT NULL,
    PRIMARY KEY (parent, key)
);
CREATE INDEX IF NOT EXISTS build_cache_image ON build_cache(image_id);
"""


def step_key(description: Any) -> str:
    """The cache key of a step: a digest of its canonical JSON description."""
    data = json.dumps(description, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(data.encode()).hexdigest()


class BuildCache:
    def __init__(self, *, db: Database) -> None:
        self._db = db
        db.ensure_schema(_SCHEMA)

    def lookup(self, parent: str, key: str) -> str | None:
        rows = self._db.query(
            "SELECT image_id FROM build_cache WHERE parent = ? AND key = ?", (parent, key)
        )
        return str(rows[0]["image_id"]) if rows else None

    def record(self, parent: str, key: str, image_id: str) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO build_cache (parent, key, image_id, created) "
                "VALUES (?,?,?,?)",
                (parent, key, image_id, time.time()),
            )

    def forget(self, parent: str, key: str) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM build_cache WHERE parent = ? AND key = ?", (parent, key))

    def prune(self) -> list[str]:
        """Forget every entry; the image IDs they pointed at."""
        with self._db.transaction() as conn:
            rows = conn.execute("SELECT image_id FROM build_cache").fetchall()
            conn.execute("DELETE FROM build_cache")
        return sorted({str(r["image_id"]) for r in rows})
