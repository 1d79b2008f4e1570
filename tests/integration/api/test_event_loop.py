"""pierd serves on uvloop's event loop (pier.daemon.eventloop), and still does what
needs asyncio's own loop elsewhere (pyroute2's netlink: a bridge network is made and
removed)."""

from __future__ import annotations

from pathlib import Path

from pier_testing.daemon import PierDaemon


def test_pierd_runs_on_uvloop(pier: PierDaemon) -> None:
    maps = Path(f"/proc/{pier.proc.pid}/maps").read_text()
    assert "/uvloop/loop." in maps
    assert pier.client.get_raw("/_ping") == "OK"
    net = pier.client.post_json("/networks/create", {"Name": "loopcheck"})["Id"]
    pier.client.delete(f"/networks/{net}")
