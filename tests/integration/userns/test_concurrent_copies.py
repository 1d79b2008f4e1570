"""Files pierd makes once per layer or mapping, asked for by several starts or copies
at the same moment (threads of pierd's pool): each caller gets the finished file,
none fails on another's half-made one."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pier.containers.userns import tar_id_maps
from pier.snapshots.idmap import IdMapping, IdRange, shifted_copy

MAPPING = IdMapping(
    uids=(IdRange(container_id=0, host_id=200000, size=65536),),
    gids=(IdRange(container_id=0, host_id=300000, size=65536),),
)
CALLERS = 6


@pytest.fixture
def base() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="pt-userns-"))
    yield path
    shutil.rmtree(path)


def _at_once(fn: Callable[[], object]) -> list[object]:
    """`fn` from CALLERS threads released together; their results or exceptions."""
    start = threading.Barrier(CALLERS)
    results: list[object] = [None] * CALLERS

    def one(i: int) -> None:
        start.wait()
        try:
            results[i] = fn()
        except Exception as exc:  # collected: the test names every failure
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(CALLERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_concurrent_shifted_copies_of_one_layer(base: Path) -> None:
    fs = base / "snap" / "fs"
    for d in range(20):
        (fs / f"d{d}").mkdir(parents=True)
        for f in range(50):
            (fs / f"d{d}" / f"f{f}").write_text("x")
            os.chown(fs / f"d{d}" / f"f{f}", 3, 4)

    results = _at_once(lambda: shifted_copy(fs, MAPPING))

    assert [r for r in results if isinstance(r, Exception)] == []
    done = base / "snap" / "fs-200000.300000"
    assert set(results) == {done}
    # One finished copy, nothing half-made beside it, no copy nested in another.
    assert sorted(p.name for p in (base / "snap").iterdir()) == ["fs", "fs-200000.300000"]
    assert sorted(p.name for p in done.iterdir()) == sorted(f"d{d}" for d in range(20))
    st = os.lstat(done / "d7" / "f9")
    assert (st.st_uid, st.st_gid) == (200003, 300004)


def test_concurrent_tar_id_maps(base: Path) -> None:
    other = IdMapping(
        uids=(IdRange(container_id=0, host_id=400000, size=65536),),
        gids=(IdRange(container_id=0, host_id=500000, size=65536),),
    )
    results = _at_once(lambda: tar_id_maps(MAPPING, base) + tar_id_maps(other, base))

    assert [r for r in results if isinstance(r, Exception)] == []
    assert sorted(p.name for p in base.iterdir()) == [
        "group-map.300000",
        "group-map.500000",
        "owner-map.200000",
        "owner-map.400000",
    ]
    lines = (base / "owner-map.400000").read_text().splitlines()
    assert len(lines) == 65536
    assert lines[5] == "+400005 c:5"
