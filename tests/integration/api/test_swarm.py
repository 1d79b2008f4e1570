"""Swarm endpoints on a node outside any swarm: 503 with moby's wording, through the
API and through the real docker CLI (exit code and exact stderr)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from pier.client.api import Client
from pier_testing.daemon import PierDaemon

DOCKER = Path("/usr/local/bin/docker")

NOT_A_MANAGER = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" '
    "to connect this node to swarm and try again."
)
NOT_IN_A_SWARM = "This node is not part of a swarm"

MANAGER_ENDPOINTS = [
    ("GET", "/swarm"),
    ("POST", "/swarm/update"),
    ("GET", "/swarm/unlockkey"),
    ("POST", "/swarm/unlock"),
    ("GET", "/nodes"),
    ("GET", "/nodes/abc"),
    ("DELETE", "/nodes/abc"),
    ("POST", "/nodes/abc/update"),
    ("GET", "/services"),
    ("POST", "/services/create"),
    ("GET", "/services/web"),
    ("DELETE", "/services/web"),
    ("POST", "/services/web/update"),
    ("GET", "/services/web/logs"),
    ("GET", "/tasks"),
    ("GET", "/tasks/abc"),
    ("GET", "/tasks/abc/logs"),
    ("GET", "/secrets"),
    ("POST", "/secrets/create"),
    ("GET", "/secrets/abc"),
    ("DELETE", "/secrets/abc"),
    ("POST", "/secrets/abc/update"),
    ("GET", "/configs"),
    ("POST", "/configs/create"),
    ("GET", "/configs/abc"),
    ("DELETE", "/configs/abc"),
    ("POST", "/configs/abc/update"),
]


def _answer(
    pier: PierDaemon, method: str, path: str, version: str = "1.47"
) -> tuple[int, dict[str, object]]:
    resp = Client(str(pier.socket), version=version).open(method, path)
    try:
        body = resp.read()
    finally:
        resp.close()
    return resp.status, json.loads(body)


@pytest.mark.parametrize(
    ("method", "path"), MANAGER_ENDPOINTS, ids=[f"{m} {p}" for m, p in MANAGER_ENDPOINTS]
)
def test_manager_endpoints_refuse_with_moby_wording(
    pier: PierDaemon, method: str, path: str
) -> None:
    for version in ("", "1.47", "1.24"):
        assert _answer(pier, method, path, version) == (503, {"message": NOT_A_MANAGER})


def test_leave_says_not_part_of_a_swarm(pier: PierDaemon) -> None:
    assert _answer(pier, "POST", "/swarm/leave?force=1") == (503, {"message": NOT_IN_A_SWARM})


def test_info_reports_an_inactive_node(pier: PierDaemon) -> None:
    assert pier.client.get_json("/info")["Swarm"] == {
        "NodeID": "",
        "NodeAddr": "",
        "LocalNodeState": "inactive",
        "ControlAvailable": False,
        "Error": "",
        "RemoteManagers": None,
    }


def _docker(pier: PierDaemon, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DOCKER), *args], env=pier.env(), capture_output=True, text=True, timeout=30
    )


@pytest.mark.docker_cli
@pytest.mark.parametrize(
    ("args", "stderr"),
    [
        (("swarm", "leave"), f"Error response from daemon: {NOT_IN_A_SWARM}\n"),
        (("swarm", "leave", "--force"), f"Error response from daemon: {NOT_IN_A_SWARM}\n"),
        (("node", "ls"), f"Error response from daemon: {NOT_A_MANAGER}\n"),
        (("service", "ls"), f"Error response from daemon: {NOT_A_MANAGER}\n"),
        (("secret", "ls"), f"Error response from daemon: {NOT_A_MANAGER}\n"),
        (
            ("swarm", "unlock-key"),
            f"could not fetch unlock key: Error response from daemon: {NOT_A_MANAGER}\n",
        ),
    ],
    ids=["swarm-leave", "swarm-leave-force", "node-ls", "service-ls", "secret-ls", "unlock-key"],
)
def test_docker_cli_prints_the_daemons_refusal(
    pier: PierDaemon, args: tuple[str, ...], stderr: str
) -> None:
    out = _docker(pier, *args)
    assert (out.returncode, out.stdout, out.stderr) == (1, "", stderr)
