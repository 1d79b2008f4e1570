"""Exec: POST /containers/{id}/exec, /exec/{id}/start (hijacked and detached),
/exec/{id}/resize and /exec/{id}/json, against a real pierd."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from typing import Any

import pytest

from pier.client.errors import APIError
from pier_testing.api import create, demux, inspect, wait_for
from pier_testing.daemon import PierDaemon

OUT = {"AttachStdout": True, "AttachStderr": True}


def _running(pier: PierDaemon, cmd: list[str] | None = None, **config: Any) -> str:
    cid = create(pier.client, cmd or ["sleep", "600"], **config)
    pier.client.post(f"/containers/{cid}/start")
    return cid


def _exec(pier: PierDaemon, cid: str, cmd: list[str], **body: Any) -> str:
    return str(pier.client.post_json(f"/containers/{cid}/exec", {"Cmd": cmd, **body})["Id"])


def _read_all(stream: Any) -> bytes:
    out = b""
    while True:
        chunk = stream.recv()
        if not chunk:
            return out
        out += chunk


def _start(pier: PierDaemon, eid: str, stdin: bytes | None = None, **body: Any) -> bytes:
    stream = pier.client.hijack("POST", f"/exec/{eid}/start", json={"Detach": False, **body})
    try:
        if stdin is not None:
            sender = threading.Thread(target=lambda: (stream.sendall(stdin), stream.close_write()))
            sender.start()
        out = _read_all(stream)
    finally:
        stream.close()
    return out


def _exec_json(pier: PierDaemon, eid: str) -> dict[str, Any]:
    return dict(pier.client.get_json(f"/exec/{eid}/json"))


def test_exec_output_exit_code_and_inspect(pier: PierDaemon) -> None:
    cid = _running(pier)
    eid = _exec(pier, cid, ["sh", "-c", "echo out; echo err >&2; exit 3"], **OUT)
    before = _exec_json(pier, eid)
    assert (before["Running"], before["ExitCode"], before["Pid"]) == (False, None, 0)
    out, err = demux(_start(pier, eid))
    assert (out, err) == (b"out\n", b"err\n")
    after = _exec_json(pier, eid)
    assert after["ExitCode"] == 3 and after["Running"] is False and after["Pid"] > 0
    assert after["ContainerID"] == cid
    assert after["ProcessConfig"] == {
        "arguments": ["-c", "echo out; echo err >&2; exit 3"],
        "entrypoint": "sh",
        "privileged": False,
        "tty": False,
        "user": "",
    }


def test_exec_env_workdir_and_user(pier: PierDaemon) -> None:
    cid = _running(pier, Env=["FROM_CONTAINER=1", "OVERRIDDEN=container"])
    eid = _exec(
        pier,
        cid,
        ["sh", "-c", "echo $FROM_CONTAINER $OVERRIDDEN $EXTRA $HOME; pwd; id"],
        Env=["OVERRIDDEN=exec", "EXTRA=x"],
        WorkingDir="/tmp",
        User="www-data",
        **OUT,
    )
    out, _ = demux(_start(pier, eid))
    lines = out.decode().splitlines()
    assert lines[0] == "1 exec x /var/www"
    assert lines[1] == "/tmp"
    assert lines[2].startswith("uid=33(www-data) gid=33(www-data)")


def test_exec_runs_in_the_containers_namespaces(pier: PierDaemon) -> None:
    cid = _running(pier, Hostname="inside")
    eid = _exec(pier, cid, ["sh", "-c", "hostname; cat /proc/1/cmdline"], **OUT)
    out, _ = demux(_start(pier, eid))
    assert out == b"inside\nsleep\x00600\x00"


def test_exec_stdin_with_half_close(pier: PierDaemon) -> None:
    cid = _running(pier)
    data = bytes(range(256)) * 4096  # 1 MiB, ctrl-p ctrl-q included: no TTY, no detach
    eid = _exec(pier, cid, ["md5sum"], AttachStdin=True, **OUT)
    out, _ = demux(_start(pier, eid, stdin=data))
    assert out == f"{hashlib.md5(data).hexdigest()}  -\n".encode()
    assert _exec_json(pier, eid)["ExitCode"] == 0


def test_exec_tty_is_a_terminal_with_the_given_size(pier: PierDaemon) -> None:
    cid = _running(pier)
    eid = _exec(pier, cid, ["sh", "-c", "tty; stty size"], Tty=True, **OUT)
    out = _start(pier, eid, Tty=True, ConsoleSize=[33, 101])
    lines = out.decode().replace("\r", "").splitlines()
    assert lines[0].startswith("/dev/pts/")
    assert lines[1] == "33 101"


def test_exec_resize_while_running(pier: PierDaemon) -> None:
    cid = _running(pier)
    eid = _exec(pier, cid, ["sh", "-c", "read x; stty size"], Tty=True, AttachStdin=True, **OUT)
    stream = pier.client.hijack("POST", f"/exec/{eid}/start", json={"Detach": False, "Tty": True})
    try:
        wait_for(lambda: _exec_json(pier, eid)["Running"])
        pier.client.post(f"/exec/{eid}/resize", h=40, w=120)
        stream.sendall(b"go\r")
        out = _read_all(stream)
    finally:
        stream.close()
    assert b"40 120" in out


def test_exec_detached_runs_in_the_background(pier: PierDaemon) -> None:
    cid = _running(pier)
    eid = _exec(pier, cid, ["sh", "-c", "echo done > /tmp/mark"])
    resp = pier.client.request("POST", f"/exec/{eid}/start", json={"Detach": True})
    assert resp.status == 200 and resp.read() == b""
    wait_for(lambda: _exec_json(pier, eid)["ExitCode"] == 0)
    check = _exec(pier, cid, ["cat", "/tmp/mark"], **OUT)
    assert demux(_start(pier, check))[0] == b"done\n"


def test_exec_command_not_found_is_127_with_the_oci_message(pier: PierDaemon) -> None:
    # dockerd 28+ (moby c866a7e5f8, its TestFailedExecExitCode); 27 and older
    # overwrote the 127 with a default 126, a bug that change fixed.
    cid = _running(pier)
    eid = _exec(pier, cid, ["no-such-cmd"], **OUT)
    out, _ = demux(_start(pier, eid))
    assert b'exec: "no-such-cmd": executable file not found in $PATH' in out
    assert out.startswith(b"OCI runtime exec failed")
    assert _exec_json(pier, eid)["ExitCode"] == 127


def test_exec_not_executable_is_126(pier: PierDaemon) -> None:
    cid = _running(pier)
    eid = _exec(pier, cid, ["/etc/passwd"], **OUT)
    _start(pier, eid)
    assert _exec_json(pier, eid)["ExitCode"] == 126


def test_exec_into_a_stopped_container_is_409(pier: PierDaemon) -> None:
    cid = create(pier.client, ["true"])
    with pytest.raises(APIError) as err:
        _exec(pier, cid, ["true"])
    assert err.value.status == 409
    assert err.value.message == f"container {cid} is not running"


def test_exec_into_a_paused_container_is_409(pier: PierDaemon) -> None:
    cid = _running(pier)
    pier.client.post(f"/containers/{cid}/pause")
    with pytest.raises(APIError) as err:
        _exec(pier, cid, ["true"])
    pier.client.post(f"/containers/{cid}/unpause")
    assert err.value.status == 409
    assert "is paused, unpause the container before exec" in err.value.message


def test_exec_bad_requests(pier: PierDaemon) -> None:
    cid = _running(pier)
    with pytest.raises(APIError) as err:
        _exec(pier, cid, [])
    assert (err.value.status, err.value.message) == (400, "No exec command specified")
    with pytest.raises(APIError) as err:
        pier.client.post_json("/exec/nope/start", {"Detach": True})
    assert (err.value.status, err.value.message) == (404, "No such exec instance: nope")
    with pytest.raises(APIError) as err:
        pier.client.get_json("/exec/nope/json")
    assert err.value.status == 404
    with pytest.raises(APIError) as err:
        _exec(pier, "no-such-container", ["true"])
    assert err.value.status == 404


def test_an_exec_starts_only_once(pier: PierDaemon) -> None:
    cid = _running(pier)
    eid = _exec(pier, cid, ["true"], **OUT)
    _start(pier, eid)
    with pytest.raises(APIError) as err:
        pier.client.post_json(f"/exec/{eid}/start", {"Detach": True})
    assert err.value.status == 409
    assert err.value.message == f"Error: Exec command {eid} has already run"


def test_privileged_exec_gets_every_capability(pier: PierDaemon) -> None:
    cid = _running(pier)
    plain = _exec(pier, cid, ["sh", "-c", "grep CapEff /proc/self/status"], **OUT)
    priv = _exec(pier, cid, ["sh", "-c", "grep CapEff /proc/self/status"], Privileged=True, **OUT)
    plain_caps = int(demux(_start(pier, plain))[0].split()[1], 16)
    priv_caps = int(demux(_start(pier, priv))[0].split()[1], 16)
    assert plain_caps & priv_caps == plain_caps and priv_caps != plain_caps


def test_exec_survives_its_client_and_stops_with_the_container(pier: PierDaemon) -> None:
    cid = _running(pier)
    eid = _exec(pier, cid, ["sleep", "600"], **OUT)
    stream = pier.client.hijack("POST", f"/exec/{eid}/start", json={"Detach": False})
    wait_for(lambda: _exec_json(pier, eid)["Running"])
    stream.close()
    assert _exec_json(pier, eid)["Running"] is True
    assert inspect(pier.client, cid)["ExecIDs"] == [eid]
    pier.client.post(f"/containers/{cid}/kill")
    wait_for(lambda: _exec_json(pier, eid)["Running"] is False)
    wait_for(lambda: inspect(pier.client, cid)["State"]["Running"] is False)


def test_exec_events(pier: PierDaemon) -> None:
    cid = _running(pier)
    since = time.time() - 1
    eid = _exec(pier, cid, ["sh", "-c", "exit 4"], **OUT)
    _start(pier, eid)
    wait_for(lambda: _exec_json(pier, eid)["ExitCode"] == 4)
    resp = pier.client.request(
        "GET", "/events", params={"since": f"{since:.3f}", "until": f"{time.time() + 1:.3f}"}
    )
    events = [json.loads(line) for line in resp.read().decode().splitlines()]
    mine = [e for e in events if e["Actor"].get("Attributes", {}).get("execID") == eid]
    actions = [e["Action"] for e in mine]
    assert actions == ["exec_create: sh -c exit 4", "exec_start: sh -c exit 4", "exec_die"]
    assert mine[-1]["Actor"]["Attributes"]["exitCode"] == "4"


def test_exec_invalid_detach_keys_is_400(pier: PierDaemon) -> None:
    cid = _running(pier)
    with pytest.raises(APIError) as err:
        _exec(pier, cid, ["true"], DetachKeys="ctrl-1")
    assert (err.value.status, err.value.message) == (400, "Invalid escape keys (ctrl-1) provided")


_PRIVILEGES = (
    "for p in self 1; do grep -E '^(CapPrm|CapEff|CapBnd|NoNewPrivs):' /proc/$p/status; "
    "grep 'Max open files' /proc/$p/limits; done"
)


@pytest.mark.parametrize(
    "host_config",
    [
        {},
        {"CapDrop": ["ALL"]},
        {"CapAdd": ["SYS_ADMIN"], "CapDrop": ["CHOWN"]},
        {"Privileged": True},
        {
            "SecurityOpt": ["no-new-privileges"],
            "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}],
        },
    ],
    ids=["default", "cap-drop-all", "cap-add-drop", "privileged", "nnp-ulimit"],
)
def test_an_exec_has_its_containers_privileges(
    pier: PierDaemon, host_config: dict[str, Any]
) -> None:
    cid = create(pier.client, ["sleep", "600"], host_config=host_config)
    pier.client.post(f"/containers/{cid}/start")
    eid = _exec(pier, cid, ["sh", "-c", _PRIVILEGES], **OUT)
    out, err = demux(_start(pier, eid))
    assert err == b""
    lines = out.decode().splitlines()
    assert len(lines) == 10, lines
    mine, init = lines[:5], lines[5:]
    assert mine == init
    if host_config.get("CapDrop") == ["ALL"]:
        assert "CapBnd:\t0000000000000000" in mine
    if "Ulimits" in host_config:
        assert mine[3] == "NoNewPrivs:\t1"
        assert mine[4].split()[3:5] == ["1024", "2048"]
    # `ulimit -n` of an exec is the container's soft limit.
    limit = _exec(pier, cid, ["sh", "-c", "ulimit -n"], **OUT)
    assert demux(_start(pier, limit))[0].decode().strip() == mine[4].split()[3]
