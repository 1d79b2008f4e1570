"""Pulls that are cut: a connection dropped mid-blob resumes with `Range`; a pierd killed
during a download leaves its partial ingest, which survives the restart's garbage
collection and which the next pull resumes, and nothing else half-stored."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from pier.client.errors import ClientError
from pier_testing.daemon import PierDaemon
from pier_testing.proxy import FaultyProxy
from pier_testing.registry import DistributionRegistry
from pier_testing.transfer import content_state, pull, push, random_image, statuses


def _upstream(registry: DistributionRegistry) -> tuple[str, int]:
    return ("127.0.0.1", registry.port)


def test_dropped_connection_resumes_with_range(
    pier: PierDaemon, registry: DistributionRegistry, work: Path
) -> None:
    image_id = random_image(pier.client, work, f"{registry.address}/resume/img", 3_000_000)
    push(pier.client, f"{registry.address}/resume/img")
    pier.client.delete(f"/images/{registry.address}/resume/img:latest")
    proxy = FaultyProxy(_upstream(registry), cut_after=1_000_000).start()
    try:
        out = statuses(pull(pier.client, f"{proxy.address}/resume/img"))
    finally:
        proxy.stop()
    assert out[-1] == f"Status: Downloaded newer image for {proxy.address}/resume/img:latest"
    assert proxy.cuts == 1
    ranged = [r for r in proxy.requests if "/blobs/sha256:" in r and "range: bytes=" in r.lower()]
    assert ranged, proxy.requests
    offset = int(ranged[0].lower().split("range: bytes=")[1].split("-")[0])
    assert 0 < offset <= 1_000_000
    assert pier.client.get_json(f"/images/{proxy.address}/resume/img/json")["Id"] == image_id


def _wait_for(condition, what: str, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_pierd_killed_during_a_pull_then_the_next_pull_completes(
    pier: PierDaemon, registry: DistributionRegistry, work: Path
) -> None:
    repo = f"{registry.address}/killed/img"
    image_id = random_image(pier.client, work, repo, 4_000_000)
    push(pier.client, repo)
    pier.client.delete(f"/images/{repo}:latest")
    blobs_before, _ = content_state(pier.data_root)
    slow = FaultyProxy(_upstream(registry), rate=1_000_000).start()
    failures: list[BaseException] = []

    def pulling() -> None:
        try:
            pull(pier.client, f"{slow.address}/killed/img")
        except (ClientError, OSError) as exc:
            failures.append(exc)

    worker = threading.Thread(target=pulling)
    worker.start()
    ingest = pier.data_root / "content" / "ingest"

    def partial() -> bool:
        return any(
            (d / "data").exists() and (d / "data").stat().st_size > 200_000
            for d in ingest.iterdir()
        )

    try:
        _wait_for(partial, "a partial download")
        pier.kill9()
    finally:
        slow.stop()
        worker.join(30)
    assert failures, "the pull should have been cut by the kill"
    pier.start()
    # The start-up collection keeps the partial download (a pull's ingest can resume).
    _, ingests = content_state(pier.data_root)
    assert len(ingests) == 1, ingests

    fast = FaultyProxy(_upstream(registry)).start()
    try:
        out = statuses(pull(pier.client, f"{fast.address}/killed/img"))
    finally:
        fast.stop()
    assert out[-1].startswith("Status: Downloaded newer image for")
    ranged = [r for r in fast.requests if "range: bytes=" in r.lower()]
    assert len(ranged) == 1, fast.requests
    offset = int(ranged[0].lower().split("range: bytes=")[1].split("-")[0])
    assert offset > 200_000
    assert pier.client.get_json(f"/images/{fast.address}/killed/img/json")["Id"] == image_id
    blobs_after, ingests = content_state(pier.data_root)
    assert ingests == []
    layers = pier.client.get_json(f"/images/{fast.address}/killed/img/json")["RootFS"]["Layers"]
    assert len(blobs_after - blobs_before) == 2, (layers, blobs_after - blobs_before)
