from __future__ import annotations

from pathlib import Path

from pier.metadata import PAGE_CACHE_KIB, Database


def test_page_cache_is_bounded(tmp_path: Path) -> None:
    db = Database(tmp_path / "pier.db")
    try:
        assert db.query("PRAGMA cache_size")[0][0] == -PAGE_CACHE_KIB
    finally:
        db.close()
