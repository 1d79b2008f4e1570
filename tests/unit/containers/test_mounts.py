"""`-v` specifications as moby's linux parser reads them."""

from __future__ import annotations

import pytest

from pier.containers.mounts import BindMount, parse_binds
from pier.errors import InvalidParameter, NotImplementedByPier


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
        ("/src:/dst:nocopy", "invalid mode: nocopy"),
        ("/src:dst", "mount path must be absolute"),
        ("/src:/", "destination can't be '/'"),
        ("a b:/dst", "includes invalid characters for a local volume name"),
    ],
)
def test_invalid(spec: str, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        parse_binds([spec])


@pytest.mark.parametrize("spec", ["data:/data", "/data"], ids=["named", "anonymous"])
def test_volumes_are_not_implemented(spec: str) -> None:
    with pytest.raises(NotImplementedByPier, match="not implemented in Pier yet"):
        parse_binds([spec])


def test_duplicate_destination() -> None:
    with pytest.raises(InvalidParameter, match="Duplicate mount point: /x"):
        parse_binds(["/a:/x", "/b:/x/"])
