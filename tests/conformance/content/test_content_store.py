"""ContentStore conformance: every implementation must pass these."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from pier.content.local import LocalContentStore
from pier.content.store import ContentStore
from pier.errors import Conflict, InvalidParameter, NotFound
from pier.oci import digest as d

DATA = b"some layer bytes" * 1000
DGST = d.from_bytes(DATA)


@pytest.fixture(params=["local"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ContentStore]:
    yield LocalContentStore(root=tmp_path / "content")


def _leftovers(tmp_path: Path) -> list[Path]:
    return [p for p in (tmp_path / "content" / "ingest").rglob("*")]


def test_commit_verifies_and_publishes(store: ContentStore) -> None:
    with store.writer("ref-1", expected=DGST) as w:
        w.write(DATA[:100])
        w.write(DATA[100:])
        assert w.offset == len(DATA)
        info = w.commit(len(DATA), DGST)
    assert info.digest == DGST
    assert info.size == len(DATA)
    assert store.info(DGST).size == len(DATA)
    with store.open(DGST) as f:
        assert f.read() == DATA
    assert [i.digest for i in store.walk()] == [DGST]
    assert store.ingests() == []


def test_invisible_until_committed(store: ContentStore) -> None:
    w = store.writer("ref-2")
    w.write(DATA)
    with pytest.raises(NotFound):
        store.info(DGST)
    assert [s.ref for s in store.ingests()] == ["ref-2"]
    assert store.ingests()[0].offset == len(DATA)
    w.commit()
    assert store.info(DGST).digest == DGST


@pytest.mark.parametrize(
    ("size", "expected", "message"),
    [
        (len(DATA) + 1, DGST, "unexpected commit size"),
        (len(DATA), d.from_bytes(b"other"), "unexpected commit digest"),
    ],
    ids=["size", "digest"],
)
def test_wrong_commit_fails_and_leaves_nothing(
    store: ContentStore, tmp_path: Path, size: int, expected: str, message: str
) -> None:
    w = store.writer("ref-3")
    w.write(DATA)
    with pytest.raises(InvalidParameter, match=message):
        w.commit(size, expected)
    assert list(store.walk()) == []
    assert store.ingests() == []
    assert _leftovers(tmp_path) == []


def test_abort_leaves_nothing(store: ContentStore, tmp_path: Path) -> None:
    w = store.writer("ref-4")
    w.write(DATA)
    store.abort("ref-4")
    assert store.ingests() == []
    assert list(store.walk()) == []
    assert _leftovers(tmp_path) == []
    with pytest.raises(NotFound):
        store.abort("ref-4")


def test_context_exit_without_commit_aborts(store: ContentStore) -> None:
    with store.writer("ref-5") as w:
        w.write(DATA)
    assert store.ingests() == []


def test_existing_content_and_delete(store: ContentStore) -> None:
    with store.writer("a") as w:
        w.write(DATA)
        w.commit()
    with pytest.raises(Conflict):
        store.writer("b", expected=DGST)
    # Committing identical content again is harmless.
    with store.writer("c") as w:
        w.write(DATA)
        assert w.commit().digest == DGST
    store.delete(DGST)
    with pytest.raises(NotFound):
        store.info(DGST)
    with pytest.raises(NotFound):
        store.open(DGST)
    with pytest.raises(NotFound):
        store.delete(DGST)
