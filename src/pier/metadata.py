"""The metadata database (pier.db): one SQLite file in WAL mode shared by the stores.

Each store owns its tables and creates them with `ensure_schema`. Every mutation runs
in `transaction()`, so a crash leaves either the old or the new state. Stores are plain
blocking code (services call them from a thread pool), so one connection guarded by a
lock is enough and keeps writes serialised.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PAGE_CACHE_KIB = 256


class Database:
    def __init__(self, path: Path) -> None:
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=30
        )
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        # The stores serve their reads from memory; SQLite's page cache only helps the
        # writes and a few keyed lookups. Its default (2 MiB) filled with every new
        # container's pages, so pierd grew by about 6 KiB per container until full.
        self._conn.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")

    def ensure_schema(self, statements: str) -> None:
        with self._lock:
            self._conn.executescript(statements)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; commits on success, rolls back on any exception."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return list(self._conn.execute(sql, params))

    def close(self) -> None:
        with self._lock:
            self._conn.close()
