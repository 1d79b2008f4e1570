"""The docker SDK on data: the volumes API, put_archive/get_archive, export, df and the
prunes; and a start racing a copy into the stopped container (it waits, never fails)."""

from __future__ import annotations

import io
import tarfile
import threading
from collections.abc import Iterator

import docker
import docker.errors
import pytest

from pier_testing.daemon import PierDaemon


@pytest.fixture
def client(pier: PierDaemon) -> Iterator[docker.DockerClient]:
    c = docker.DockerClient(base_url=pier.host, timeout=60)
    try:
        yield c
    finally:
        c.close()
        pier.remove_all_containers()


def _tar(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_volumes_api(client: docker.DockerClient) -> None:
    vol = client.volumes.create("sdkvol", labels={"team": "data"})
    assert vol.name == "sdkvol"
    assert vol.attrs["Labels"] == {"team": "data"}
    assert [v.name for v in client.volumes.list(filters={"label": "team=data"})] == ["sdkvol"]
    assert client.volumes.get("sdkvol").attrs["Mountpoint"].endswith("/sdkvol/_data")
    with pytest.raises(docker.errors.NotFound):
        client.volumes.get("nosuch")
    ctr = client.containers.create("busybox", ["true"], volumes={"sdkvol": {"bind": "/d"}})
    with pytest.raises(docker.errors.APIError) as err:
        vol.remove()
    assert err.value.status_code == 409
    assert str(err.value.explanation) == f"remove sdkvol: volume is in use - [{ctr.id}]"
    ctr.remove()
    vol.remove()
    with pytest.raises(docker.errors.NotFound):
        client.volumes.get("sdkvol")


def test_put_and_get_archive_and_export(client: docker.DockerClient) -> None:
    ctr = client.containers.create("busybox", ["true"])
    assert ctr.put_archive("/tmp", _tar("sdk.txt", b"from the sdk\n"))
    chunks, stat = ctr.get_archive("/tmp/sdk.txt")
    assert stat["name"] == "sdk.txt" and stat["size"] == 13
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
        member = tar.extractfile("sdk.txt")
        assert member is not None and member.read() == b"from the sdk\n"
    with pytest.raises(docker.errors.NotFound):
        ctr.put_archive("/no/such/dir", _tar("x", b""))
    exported = b"".join(ctr.export())
    with tarfile.open(fileobj=io.BytesIO(exported)) as tar:
        names = tar.getnames()
    assert "tmp/sdk.txt" in names and "bin/busybox" in names


def test_df_and_prunes(client: docker.DockerClient) -> None:
    client.volumes.create("sdkdf")
    ctr = client.containers.create("busybox", ["true"], volumes={"sdkdf": {"bind": "/d"}},
                                   labels={"prune": "yes"})  # fmt: skip
    df = client.df()
    assert set(df) >= {"LayersSize", "Images", "Containers", "Volumes", "BuildCache"}
    vol = next(v for v in df["Volumes"] if v["Name"] == "sdkdf")
    assert vol["UsageData"]["RefCount"] == 1
    assert any(c["Id"] == ctr.id for c in df["Containers"])
    pruned = client.containers.prune(filters={"label": "prune=yes"})
    assert pruned["ContainersDeleted"] == [ctr.id]
    assert pruned["SpaceReclaimed"] >= 0
    assert client.images.prune()["SpaceReclaimed"] == 0
    # named: kept by a plain prune, taken with all
    assert "sdkdf" not in (client.volumes.prune()["VolumesDeleted"] or [])
    assert client.volumes.prune(filters={"all": "true"})["VolumesDeleted"] == ["sdkdf"]


def test_start_waits_for_a_copy_into_the_stopped_container(client: docker.DockerClient) -> None:
    ctr = client.containers.create("busybox", ["cat", "/big"])
    payload = _tar("big", b"z" * (8 << 20))
    uploading = threading.Event()
    started = threading.Event()
    finished_during_copy: list[bool] = []

    def body() -> Iterator[bytes]:
        yield payload[: 1 << 20]
        uploading.set()
        # Hold the copy open: a start that does not wait for it would be done within
        # this deadline, with the root mounted twice and /big half written. It must
        # still be waiting when the deadline passes.
        finished_during_copy.append(started.wait(3))
        for i in range(1 << 20, len(payload), 1 << 20):
            yield payload[i : i + (1 << 20)]

    results: list[object] = []
    copier = threading.Thread(target=lambda: results.append(ctr.put_archive("/", body())))
    copier.start()
    assert uploading.wait(30)
    ctr.start()  # waits on the lifecycle lock until the copy is done
    started.set()
    copier.join(60)
    assert results == [True]
    assert finished_during_copy == [False]
    assert ctr.wait(timeout=60)["StatusCode"] == 0
    assert len(ctr.logs()) == 8 << 20
