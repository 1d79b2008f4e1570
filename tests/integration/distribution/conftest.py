"""Registries on loopback for the distribution tests (see pier_testing.registry)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pier_testing.registry import PierRegistry


@pytest.fixture(scope="module")
def pier_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PierRegistry]:
    """`pier registry serve`."""
    reg = PierRegistry(tmp_path_factory.mktemp("pier-registry")).start()
    try:
        yield reg
    finally:
        reg.stop()


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return tmp_path
