import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from pier_testing.image_store import Env, make_busybox_tar


@pytest.fixture(scope="session")
def busybox_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_busybox_tar(tmp_path_factory)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    root = tmp_path / "data"
    root.mkdir()
    e = Env(root)
    try:
        yield e
    finally:
        e.db.close()
        shutil.rmtree(root, ignore_errors=True)
