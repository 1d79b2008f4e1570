"""Pull and push through a real pierd against Debian's docker-registry (distribution 2.8)
on loopback: Docker's progress messages, RepoDigests, layers skipped when present,
cross-repository mounts, the docker CLI's automatic pull, and the failures a client sees
(unknown tag, unreachable registry, corrupt layer) leaving nothing behind."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from pier_testing.binaries import PIER
from pier_testing.daemon import PierDaemon
from pier_testing.registry import DistributionRegistry, PierRegistry
from pier_testing.transfer import (
    api_error,
    content_state,
    errors,
    pull,
    push,
    random_image,
    statuses,
)

BUSYBOX_ID: dict[str, str] = {}


def _tag(pier: PierDaemon, source: str, repo: str, tag: str) -> None:
    pier.client.post(f"/images/{source}/tag", repo=repo, tag=tag)


def test_push_then_pull_round_trip_with_dockers_messages(
    pier: PierDaemon, registry: DistributionRegistry, work: Path
) -> None:
    repo = f"{registry.address}/roundtrip/busybox"
    image_id = random_image(pier.client, work, repo, 200_000, tag="1")
    pushed = statuses(push(pier.client, repo, "1"))
    assert pushed[0] == f"The push refers to repository [{repo}]"
    assert any(s.endswith(": Preparing") for s in pushed)
    assert any(s.endswith(": Pushed") for s in pushed)
    assert pushed[-1].startswith("1: digest: sha256:") and " size: " in pushed[-1]
    digest = pushed[-1].split()[2]
    assert f"{repo}@{digest}" in pier.client.get_json(f"/images/{repo}:1/json")["RepoDigests"]

    again = statuses(push(pier.client, repo, "1"))
    assert any(s.endswith(": Layer already exists") for s in again), again

    pier.client.delete(f"/images/{repo}:1")
    pulled = statuses(pull(pier.client, repo, "1"))
    assert pulled[0] == f"1: Pulling from {repo}"
    for step in ("Pulling fs layer", "Verifying Checksum", "Download complete", "Pull complete"):
        assert any(s.endswith(": " + step) for s in pulled), (step, pulled)
    assert pulled[-2] == f"Digest: {digest}"
    assert pulled[-1] == f"Status: Downloaded newer image for {repo}:1"
    inspect = pier.client.get_json(f"/images/{repo}:1/json")
    assert inspect["Id"] == image_id  # the same config: the same ID as where it came from
    assert inspect["RepoDigests"] == [f"{repo}@{digest}"]

    up_to_date = statuses(pull(pier.client, repo, "1"))
    assert any(s.endswith(": Already exists") for s in up_to_date)
    assert up_to_date[-1] == f"Status: Image is up to date for {repo}:1"

    by_digest = statuses(pull(pier.client, repo, digest))
    assert by_digest[0] == f"{digest}: Pulling from {repo}"
    assert by_digest[-1] == f"Status: Image is up to date for {repo}@{digest}"


def test_pull_all_tags_and_quiet_cli(pier: PierDaemon, registry: DistributionRegistry) -> None:
    repo = f"{registry.address}/alltags/busybox"
    for tag in ("a", "b"):
        _tag(pier, "busybox", repo, tag)
        push(pier.client, repo, tag)
        pier.client.delete(f"/images/{repo}:{tag}")
    out = statuses(pull(pier.client, repo, ""))
    assert out[-1] == f"Status: Downloaded newer image for {repo}"
    tags = pier.client.get_json(f"/images/{repo}:a/json")["RepoTags"]
    assert {f"{repo}:a", f"{repo}:b"} <= set(tags)
    done = subprocess.run(
        [str(PIER), "pull", "-q", f"{repo}:a"], env=pier.env(), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{repo}:a\n"


def test_unknown_tag_and_repository_are_dockers_404(
    pier: PierDaemon, registry: DistributionRegistry
) -> None:
    exc = api_error(pull, pier.client, f"{registry.address}/nothere/busybox", "nope")
    assert exc.status == 404
    assert str(exc) == (
        f"manifest for {registry.address}/nothere/busybox:nope not found: "
        "manifest unknown: manifest unknown"
    )


def test_unreachable_registry_fails_fast_with_a_clear_error(pier: PierDaemon) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    exc = api_error(pull, pier.client, f"127.0.0.1:{port}/x", "latest")
    assert time.monotonic() - start < 20
    assert exc.status == 503
    assert f"127.0.0.1:{port}" in str(exc) and "connect" in str(exc).lower()


def test_docker_cli_run_pulls_the_missing_image(
    pier: PierDaemon, registry: DistributionRegistry
) -> None:
    repo = f"{registry.address}/auto/busybox"
    _tag(pier, "busybox", repo, "latest")
    push(pier.client, repo, "latest")
    pier.client.delete(f"/images/{repo}:latest")
    done = subprocess.run(
        ["docker", "run", "--rm", repo, "echo", "pulled and ran"],
        env=pier.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"Unable to find image '{repo}:latest' locally" in done.stderr
    assert done.stdout.endswith("pulled and ran\n")
    never = subprocess.run(
        ["docker", "run", "--rm", "--pull", "never", f"{registry.address}/auto/none", "true"],
        env=pier.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert never.returncode == 125
    assert "No such image" in never.stderr


def test_push_mounts_a_blob_from_another_repository(
    pier: PierDaemon, pier_registry: PierRegistry
) -> None:
    first = f"{pier_registry.address}/mount/one"
    second = f"{pier_registry.address}/mount/two"
    _tag(pier, "busybox", first, "1")
    push(pier.client, first, "1")
    _tag(pier, "busybox", second, "1")
    out = statuses(push(pier.client, second, "1"))
    assert any(s.endswith(": Mounted from mount/one") for s in out), out


def test_corrupt_layer_aborts_the_pull_and_stores_nothing(
    pier: PierDaemon, pier_registry: PierRegistry, work: Path
) -> None:
    repo = f"{pier_registry.address}/corrupt/img"
    image_id = random_image(pier.client, work, repo, 300_000)
    push(pier.client, repo, "latest")
    pier.client.delete(f"/images/{repo}:latest")
    blobs_before, _ = content_state(pier.data_root)
    # Flip a byte of every layer blob the registry stores (the config stays intact).
    config_hex = image_id.split(":")[1]
    for blob in (pier_registry.storage / "blobs" / "sha256").iterdir():
        if blob.name != config_hex and blob.stat().st_size > 100_000:
            data = bytearray(blob.read_bytes())
            data[len(data) // 2] ^= 0xFF
            blob.write_bytes(bytes(data))
    messages = pull(pier.client, repo, "latest")
    failed = errors(messages)
    assert failed and failed[0].startswith("filesystem layer verification failed for digest")
    blobs_after, ingests = content_state(pier.data_root)
    assert blobs_after == blobs_before
    assert ingests == []
    assert api_error(pier.client.get_json, f"/images/{repo}:latest/json").status == 404


def test_endless_manifest_is_cut_off(pier: PierDaemon, work: Path) -> None:
    """A registry that answers a manifest with a body without end: refused at the bound."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    port = server.getsockname()[1]
    import threading

    def serve() -> None:
        for _ in range(4):
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                request = conn.recv(65536)
                if b"/v2/ " in request.split(b"\r\n")[0] + b" ":
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                    continue
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json"
                    b"\r\nTransfer-Encoding: chunked\r\n\r\n"
                )
                chunk = b"x" * 65536
                try:
                    while True:
                        conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        exc = api_error(pull, pier.client, f"127.0.0.1:{port}/endless", "latest")
        assert exc.status == 400
        assert "manifest too large" in str(exc)
    finally:
        server.close()
        thread.join(10)
