"""`--userns-remap` read as dockerd reads it, against a copy of the host's /etc (the
real useradd and usermod write into it through --prefix)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pier.containers.userns_setting import load_remap
from pier.errors import InvalidParameter
from pier.snapshots.idmap import IdRange


@pytest.fixture
def root(tmp_path: Path) -> Path:
    etc = tmp_path / "etc"
    etc.mkdir()
    for name in ("passwd", "group", "shadow", "gshadow", "login.defs"):
        shutil.copy(f"/etc/{name}", etc / name)
    (etc / "subuid").write_text("someone:100000:65536\n")
    (etc / "subgid").write_text("")
    return tmp_path


def _add(root: Path, line: str, *files: str) -> None:
    for name in files:
        with open(root / "etc" / name, "a") as f:
            f.write(line + "\n")


def test_default_makes_the_pier_user_with_free_ranges(root: Path) -> None:
    remap = load_remap("default", prefix=root)
    assert remap is not None
    assert remap.name == "pier:pier"
    passwd = (root / "etc/passwd").read_text()
    assert any(line.startswith("pier:") for line in passwd.splitlines())
    # moby's findNextRangeStart: past the ranges already given out, from 100000.
    assert remap.mapping.uids == (IdRange(container_id=0, host_id=165536, size=65536),)
    assert remap.mapping.gids == (IdRange(container_id=0, host_id=100000, size=65536),)
    assert "pier:165536:65536" in (root / "etc/subuid").read_text()
    # A second start finds the user and its ranges, and adds nothing.
    before = (root / "etc/subuid").read_text()
    assert load_remap("default", prefix=root) == remap
    assert (root / "etc/subuid").read_text() == before
    assert not any(
        line.startswith("pier:") for line in (root / "etc/group").read_text().splitlines()
    )


def test_ranges_in_file_order_end_to_end(root: Path) -> None:
    _add(root, "remapper:x:4321:4321::/:/bin/false", "passwd")
    _add(root, "remapper:x:4321:", "group")
    _add(root, "remapper:300000:1000", "subuid")
    _add(root, "4321:200000:10", "subuid")  # by uid too, as moby's lookup
    _add(root, "remapper:400000:65536", "subgid")
    for setting in ("remapper", "4321", "remapper:remapper", "4321:4321"):
        remap = load_remap(setting, prefix=root)
        assert remap is not None
        assert remap.name == "remapper:remapper"
        assert remap.mapping.uids == (
            IdRange(container_id=0, host_id=300000, size=1000),
            IdRange(container_id=1000, host_id=200000, size=10),
        )
        assert remap.mapping.root_pair() == (300000, 400000)
        assert remap.mapping.host_uid(1001) == 200001


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("a:b:c", "Invalid user/group specification in --userns-remap: 'a:b:c'"),
        ("nosuchuser", "Error during uid lookup for 'nosuchuser': user not found"),
        ("987654", "Uid 987654 has no entry in /etc/passwd"),
        ("root:nosuchgroup", "Error during groupname lookup for 'nosuchgroup': group not found"),
        ("nobody", "Error during gid lookup for 'nobody': group not found"),
        ("nobody:nogroup", "Can't create ID mappings: no subuid ranges found for user 'nobody'"),
    ],
)
def test_bad_settings_are_refused(root: Path, setting: str, message: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        load_remap(setting, prefix=root)
    assert info.value.message == message


def test_root_or_nothing_means_no_remapping(root: Path) -> None:
    assert load_remap("", prefix=root) is None
    assert load_remap("root", prefix=root) is None
    assert load_remap("0:0", prefix=root) is None
