"""The short-lived children that make user and network namespaces for pierd."""

from __future__ import annotations

import os

import pytest

from pier.errors import SystemFailure
from pier.snapshots.idmap import child_in_userns


def test_a_failed_child_reports_its_own_words() -> None:
    # nsenter cannot open a namespace of a process that does not exist: its message,
    # not a /proc path of the exited child, is the error.
    missing = "/proc/2147483647/ns/user"
    with pytest.raises(SystemFailure) as caught, child_in_userns(join=missing, net=True):
        pass
    assert "could not make a user namespace: nsenter:" in str(caught.value)
    assert missing in str(caught.value)


def test_a_child_is_in_a_new_network_namespace_until_the_block_ends() -> None:
    mine = os.readlink("/proc/self/ns/net")
    with child_in_userns(net=True) as pid:
        assert os.readlink(f"/proc/{pid}/ns/net") != mine
    with pytest.raises(FileNotFoundError):
        os.readlink(f"/proc/{pid}/ns/net")
