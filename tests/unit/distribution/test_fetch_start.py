"""A blob download whose reader of the ingest cannot be opened (out of descriptors,
EMFILE, made real here by lowering RLIMIT_NOFILE to the writer's own descriptor) leaves
no writer open: no descriptor is held, the partial ingest an earlier pull wrote is kept,
and the next pull resumes it instead of finding a stale writer it must abort."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
from collections.abc import Iterator
from pathlib import Path

import pytest

from pier.content.local import LocalContentStore
from pier.distribution import auth as authn
from pier.distribution import manifests as mf
from pier.distribution.client import RegistryClient, Repository
from pier.distribution.fetch import BlobDownloader
from pier.distribution.hosts import Endpoint, RegistryHosts
from pier.distribution.stream import LayerStream
from pier.errors import SystemFailure
from pier.oci import digest as dg

BLOB = b"layer bytes " * 1000
PREFIX = 5000


def _open_fds() -> set[int]:
    return {int(n) for n in os.listdir("/proc/self/fd")}


@contextlib.contextmanager
def _one_descriptor_left() -> Iterator[None]:
    """Only the lowest free descriptor number can be opened: the writer's file gets it,
    the reader opened next fails with EMFILE."""
    lowest = os.open("/dev/null", os.O_RDONLY)
    second = os.open("/dev/null", os.O_RDONLY)
    os.close(lowest)
    os.close(second)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (second, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _unused_repository(client: RegistryClient) -> Repository:
    # The download fails before any request: this endpoint (a closed port) is never asked.
    base = "http://127.0.0.1:9"
    return Repository(
        client=client,
        endpoint=Endpoint(base=base, host="127.0.0.1:9", insecure=True, mirror=False),
        base=base,
        path="library/never",
        auth=authn.AuthConfig(),
        actions="pull",
    )


def test_a_failed_reader_open_leaves_no_writer(tmp_path: Path) -> None:
    store = LocalContentStore(root=tmp_path / "content")
    desc = mf.Descriptor(
        media_type="application/vnd.oci.image.layer.v1.tar",
        digest=dg.from_bytes(BLOB),
        size=len(BLOB),
    )
    ref = f"pull-{desc.digest}"
    with store.writer(ref, desc.digest) as first:  # an earlier, interrupted pull
        first.write(BLOB[:PREFIX])
        first.suspend()

    async def attempt() -> None:
        tap = LayerStream()
        client = RegistryClient(hosts=RegistryHosts())
        try:
            with _one_descriptor_left():
                await BlobDownloader(content=store).download(
                    _unused_repository(client), desc, lambda _c, _t: None, lambda: None, tap
                )
        finally:
            tap.close()
            await client.close()

    before = _open_fds()
    with pytest.raises(SystemFailure, match=r"failed to read ingest .*Too many open files"):
        asyncio.run(attempt())
    assert _open_fds() == before
    [status] = store.ingests()
    assert (status.ref, status.offset) == (ref, PREFIX)

    # The next pull's writer resumes there (a writer left open would have been aborted
    # by it, the prefix with it).
    with store.writer(ref, desc.digest, resume=True) as resumed:
        assert resumed.offset == PREFIX
        resumed.write(BLOB[PREFIX:])
        assert resumed.commit(len(BLOB), desc.digest).size == len(BLOB)
