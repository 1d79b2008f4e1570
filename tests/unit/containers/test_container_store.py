"""ContainerStore on a real SQLite file: lookups, name rules, and the write-behind
queue (ordered, durable once `synced()` returns, flushed by `close()`)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from pier.containers.model import Container, ContainerConfig, HostConfig, State, Status
from pier.containers.store import ContainerStore
from pier.errors import Conflict, InvalidParameter, NoSuchContainer
from pier.metadata import Database


def _record(cid: str, name: str) -> Container:
    return Container(
        id=cid,
        name=name,
        created="2026-01-01T00:00:00Z",
        image_id="sha256:" + "0" * 64,
        path="true",
        args=(),
        config=ContainerConfig(image="busybox"),
        host_config=HostConfig(),
    )


def _reopen(path: Path) -> tuple[Database, ContainerStore]:
    db = Database(path)
    return db, ContainerStore(db=db)


def test_mutations_land_in_order_and_survive_a_reopen(tmp_path: Path) -> None:
    db, store = _reopen(tmp_path / "pier.db")
    a = "a" * 64
    store.add(_record(a, "first"))
    for code in range(50):  # many queued updates of one record: the last one wins
        store.save(replace(store.get(a), state=State(status=Status.EXITED, exit_code=code)))
    store.save(replace(store.get(a), name="renamed"))
    store.add(_record("b" * 64, "second"))
    store.remove("b" * 64)
    asyncio.run(store.synced())
    store.close()
    db.close()

    db, again = _reopen(tmp_path / "pier.db")
    try:
        assert [c.name for c in again] == ["renamed"]
        assert again.get("renamed").state.exit_code == 49
        with pytest.raises(NoSuchContainer):
            again.get("second")
    finally:
        again.close()
        db.close()


def test_close_flushes_without_synced(tmp_path: Path) -> None:
    db, store = _reopen(tmp_path / "pier.db")
    store.add(_record("c" * 64, "flushed"))
    store.close()
    db.close()
    db, again = _reopen(tmp_path / "pier.db")
    try:
        assert again.get("flushed").id == "c" * 64
    finally:
        again.close()
        db.close()


def test_lookups_and_name_rules(tmp_path: Path) -> None:
    db, store = _reopen(tmp_path / "pier.db")
    try:
        store.add(_record("ab" + "1" * 62, "one"))
        store.add(_record("ac" + "2" * 62, "two"))
        assert store.get("/one").name == "one"
        assert store.get("ab").name == "one"
        with pytest.raises(InvalidParameter, match="multiple IDs found"):
            store.get("a")
        with pytest.raises(Conflict, match='"/one" is already in use'):
            store.add(_record("d" * 64, "one"))
        with pytest.raises(Conflict):
            store.save(replace(store.get("two"), name="one"))
    finally:
        store.close()
        db.close()
