"""Manifest formats a pull meets: an OCI index choosing the platform (the host's by
default, `platform=` when asked), `GET /distribution/{name}/json` listing them, and zstd
layers (made by skopeo), and foreign layers as dockerd 28 on Linux handles them."""

from __future__ import annotations

import http.server
import json
import subprocess
import threading
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


def test_foreign_layer_comes_from_the_registry_and_is_pushed_as_a_plain_layer(
    pier: PierDaemon, pier_registry: PierRegistry, work: Path
) -> None:
    """dockerd 28 on Linux pulls a foreign layer from the registry, never from its `urls`
    (only its Windows build follows them), and pushes it back as an ordinary layer."""
    repo = f"{pier_registry.address}/foreign/img"
    image_id = _import(pier, work, repo, "plain", "linux/amd64")
    aux = _pushed(pier, repo, "plain")
    status, raw, _ = pier_registry.get(
        f"/v2/foreign/img/manifests/{aux['Digest']}",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    assert status == 200
    manifest = json.loads(raw)
    visited: list[str] = []

    class Counting(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            visited.append(self.path)
            self.send_error(500)

        def log_message(self, *args: object) -> None:
            return None

    elsewhere = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    serving = threading.Thread(target=elsewhere.serve_forever, daemon=True)
    serving.start()
    try:
        layer = manifest["layers"][0]
        layer["mediaType"] = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
        layer["urls"] = [f"http://127.0.0.1:{elsewhere.server_port}/layer.tar.gz"]
        body = json.dumps(manifest).encode()
        media_type = "application/vnd.docker.distribution.manifest.v2+json"
        request = urllib.request.Request(
            pier_registry.url("/v2/foreign/img/manifests/foreign"), data=body, method="PUT",
            headers={"Content-Type": media_type},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=30) as resp:
            assert resp.status == 201
        pier.client.delete(f"/images/{repo}:plain")
        pulled = statuses(pull(pier.client, repo, "foreign"))
        assert pulled[-1] == f"Status: Downloaded newer image for {repo}:foreign"
    finally:
        elsewhere.shutdown()
        elsewhere.server_close()
        serving.join(10)
    assert visited == []
    assert pier.client.get_json(f"/images/{repo}:foreign/json")["Id"] == image_id

    # Pushed elsewhere, it is an ordinary layer of the registry.
    pier.client.post(
        f"/images/{repo}:foreign/tag", repo=f"{pier_registry.address}/foreign/copy", tag="1"
    )
    copied = _pushed(pier, f"{pier_registry.address}/foreign/copy", "1")
    status, raw, _ = pier_registry.get(
        f"/v2/foreign/copy/manifests/{copied['Digest']}",
        headers={"Accept": media_type},
    )
    assert status == 200
    layers = json.loads(raw)["layers"]
    assert [lay["mediaType"] for lay in layers] == [
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    ]
    assert "urls" not in layers[0]
    assert layers[0]["digest"] == manifest["layers"][0]["digest"]
