"""What the run path leaves out to be fast, shown on a real pierd: a `--rm`
container's overlay is volatile (no sync of the data root's disk at its unmount), a
kept container's is not."""

from __future__ import annotations

import json
import time
from pathlib import Path

from pier.runtime.conmon_binary import LEAN_DIR, choose_conmon
from pier_testing.api import create, inspect, logs, wait, wait_for
from pier_testing.daemon import PierDaemon
from pier_testing.procs import conmon_of


def _volatile(rootfs: Path) -> bool:
    # Newer kernels show the option as fsync=volatile.
    return bool({"volatile", "fsync=volatile"} & set(_root_mount_options(rootfs)))


def _root_mount_options(rootfs: Path) -> list[str]:
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[4] == str(rootfs):
            return line.split(" - ", 1)[1].split()[2].split(",")
    raise AssertionError(f"{rootfs} is not mounted")


def _started(pier: PierDaemon, *, auto_remove: bool) -> str:
    cid = create(
        pier.client,
        ["sh", "-c", "echo up; exec sleep 600"],
        host_config={"AutoRemove": auto_remove, "NetworkMode": "none"},
    )
    pier.client.post(f"/containers/{cid}/start")
    wait_for(lambda: logs(pier.client, cid)[0] == b"up\n")
    return cid


def test_auto_remove_container_layer_is_volatile(pier: PierDaemon) -> None:
    cid = _started(pier, auto_remove=True)
    rootfs = pier.data_root / "containers" / cid / "rootfs"
    assert _volatile(rootfs)
    since = time.time() - 1
    pier.client.post(f"/containers/{cid}/kill")
    # Removal may be over before a request sent after the kill arrives (`docker run
    # --rm` asks for its wait first): the events say how it ended.
    wait_for(lambda: not pier.client.get_json("/containers/json", all=1))
    resp = pier.client.request(
        "GET", "/events", params={"since": f"{since:.3f}", "until": f"{time.time() + 1:.3f}"}
    )
    events = [json.loads(line) for line in resp.read().decode().splitlines()]
    mine = [e for e in events if e.get("id") == cid]
    assert [e["Action"] for e in mine if e["Action"] in ("die", "destroy")] == ["die", "destroy"]
    die = next(e for e in mine if e["Action"] == "die")
    assert die["Actor"]["Attributes"]["exitCode"] == "137"
    assert not rootfs.exists()


def test_kept_container_layer_is_synced(pier: PierDaemon) -> None:
    cid = _started(pier, auto_remove=False)
    rootfs = pier.data_root / "containers" / cid / "rootfs"
    assert not _volatile(rootfs)
    pier.client.post(f"/containers/{cid}/kill")
    assert wait(pier.client, cid) == 137
    assert inspect(pier.client, cid)["State"]["Status"] == "exited"


def test_monitor_is_conmon_without_the_journal(pier: PierDaemon) -> None:
    # `make install` made the copy; a pierd that fell back to the stock conmon says why.
    lean = choose_conmon()
    assert lean.lean, lean.reason
    cid = _started(pier, auto_remove=False)
    maps = Path(f"/proc/{conmon_of(cid)}/maps").read_text()
    libsystemd = {line.split()[-1] for line in maps.splitlines() if "libsystemd" in line}
    assert libsystemd == {str(LEAN_DIR / "libsystemd.so.0")}
    assert "libgcrypt" not in maps
    # The RUNPATH is conmon's own, so the runtime it starts loads its libraries as
    # before: the container ran, and an exec (conmon, then `crun exec`) works.
    exec_id = pier.client.post_json(
        f"/containers/{cid}/exec", {"Cmd": ["echo", "in"], "AttachStdout": True}
    )["Id"]
    stream = pier.client.hijack("POST", f"/exec/{exec_id}/start", json={"Detach": False})
    out = b""
    try:
        while chunk := stream.recv():
            out += chunk
    finally:
        stream.close()
    assert out.endswith(b"in\n")
    assert pier.client.get_json(f"/exec/{exec_id}/json")["ExitCode"] == 0
    pier.client.post(f"/containers/{cid}/kill")
    assert wait(pier.client, cid) == 137
