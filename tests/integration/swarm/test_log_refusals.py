"""A task log that cannot be read is an error status before any 200, both where a
client asks (the Engine API's /tasks/{id}/logs, errors mapped by the API server) and
where a manager asks the node running the task (the cluster port's /tasks/{id}/logs,
a JSON message of its own): the one log-answer helper serves both."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from swarmnodes import nodes, swarm_of

from pier_testing.daemon import PierDaemon
from pier_testing.leaks import Scope

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def one(leak_scope: Scope, busybox_tar: Path) -> Iterator[tuple[PierDaemon, str]]:
    with nodes(leak_scope, busybox_tar, 1) as daemons:
        yield daemons[0], swarm_of(daemons)


def test_an_unknown_task_is_refused_before_the_answer_starts(
    one: tuple[PierDaemon, str],
) -> None:
    daemon, cluster = one
    api = daemon.client.open("GET", "/tasks/nothing/logs", params={"stdout": 1})
    api_body = json.loads(api.read())
    assert (api.status, api_body) == (404, {"message": "task nothing not found"})
    try:
        with urllib.request.urlopen(
            f"http://{cluster}/tasks/nothing/logs?stdout=1", timeout=30
        ) as resp:
            pytest.fail(f"answered {resp.status}")
    except urllib.error.HTTPError as exc:
        node_status, node_body = exc.code, json.loads(exc.read())
        exc.close()
    # The node knows only the containers it runs, not the cluster's tasks.
    said = {"message": "task nothing has no container on this node"}
    assert (node_status, node_body) == (404, said)
