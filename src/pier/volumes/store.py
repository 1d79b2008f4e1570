"""Volume records in pier.db (one JSON row per volume). Blocking: called from worker
threads by the service."""

from __future__ import annotations

import json

from pier.codec import from_dict, to_dict
from pier.metadata import Database
from pier.volumes.model import Volume

_SCHEMA = """
CREATE TABLE IF NOT EXISTS volumes (
    name TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
"""


class VolumeStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        db.ensure_schema(_SCHEMA)

    def load(self) -> dict[str, Volume]:
        rows = self._db.query("SELECT body FROM volumes")
        volumes = (from_dict(Volume, json.loads(r["body"])) for r in rows)
        return {v.name: v for v in volumes}

    def put(self, volume: Volume) -> None:
        with self._db.transaction() as tx:
            tx.execute(
                "INSERT OR REPLACE INTO volumes (name, body) VALUES (?, ?)",
                (volume.name, json.dumps(to_dict(volume))),
            )

    def delete(self, name: str) -> None:
        with self._db.transaction() as tx:
            tx.execute("DELETE FROM volumes WHERE name = ?", (name,))
