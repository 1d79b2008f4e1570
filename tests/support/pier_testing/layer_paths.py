"""Getting a crafted layer into a pierd the ways images come in: a `docker save`
archive through POST /images/load, and a registry pull (config, layer and manifest
pushed first). For the tests that feed hostile or oversized layers down every path."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import urllib.request

from pier.client.api import Client
from pier_testing.registry import DistributionRegistry


def answer(client: Client, method: str, path: str, **kwargs: object) -> tuple[int, bytes]:
    """A request's status and whole body (a stream's, too)."""
    resp = client.open(method, path, **kwargs)  # type: ignore[arg-type]
    try:
        return resp.status, resp.read()
    finally:
        resp.close()


def is_gzip(data: bytes) -> bool:
    return data[:2] == b"\x1f\x8b"


def diff_id(layer: bytes) -> str:
    try:
        raw = gzip.decompress(layer) if is_gzip(layer) else layer
    except (OSError, EOFError):
        raw = layer  # broken on purpose: the loader must find out itself
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def image_config(*layers: bytes) -> bytes:
    return json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id(x) for x in layers]},
        }
    ).encode()


def load_layers(client: Client, repo: str, *layers: bytes) -> tuple[int, bytes]:
    """POST /images/load of a `docker save` archive holding `layers` as `repo:latest`."""
    names = [f"layer{i}.tar" for i in range(len(layers))]
    manifest = [{"Config": "config.json", "RepoTags": [f"{repo}:latest"], "Layers": names}]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in (
            ("manifest.json", json.dumps(manifest).encode()),
            ("config.json", image_config(*layers)),
            *zip(names, layers, strict=True),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return answer(
        client,
        "POST",
        "/images/load",
        params={"quiet": "1"},
        body=buf.getvalue(),
        headers={"Content-Type": "application/x-tar"},
    )


def pull_layer(
    client: Client, repo: str, layer: bytes, registry: DistributionRegistry
) -> tuple[int, bytes]:
    """Push an OCI image of one layer (gzip or plain) to `registry`, then pull it."""
    config = image_config(layer)
    media_type = "application/vnd.oci.image.manifest.v1+json"
    manifest = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": registry.push_blob(repo, config), "size": len(config)},
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar"
            + ("+gzip" if is_gzip(layer) else ""),
            "digest": registry.push_blob(repo, layer),
            "size": len(layer),
        }],
    }  # fmt: skip
    put = urllib.request.Request(
        registry.url(f"/v2/{repo}/manifests/latest"),
        data=json.dumps(manifest).encode(),
        method="PUT",
    )
    put.add_header("Content-Type", media_type)
    with urllib.request.urlopen(put, timeout=30):
        pass
    return answer(
        client,
        "POST",
        "/images/create",
        params={"fromImage": f"{registry.address}/{repo}", "tag": "latest"},
        headers={"X-Registry-Auth": "e30="},
    )
