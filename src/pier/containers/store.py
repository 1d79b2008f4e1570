"""ContainerStore: every container record in memory, written behind to pier.db.

Requests read the in-memory map (no store scan per request). A mutation changes the
map at once and queues its SQLite transaction on one writer thread: the event loop
never waits for the disk, the writes land in the order they were made, and each is
one transaction, so a crash leaves the record either before or after it. Callers
that promise durability (a create answered 201) await `synced()`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

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

log = logging.getLogger(__name__)

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
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="container-store")
        self._last_write: Future[None] | None = None
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
            self._submit(
                "INSERT INTO containers (id, name, body) VALUES (?, ?, ?)",
                lambda: (record.id, record.name, _body(record)),
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
            self._submit(
                "UPDATE containers SET name = ?, body = ? WHERE id = ?",
                lambda: (record.name, _body(record), record.id),
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
            self._submit("DELETE FROM containers WHERE id = ?", lambda: (cid,))

    def _submit(self, sql: str, params: Callable[[], tuple[Any, ...]]) -> None:
        """Queue one statement; `params` runs on the writer thread, so serialising a
        (frozen) record costs the event loop nothing either."""

        def run() -> None:
            values = params()
            with self._db.transaction() as tx:
                tx.execute(sql, values)

        fut = self._writer.submit(run)
        fut.add_done_callback(_log_failure)
        self._last_write = fut

    async def synced(self) -> None:
        """Return once every mutation made so far is in the database."""
        last = self._last_write
        if last is not None and not last.done():
            await asyncio.wrap_future(last)

    def close(self) -> None:
        """Finish the queued writes."""
        self._writer.shutdown(wait=True)

    def users_of_image(self, image_id: str) -> list[str]:
        with self._lock:
            return [c.id for c in self._by_id.values() if c.image_id == image_id]


def _body(record: Container) -> str:
    return json.dumps(to_dict(record))


def _log_failure(fut: Future[None]) -> None:
    exc = fut.exception()
    if exc is not None:
        log.error("writing a container record to the database failed: %s", exc)
