"""`pier volume`, `pier cp`, `pier export`, `pier system df` and the prunes, beside the
docker CLI on the same daemon: the same output, status and files."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from pier_testing.daemon import PierDaemon

PierCLI = Any  # the `cli` fixture of this directory's conftest
DOCKER = Path("/usr/local/bin/docker")
_PIER = Path(__file__).resolve().parents[3] / ".venv" / "bin" / "pier"


class Docker:
    def __init__(self, daemon: PierDaemon) -> None:
        self._env = daemon.env()

    def __call__(
        self, *args: str, input: bytes | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([str(DOCKER), *args], env=self._env, input=input,
                              capture_output=True, timeout=60)  # fmt: skip

    def ok(self, *args: str) -> str:
        out = self(*args)
        assert out.returncode == 0, (args, out.stderr)
        return out.stdout.decode()


@pytest.fixture
def docker(pier: PierDaemon) -> Docker:
    return Docker(pier)


def _raw(
    cli: PierCLI, *args: str, input: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    """`pier` with bytes in and out (tar streams)."""
    return subprocess.run([str(_PIER), "-H", cli.host, *args], env=cli._env, input=input,
                          capture_output=True, timeout=60)  # fmt: skip


def test_volume_commands_match_docker(cli: PierCLI, docker: Docker) -> None:
    assert cli.ok("volume", "create", "--label", "k=v", "-o", "type=tmpfs", "-o", "device=tmpfs",
                  "clivol") == "clivol\n"  # fmt: skip
    generated = cli.ok("volume", "create").strip()
    assert len(generated) == 64
    for args in (("volume", "ls"), ("volume", "ls", "-q"), ("volume", "ls", "-f", "label=k"),
                 ("volume", "ls", "--format", "{{.Name}} {{.Labels}} {{.Scope}}"),
                 ("volume", "inspect", "clivol"), ("volume", "inspect", "-f", "{{.Options}}",
                                                   "clivol")):  # fmt: skip
        assert cli.ok(*args) == docker.ok(*args), args
    assert cli.ok("volume", "ls", "-q", "-f", "label=k") == "clivol\n"
    missing = cli("volume", "inspect", "nosuchvol")
    theirs = docker("volume", "inspect", "nosuchvol")
    assert (missing.returncode, missing.stderr) == (theirs.returncode, theirs.stderr.decode())
    cid = cli.ok("create", "-v", "clivol:/data", "busybox", "true").strip()
    busy = cli("volume", "rm", "clivol")
    assert busy.returncode == 1
    assert busy.stderr == (
        f"Error response from daemon: remove clivol: volume is in use - [{cid}]\nexit status 1\n"
    )
    cli.ok("rm", cid)
    assert cli.ok("volume", "rm", "clivol", generated) == f"clivol\n{generated}\n"


def test_volume_prune_keeps_named_volumes_unless_all(cli: PierCLI) -> None:
    cli.ok("volume", "create", "named-keep")
    cid = cli.ok("create", "-v", "/anon", "busybox", "true").strip()
    anon = json.loads(cli.ok("inspect", cid))[0]["Mounts"][0]["Name"]
    cli.ok("rm", cid)
    out = cli.ok("volume", "prune", "-f")
    assert out == f"Deleted Volumes:\n{anon}\n\nTotal reclaimed space: 0B\n"
    no = cli("volume", "prune", "-a", input="n\n")
    assert (no.returncode, no.stderr) == (1, "")
    assert no.stdout == ("WARNING! This will remove all local volumes not used by at least one "
                         "container.\nAre you sure you want to continue? [y/N] ")  # fmt: skip
    assert "named-keep" in cli.ok("volume", "ls", "-q")
    pruned = cli.ok("volume", "prune", "-a", "-f")
    assert pruned.startswith("Deleted Volumes:\n")
    assert "named-keep" in pruned.splitlines()


def test_cp_both_ways_and_tar_streams(cli: PierCLI, tmp_path: Path) -> None:
    cli.ok("run", "-d", "--name", "cpc", "busybox", "sleep", "300")
    try:
        src = tmp_path / "tree"
        (src / "sub").mkdir(parents=True)
        (src / "sub" / "f").write_text("hello")
        os.symlink("sub/f", src / "link")
        os.chown(src / "sub" / "f", 1234, 5678)
        assert cli.ok("cp", str(src), "cpc:/tmp/") == ""
        listing = cli.ok(
            "exec",
            "cpc",
            "sh",
            "-c",
            "cat /tmp/tree/sub/f; readlink /tmp/tree/link; stat -c %u /tmp/tree/sub/f",
        )
        assert listing == "hellosub/f\n0\n"  # without -a: owned by root
        cli.ok("cp", "-a", str(src / "sub" / "f"), "cpc:/tmp/owned")
        assert cli.ok("exec", "cpc", "stat", "-c", "%u:%g", "/tmp/owned") == "1234:5678\n"
        # out again, to a new name, and into an existing directory
        back = tmp_path / "back"
        cli.ok("cp", "cpc:/tmp/tree", str(back))
        assert (back / "sub" / "f").read_text() == "hello"
        assert os.readlink(back / "link") == "sub/f"
        cli.ok("cp", "cpc:/tmp/tree/sub/f", str(tmp_path))
        assert (tmp_path / "f").read_text() == "hello"
        # -L follows a symlink at the source, named as the link
        cli.ok("exec", "cpc", "ln", "-s", "/tmp/tree/sub/f", "/tmp/abs-link")
        cli.ok("cp", "-L", "cpc:/tmp/abs-link", str(tmp_path / "followed"))
        assert (tmp_path / "followed").read_text() == "hello"
        cli.ok("cp", "cpc:/tmp/abs-link", str(tmp_path / "kept"))
        assert os.readlink(tmp_path / "kept") == "/tmp/tree/sub/f"
        # `-` both ways: a tar on stdout, a tar from stdin
        tar = _raw(cli, "cp", "cpc:/tmp/tree/sub", "-")
        assert tar.returncode == 0
        with tarfile.open(fileobj=io.BytesIO(tar.stdout)) as t:
            assert sorted(t.getnames()) == ["sub", "sub/f"]
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            info = tarfile.TarInfo("fromstdin")
            data = b"piped"
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        put = _raw(cli, "cp", "-", "cpc:/tmp", input=buf.getvalue())
        assert put.returncode == 0, put.stderr
        assert cli.ok("exec", "cpc", "cat", "/tmp/fromstdin") == "piped"
        notdir = _raw(cli, "cp", "-", "cpc:/tmp/owned", input=buf.getvalue())
        assert (notdir.returncode, notdir.stderr) == (
            1,
            b'destination "cpc:/tmp/owned" must be a directory\n',
        )
        # errors as docker's
        both = cli("cp", "cpc:/a", "cpc:/b")
        assert (both.returncode, both.stderr) == (
            1,
            "copying between containers is not supported\n",
        )
        none = cli("cp", "a", "b")
        assert (none.returncode, none.stderr) == (1, "must specify at least one container source\n")
        missing = cli("cp", "cpc:/nonexistent", str(tmp_path / "x"))
        assert missing.returncode == 1
        assert missing.stderr.startswith("Error response from daemon: ")
        assert "/nonexistent" in missing.stderr
    finally:
        cli.ok("rm", "-f", "cpc")


def test_cp_out_of_a_container_never_writes_outside_the_destination(
    cli: PierCLI, tmp_path: Path
) -> None:
    # a symlink in the container pointing at a host path, then a file "through" it
    cli.ok("create", "--name", "evil", "busybox", "true")
    try:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            d = tarfile.TarInfo("d")
            d.type = tarfile.DIRTYPE
            t.addfile(d)
            link = tarfile.TarInfo("d/up")
            link.type = tarfile.SYMTYPE
            link.linkname = str(tmp_path / "outside")
            t.addfile(link)
        (tmp_path / "outside").mkdir()
        assert _raw(cli, "cp", "-", "evil:/", input=buf.getvalue()).returncode == 0
        dest = tmp_path / "dest"
        dest.mkdir()
        cli.ok("cp", "evil:/d", str(dest))
        assert os.readlink(dest / "d" / "up") == str(tmp_path / "outside")
        assert list((tmp_path / "outside").iterdir()) == []
    finally:
        cli.ok("rm", "evil")


def test_export_writes_the_root_file_system(cli: PierCLI, tmp_path: Path) -> None:
    cli.ok("run", "--name", "exp", "busybox", "sh", "-c", "echo mark > /marker")
    try:
        out = tmp_path / "fs.tar"
        assert cli.ok("export", "-o", str(out), "exp") == ""
        with tarfile.open(out) as t:
            names = t.getnames()
            assert "marker" in names and "bin/busybox" in names
            member = t.extractfile("marker")
            assert member is not None and member.read() == b"mark\n"
        streamed = _raw(cli, "container", "export", "exp")
        assert streamed.returncode == 0 and streamed.stdout[:512] == out.read_bytes()[:512]
        bad = cli("export", "-o", str(tmp_path / "no" / "fs.tar"), "exp")
        assert (bad.returncode, bad.stderr) == (
            1,
            f'invalid output path: directory "{tmp_path}/no" does not exist\n',
        )
    finally:
        cli.ok("rm", "exp")


def test_system_df_matches_docker(cli: PierCLI, docker: Docker) -> None:
    cli.ok("volume", "create", "dfvol")
    cli.ok("create", "--name", "dfc", "-v", "dfvol:/d", "busybox", "true")
    try:
        for args in (("system", "df"), ("system", "df", "-v"),
                     ("system", "df", "--format", "{{.Type}}: {{.TotalCount}}")):  # fmt: skip
            assert cli.ok(*args) == docker.ok(*args), args
        table = cli.ok("system", "df").splitlines()
        assert table[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
        assert table[3].split()[:3] == ["Local", "Volumes", "1"]
    finally:
        cli.ok("rm", "dfc")
        cli.ok("volume", "rm", "dfvol")


def test_prunes_match_docker(cli: PierCLI, docker: Docker) -> None:
    cid = cli.ok("create", "--label", "p=1", "busybox", "true").strip()
    keep = cli.ok("create", "busybox", "true").strip()
    out = cli.ok("container", "prune", "-f", "--filter", "label=p=1")
    assert out == f"Deleted Containers:\n{cid}\n\nTotal reclaimed space: 0B\n"
    no = cli("container", "prune", input="n\n")
    assert no.returncode == 1
    assert no.stdout == ("WARNING! This will remove all stopped containers.\n"
                         "Are you sure you want to continue? [y/N] ")  # fmt: skip
    assert cli.ok("image", "prune", "-f") == docker.ok("image", "prune", "-f")
    system = cli.ok("system", "prune", "-f")
    assert system == f"Deleted Containers:\n{keep}\n\nTotal reclaimed space: 0B\n"
    warn = cli("system", "prune", "--volumes", "--filter", "label=a=b", input="n\n")
    assert warn.stdout == (
        "WARNING! This will remove:\n  - all stopped containers\n"
        "  - all networks not used by at least one container\n"
        "  - all anonymous volumes not used by at least one container\n"
        "  - all dangling images\n  - unused build cache\n\n"
        "  Items to be pruned will be filtered with:\n  - label=a=b\n\n"
        "Are you sure you want to continue? [y/N] "
    )
    until = cli("system", "prune", "-f", "--volumes", "--filter", "until=1h")
    assert (until.returncode, until.stderr) == (
        1,
        'ERROR: The "until" filter is not supported with "--volumes"\n',
    )
