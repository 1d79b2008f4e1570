"""save / load: one archive holding Docker's format and an OCI layout, several images,
round trips keeping IDs, tags and layer digests; OCI archives from skopeo; the docker
CLI and pier's CLI; archives that lie are refused leaving nothing."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path

from pier_testing.binaries import PIER
from pier_testing.daemon import PierDaemon
from pier_testing.registry import DistributionRegistry
from pier_testing.transfer import api_error, content_state, push, random_image


def _save(pier: PierDaemon, *names: str) -> bytes:
    return pier.client.request("GET", "/images/get", params={"names": names}).read()


def _load(pier: PierDaemon, data: bytes) -> list[str]:
    resp = pier.client.request(
        "POST", "/images/load", params={"quiet": "1"}, body=data,
        headers={"Content-Type": "application/x-tar"},
    )  # fmt: skip
    return [json.loads(line)["stream"] for line in resp.read().splitlines() if line.strip()]


def test_round_trip_of_two_images_in_one_archive(pier: PierDaemon, work: Path) -> None:
    first = random_image(pier.client, work, "saved/one", 100_000, tag="v1")
    pier.client.post("/images/saved/one:v1/tag", repo="saved/also", tag="x")
    busybox = pier.client.get_json("/images/busybox/json")
    data = _save(pier, "saved/one:v1", "saved/also:x", "busybox")
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        names = set(tf.getnames())
        manifest = json.load(tf.extractfile("manifest.json"))  # type: ignore[arg-type]
        index = json.load(tf.extractfile("index.json"))  # type: ignore[arg-type]
        repositories = json.load(tf.extractfile("repositories"))  # type: ignore[arg-type]
    assert {"manifest.json", "index.json", "oci-layout", "repositories"} <= names
    by_config = {m["Config"]: m for m in manifest}
    entry = by_config["blobs/sha256/" + first.split(":")[1]]
    assert sorted(entry["RepoTags"]) == ["saved/also:x", "saved/one:v1"]
    assert all(layer in names for layer in entry["Layers"])
    named = {m["annotations"]["io.containerd.image.name"] for m in index["manifests"]}
    assert "docker.io/saved/one:v1" in named and "docker.io/library/busybox:latest" in named
    assert repositories["saved/one"] == {"v1": first.split(":")[1]}

    pier.client.delete("/images/saved/one:v1")
    pier.client.delete("/images/saved/also:x")
    lines = _load(pier, data)
    assert "Loaded image: saved/one:v1\n" in lines and "Loaded image: busybox:latest\n" in lines
    back = pier.client.get_json("/images/saved/one:v1/json")
    assert back["Id"] == first
    assert pier.client.get_json("/images/saved/also:x/json")["Id"] == first
    assert pier.client.get_json("/images/busybox/json")["RootFS"] == busybox["RootFS"]


def test_load_an_oci_archive_from_skopeo(
    pier: PierDaemon, registry: DistributionRegistry, work: Path
) -> None:
    repo = f"{registry.address}/oci/archive"
    image_id = random_image(pier.client, work, repo, 50_000)
    push(pier.client, repo)
    archive = work / "skopeo.tar"
    done = subprocess.run(
        ["skopeo", "copy", "--src-tls-verify=false", f"docker://{repo}",
         f"oci-archive:{archive}:latest"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with tarfile.open(archive) as tf:
        index = json.load(tf.extractfile("index.json"))  # type: ignore[arg-type]
        manifest_name = "blobs/sha256/" + index["manifests"][0]["digest"].split(":")[1]
        manifest = json.load(tf.extractfile(manifest_name))  # type: ignore[arg-type]
    config_digest = manifest["config"]["digest"]
    lines = _load(pier, archive.read_bytes())
    # skopeo names the image only by its tag ("latest"): loaded untagged, as Docker does;
    # its ID is the digest of the config skopeo wrote (converted to OCI's media types).
    assert lines == [f"Loaded image ID: {config_digest}\n"]
    loaded = pier.client.get_json(f"/images/{config_digest}/json")
    assert loaded["RootFS"] == pier.client.get_json(f"/images/{image_id}/json")["RootFS"]


def test_a_lying_archive_is_refused_and_leaves_nothing(pier: PierDaemon, work: Path) -> None:
    random_image(pier.client, work, "liar/img", 60_000)
    data = _save(pier, "liar/img")
    pier.client.delete("/images/liar/img")
    blobs_before, _ = content_state(pier.data_root)
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(data)) as src, tarfile.open(fileobj=out, mode="w") as dst:
        for member in src.getmembers():
            payload = src.extractfile(member).read() if member.isfile() else None  # type: ignore[union-attr]
            if member.name == "manifest.json":
                payload = json.dumps([{**json.loads(payload or b"[]")[0],
                                       "Layers": ["../../etc/passwd"]}]).encode()  # fmt: skip
                member.size = len(payload)
            dst.addfile(member, io.BytesIO(payload) if payload is not None else None)
    exc = api_error(_load, pier, out.getvalue())
    assert exc.status == 400
    assert "outside of the archive" in str(exc)
    blobs_after, ingests = content_state(pier.data_root)
    assert blobs_after == blobs_before and ingests == []
    assert api_error(pier.client.get_json, "/images/liar/img/json").status == 404


def test_docker_and_pier_clis_save_and_load(pier: PierDaemon, work: Path) -> None:
    image_id = random_image(pier.client, work, "cli/saved", 30_000)
    env = pier.env()
    out = work / "docker.tar"
    done = subprocess.run(["docker", "save", "-o", str(out), "cli/saved"], env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    pier.client.delete("/images/cli/saved")
    loaded = subprocess.run([str(PIER), "load", "-i", str(out)], env=env, capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout == "Loaded image: cli/saved:latest\n"
    piped = subprocess.run(
        f"{PIER} save cli/saved | docker load", shell=True, env=env, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    assert "Loaded image: cli/saved:latest" in piped.stdout
    assert pier.client.get_json("/images/cli/saved/json")["Id"] == image_id
