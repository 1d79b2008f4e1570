"""The local path rules of `pier cp` (moby/go-archive's copy.go) and `--device` parsing
(docker/cli's validateLinuxPath and parseLinuxDevice)."""

from __future__ import annotations

import pytest

from pier.cli import cptar
from pier.cli.deviceopt import check_device, device_mapping


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/a/b", ("/a", "b")),
        ("/a/b/", ("/a", "b")),
        ("/a/b/.", ("/a/b", ".")),
        ("b", (".", "b")),
        ("/", ("/", "/")),
    ],
)
def test_split_path_dir_entry(path: str, expected: tuple[str, str]) -> None:
    assert cptar.split_path_dir_entry(path) == expected


def test_rebase_renames_only_the_top_entry() -> None:
    assert cptar.rebase("tree/sub/f", "tree", "copy") == "copy/sub/f"
    assert cptar.rebase("tree", "tree", "copy") == "copy"
    assert cptar.rebase("treehouse/f", "tree", "copy") == "treehouse/f"
    assert cptar.rebase("./x", ".", "copy") == "copy/x"


def test_rebase_name_after_a_symlink() -> None:
    assert cptar.rebase_name("/tmp/link", "/tmp/real") == ("/tmp/real", "link")
    assert cptar.rebase_name("/tmp/link/", "/tmp/real") == ("/tmp/real/", "link")
    assert cptar.rebase_name("/tmp/same", "/x/same") == ("/x/same", "")


def test_asserts_directory() -> None:
    assert cptar.asserts_directory("/a/")
    assert cptar.asserts_directory("/a/.")
    assert not cptar.asserts_directory("/a")


@pytest.mark.parametrize(
    ("value", "mapping"),
    [
        ("/dev/null", ("/dev/null", "/dev/null", "rwm")),
        ("/dev/null:/dev/x", ("/dev/null", "/dev/x", "rwm")),
        ("/dev/null:r", ("/dev/null", "/dev/null", "r")),
        ("/dev/null:/dev/x:rw", ("/dev/null", "/dev/x", "rw")),
    ],
)
def test_device_forms(value: str, mapping: tuple[str, str, str]) -> None:
    check_device(value)
    got = device_mapping(value)
    assert (got["PathOnHost"], got["PathInContainer"], got["CgroupPermissions"]) == mapping


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("/dev/null:/dev/x:rwx", "bad mode specified: rwx"),
        ("/dev/null:/dev/x:rw:m", "bad format for path: /dev/null:/dev/x:rw:m"),
        (":/dev/x", "bad format for path: :/dev/x"),
        ("/dev/null:rel", "rel is not an absolute path"),
        ("/dev/null:rel:rw", "rel is not an absolute path"),
    ],
)
def test_bad_devices(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_device(value)
