"""Manifest formats a pull meets: an OCI index choosing the platform (the host's by
default, `platform=` when asked), `GET /distribution/{name}/json` listing them, and zstd
layers (made by skopeo)."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

from pier_testing.daemon import PierDaemon
from pier_testing.registry import DistributionRegistry, PierRegistry
from pier_testing.transfer import api_error, layer_tar, pull, push, statuses

OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def _import(pier: PierDaemon, work: Path, repo: str, tag: str, platform: str) -> str:
    tar = layer_tar(work / f"{tag}.tar", {f"{tag}.txt": tag.encode() * 1000})
    with open(tar, "rb") as fh:
        pier.client.request(
            "POST", "/images/create",
            params={"fromSrc": "-", "repo": repo, "tag": tag, "platform": platform},
            body=fh.read(), headers={"Content-Type": "application/x-tar"},
        ).read()  # fmt: skip
    return str(pier.client.get_json(f"/images/{repo}:{tag}/json")["Id"])


def _pushed(pier: PierDaemon, repo: str, tag: str) -> dict[str, object]:
    aux = [m["aux"] for m in push(pier.client, repo, tag) if "aux" in m]
    return dict(aux[-1])


def test_index_picks_the_platform(
    pier: PierDaemon, pier_registry: PierRegistry, work: Path
) -> None:
    repo = f"{pier_registry.address}/multi/img"
    amd = _import(pier, work, repo, "amd", "linux/amd64")
    arm = _import(pier, work, repo, "arm", "linux/arm64")
    entries = []
    for tag, arch, variant in (("amd", "amd64", ""), ("arm", "arm64", "v8")):
        aux = _pushed(pier, repo, tag)
        platform = {
            "architecture": arch,
            "os": "linux",
            **({"variant": variant} if variant else {}),
        }
        entries.append(
            {
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "digest": aux["Digest"],
                "size": aux["Size"],
                "platform": platform,
            }
        )
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).encode()
    request = urllib.request.Request(
        pier_registry.url("/v2/multi/img/manifests/both"), data=index, method="PUT",
        headers={"Content-Type": OCI_INDEX},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as resp:
        index_digest = resp.headers["Docker-Content-Digest"]

    described = pier.client.get_json(f"/distribution/{repo}:both/json")
    assert described["Descriptor"] == {"mediaType": OCI_INDEX, "digest": index_digest,
                                       "size": len(index)}  # fmt: skip
    assert {"architecture": "arm64", "os": "linux", "variant": "v8"} in described["Platforms"]

    pier.client.delete(f"/images/{repo}:amd")
    pier.client.delete(f"/images/{repo}:arm")
    out = statuses(pull(pier.client, repo, "both"))
    assert out[-2] == f"Digest: {index_digest}"
    host = pier.client.get_json(f"/images/{repo}:both/json")
    assert host["Id"] == (amd if host["Architecture"] == "amd64" else arm)
    assert host["RepoDigests"] == [f"{repo}@{index_digest}"]

    pull(pier.client, repo, "both", platform="linux/arm64")
    assert pier.client.get_json(f"/images/{repo}:both/json")["Id"] == arm
    missing = api_error(pull, pier.client, repo, "both", platform="linux/s390x")
    assert missing.status == 404
    assert str(missing) == "no matching manifest for linux/s390x in the manifest list entries"


def test_zstd_layers(pier: PierDaemon, registry: DistributionRegistry, work: Path) -> None:
    gz = f"{registry.address}/zstd/src"
    _import(pier, work, gz, "latest", "linux/amd64")
    push(pier.client, gz)
    zst = f"{registry.address}/zstd/img"
    done = subprocess.run(
        ["skopeo", "copy", "--src-tls-verify=false", "--dest-tls-verify=false",
         "--dest-compress-format", "zstd", "--format", "oci",
         f"docker://{gz}", f"docker://{zst}"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    _, body, _ = registry.get(
        "/v2/zstd/img/manifests/latest",
        {"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert json.loads(body)["layers"][0]["mediaType"].endswith("+zstd")
    out = statuses(pull(pier.client, zst))
    assert out[-1] == f"Status: Downloaded newer image for {zst}:latest"
    rootfs = pier.client.get_json(f"/images/{zst}/json")["RootFS"]
    assert rootfs == pier.client.get_json(f"/images/{gz}/json")["RootFS"]
