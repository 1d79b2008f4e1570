"""What keeps working in a remapped container, through the real docker CLI: the
bridge network, exec, cp both ways, logs, health checks, both runtimes."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from pier.snapshots.idmap import owner_of
from pier_testing import escapes
from pier_testing.api import inspect, wait_for
from pier_testing.binaries import DOCKER, PIER

from .conftest import RemappedDaemon, RemapUser


def docker(pier: RemappedDaemon, *args: str, timeout: float = 60) -> str:
    out = subprocess.run(
        [str(DOCKER), *args], env=pier.env(), capture_output=True, text=True, timeout=timeout
    )
    assert out.returncode == 0, (args, out.stdout, out.stderr)
    return out.stdout


def docker_fails(pier: RemappedDaemon, *args: str) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        [str(DOCKER), *args], env=pier.env(), capture_output=True, text=True, timeout=60
    )
    assert out.returncode != 0, (args, out.stdout)
    return out


@pytest.mark.parametrize("runtime", ["crun", "runc"])
def test_runtimes(pier: RemappedDaemon, remap_user: RemapUser, runtime: str) -> None:
    out = docker(
        pier,
        "run",
        "--rm",
        "--runtime",
        runtime,
        "busybox",
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map; touch /bin/new && stat -c %u /bin/new",
    )
    lines = [line.split() for line in out.splitlines()]
    assert lines == [["0"], ["0", str(remap_user.uid_start), "65536"], ["0"]]


def test_bridge_network_between_remapped_containers(pier: RemappedDaemon) -> None:
    docker(pier, "network", "create", "unet")
    try:
        docker(
            pier,
            "run",
            "-d",
            "--name",
            "web",
            "--network",
            "unet",
            "busybox",
            "sh",
            "-c",
            "echo hello > /index.html && httpd -f -p 80 -h /",
        )
        out = docker(
            pier,
            "run",
            "--rm",
            "--network",
            "unet",
            "busybox",
            "sh",
            "-c",
            "for i in $(seq 50); do wget -qO- http://web/index.html && break; sleep 0.1; done",
        )
        assert out == "hello\n"
        # The default bridge too, with a published port reached from the host.
        docker(
            pier,
            "run",
            "-d",
            "--name",
            "pub",
            "-p",
            "127.0.0.1::80",
            "busybox",
            "sh",
            "-c",
            "echo pub > /index.html && httpd -f -p 80 -h /",
        )
        port = docker(pier, "port", "pub", "80").strip().rsplit(":", 1)[1]

        def served() -> bool:
            got = subprocess.run(
                ["wget", "-qO-", f"http://127.0.0.1:{port}/index.html"],
                capture_output=True,
                text=True,
                timeout=10,
            )
            return got.stdout == "pub\n"

        wait_for(served, timeout=10)
    finally:
        docker(pier, "rm", "-f", "web", "pub")
        docker(pier, "network", "rm", "unet")


def test_exec_runs_in_the_containers_namespace(pier: RemappedDaemon, remap_user: RemapUser) -> None:
    docker(pier, "run", "-d", "--name", "ex", "busybox", "sleep", "60")
    out = docker(pier, "exec", "ex", "sh", "-c", "id -u; cat /proc/self/uid_map")
    lines = [line.split() for line in out.splitlines()]
    assert lines == [["0"], ["0", str(remap_user.uid_start), "65536"]]
    # An exec's process on the host: the mapped root, as the container's own.
    proc = subprocess.Popen([str(DOCKER), "exec", "ex", "sleep", "30"], env=pier.env())
    try:
        pid = int(inspect(pier.client, "ex")["State"]["Pid"])

        wait_for(lambda: bool(_sleepers(pid)), timeout=10)
        for sp in _sleepers(pid):
            status = Path(f"/proc/{sp}/status").read_text()
            uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
            assert uid_line.split()[1:] == [str(remap_user.uid_start)] * 4
    finally:
        proc.kill()
        proc.wait()


def _sleepers(init_pid: int) -> list[int]:
    """`sleep 30` processes in the container's PID namespace."""
    ns = os.readlink(f"/proc/{init_pid}/ns/pid")
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "ns/pid") != ns:
                continue
            if (entry / "cmdline").read_bytes() == b"sleep\x0030\x00":
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_cp_logs_and_health(pier: RemappedDaemon, tmp_path: Path) -> None:
    docker(
        pier,
        "run",
        "-d",
        "--name",
        "hc",
        "--health-cmd",
        "test -f /tmp/ok",
        "--health-interval",
        "1s",
        "busybox",
        "sh",
        "-c",
        "echo started; touch /tmp/ok; echo made > /tmp/made; sleep 60",
    )
    wait_for(
        lambda: inspect(pier.client, "hc")["State"].get("Health", {}).get("Status") == "healthy",
        timeout=20,
    )
    assert docker(pier, "logs", "hc") == "started\n"
    # cp out.
    docker(pier, "cp", "hc:/tmp/made", str(tmp_path / "made"))
    assert (tmp_path / "made").read_text() == "made\n"
    # cp in: the file arrives, and the container's root can change it.
    (tmp_path / "in").write_text("in\n")
    docker(pier, "cp", str(tmp_path / "in"), "hc:/tmp/in")
    out = docker(
        pier, "exec", "hc", "sh", "-c", "cat /tmp/in && echo more >> /tmp/in && stat -c %u /tmp/in"
    )
    assert out == "in\n0\n"
    docker(pier, "rm", "-f", "hc")


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        (
            ["--privileged"],
            "privileged mode is incompatible with user namespaces.  You must run the container "
            "in the host namespace when running privileged mode",
        ),
        (
            ["--network", "host"],
            "cannot share the host's network namespace when user namespaces are enabled",
        ),
        (["--pid", "host"], "cannot share the host PID namespace when user namespaces are enabled"),
    ],
    ids=["privileged", "host-network", "host-pid"],
)
def test_host_namespaces_need_userns_host(
    pier: RemappedDaemon, opts: list[str], message: str
) -> None:
    out = docker_fails(pier, "create", *opts, "busybox", "true")
    assert out.stderr.strip() == f"Error response from daemon: {message}"
    assert docker(pier, "ps", "-aq") == ""
    # With --userns=host they are allowed.
    cid = docker(pier, "create", "--userns", "host", *opts, "busybox", "true").strip()
    docker(pier, "rm", cid)


@pytest.mark.parametrize(
    "opts",
    [
        [],
        ["--read-only"],
        ["--cap-drop", "ALL"],
        ["--security-opt", "no-new-privileges"],
        ["--runtime", "runc"],
    ],
    ids=["default", "read-only", "cap-drop-all", "no-new-privileges", "runc"],
)
def test_every_escape_is_denied(pier: RemappedDaemon, opts: list[str]) -> None:
    out = docker(pier, "run", "--rm", *opts, "busybox", "sh", "-c", escapes.script())
    worked = [name for name, ok in escapes.parse(out).items() if ok]
    assert worked == []


def test_commit_of_a_remapped_container_is_an_ordinary_layer(pier: RemappedDaemon) -> None:
    docker(
        pier,
        "run",
        "--name",
        "cm",
        "busybox",
        "sh",
        "-c",
        "mkdir /made && echo x > /made/f && rm /bin/ls",
    )
    assert "A /made/f" in docker(pier, "diff", "cm").splitlines()
    docker(pier, "commit", "cm", "committed:1")
    # Owned by root (0) in the image: seen as such unmapped, by a --userns=host container.
    out = docker(
        pier,
        "run",
        "--rm",
        "--userns",
        "host",
        "committed:1",
        "sh",
        "-c",
        "stat -c %u:%g /made/f; test -e /bin/ls || echo gone",
    )
    assert out == "0:0\ngone\n"
    docker(pier, "rm", "cm")
    docker(pier, "rmi", "committed:1")


def test_build_steps_and_cp_of_a_stopped_container(pier: RemappedDaemon, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox\nRUN mkdir /built && echo b > /built/f && id -u > /built/uid\n"
    )
    env = dict(pier.env(), DOCKER_BUILDKIT="0")
    out = subprocess.run(
        [str(DOCKER), "build", "-q", "-t", "built:1", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    got = docker(
        pier,
        "run",
        "--rm",
        "--userns",
        "host",
        "built:1",
        "sh",
        "-c",
        "stat -c %u /built/f; cat /built/uid",
    )
    assert got == "0\n0\n"
    # A stopped remapped container: cp out shows its own ids, cp in gives them.
    docker(pier, "create", "--name", "stopped", "built:1", "sh", "-c", "stat -c %u /in; cat /in")
    (tmp_path / "in").write_text("in\n")
    docker(pier, "cp", str(tmp_path / "in"), "stopped:/in")
    docker(pier, "start", "-a", "stopped")
    assert docker(pier, "logs", "stopped") == "0\nin\n"
    raw = subprocess.run(
        [str(DOCKER), "cp", "stopped:/built", "-"], env=pier.env(), capture_output=True, timeout=60
    )
    with tarfile.open(fileobj=io.BytesIO(raw.stdout)) as tf:
        assert {m.uid for m in tf.getmembers()} == {0}
    docker(pier, "rm", "stopped")
    docker(pier, "rmi", "built:1")


def test_pier_cli_userns_flag(pier: RemappedDaemon, remap_user: RemapUser) -> None:
    def pier_cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(PIER), *args], env=pier.env(), capture_output=True, text=True, timeout=60
        )

    out = pier_cli("run", "--rm", "--userns", "host", "busybox", "cat", "/proc/self/uid_map")
    assert (out.returncode, out.stdout.split()) == (0, ["0", "0", "4294967295"])
    out = pier_cli("run", "--rm", "busybox", "cat", "/proc/self/uid_map")
    assert out.stdout.split() == ["0", str(remap_user.uid_start), "65536"]
    # A bad mode: refused by the CLI as the docker CLI refuses it.
    theirs = subprocess.run(
        [str(DOCKER), "run", "--userns", "foo", "busybox", "true"],
        env=pier.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    ours = pier_cli("run", "--userns", "foo", "busybox", "true")
    assert (ours.returncode, ours.stderr.splitlines()[0]) == (
        theirs.returncode,
        theirs.stderr.splitlines()[0].replace("docker:", "pier:"),
    )


@pytest.mark.parametrize("runtime", ["crun", "runc"])
def test_sharing_another_containers_namespaces(
    pier: RemappedDaemon, remap_user: RemapUser, runtime: str
) -> None:
    docker(
        pier,
        "run",
        "-d",
        "--name",
        "owner",
        "busybox",
        "sh",
        "-c",
        "echo shared > /tmp/f; httpd -p 80 -h /tmp; sleep 60",
    )
    fetch = "for i in $(seq 50); do wget -qO- http://127.0.0.1/f && break; sleep 0.1; done;"
    rest = "ps -o comm | grep -qx httpd && echo sees-httpd; cat /proc/self/uid_map"
    try:
        for shared in (["--network"], ["--pid"], ["--ipc"], ["--network", "--pid", "--ipc"]):
            opts = [o for flag in shared for o in (flag, "container:owner")]
            script = (fetch if "--network" in shared else "wget -qO- http://127.0.0.1/f;") + rest
            out = docker(
                pier, "run", "--rm", "--runtime", runtime, *opts, "busybox", "sh", "-c", script
            )
            lines = out.splitlines()
            assert lines[-1].split() == ["0", str(remap_user.uid_start), "65536"], shared
            assert ("shared" in lines) == ("--network" in shared), (shared, out)
            assert ("sees-httpd" in lines) == ("--pid" in shared), (shared, out)
    finally:
        docker(pier, "rm", "-f", "owner")


@pytest.mark.parametrize("runtime", ["crun", "runc"])
def test_root_owns_its_network_namespace(pier: RemappedDaemon, runtime: str) -> None:
    # Made in the container's user namespace (as dockerd's runtime makes it): raw
    # sockets (ping), its own sysfs, its interfaces; the host's stay out of sight.
    out = docker(
        pier,
        "run",
        "--rm",
        "--runtime",
        runtime,
        "busybox",
        "sh",
        "-c",
        "ping -c1 -W2 $(ip route | awk '/default/ {print $3}') >/dev/null && echo pinged;"
        " ls /sys/class/net | sort | tr '\\n' ' '; echo;"
        " cat /proc/sys/net/ipv4/ip_unprivileged_port_start",
    )
    assert out.splitlines() == ["pinged", "eth0 lo ", "0"]
    host_net = os.readlink("/proc/self/ns/net")
    cid = docker(pier, "run", "-d", "--runtime", runtime, "busybox", "sleep", "60").strip()
    pid = int(inspect(pier.client, cid)["State"]["Pid"])
    assert os.readlink(f"/proc/{pid}/ns/net") != host_net
    owner = owner_of(f"/proc/{pid}/ns/net")
    try:
        assert os.fstat(owner).st_ino == os.stat(f"/proc/{pid}/ns/user").st_ino
    finally:
        os.close(owner)
    docker(pier, "rm", "-f", cid)


def test_cp_archive_mode_keeps_ids_inside(pier: RemappedDaemon, tmp_path: Path) -> None:
    src = tmp_path / "owned"
    src.write_text("x\n")
    os.chown(src, 1234, 5678)
    docker(pier, "run", "-d", "--name", "cpa", "busybox", "sleep", "60")
    docker(pier, "cp", "-a", str(src), "cpa:/tmp/owned")
    assert docker(pier, "exec", "cpa", "stat", "-c", "%u:%g", "/tmp/owned") == "1234:5678\n"
    docker(pier, "rm", "-f", "cpa")
    # Into a stopped one (its layer mounted as stored), then seen running.
    docker(pier, "create", "--name", "cps", "busybox", "stat", "-c", "%u:%g", "/tmp/owned")
    docker(pier, "cp", "-a", str(src), "cps:/tmp/owned")
    docker(pier, "start", "-a", "cps")
    assert docker(pier, "logs", "cps") == "1234:5678\n"
    docker(pier, "rm", "cps")


def test_cp_out_and_export_of_a_running_container_carry_its_ids(pier: RemappedDaemon) -> None:
    docker(
        pier,
        "run",
        "-d",
        "--name",
        "out",
        "-v",
        "outvol:/vol",
        "busybox",
        "sh",
        "-c",
        "mkdir /made && touch /made/f /vol/v && chown 1000:2000 /made/f && sleep 60",
    )
    wait_for(
        lambda: (
            subprocess.run(
                [str(DOCKER), "exec", "out", "test", "-e", "/vol/v"], env=pier.env()
            ).returncode
            == 0
        )
    )

    def ids(tar: bytes) -> dict[str, tuple[int, int]]:
        with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
            return {m.name: (m.uid, m.gid) for m in tf.getmembers()}

    def raw(*args: str) -> bytes:
        out = subprocess.run([str(DOCKER), *args], env=pier.env(), capture_output=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout

    assert ids(raw("cp", "out:/made", "-")) == {"made": (0, 0), "made/f": (1000, 2000)}
    assert ids(raw("cp", "out:/vol", "-")) == {"vol": (0, 0), "vol/v": (0, 0)}
    exported = ids(raw("export", "out"))
    assert exported["bin/busybox"] == (0, 0)
    assert exported["made/f"] == (1000, 2000)
    docker(pier, "rm", "-f", "out")
    docker(pier, "volume", "rm", "outvol")


def test_network_connect_and_disconnect_a_running_remapped_container(pier: RemappedDaemon) -> None:
    docker(pier, "network", "create", "later")
    try:
        docker(pier, "run", "-d", "--name", "joiner", "busybox", "sleep", "60")
        docker(pier, "network", "connect", "later", "joiner")
        out = docker(pier, "exec", "joiner", "ls", "/sys/class/net")
        assert out.split() == ["eth0", "eth1", "lo"]
        out = docker(
            pier, "run", "--rm", "--network", "later", "busybox", "ping", "-c1", "-W2", "joiner"
        )
        assert "1 packets received" in out
        docker(pier, "network", "disconnect", "later", "joiner")
        assert docker(pier, "exec", "joiner", "ls", "/sys/class/net").split() == ["eth0", "lo"]
    finally:
        docker(pier, "rm", "-f", "joiner")
        docker(pier, "network", "rm", "later")
