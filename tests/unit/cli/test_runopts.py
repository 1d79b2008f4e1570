"""`run` flags -> create body, env files, sizes, exit statuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from pier.cli.flags import parse
from pier.cli.run import RUN, exit_status
from pier.cli.runopts import (
    OptionError,
    create_body,
    parse_env_file,
    ram_in_bytes,
)


def body(argv: list[str], environ: dict[str, str] | None = None) -> dict:  # type: ignore[type-arg]
    opts = parse(RUN, argv, "pier run")
    return create_body(opts, opts.args[0], opts.args[1:], environ=environ or {})


def test_attached_defaults() -> None:
    b = body(["busybox", "echo", "hi"])
    assert (b["AttachStdin"], b["AttachStdout"], b["AttachStderr"]) == (False, True, True)
    assert b["Cmd"] == ["echo", "hi"]
    assert b["Entrypoint"] is None
    assert b["HostConfig"]["NetworkMode"] == "default"
    assert b["HostConfig"]["AutoRemove"] is False


def test_interactive_tty_detach() -> None:
    b = body(["-it", "busybox"])
    assert (b["OpenStdin"], b["StdinOnce"], b["Tty"], b["AttachStdin"]) == (True, True, True, True)
    assert b["Cmd"] is None
    d = body(["-d", "-i", "busybox"])
    assert (d["AttachStdin"], d["AttachStdout"], d["StdinOnce"]) == (False, False, False)


def test_many_flags() -> None:
    b = body(
        ["--rm", "--name", "n", "-e", "A=1", "-e", "HOME_X", "-w", "/w", "-u", "1:2", "-h", "h",
         "--entrypoint", "sh", "-l", "k=v", "-l", "bare", "--network", "none", "--runtime", "runc",
         "--init", "--stop-signal", "SIGUSR1", "--stop-timeout", "3", "--read-only", "--cap-add",
         "NET_ADMIN", "--cap-drop", "ALL", "--privileged", "--security-opt", "no-new-privileges",
         "-m", "512m", "-p", "127.0.0.1:8080:80", "busybox"],
        environ={"HOME_X": "/root"},
    )  # fmt: skip
    hc = b["HostConfig"]
    assert b["Env"] == ["A=1", "HOME_X=/root"]
    assert (b["WorkingDir"], b["User"], b["Hostname"]) == ("/w", "1:2", "h")
    assert b["Entrypoint"] == ["sh"]
    assert b["Labels"] == {"k": "v", "bare": ""}
    assert (b["StopSignal"], b["StopTimeout"]) == ("SIGUSR1", 3)
    assert hc["NetworkMode"] == "none"
    assert (hc["Runtime"], hc["Init"], hc["ReadonlyRootfs"], hc["Privileged"]) == (
        "runc", True, True, True)  # fmt: skip
    assert (hc["CapAdd"], hc["CapDrop"], hc["SecurityOpt"]) == (
        ["NET_ADMIN"], ["ALL"], ["no-new-privileges"])  # fmt: skip
    assert hc["Memory"] == 512 * 1024 * 1024
    assert hc["AutoRemove"] is True
    assert hc["PortBindings"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}
    assert b["ExposedPorts"] == {"80/tcp": {}}


def test_empty_entrypoint_resets_it() -> None:
    assert body(["--entrypoint", "", "busybox"])["Entrypoint"] == [""]


def test_env_file(tmp_path: Path) -> None:
    f = tmp_path / "env"
    f.write_text("# comment\n\n  A=1\nB= spaced value \nFROM_ENV\nUNSET\nC=\n")
    assert parse_env_file(str(f), {"FROM_ENV": "x"}) == [
        "A=1", "B= spaced value ", "FROM_ENV=x", "C="]  # fmt: skip


def test_env_file_errors(tmp_path: Path) -> None:
    f = tmp_path / "env"
    f.write_text("BAD KEY=1\n")
    with pytest.raises(OptionError, match="variable 'BAD KEY' contains whitespaces"):
        parse_env_file(str(f), {})
    with pytest.raises(OptionError, match="no such file"):
        parse_env_file(str(tmp_path / "missing"), {})


@pytest.mark.parametrize(
    ("text", "value"),
    [("1024", 1024), ("1k", 1024), ("512m", 512 << 20), ("1g", 1 << 30), ("1.5GB", 3 << 29)],
    ids=str,
)
def test_ram_in_bytes(text: str, value: int) -> None:
    assert ram_in_bytes(text) == value


def test_ram_in_bytes_invalid() -> None:
    with pytest.raises(ValueError, match="invalid size: 'busybox'"):
        ram_in_bytes("busybox")
    with pytest.raises(ValueError, match="invalid suffix: 'x'"):
        ram_in_bytes("1x")


@pytest.mark.parametrize(
    ("message", "status"),
    [('exec: "nonexist": executable file not found in $PATH', 127),
     ("stat /etc/x: no such file or directory", 127),
     ("exec /etc/passwd: permission denied", 126),
     ("network bogus not found", 125)],
    ids=["not-found", "no-such-file", "permission", "other"],
)  # fmt: skip
def test_exit_status(message: str, status: int) -> None:
    assert exit_status(message) == status
