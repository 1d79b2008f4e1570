"""docker-py's networks API against pierd: create with IPAM, list with filters, get,
connect with aliases and a static address, the container's NetworkSettings, events,
disconnect, remove and prune, and Docker's errors (409, 404, 403); container inspect
with its networks validates against moby's v1.47 contract."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import jsonschema
import pytest
from docker.types import IPAMConfig, IPAMPool

from pier_testing.daemon import PierDaemon
from pier_testing.netcli import remove_networks

SCHEMA = json.loads((Path(__file__).parent / "schema" / "v1.47.json").read_text())


@pytest.fixture
def client(pier: PierDaemon) -> Iterator[docker.DockerClient]:
    c = docker.DockerClient(base_url=pier.host, timeout=60)
    try:
        yield c
    finally:
        c.close()
        pier.remove_all_containers()
        remove_networks(pier)


def _valid(operation: str, document: Any) -> None:
    jsonschema.validate(document, {"$defs": SCHEMA["$defs"], **SCHEMA["responses"][operation]})


def test_networks_api(client: docker.DockerClient, pier: PierDaemon) -> None:
    since = time.time()
    subnet = f"10.{pier.net}.230.0/24"
    ipam = IPAMConfig(pool_configs=[IPAMPool(subnet=subnet, gateway=f"10.{pier.net}.230.1")])
    net = client.networks.create("sdknet", driver="bridge", ipam=ipam, labels={"k": "v"})
    with pytest.raises(docker.errors.APIError) as dup:
        client.networks.create("sdknet")
    assert dup.value.status_code == 409
    assert "network with name sdknet already exists" in str(dup.value)
    with pytest.raises(docker.errors.NotFound, match="network missing not found"):
        client.networks.get("missing")
    assert [n.name for n in client.networks.list(filters={"label": "k=v"})] == ["sdknet"]
    assert {n.name for n in client.networks.list(names=["bridge", "sdknet"])} >= {"sdknet"}

    box = client.containers.create("busybox", ["sleep", "60"], name="sdkbox")
    net.connect(box, aliases=["alias1"], ipv4_address=f"10.{pier.net}.230.40")
    box.start()
    box.reload()
    settings = box.attrs["NetworkSettings"]["Networks"]
    assert set(settings) == {"bridge", "sdknet"}
    ours = settings["sdknet"]
    assert (
        ours["IPAddress"] == f"10.{pier.net}.230.40" and ours["Gateway"] == f"10.{pier.net}.230.1"
    )
    assert ours["Aliases"] == ["alias1"] and ours["NetworkID"] == net.id
    assert ours["MacAddress"] == f"02:42:0a:{pier.net:02x}:e6:28"
    assert box.attrs["NetworkSettings"]["IPAddress"] == settings["bridge"]["IPAddress"]
    _valid("ContainerInspect", box.attrs)
    net.reload()
    assert list(net.attrs["Containers"]) == [box.id]

    with pytest.raises(docker.errors.APIError) as busy:
        net.remove()
    assert busy.value.status_code == 403 and "has active endpoints" in str(busy.value)
    with pytest.raises(docker.errors.APIError) as builtin:
        client.networks.get("bridge").remove()
    assert builtin.value.status_code == 403

    net.disconnect(box)
    box.reload()
    assert set(box.attrs["NetworkSettings"]["Networks"]) == {"bridge"}
    box.remove(force=True)
    pruned = client.networks.prune()
    assert pruned["NetworksDeleted"] == ["sdknet"]

    events = client.events(since=since, until=time.time(), decode=True,
                           filters={"type": "network"})  # fmt: skip
    seen = [(e["Action"], e["Actor"]["Attributes"].get("name")) for e in events]
    for expected in ("create", "connect", "disconnect", "destroy"):
        assert (expected, "sdknet") in seen, seen


def test_info_lists_the_network_drivers(client: docker.DockerClient) -> None:
    assert client.info()["Plugins"]["Network"] == ["bridge", "host", "null"]
