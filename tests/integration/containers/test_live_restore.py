"""Live restore: containers outlive pierd (kill -9 or SIGTERM), a new pierd re-adopts
them, records the exits that happened while it was down, and cleans up what a crash
left half-made."""

from __future__ import annotations

import os
import subprocess

from pier_testing.api import create, demux, inspect, logs, wait, wait_for
from pier_testing.daemon import PierDaemon

COUNTER = [
    "sh",
    "-c",
    "trap 'exit 0' TERM; i=0; while true; do echo $i; i=$((i+1)); sleep 0.1; done",
]


def _alive(pid: int) -> bool:
    return os.path.exists(f"/proc/{pid}")


def _lines(path: str) -> int:
    """Lines in a container's log file: what conmon wrote, with or without pierd."""
    with open(path, "rb") as fh:
        return fh.read().count(b"\n")


def test_containers_survive_kill_9_and_are_readopted(pier: PierDaemon) -> None:
    runner = create(pier.client, COUNTER, name="runner")
    short = create(pier.client, ["sh", "-c", "sleep 1; exit 7"], name="short")
    for cid in (runner, short):
        pier.client.post(f"/containers/{cid}/start")
    pid = inspect(pier.client, runner)["State"]["Pid"]
    log_path = inspect(pier.client, runner)["LogPath"]
    short_pid = inspect(pier.client, short)["State"]["Pid"]

    pier.kill9()
    # "short" exits while no pierd runs; "runner" keeps logging
    wait_for(lambda: not _alive(short_pid) and _lines(log_path) >= 10)
    assert _alive(pid)
    pier.start()

    listed = {c["Names"][0]: c for c in pier.client.get_json("/containers/json")}
    assert list(listed) == ["/runner"]
    assert inspect(pier.client, runner)["State"]["Pid"] == pid
    exited = inspect(pier.client, short)["State"]
    assert (exited["Status"], exited["ExitCode"]) == ("exited", 7)
    # the lines written while pierd was down are in the log, and it keeps growing
    count = len(logs(pier.client, runner)[0].splitlines())
    assert count >= 10
    wait_for(lambda: len(logs(pier.client, runner)[0].splitlines()) > count + 3)
    pier.client.post(f"/containers/{runner}/stop", t=5)
    assert inspect(pier.client, runner)["State"]["ExitCode"] == 0
    assert not _alive(pid)


def test_follow_goes_on_across_a_restart(pier: PierDaemon) -> None:
    runner = create(pier.client, COUNTER)
    pier.client.post(f"/containers/{runner}/start")
    pier.kill9()
    pier.start()
    resp = pier.client.request(
        "GET",
        f"/containers/{runner}/logs",
        params={"stdout": 1, "stderr": 1, "follow": 1, "tail": 0},
    )
    got = b""
    for chunk in resp.iter_chunks():
        got += chunk
        if len(demux(got)[0].splitlines()) >= 3:
            break
    resp.close()
    numbers = [int(x) for x in demux(got)[0].split()]
    assert numbers == sorted(numbers) and len(numbers) >= 3
    pier.client.post(f"/containers/{runner}/kill")
    assert wait(pier.client, runner) == 137


def test_sigterm_stops_pierd_and_leaves_containers_running(pier: PierDaemon) -> None:
    runner = create(pier.client, COUNTER)
    pier.client.post(f"/containers/{runner}/start")
    pid = inspect(pier.client, runner)["State"]["Pid"]
    assert pier.stop() == 0
    assert _alive(pid)
    assert not pier.socket.exists()
    pier.start()
    assert inspect(pier.client, runner)["State"]["Running"] is True
    pier.client.post(f"/containers/{runner}/stop", t=5)


def test_exit_while_down_with_auto_remove_is_removed(pier: PierDaemon) -> None:
    cid = create(pier.client, ["sh", "-c", "sleep 0.5"], host_config={"AutoRemove": True})
    pier.client.post(f"/containers/{cid}/start")
    pid = inspect(pier.client, cid)["State"]["Pid"]
    pier.kill9()
    wait_for(lambda: not _alive(pid))  # it exits while no pierd runs
    pier.start()
    assert pier.client.get_json("/containers/json", all=1) == []


def test_crash_leftovers_are_cleaned_at_start(pier: PierDaemon) -> None:
    stray = "f" * 64
    stray_dir = pier.data_root / "containers" / stray
    (stray_dir / "rootfs").mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(stray_dir / "rootfs")], check=True)
    (pier.data_root / "tmp" / "half-written-layer").mkdir(parents=True)
    (pier.exec_root / "conmon" / stray).mkdir(parents=True)
    pier.kill9()
    pier.start()
    assert not stray_dir.exists()
    # tmp/ holds only the trash of removals made behind the answers, emptied soon.
    assert [p.name for p in (pier.data_root / "tmp").iterdir()] == ["removing"]
    pier.removals_done()
    assert not (pier.exec_root / "conmon" / stray).exists()
    with open("/proc/self/mountinfo") as fh:
        assert str(stray_dir) not in fh.read()


def _read_all(stream: object) -> bytes:
    out = b""
    while True:
        chunk = stream.recv()  # type: ignore[attr-defined]
        if not chunk:
            return out
        out += chunk


def test_attach_and_exec_after_a_restart(pier: PierDaemon) -> None:
    cid = create(
        pier.client,
        ["sh", "-c", "while read l; do echo got $l; done"],
        OpenStdin=True,
    )
    pier.client.post(f"/containers/{cid}/start")
    pier.kill9()
    pier.start()

    stream = pier.client.hijack(
        "POST", f"/containers/{cid}/attach", params={"stream": 1, "stdin": 1, "stdout": 1}
    )
    stream.sendall(b"again\n")
    seen = b""
    while b"got again" not in seen:
        chunk = stream.recv()
        assert chunk, seen
        seen += chunk
    stream.close()
    assert demux(seen)[0] == b"got again\n"

    eid = pier.client.post_json(
        f"/containers/{cid}/exec",
        {"Cmd": ["sh", "-c", "echo exec in $(hostname)"], "AttachStdout": True},
    )["Id"]
    stream = pier.client.hijack("POST", f"/exec/{eid}/start", json={"Detach": False})
    out = _read_all(stream)
    stream.close()
    assert demux(out)[0] == f"exec in {cid[:12]}\n".encode()
    assert pier.client.get_json(f"/exec/{eid}/json")["ExitCode"] == 0
    pier.client.post(f"/containers/{cid}/kill")
    assert wait(pier.client, cid) == 137
