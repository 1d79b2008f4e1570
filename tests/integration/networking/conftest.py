"""The real docker CLI against the module's pierd, for networking: every network a
test makes is removed after it (the leak check then finds no link, address or rule)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pier_testing.daemon import PierDaemon
from pier_testing.netcli import Docker, remove_networks


@pytest.fixture
def docker(pier: PierDaemon) -> Iterator[Docker]:
    yield Docker(pier)
    if pier.proc is not None:
        pier.remove_all_containers()
        remove_networks(pier)
