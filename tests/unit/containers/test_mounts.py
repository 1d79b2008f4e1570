"""`-v` specifications as moby's linux parser reads them."""

from __future__ import annotations

import pytest

from pier.containers.mounts import BindMount, MountPoint, parse_binds
from pier.errors import InvalidParameter


@pytest.mark.parametrize(
    ("spec", "bind"),
    [
        ("/src:/dst", BindMount(source="/src", destination="/dst")),
        ("/src/:/dst/:ro", BindMount(source="/src", destination="/dst", read_only=True, mode="ro")),
        (
            "/src:/dst:ro,rshared,z",
            BindMount(
                source="/src",
                destination="/dst",
                read_only=True,
                propagation="rshared",
                mode="ro,rshared,z",
            ),
        ),
        ("/src:/dst:cached", BindMount(source="/src", destination="/dst", mode="cached")),
    ],
    ids=["plain", "ro-cleaned", "options", "consistency"],
)
def test_valid(spec: str, bind: BindMount) -> None:
    assert parse_binds([spec]) == (bind,)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (":/dst", "invalid volume specification: ':/dst'"),
        ("/src:/dst:ro:rw", "invalid volume specification"),
        ("/src:rw", "invalid volume specification: '/src:rw'"),
        ("/src:/dst:ro,rw", "invalid mode: ro,rw"),
        ("/src:/dst:nocopy", "field VolumeOptions must not be specified"),
        ("/data:ro", "invalid volume specification: '/data:ro'"),
        ("data:/x:ro,rw", "invalid mode: ro,rw"),
        ("/src:dst", "mount path must be absolute"),
        ("/src:/", "destination can't be '/'"),
        ("a b:/dst", "includes invalid characters for a local volume name"),
    ],
)
def test_invalid(spec: str, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        parse_binds([spec])


@pytest.mark.parametrize(
    ("spec", "point"),
    [
        (
            "data:/data",
            MountPoint(type="volume", name="data", destination="/data", mode="z",
                       driver="local", propagation=""),
        ),
        (
            "/data",
            MountPoint(type="volume", anonymous=True, destination="/data", driver="local",
                       propagation=""),
        ),
        (
            "data:/data:ro,nocopy",
            MountPoint(type="volume", name="data", destination="/data", mode="ro,nocopy",
                       read_only=True, driver="local", propagation="", copy_data=False),
        ),
    ],
    ids=["named", "anonymous", "nocopy"],
)  # fmt: skip
def test_volumes(spec: str, point: MountPoint) -> None:
    assert parse_binds([spec]) == (point,)


def test_duplicate_destination() -> None:
    with pytest.raises(InvalidParameter, match="Duplicate mount point: /x"):
        parse_binds(["/a:/x", "/b:/x/"])
