"""`docker run` through the real docker CLI: output, exit codes and the options that
shape the container's process."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from pier_testing.api import wait_for
from pier_testing.daemon import PierDaemon

HEX64 = re.compile(r"^[0-9a-f]{64}$")


def test_run_rm_prints_output_and_leaves_nothing(docker) -> None:
    out = docker("run", "--rm", "busybox", "sh", "-c", "echo $((6*7))")
    assert (out.returncode, out.stdout, out.stderr) == (0, "42\n", "")
    assert docker.names() == []


@pytest.mark.parametrize("code", [0, 1, 7, 255], ids=["0", "1", "7", "255"])
def test_exit_code_passthrough(docker, code: int) -> None:
    out = docker("run", "--rm", "busybox", "sh", "-c", f"exit {code}")
    assert (out.returncode, out.stdout, out.stderr) == (code, "", "")


def test_stdout_and_stderr_stay_apart(docker) -> None:
    out = docker("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2")
    assert (out.returncode, out.stdout, out.stderr) == (0, "out\n", "err\n")


def test_command_not_found_exits_127(docker) -> None:
    out = docker("run", "--name", "e2e-notfound", "busybox", "no-such-cmd")
    assert out.returncode == 127
    assert out.stdout == ""
    assert out.stderr.startswith("docker: Error response from daemon: ")
    assert 'exec: "no-such-cmd": executable file not found in $PATH' in out.stderr
    assert "Run 'docker run --help' for more information" in out.stderr
    # Docker keeps the container that failed to start, in state Created.
    state = docker.ok("inspect", "-f", "{{.State.Status}}", "e2e-notfound")
    assert state == "created\n"


def test_not_executable_exits_126(docker) -> None:
    out = docker("run", "--rm", "busybox", "/etc/passwd")
    assert out.returncode == 126
    assert out.stdout == ""
    assert out.stderr.startswith("docker: Error response from daemon: ")
    assert 'exec: "/etc/passwd": permission denied' in out.stderr


def test_piped_stdin_reaches_the_container(docker) -> None:
    out = docker("run", "-i", "--rm", "busybox", "cat", input="hi\n")
    assert (out.returncode, out.stdout, out.stderr) == (0, "hi\n", "")
    assert docker.names() == []


def test_piped_stdin_eof_ends_the_container(docker) -> None:
    out = docker("run", "-i", "--rm", "busybox", "wc", "-l", input="a\nb\nc\n")
    assert (out.returncode, out.stdout.strip(), out.stderr) == (0, "3", "")


def test_env_and_env_file(docker, tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("# a comment\nFROM_FILE=file value\nOVERRIDDEN=file\n")
    out = docker(
        "run",
        "--rm",
        "-e",
        "FOO=bar baz",
        "--env-file",
        str(env_file),
        "-e",
        "OVERRIDDEN=flag",
        "busybox",
        "sh",
        "-c",
        'echo "$FOO|$FROM_FILE|$OVERRIDDEN|$PATH"',
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == (
        "bar baz|file value|flag|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
    )


def test_workdir(docker) -> None:
    assert docker.ok("run", "--rm", "-w", "/tmp", "busybox", "pwd") == "/tmp\n"


def test_workdir_is_created(docker) -> None:
    assert docker.ok("run", "--rm", "-w", "/new/dir", "busybox", "pwd") == "/new/dir\n"


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("nobody", "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)"),
        ("33:50", "uid=33(www-data) gid=50(staff) groups=50(staff)"),
        ("www-data", "uid=33(www-data) gid=33(www-data) groups=33(www-data),50(staff)"),
        ("0", "uid=0(root) gid=0(root) groups=0(root)"),
    ],
    ids=["name", "uid-gid", "supplementary", "root"],
)
def test_user(docker, user: str, expected: str) -> None:
    # Expected lines recorded from Docker 20.10 with the same image: the primary
    # group is part of the supplementary groups, as runc's user lookup makes it.
    out = docker("run", "--rm", "-u", user, "busybox", "id")
    assert (out.returncode, out.stdout, out.stderr) == (0, expected + "\n", "")


def test_unknown_user_fails(docker) -> None:
    out = docker("run", "--rm", "-u", "nosuchuser", "busybox", "id")
    assert out.returncode == 125
    assert out.stdout == ""
    assert out.stderr.startswith(
        "docker: Error response from daemon: unable to find user nosuchuser: "
        "no matching entries in passwd file\n"
    )
    assert docker.names() == []


def test_hostname(docker) -> None:
    out = docker(
        "run", "--rm", "-h", "myhost", "busybox", "sh", "-c", "hostname; cat /etc/hostname"
    )
    assert (out.returncode, out.stdout) == (0, "myhost\nmyhost\n")


def test_entrypoint(docker) -> None:
    out = docker("run", "--rm", "--entrypoint", "echo", "busybox", "from", "entrypoint")
    assert (out.returncode, out.stdout) == (0, "from entrypoint\n")


def test_labels(docker) -> None:
    docker.ok("create", "--name", "e2e-labels", "-l", "a=b", "-l", "empty", "busybox", "true")
    labels = json.loads(docker.ok("inspect", "-f", "{{json .Config.Labels}}", "e2e-labels"))
    assert labels == {"a": "b", "empty": ""}


def test_name(docker) -> None:
    cid = docker.ok("run", "-d", "--name", "e2e-named", "busybox", "true").strip()
    assert HEX64.match(cid)
    assert docker.ok("wait", "e2e-named") == "0\n"
    assert docker.ok("inspect", "-f", "{{.Id}} {{.Name}}", "e2e-named") == f"{cid} /e2e-named\n"


def test_network_none_has_only_loopback(docker) -> None:
    out = docker("run", "--rm", "--network", "none", "busybox", "ip", "-o", "link")
    assert out.returncode == 0, out.stderr
    names = [line.split(":")[1].strip() for line in out.stdout.splitlines()]
    assert names == ["lo"]


def _host_links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True)
    return {line.split(":")[1].strip().split("@")[0] for line in out.stdout.splitlines()}


def test_network_host_sees_host_interfaces(docker) -> None:
    out = docker("run", "--rm", "--network", "host", "busybox", "ip", "-o", "link")
    assert out.returncode == 0, out.stderr
    inside = {line.split(":")[1].strip().split("@")[0] for line in out.stdout.splitlines()}
    route = subprocess.run(
        ["ip", "route", "show", "default"], capture_output=True, text=True, check=True
    ).stdout.split()
    stable = {"lo"} | ({route[route.index("dev") + 1]} if "dev" in route else set())
    assert stable <= inside
    assert stable <= _host_links()
    assert len(inside) > 1


@pytest.mark.parametrize("runtime", ["runc", "crun"], ids=["runc", "crun"])
def test_runtime_selection(docker, runtime: str) -> None:
    out = docker(
        "run", "--name", f"e2e-rt-{runtime}", "--runtime", runtime, "busybox", "echo", "ok"
    )
    assert (out.returncode, out.stdout, out.stderr) == (0, "ok\n", "")
    got = docker.ok("inspect", "-f", "{{.HostConfig.Runtime}}", f"e2e-rt-{runtime}")
    assert got == f"{runtime}\n"


def test_init_is_pid_1(docker) -> None:
    out = docker(
        "run",
        "--rm",
        "--init",
        "busybox",
        "sh",
        "-c",
        "tr '\\0' ' ' </proc/1/cmdline; echo; ps -o pid,comm",
    )
    assert out.returncode == 0, out.stderr
    cmdline, *ps = out.stdout.splitlines()
    init, *rest = cmdline.split()
    # Docker runs /sbin/docker-init (tini); any tini-like init fits, as long as it is
    # PID 1 and runs the command as its child.
    assert Path(init).name in {"docker-init", "tini", "catatonit"}, cmdline
    assert rest[-3:] == ["ps", "-o", "pid,comm"] or "sh" in rest, cmdline
    pid1 = [line.split() for line in ps if line.split()[0] == "1"]
    assert pid1 and pid1[0][1] in {"docker-init", "tini", "catatonit"}, ps


def test_without_init_the_command_is_pid_1(docker) -> None:
    out = docker("run", "--rm", "busybox", "sh", "-c", "echo $$; true")
    assert (out.returncode, out.stdout, out.stderr) == (0, "1\n", "")


def test_read_only_root(docker) -> None:
    out = docker("run", "--rm", "--read-only", "busybox", "touch", "/x")
    assert out.returncode == 1
    assert out.stderr == "touch: /x: Read-only file system\n"
    writable = docker("run", "--rm", "busybox", "touch", "/x")
    assert (writable.returncode, writable.stderr) == (0, "")


def _cap_eff(stdout: str) -> int:
    line = next(line for line in stdout.splitlines() if line.startswith("CapEff:"))
    return int(line.split()[1], 16)


CAP_CHOWN = 0
CAP_NET_RAW = 13


def test_cap_drop(docker) -> None:
    base = _cap_eff(docker.ok("run", "--rm", "busybox", "cat", "/proc/self/status"))
    # Docker's default set, recorded from Docker 20.10.
    assert base == 0xA80425FB
    dropped = _cap_eff(
        docker.ok("run", "--rm", "--cap-drop", "NET_RAW", "busybox", "cat", "/proc/self/status")
    )
    assert dropped == base & ~(1 << CAP_NET_RAW)
    out = docker("run", "--rm", "--cap-drop", "CHOWN", "busybox", "chown", "1", "/tmp")
    assert out.returncode == 1
    assert "Operation not permitted" in out.stderr


def test_privileged_is_recorded(docker) -> None:
    # Running privileged fails on this machine under Docker too (root lacks some
    # capabilities here), so only the recorded configuration is compared.
    docker.ok("create", "--name", "e2e-priv", "--privileged", "busybox", "true")
    got = docker.ok("inspect", "-f", "{{.HostConfig.Privileged}}", "e2e-priv")
    assert got == "true\n"


def test_run_detached_prints_id(docker, pier: PierDaemon) -> None:
    out = docker("run", "-d", "busybox", "sleep", "30")
    assert out.returncode == 0, out.stderr
    cid = out.stdout.strip()
    assert HEX64.match(cid), out.stdout
    assert out.stdout == cid + "\n"
    assert docker.ok("ps", "-q", "--no-trunc") == cid + "\n"


def test_detached_rm_removes_on_exit(docker) -> None:
    docker.ok("run", "-d", "--rm", "--name", "e2e-autorm", "busybox", "sh", "-c", "sleep 0.3")
    wait_for(lambda: docker.names() == [], timeout=15)
    assert docker.names() == []


def test_piped_stdin_large(docker) -> None:
    data = "".join(f"{i:07d}\n" for i in range(131072))  # 1 MiB, beyond any pipe buffer
    out = docker("run", "-i", "--rm", "busybox", "sh", "-c", "wc -c", input=data, timeout=20)
    assert (out.returncode, out.stdout.strip(), out.stderr) == (0, str(len(data)), "")
