"""A NotModified from a service is Docker's bare 304: no body, whatever the router."""

from __future__ import annotations

from pier_testing.api import create, wait
from pier_testing.daemon import PierDaemon


def _raw(pier: PierDaemon, path: str) -> tuple[int, bytes]:
    resp = pier.client.open("POST", path)
    try:
        return resp.status, resp.read()
    finally:
        resp.close()


def test_start_of_a_running_and_stop_of_a_stopped_container(pier: PierDaemon) -> None:
    cid = create(pier.client, ["sleep", "600"])
    assert _raw(pier, f"/containers/{cid}/start") == (204, b"")
    assert _raw(pier, f"/containers/{cid}/start") == (304, b"")
    pier.client.post(f"/containers/{cid}/kill")
    assert wait(pier.client, cid) == 137
    assert _raw(pier, f"/containers/{cid}/stop") == (304, b"")
