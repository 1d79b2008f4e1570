"""`GET /containers/json` keeps each container's summary encoded between listings
(api/wire/summaries.py): what changes in the record, in the container's networking
or with the clock must still show at the next listing."""

from __future__ import annotations

from typing import Any

from pier_testing.api import create
from pier_testing.daemon import PierDaemon


def _listed(pier: PierDaemon, cid: str) -> dict[str, Any]:
    [item] = [c for c in pier.client.get_json("/containers/json", all=1) if c["Id"] == cid]
    return item


def test_a_listing_follows_record_networking_and_state(pier: PierDaemon) -> None:
    cid = create(pier.client, ["sleep", "60"], name="before", host_config={"NetworkMode": "none"})
    try:
        first = _listed(pier, cid)
        shown = (first["Names"], first["State"], first["Status"])
        assert shown == (["/before"], "created", "Created")
        assert _listed(pier, cid) == first  # kept, and the same

        pier.client.post(f"/containers/{cid}/rename", name="after")
        assert _listed(pier, cid)["Names"] == ["/after"]

        pier.client.post(f"/containers/{cid}/start")
        running = _listed(pier, cid)
        assert running["State"] == "running"
        assert running["Status"].startswith("Up ")

        pier.client.post(f"/containers/{cid}/stop", t=0)
        stopped = _listed(pier, cid)
        assert stopped["State"] == "exited"
        assert stopped["Status"].startswith("Exited (")
    finally:
        pier.client.delete(f"/containers/{cid}", force=1)


def test_a_listing_follows_network_connects(pier: PierDaemon) -> None:
    # Connecting a created container changes its networking, not its record.
    cid = create(pier.client, ["true"])
    net = pier.client.post_json("/networks/create", {"Name": "summaries2"})["Id"]
    try:
        assert set(_listed(pier, cid)["NetworkSettings"]["Networks"]) == {"bridge"}
        pier.client.post_json(f"/networks/{net}/connect", {"Container": cid})
        assert set(_listed(pier, cid)["NetworkSettings"]["Networks"]) == {"bridge", "summaries2"}
        pier.client.post_json(f"/networks/{net}/disconnect", {"Container": cid})
        assert set(_listed(pier, cid)["NetworkSettings"]["Networks"]) == {"bridge"}
    finally:
        pier.client.delete(f"/containers/{cid}", force=1)
        pier.client.delete(f"/networks/{net}")
