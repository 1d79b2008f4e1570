"""daemon.json's container defaults (issue 16, point 8): `no-new-privileges`,
`seccomp-profile`, `default-ulimits`, Pier's `default-pids-limit`, `icc` for the
default bridge, and `userland-proxy` accepted; each overridden by what a container
asks for."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pier.client.api import Client
from pier_testing.api import create, demux, inspect
from pier_testing.custom import CustomDaemon, running
from pier_testing.daemon import PierDaemon
from pier_testing.leaks import Scope

# Allows everything but mkdir: enough to tell the daemon's profile from the default.
NO_MKDIR = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
}
PROBE = (
    "grep NoNewPrivs /proc/self/status; echo nofile $(ulimit -Sn) $(ulimit -Hn); "
    "mkdir /tmp/d && echo mkdir ok"
)


@pytest.fixture(scope="module")
def defaults_daemon(
    leak_scope: Scope, busybox_tar: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CustomDaemon]:
    profile = tmp_path_factory.mktemp("seccomp") / "no-mkdir.json"
    profile.write_text(json.dumps(NO_MKDIR))
    daemon = CustomDaemon(
        leak_scope,
        flags=[],
        config={
            "no-new-privileges": True,
            "seccomp-profile": str(profile),
            "default-ulimits": {"nofile": {"Name": "nofile", "Soft": 1111, "Hard": 2222}},
            "default-pids-limit": 77,
            "icc": False,
            "userland-proxy": False,
            "userland-proxy-path": "/usr/bin/docker-proxy",
        },
    )
    with running(daemon, leak_scope, busybox_tar):
        yield daemon


def _run(client: Client, cmd: str, **host_config: Any) -> tuple[str, str]:
    """Run `sh -c cmd` to its end; (cid, output)."""
    cid = create(client, ["sh", "-c", cmd], host_config=host_config or None)
    client.post(f"/containers/{cid}/start")
    client.post_json(f"/containers/{cid}/wait")
    out, err = demux(
        client.request("GET", f"/containers/{cid}/logs", params={"stdout": 1, "stderr": 1}).read()
    )
    return cid, (out + err).decode()


def _pids_max(pid: int) -> str:
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "pids" in controllers.split(","):
            return Path(f"/sys/fs/cgroup/pids{path}/pids.max").read_text().strip()
        if controllers == "" and Path("/sys/fs/cgroup/cgroup.controllers").exists():
            return Path(f"/sys/fs/cgroup{path}/pids.max").read_text().strip()
    raise AssertionError("no pids cgroup")


def test_defaults_apply_to_a_container_that_asks_nothing(defaults_daemon: CustomDaemon) -> None:
    client = defaults_daemon.client
    cid, out = _run(client, PROBE)
    assert "NoNewPrivs:\t1" in out
    assert "nofile 1111 2222" in out
    assert "mkdir ok" not in out and "Operation not permitted" in out, out
    hc = inspect(client, cid)["HostConfig"]
    # What the client asked is what inspect shows; the merged ulimits as dockerd shows.
    assert hc["PidsLimit"] is None
    assert {"Name": "nofile", "Soft": 1111, "Hard": 2222} in hc["Ulimits"]


def test_a_container_overrides_each_default(defaults_daemon: CustomDaemon) -> None:
    client = defaults_daemon.client
    _, out = _run(
        client,
        PROBE,
        SecurityOpt=["no-new-privileges=false", "seccomp=unconfined"],
        Ulimits=[{"Name": "nofile", "Soft": 500, "Hard": 600}],
    )
    assert "NoNewPrivs:\t0" in out
    assert "nofile 500 600" in out
    assert "mkdir ok" in out


def test_execs_inherit_the_defaults(defaults_daemon: CustomDaemon) -> None:
    client = defaults_daemon.client
    cid = create(client, ["sleep", "60"])
    client.post(f"/containers/{cid}/start")
    exec_id = client.post_json(
        f"/containers/{cid}/exec",
        {"Cmd": ["sh", "-c", PROBE], "AttachStdout": True, "AttachStderr": True},
    )["Id"]
    raw = client.request("POST", f"/exec/{exec_id}/start", json={"Detach": False}).read()
    out = b"".join(demux(raw)).decode()
    assert "NoNewPrivs:\t1" in out
    assert "nofile 1111 2222" in out
    assert "mkdir ok" not in out  # the container's seccomp filter holds for its execs
    client.delete(f"/containers/{cid}", force=1)


def test_default_pids_limit_is_a_bound_the_container_can_raise(
    defaults_daemon: CustomDaemon,
) -> None:
    client = defaults_daemon.client
    for host_config, expected in (({}, "77"), ({"PidsLimit": 500}, "500")):
        cid = create(client, ["sleep", "60"], host_config=host_config or None)
        client.post(f"/containers/{cid}/start")
        assert _pids_max(inspect(client, cid)["State"]["Pid"]) == expected
        client.delete(f"/containers/{cid}", force=1)


def test_piers_own_default_pids_limit(pier: PierDaemon) -> None:
    """Docker puts no bound; Pier's default daemon does (4096)."""
    cid = create(pier.client, ["sleep", "60"])
    pier.client.post(f"/containers/{cid}/start")
    assert _pids_max(inspect(pier.client, cid)["State"]["Pid"]) == "4096"
    assert inspect(pier.client, cid)["HostConfig"]["PidsLimit"] is None


@pytest.mark.parametrize(
    ("config", "said"),
    [
        ({"seccomp-profile": "/nonexistent.json"}, "opening seccomp profile (/nonexistent.json)"),
        ({"default-ulimits": {"nofile": {"Soft": "x"}}}, "default-ulimits: nofile"),
        ({"no-such-key": 1}, "the following directives don't match any configuration option"),
        ({"icc": "false"}, "cannot unmarshal string into Go struct field Config.icc of type bool"),
        ({"default-pids-limit": "9"}, "Config.default-pids-limit of type int"),
        ({"dns": "10.0.0.1"}, "cannot unmarshal string into Go struct field Config.dns"),
        ({"runtimes": {"r": {}}}, "invalid daemon configuration file"),
    ],
    ids=[
        "missing-profile",
        "bad-ulimit",
        "unknown-key",
        "string-bool",
        "string-int",
        "string-list",
        "runtime-without-path",
    ],
)
def test_bad_defaults_stop_pierd(leak_scope: Scope, config: dict[str, Any], said: str) -> None:
    # On the test daemon's own bridge and nft table (its daemon.json with `config` over
    # it): a pierd that wrongly starts leaves nothing of the host's defaults behind.
    daemon = CustomDaemon(leak_scope, flags=[], config=config)
    try:
        out = subprocess.run(daemon.command(), capture_output=True, text=True, timeout=60)
    finally:
        daemon.destroy()
    assert out.returncode == 1 and said in out.stderr, out


def test_an_unknown_default_ulimit_flag_stops_pierd(leak_scope: Scope) -> None:
    # The test daemon's own bridge and nft table: a pierd that wrongly starts does
    # not touch the host's defaults, and destroy() removes what it made.
    daemon = CustomDaemon(leak_scope, flags=["--default-ulimit", "nofiles=1:2"])
    try:
        out = subprocess.run(daemon.command(), capture_output=True, text=True, timeout=60)
    finally:
        daemon.destroy()
    assert out.returncode == 1 and "invalid ulimit type: nofiles" in out.stderr, out


def test_bad_profile_content_stops_pierd(leak_scope: Scope, tmp_path: Path) -> None:
    profile = tmp_path / "p.json"
    profile.write_text("{not json")
    daemon = CustomDaemon(leak_scope, flags=["--seccomp-profile", str(profile)])
    try:
        out = subprocess.run(daemon.command(), capture_output=True, text=True, timeout=60)
    finally:
        daemon.destroy()
    assert out.returncode == 1
    assert f"loading seccomp profile ({profile}) failed: Decoding seccomp profile" in out.stderr


def _ping_between_containers(client: Client) -> int:
    """A container on the default bridge pings another; the ping's exit status."""
    target = create(client, ["sleep", "60"])
    client.post(f"/containers/{target}/start")
    address = inspect(client, target)["NetworkSettings"]["IPAddress"]
    assert address
    cid = create(client, ["ping", "-c", "1", "-W", "2", address])
    client.post(f"/containers/{cid}/start")
    status = int(client.post_json(f"/containers/{cid}/wait")["StatusCode"])
    client.delete(f"/containers/{target}", force=1)
    return status


def test_icc_false_cuts_the_default_bridge(defaults_daemon: CustomDaemon) -> None:
    client = defaults_daemon.client
    bridge = client.get_json("/networks/bridge")
    assert bridge["Options"]["com.docker.network.bridge.enable_icc"] == "false"
    assert _ping_between_containers(client) != 0


def test_icc_by_default(pier: PierDaemon) -> None:
    """The control: the same ping on a daemon with Docker's default."""
    assert _ping_between_containers(pier.client) == 0


def test_info_lists_the_daemons_security_options(
    defaults_daemon: CustomDaemon, pier: PierDaemon
) -> None:
    profile = json.loads(defaults_daemon.config_file.read_text())["seccomp-profile"]
    info = defaults_daemon.client.get_json("/info")
    assert f"name=seccomp,profile={profile}" in info["SecurityOptions"]
    assert "name=no-new-privileges" in info["SecurityOptions"]
    assert "WARNING: daemon is not using the default seccomp profile" in info["Warnings"]
    plain = pier.client.get_json("/info")
    assert "name=seccomp,profile=builtin" in plain["SecurityOptions"]
    assert "name=no-new-privileges" not in plain["SecurityOptions"]
