"""Garbage collection (containerd's model): at daemon start and after removals every
snapshot, blob, ingest and snapshot directory nothing references goes, and nothing
referenced (an image's layers and config, a container's root file system, what an
open lease holds) is ever removed."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from pier.content.leases import Leases
from pier.content.local import LocalContentStore
from pier.images.service import ImageService
from pier.metadata import Database
from pier.snapshots.overlay import OverlaySnapshotter
from pier_testing.api import create, inspect, wait, wait_for
from pier_testing.daemon import PierDaemon


def _blob(root: Path) -> Path:
    data = os.urandom(4096)
    path = root / "content" / "blobs" / "sha256" / hashlib.sha256(data).hexdigest()
    path.write_bytes(data)
    return path


def _active_snapshot(root: Path, key: str) -> Path:
    """A snapshot record and its directory, as an interrupted import or create leaves."""
    with sqlite3.connect(root / "pier.db") as db:
        cur = db.execute(
            "INSERT INTO snap_snapshots (key, kind, parent, created) VALUES (?, 'active', NULL, ?)",
            (key, time.time()),
        )
        directory = root / "snapshots" / str(cur.lastrowid)
    (directory / "fs").mkdir(parents=True)
    (directory / "fs" / "half-unpacked").write_text("x")
    return directory


def _ingest(root: Path) -> Path:
    directory = root / "content" / "ingest" / hashlib.sha256(b"pull-layer").hexdigest()
    directory.mkdir(parents=True)
    (directory / "ref").write_text("pull-layer")
    (directory / "startedat").write_text(repr(time.time()))
    (directory / "data").write_bytes(b"partial")
    return directory


def _snapshot_keys(root: Path) -> set[str]:
    with sqlite3.connect(root / "pier.db") as db:
        return {row[0] for row in db.execute("SELECT key FROM snap_snapshots")}


def test_garbage_a_crash_leaves_is_collected_at_start(pier: PierDaemon) -> None:
    kept = create(pier.client, ["sh", "-c", "echo kept"], name="kept")
    root = pier.data_root
    before = _snapshot_keys(root)
    pier.kill9()
    garbage = [
        _blob(root),
        _active_snapshot(root, "extract-0123456789abcdef"),  # an interrupted import
        _active_snapshot(root, "e" * 64),  # a create interrupted before its record
        root / "snapshots" / "999999",  # a directory whose record never was
        _ingest(root),
    ]
    (root / "snapshots" / "999999" / "fs").mkdir(parents=True)
    pier.start()
    assert [g for g in garbage if g.exists()] == []
    assert _snapshot_keys(root) == before
    # what is referenced still works: the container's rootfs, the image's layers
    pier.client.post(f"/containers/{kept}/start")
    assert wait(pier.client, kept) == 0
    other = create(pier.client, ["true"])
    pier.client.post(f"/containers/{other}/start")
    assert wait(pier.client, other) == 0


def test_garbage_is_collected_after_removals(pier: PierDaemon) -> None:
    root = pier.data_root
    cid = create(pier.client, ["true"])
    garbage = [_blob(root), _ingest(root)]
    stray_dir = root / "snapshots" / "999998"
    (stray_dir / "fs").mkdir(parents=True)
    garbage.append(stray_dir)
    pier.client.delete(f"/containers/{cid}")
    wait_for(lambda: not any(g.exists() for g in garbage))
    again = create(pier.client, ["true"])
    pier.client.post(f"/containers/{again}/start")
    assert wait(pier.client, again) == 0
    assert inspect(pier.client, again)["State"]["ExitCode"] == 0


@dataclass
class Stores:
    service: ImageService
    content: LocalContentStore
    snapshots: OverlaySnapshotter


@pytest.fixture
def stores(tmp_path: Path) -> Stores:
    leases = Leases()
    db = Database(tmp_path / "pier.db")
    content = LocalContentStore(root=tmp_path / "content", leases=leases)
    snapshots = OverlaySnapshotter(root=tmp_path / "snapshots", db=db, leases=leases)
    service = ImageService(
        data_root=tmp_path,
        db=db,
        leases=leases,
        rootfs_keys=lambda: ["container-rootfs"],
        content=content,
        snapshotter=snapshots,
        image_users=lambda image_id: [],
    )
    return Stores(service=service, content=content, snapshots=snapshots)


def test_a_lease_holds_in_flight_work_until_it_ends(stores: Stores) -> None:
    service, content, snapshots = stores.service, stores.content, stores.snapshots

    async def main() -> None:
        await asyncio.to_thread(snapshots.prepare, "container-rootfs")
        with service.lease("pull"):
            await asyncio.to_thread(snapshots.prepare, "extract-in-flight")
            with content.writer("download") as writer:
                writer.write(b"layer bytes")
                digest = (await asyncio.to_thread(writer.commit)).digest
            collected = await service.collect_garbage()
            assert not collected, collected
            assert {s.key for s in snapshots.walk()} == {"container-rootfs", "extract-in-flight"}
            assert content.info(digest).size == len(b"layer bytes")
        # the work ended without recording anything: what it made is garbage now
        collected = await service.collect_garbage()
        assert collected.snapshots == ("extract-in-flight",)
        assert collected.blobs == (digest,)
        assert {s.key for s in snapshots.walk()} == {"container-rootfs"}
        await service.close()

    asyncio.run(main())
