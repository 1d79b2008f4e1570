"""Containers of a pierd started with `--userns-remap`: root inside is the start of
the user's subordinate range outside."""

from __future__ import annotations

import os
from pathlib import Path

from pier_testing.api import create, inspect, run
from pier_testing.leaks import Scope

from .conftest import RemappedDaemon, RemapUser, import_busybox


def _status_ids(pid: int) -> tuple[list[int], list[int]]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = {line.split(":")[0]: line.split()[1:] for line in lines}
    return [int(x) for x in fields["Uid"]], [int(x) for x in fields["Gid"]]


def _started(pier: RemappedDaemon, cmd: list[str], **kw: object) -> tuple[str, int]:
    cid = create(pier.client, cmd, **kw)  # type: ignore[arg-type]
    pier.client.post(f"/containers/{cid}/start")
    pid = int(inspect(pier.client, cid)["State"]["Pid"])
    return cid, pid


def test_root_inside_is_the_range_start_outside(
    pier: RemappedDaemon, remap_user: RemapUser
) -> None:
    code, out, err = run(pier.client, ["id"])
    assert (code, err) == (0, "")
    assert out.startswith("uid=0(root) gid=0(root)"), out
    cid, pid = _started(pier, ["sleep", "60"])
    uids, gids = _status_ids(pid)
    assert uids == [remap_user.uid_start] * 4
    assert gids == [remap_user.gid_start] * 4
    uid_map = Path(f"/proc/{pid}/uid_map").read_text().split()
    assert uid_map == ["0", str(remap_user.uid_start), "65536"]
    gid_map = Path(f"/proc/{pid}/gid_map").read_text().split()
    assert gid_map == ["0", str(remap_user.gid_start), "65536"]
    # The image's files are root's inside (idmapped layers), and root may write anywhere.
    code, out, err = run(
        pier.client, ["sh", "-c", "stat -c '%u:%g' /bin/busybox / && touch /etc/new && echo ok"]
    )
    assert (code, out, err) == (0, "0:0\n0:0\nok\n", "")
    hc = inspect(pier.client, cid)["HostConfig"]
    assert hc["UsernsMode"] == ""


def test_userns_host_runs_as_host_root(pier: RemappedDaemon) -> None:
    cid, pid = _started(pier, ["sleep", "60"], host_config={"UsernsMode": "host"})
    assert _status_ids(pid) == ([0] * 4, [0] * 4)
    assert Path(f"/proc/{pid}/uid_map").read_text().split() == ["0", "0", "4294967295"]
    assert inspect(pier.client, cid)["HostConfig"]["UsernsMode"] == "host"
    code, out, _ = run(
        pier.client, ["stat", "-c", "%u", "/bin/busybox"], host_config={"UsernsMode": "host"}
    )
    assert (code, out) == (0, "0\n")


def test_info_lists_userns(pier: RemappedDaemon) -> None:
    info = pier.client.get_json("/info")
    assert "name=userns" in info["SecurityOptions"]


def test_volume_files_belong_to_the_mapped_root(
    pier: RemappedDaemon, remap_user: RemapUser
) -> None:
    code, out, err = run(
        pier.client,
        ["sh", "-c", "echo hi > /data/f && mkdir /data/d && stat -c '%u' /data/f /data"],
        host_config={"Binds": ["uvol:/data"]},
    )
    assert (code, out, err) == (0, "0\n0\n", "")
    data = Path(pier.client.get_json("/volumes/uvol")["Mountpoint"])
    for p in (data, data / "f", data / "d"):
        st = os.stat(p)
        assert (st.st_uid, st.st_gid) == (remap_user.uid_start, remap_user.gid_start), p


def test_pierd_restart_keeps_the_mapping(pier: RemappedDaemon, remap_user: RemapUser) -> None:
    cid, pid = _started(pier, ["sleep", "60"])
    pier.restart()
    # The running container was adopted with its namespace; a new one gets the same maps.
    assert inspect(pier.client, cid)["State"]["Pid"] == pid
    assert _status_ids(pid)[0] == [remap_user.uid_start] * 4
    _, new_pid = _started(pier, ["sleep", "60"])
    assert _status_ids(new_pid)[0] == [remap_user.uid_start] * 4
    # Restarted after the daemon's restart, the old one is remapped again.
    pier.client.post(f"/containers/{cid}/restart", t=0)
    again = int(inspect(pier.client, cid)["State"]["Pid"])
    assert again != pid
    assert _status_ids(again)[0] == [remap_user.uid_start] * 4
    code, out, _ = run(pier.client, ["stat", "-c", "%u", "/"])
    assert (code, out) == (0, "0\n")


def test_daemon_json_userns_remap(
    remap_user: RemapUser, busybox_tar: Path, leak_scope: Scope
) -> None:
    daemon = RemappedDaemon(leak_scope, remap=remap_user.name, in_config=True)
    try:
        daemon.start()
        import_busybox(daemon, busybox_tar)
        assert "name=userns" in daemon.client.get_json("/info")["SecurityOptions"]
        code, out, _ = run(daemon.client, ["cat", "/proc/self/uid_map"])
        assert (code, out.split()) == (0, ["0", str(remap_user.uid_start), "65536"])
        daemon.remove_all_containers()
    finally:
        daemon.destroy()


def test_the_data_root_lets_the_mapped_root_through(
    pier: RemappedDaemon, remap_user: RemapUser
) -> None:
    # dockerd's setupDaemonRoot: 0710 with the remapped root's group, so the runtime,
    # working as the container's root, reaches the container's root file system.
    for path in (pier.data_root, pier.data_root / "containers"):
        st = os.stat(path)
        assert (st.st_gid, st.st_mode & 0o777) == (remap_user.gid_start, 0o710), path
    flags = pier.flags
    pier.flags = []
    try:
        pier.restart()  # without a remapping: root's group again
        for path in (pier.data_root, pier.data_root / "containers"):
            assert os.stat(path).st_gid == 0, path
        assert "name=userns" not in pier.client.get_json("/info")["SecurityOptions"]
    finally:
        pier.flags = flags
        pier.restart()
    code, out, _ = run(pier.client, ["cat", "/proc/self/uid_map"])
    assert (code, out.split()[1]) == (0, str(remap_user.uid_start))
