"""Volumes, disk usage and prune answers of a real pierd against moby's v1.47 contract
(schema/v1.47.json, see test_schema.py)."""

from __future__ import annotations

from typing import Any

from pier_testing.api import create
from pier_testing.daemon import PierDaemon

from .test_schema import _errors


def test_volume_create_list_inspect(pier: PierDaemon) -> None:
    made = pier.client.post_json(
        "/volumes/create", {"Name": "schema-vol", "Labels": {"a": "b"}, "DriverOpts": {}}
    )
    assert _errors("VolumeCreate", made) == []
    anon = pier.client.post_json("/volumes/create", {})
    assert _errors("VolumeCreate", anon) == []
    inspected = pier.client.get_json("/volumes/schema-vol")
    assert _errors("VolumeInspect", inspected) == []
    # as dockerd: UsageData only in /system/df, never in inspect or list
    assert "UsageData" not in inspected
    listed = pier.client.get_json("/volumes")
    assert _errors("VolumeList", listed) == []
    assert all("UsageData" not in v for v in listed["Volumes"])
    dangling = pier.client.get_json("/volumes", filters={"dangling": ["true"]})
    assert _errors("VolumeList", dangling) == []
    pier.client.delete("/volumes/schema-vol")
    pier.client.delete(f"/volumes/{anon['Name']}")


def test_system_df(pier: PierDaemon) -> None:
    pier.client.post_json("/volumes/create", {"Name": "schema-df"})
    cid = create(pier.client, ["true"], name="schema-df-c", HostConfig={"Binds": ["schema-df:/d"]})
    du: dict[str, Any] = pier.client.get_json("/system/df")
    assert _errors("SystemDataUsage", du) == []
    vol = next(v for v in du["Volumes"] if v["Name"] == "schema-df")
    assert vol["UsageData"] == {"Size": 0, "RefCount": 1}
    for kind in ("container", "image", "volume", "build-cache"):
        assert _errors("SystemDataUsage", pier.client.get_json("/system/df", type=kind)) == []
    pier.client.delete(f"/containers/{cid}")
    pier.client.delete("/volumes/schema-df")


def test_prunes(pier: PierDaemon) -> None:
    create(pier.client, ["true"], name="schema-prune")
    pruned = pier.client.post_json("/containers/prune")
    assert pruned["ContainersDeleted"]
    assert _errors("ContainerPrune", pruned) == []
    assert _errors("ContainerPrune", pier.client.post_json("/containers/prune")) == []
    assert _errors("ImagePrune", pier.client.post_json("/images/prune")) == []
    # an anonymous volume (a container's), left behind by a removal without -v
    cid = create(pier.client, ["true"], name="schema-anon", Volumes={"/anon": {}})
    pier.client.delete(f"/containers/{cid}")
    volumes = pier.client.post_json("/volumes/prune")
    assert volumes["VolumesDeleted"]
    assert _errors("VolumePrune", volumes) == []
