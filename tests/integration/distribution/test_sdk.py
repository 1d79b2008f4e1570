"""The docker SDK pulling, pushing, logging in, inspecting a distribution and saving
through pierd, unchanged."""

from __future__ import annotations

from pathlib import Path

import docker

from pier_testing.daemon import PierDaemon
from pier_testing.registry import DistributionRegistry
from pier_testing.transfer import random_image


def test_sdk_push_pull_inspect_save(
    pier: PierDaemon, registry: DistributionRegistry, work: Path
) -> None:
    repo = f"{registry.address}/sdk/img"
    image_id = random_image(pier.client, work, repo, 40_000, tag="1")
    client = docker.DockerClient(base_url=pier.host, version="auto")
    try:
        lines = list(client.api.push(repo, tag="1", stream=True, decode=True))
        assert lines[-1]["aux"]["Tag"] == "1"
        digest = lines[-1]["aux"]["Digest"]

        info = client.images.get_registry_data(f"{repo}:1")
        assert info.id == digest
        assert info.has_platform("linux/amd64") or info.has_platform("linux/arm64")

        client.images.remove(f"{repo}:1")
        image = client.images.pull(repo, tag="1")
        assert image.id == image_id
        assert f"{repo}@{digest}" in image.attrs["RepoDigests"]

        chunks = b"".join(image.save(named=True))
        assert len(chunks) > 40_000
        client.images.remove(f"{repo}:1")
        loaded = client.images.load(chunks)
        assert [i.id for i in loaded] == [image_id]
    finally:
        client.close()
