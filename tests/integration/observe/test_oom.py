"""A container the OOM killer ends: OOMKilled, 137 and an `oom` event before `die`."""

from __future__ import annotations

import json
import time

from pier_testing.api import create, inspect, wait
from pier_testing.daemon import PierDaemon

MB = 1024 * 1024
# The shell keeps the whole stream in a variable: memory grows until the limit.
HOG = ["sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived"]


def test_oom_killed(pier: PierDaemon) -> None:
    since = time.time()
    cid = create(
        pier.client, HOG, name="hog", host_config={"Memory": 16 * MB, "MemorySwap": 16 * MB}
    )
    pier.client.post(f"/containers/{cid}/start")
    assert wait(pier.client, cid) == 137
    state = inspect(pier.client, cid)["State"]
    assert (state["OOMKilled"], state["ExitCode"]) == (True, 137)
    resp = pier.client.request(
        "GET",
        "/events",
        params={
            "since": f"{since - 0.001:.3f}",
            "until": f"{time.time() + 0.001:.3f}",
            "filters": json.dumps({"container": [cid], "event": ["oom", "die"]}),
        },
    )
    events = [json.loads(x) for x in resp.read().decode().splitlines()]
    assert [e["Action"] for e in events] == ["oom", "die"]
    assert events[1]["Actor"]["Attributes"]["exitCode"] == "137"
    assert events[0]["Actor"]["Attributes"]["name"] == "hog"


def test_a_normal_exit_is_not_oom(pier: PierDaemon) -> None:
    cid = create(pier.client, ["sh", "-c", "exit 137"], host_config={"Memory": 16 * MB})
    pier.client.post(f"/containers/{cid}/start")
    assert wait(pier.client, cid) == 137
    assert inspect(pier.client, cid)["State"]["OOMKilled"] is False
