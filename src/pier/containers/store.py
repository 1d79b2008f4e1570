"""ContainerStore: every container record in memory, written through to pier.db.

Requests read the in-memory map (no store scan per request); each mutation is one
SQLite transaction, so a crash leaves the record either before or after it.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator

from pier.codec import from_dict, to_dict
from pier.containers.model import Container
from pier.errors import Conflict, InvalidParameter, NoSuchContainer
from pier.metadata import Database

_SCHEMA = """
CREATE TABLE IF NOT EXISTS containers (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL
);
"""

VALID_NAME = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")


def check_name(name: str) -> str:
    """A valid container name without its leading slash, or Docker's 400."""
    if not VALID_NAME.match(name):
        raise InvalidParameter(
            f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )
    return name.lstrip("/")


class ContainerStore:
    def __init__(self, *, db: Database) -> None:
        self._db = db
        self._lock = threading.RLock()
        db.ensure_schema(_SCHEMA)
        self._by_id: dict[str, Container] = {}
        self._by_name: dict[str, str] = {}
        for row in db.query("SELECT body FROM containers"):
            record = from_dict(Container, json.loads(row["body"]))
            self._by_id[record.id] = record
            self._by_name[record.name] = record.id

    def __iter__(self) -> Iterator[Container]:
        with self._lock:
            return iter(list(self._by_id.values()))

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, ref: str) -> Container:
        """By full ID, by name (with or without "/"), or by a unique ID prefix."""
        with self._lock:
            if ref in self._by_id:
                return self._by_id[ref]
            cid = self._by_name.get(ref.lstrip("/"))
            if cid is not None:
                return self._by_id[cid]
            if ref and re.fullmatch(r"[0-9a-f]+", ref):
                found = [c for i, c in self._by_id.items() if i.startswith(ref)]
                if len(found) == 1:
                    return found[0]
                if len(found) > 1:
                    raise InvalidParameter(f"multiple IDs found with provided prefix: {ref}")
            raise NoSuchContainer(ref)

    def find(self, cid: str) -> Container | None:
        return self._by_id.get(cid)

    def find_name(self, name: str) -> Container | None:
        cid = self._by_name.get(name)
        return None if cid is None else self._by_id.get(cid)

    def name_conflict(self, name: str) -> None:
        owner = self._by_name.get(name)
        if owner is not None:
            raise Conflict(
                f'Conflict. The container name "/{name}" is already in use by container '
                f'"{owner}". You have to remove (or rename) that container to be able to '
                "reuse that name."
            )

    def add(self, record: Container) -> None:
        with self._lock:
            self.name_conflict(record.name)
            with self._db.transaction() as tx:
                tx.execute(
                    "INSERT INTO containers (id, name, body) VALUES (?, ?, ?)",
                    (record.id, record.name, json.dumps(to_dict(record))),
                )
            self._by_id[record.id] = record
            self._by_name[record.name] = record.id

    def save(self, record: Container) -> Container:
        """Replace a record (state changes, renames); returns it for chaining."""
        with self._lock:
            old = self._by_id.get(record.id)
            if old is None:
                raise NoSuchContainer(record.id)
            if old.name != record.name:
                self.name_conflict(record.name)
            with self._db.transaction() as tx:
                tx.execute(
                    "UPDATE containers SET name = ?, body = ? WHERE id = ?",
                    (record.name, json.dumps(to_dict(record)), record.id),
                )
            if old.name != record.name:
                del self._by_name[old.name]
                self._by_name[record.name] = record.id
            self._by_id[record.id] = record
            return record

    def remove(self, cid: str) -> None:
        with self._lock:
            record = self._by_id.pop(cid, None)
            if record is None:
                return
            self._by_name.pop(record.name, None)
            with self._db.transaction() as tx:
                tx.execute("DELETE FROM containers WHERE id = ?", (cid,))

    def users_of_image(self, image_id: str) -> list[str]:
        with self._lock:
            return [c.id for c in self._by_id.values() if c.image_id == image_id]
