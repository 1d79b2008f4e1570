"""What a container sees: Entrypoint/Cmd, env, user, working dir, /etc files, network
modes, --init, runtimes and the security defaults, as Docker gives them."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from pier.client.errors import APIError
from pier_testing.api import create, inspect, run, wait_for
from pier_testing.daemon import PierDaemon


def _image_with(pier: PierDaemon, busybox_tar: Any, tag: str, changes: list[str]) -> None:
    # `changes` repeats in the query, as the docker CLI sends it
    query = "&".join(f"changes={quote(c)}" for c in changes)
    with open(busybox_tar, "rb") as fh:
        resp = pier.client.request(
            "POST",
            f"/images/create?fromSrc=-&repo=cfgtest&tag={tag}&{query}",
            body=fh.read(),
        )
        resp.read()


@pytest.fixture(scope="module")
def entry_image(pierd: PierDaemon, busybox_tar: Any) -> str:
    _image_with(
        pierd,
        busybox_tar,
        "entry",
        [
            'ENTRYPOINT ["echo", "ep"]',
            'CMD ["default"]',
            "ENV FROM_IMAGE=1 SHARED=image",
            "WORKDIR /srv/app",
            "USER www-data",
            "LABEL layer=image",
        ],
    )
    return "cfgtest:entry"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, "ep default\n"),
        ({"Cmd": ["given"]}, "ep given\n"),
        ({"Entrypoint": ["echo", "other"]}, "other\n"),  # a new entrypoint drops image Cmd
        ({"Entrypoint": ["echo"], "Cmd": ["both"]}, "both\n"),
        ({"Entrypoint": "echo", "Cmd": "string-form"}, "string-form\n"),
        ({"Entrypoint": [""], "Cmd": ["echo", "reset"]}, "reset\n"),
    ],
    ids=["image-both", "cmd-replaces", "entrypoint-drops-cmd", "both-given", "string", "reset"],
)
def test_entrypoint_and_cmd(
    pier: PierDaemon, entry_image: str, body: dict[str, Any], expected: str
) -> None:
    code, out, _ = run(pier.client, None, image=entry_image, **body)  # type: ignore[arg-type]
    assert (code, out) == (0, expected)


def test_image_config_is_inherited_and_merged(pier: PierDaemon, entry_image: str) -> None:
    cid = create(
        pier.client,
        ["sh", "-c", "pwd; id -u; echo $FROM_IMAGE $SHARED $MINE; echo $HOME"],
        image=entry_image,
        Entrypoint=[],
        Env=["SHARED=mine", "MINE=2"],
        Labels={"own": "1"},
    )
    pier.client.post(f"/containers/{cid}/start")
    info = inspect(pier.client, cid)
    assert info["Config"]["WorkingDir"] == "/srv/app"
    assert info["Config"]["User"] == "www-data"
    assert info["Config"]["Labels"] == {"layer": "image", "own": "1"}
    assert "FROM_IMAGE=1" in info["Config"]["Env"]
    assert "SHARED=mine" in info["Config"]["Env"]
    from pier_testing.api import logs, wait

    assert wait(pier.client, cid) == 0
    out = logs(pier.client, cid)[0].decode().splitlines()
    assert out == ["/srv/app", "33", "1 mine 2", "/var/www"]


def test_no_command_is_400(pier: PierDaemon, entry_image: str) -> None:
    with pytest.raises(APIError) as err:
        create(pier.client, None, image="busybox")  # busybox as imported has no Cmd
    assert err.value.status == 400


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("", "uid=0(root) gid=0(root) groups=0(root)"),
        ("nobody", "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)"),
        ("www-data", "uid=33(www-data) gid=33(www-data) groups=33(www-data),50(staff)"),
        ("33:50", "uid=33(www-data) gid=50(staff) groups=50(staff)"),
        ("1234", "uid=1234 gid=0(root) groups=0(root)"),
        ("daemon:staff", "uid=1(daemon) gid=50(staff) groups=50(staff)"),
    ],
    ids=["default", "name", "supplementary", "uid-gid", "unknown-uid", "name-group"],
)
def test_user(pier: PierDaemon, user: str, expected: str) -> None:
    code, out, err = run(pier.client, ["id"], User=user)
    assert (code, out.strip(), err) == (0, expected, "")


def test_unknown_user_fails_start(pier: PierDaemon) -> None:
    cid = create(pier.client, ["id"], User="nosuchuser")
    with pytest.raises(APIError) as err:
        pier.client.post(f"/containers/{cid}/start")
    assert "unable to find user nosuchuser: no matching entries in passwd file" in str(err.value)


def test_env_defaults_and_hostname(pier: PierDaemon) -> None:
    code, out, _ = run(
        pier.client,
        ["sh", "-c", "echo $PATH; echo $HOSTNAME; hostname; cat /etc/hostname; echo $HOME"],
        Hostname="box",
        Env=["A=1"],
    )
    assert code == 0
    assert out.splitlines() == [
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "box",
        "box",
        "box",
        "/root",
    ]


def test_default_hostname_is_short_id(pier: PierDaemon) -> None:
    cid = create(pier.client, ["hostname"])
    pier.client.post(f"/containers/{cid}/start")
    from pier_testing.api import logs, wait

    wait(pier.client, cid)
    assert logs(pier.client, cid)[0].decode().strip() == cid[:12]


def test_workdir_is_created(pier: PierDaemon) -> None:
    code, out, _ = run(pier.client, ["pwd"], WorkingDir="/made/for/you")
    assert (code, out) == (0, "/made/for/you\n")


def test_etc_hosts_and_resolv_conf(pier: PierDaemon) -> None:
    code, out, _ = run(
        pier.client,
        ["sh", "-c", "cat /etc/hosts; echo ---; cat /etc/resolv.conf"],
        host_config={"ExtraHosts": ["db.local:10.1.2.3"], "Dns": ["10.0.0.53"]},
    )
    assert code == 0
    hosts, resolv = out.split("---\n")
    assert "127.0.0.1\tlocalhost" in hosts
    assert "10.1.2.3\tdb.local" in hosts
    assert "nameserver 10.0.0.53" in resolv


def test_network_none_has_only_loopback(pier: PierDaemon) -> None:
    code, out, _ = run(pier.client, ["ip", "-o", "link"], host_config={"NetworkMode": "none"})
    names = [line.split(":")[1].strip() for line in out.splitlines()]
    assert (code, names) == (0, ["lo"])


def test_default_network_is_the_bridge(pier: PierDaemon) -> None:
    code, out, _ = run(pier.client, ["ip", "-o", "-4", "addr", "show", "eth0"])
    assert code == 0 and f"10.{pier.net}.0." in out, out
    cid = create(pier.client, ["true"])
    assert inspect(pier.client, cid)["HostConfig"]["NetworkMode"] == "bridge"


def test_network_host_sees_host_interfaces(pier: PierDaemon) -> None:
    # Tests running alongside add and remove links meanwhile: the container's view must
    # lie between the host's before and after.
    before = set(os.listdir("/sys/class/net"))
    code, out, _ = run(
        pier.client,
        ["sh", "-c", "hostname; ls /sys/class/net"],
        host_config={"NetworkMode": "host"},
    )
    after = set(os.listdir("/sys/class/net"))
    hostname, *links = out.split()
    assert code == 0
    assert before & after <= set(links) <= before | after
    assert hostname == socket.gethostname()


def test_network_container_mode_shares_the_namespace(pier: PierDaemon) -> None:
    first = create(pier.client, ["sleep", "600"], name="netowner")
    pier.client.post(f"/containers/{first}/start")
    owner_ns = os.readlink(f"/proc/{inspect(pier.client, first)['State']['Pid']}/ns/net")
    code, out, _ = run(
        pier.client,
        ["readlink", "/proc/self/ns/net"],
        host_config={"NetworkMode": "container:netowner"},
    )
    assert (code, out.strip()) == (0, owner_ns)
    pier.client.post(f"/containers/{first}/kill")


@pytest.mark.parametrize("runtime", ["crun", "runc"])
def test_runtime_choice(pier: PierDaemon, runtime: str) -> None:
    code, out, _ = run(pier.client, ["echo", "ok"], host_config={"Runtime": runtime})
    assert (code, out) == (0, "ok\n")
    [c] = [c for c in pier.client.get_json("/containers/json", all=1)]
    assert inspect(pier.client, c["Id"])["HostConfig"]["Runtime"] == runtime


def test_init_is_pid_one(pier: PierDaemon) -> None:
    code, out, _ = run(
        pier.client, ["sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '"], host_config={"Init": True}
    )
    assert code == 0
    assert out.startswith("/sbin/docker-init -- sh -c")


def test_init_forwards_sigterm(pier: PierDaemon) -> None:
    cid = create(pier.client, ["sleep", "600"], host_config={"Init": True})
    pier.client.post(f"/containers/{cid}/start")
    # Until tini has spawned its child it has no handler, and a SIGTERM sent to a
    # namespace's PID 1 without one is dropped: stop only once sleep runs.
    pid = inspect(pier.client, cid)["State"]["Pid"]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    wait_for(lambda: children.read_text().strip() != "")
    pier.client.post(f"/containers/{cid}/stop", t=10)
    assert inspect(pier.client, cid)["State"]["ExitCode"] == 143


MASKED = next(
    p
    for p in ("/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/kcore")
    if os.path.exists(p)
)


def test_default_capabilities_and_security(pier: PierDaemon) -> None:
    code, out, _ = run(
        pier.client,
        [
            "sh",
            "-c",
            "grep -E '^(CapEff|Seccomp):' /proc/self/status; "
            f"wc -c < {MASKED}; "
            "touch /proc/sys/kernel/hostname 2>/dev/null || echo ro-proc-sys",
        ],
    )
    assert code == 0
    lines = out.splitlines()
    status = dict(line.split(":\t") for line in lines[:2])
    assert status["CapEff"] == "00000000a80425fb"  # Docker's default set
    assert status["Seccomp"] == "2"
    assert lines[2:] == ["0", "ro-proc-sys"]  # masked path empty, /proc/sys read-only


def test_privileged_and_cap_drop(pier: PierDaemon) -> None:
    _, out, _ = run(
        pier.client, ["grep", "CapEff", "/proc/self/status"], host_config={"CapDrop": ["ALL"]}
    )
    assert out.split()[1] == "0000000000000000"
    _, out, _ = run(
        pier.client,
        ["grep", "-E", "CapEff|Seccomp:", "/proc/self/status"],
        host_config={"Privileged": True},
    )
    fields = dict(line.split(":\t") for line in out.splitlines())
    assert fields["Seccomp"] == "0"
    # every capability of the daemon's bounding set
    status = Path("/proc/self/status").read_text().splitlines()
    bounding = next(ln for ln in status if ln.startswith("CapBnd"))
    assert fields["CapEff"] == bounding.split()[1]


def test_read_only_rootfs(pier: PierDaemon) -> None:
    code, out, err = run(
        pier.client,
        ["sh", "-c", "touch /x || echo refused; echo ok > /etc/hosts || echo hosts-ro"],
        host_config={"ReadonlyRootfs": True},
    )
    assert (code, out) == (0, "refused\nhosts-ro\n")
    assert "Read-only file system" in err


def test_bind_mount_of_a_host_directory(pier: PierDaemon, tmp_path: Any) -> None:
    (tmp_path / "in.txt").write_text("from host\n")
    code, out, _ = run(
        pier.client,
        ["sh", "-c", "cat /data/in.txt; echo back > /data/out.txt"],
        host_config={"Binds": [f"{tmp_path}:/data"]},
    )
    assert (code, out) == (0, "from host\n")
    assert (tmp_path / "out.txt").read_text() == "back\n"
