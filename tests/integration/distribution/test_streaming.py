"""A pull unpacks each layer while it downloads: a small layer is unpacked and done while
a big one is still arriving, each layer's messages keep Docker's order, and a blob the
unpacker finds broken before its download ends still fails as Docker's pull fails."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from pier_testing.build import build
from pier_testing.daemon import PierDaemon
from pier_testing.proxy import FaultyProxy
from pier_testing.registry import DistributionRegistry, PierRegistry
from pier_testing.transfer import content_state, errors, pull, push, random_image


def _order(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(m["id"], m["status"]) for m in messages if m.get("id") and "status" in m]


def test_a_small_layer_is_unpacked_while_a_big_one_downloads(
    pier: PierDaemon, registry: DistributionRegistry, work: Path
) -> None:
    base = f"{registry.address}/stream/base"
    random_image(pier.client, work, base, 50_000)
    repo = f"{registry.address}/stream/img"
    built = build(
        pier,
        {"Dockerfile": f"FROM {base}\nCOPY big.bin /big.bin\n", "big.bin": os.urandom(2_000_000)},
        t=repo,
    )
    assert built.status == 200, built.lines
    image_id = pier.client.get_json(f"/images/{repo}/json")["Id"]
    push(pier.client, repo)
    pier.client.delete(f"/images/{repo}:latest")
    pier.client.delete(f"/images/{base}:latest")

    # 1 MB/s: the big layer (2 MB, incompressible) takes about 2 s to arrive.
    slow = FaultyProxy(("127.0.0.1", registry.port), rate=1_000_000).start()
    try:
        messages = pull(pier.client, f"{slow.address}/stream/img")
    finally:
        slow.stop()
    order = _order(messages)
    sizes = {m["id"]: m["progressDetail"]["total"] for m in messages if m.get("progressDetail")}
    small, big = sorted(sizes, key=lambda i: sizes[i])
    assert order.index((small, "Pull complete")) < order.index((big, "Download complete")), order
    for ident in (small, big):
        steps = [order.index((ident, s)) for s in ("Download complete", "Pull complete")]
        extracting = [i for i, (who, s) in enumerate(order) if who == ident and s == "Extracting"]
        assert extracting and steps[0] < extracting[0] and extracting[-1] < steps[1], order
    assert pier.client.get_json(f"/images/{slow.address}/stream/img/json")["Id"] == image_id


def test_a_blob_corrupt_from_its_start_reports_the_verification_failure(
    pier: PierDaemon, pier_registry: PierRegistry, work: Path
) -> None:
    """The unpacker meets the damage long before the download ends: the pull still
    waits for the download and reports what Docker reports, and stores nothing."""
    repo = f"{pier_registry.address}/stream/corrupt"
    # 3 MB at 1 MB/s: the first MiB reaches the unpacker about 2 s before the end.
    image_id = random_image(pier.client, work, repo, 3_000_000)
    push(pier.client, repo)
    pier.client.delete(f"/images/{repo}:latest")
    blobs_before, _ = content_state(pier.data_root)
    config_hex = image_id.split(":")[1]
    for blob in (pier_registry.storage / "blobs" / "sha256").iterdir():
        if blob.name != config_hex and blob.stat().st_size > 100_000:
            data = bytearray(blob.read_bytes())
            data[2] ^= 0xFF  # gzip's compression method: the decompressor stops at once
            blob.write_bytes(bytes(data))
    slow = FaultyProxy(("127.0.0.1", pier_registry.port), rate=1_000_000).start()
    try:
        failed = errors(pull(pier.client, f"{slow.address}/stream/corrupt"))
    finally:
        slow.stop()
    assert failed and failed[0].startswith("filesystem layer verification failed for digest")
    blobs_after, ingests = content_state(pier.data_root)
    assert blobs_after == blobs_before
    assert ingests == []


def test_more_concurrent_pulls_than_the_daemons_io_threads(
    pier: PierDaemon, registry: DistributionRegistry, work: Path
) -> None:
    """Each pull's unpacker waits on its downloads for as long as they last: were it
    waiting in the daemon's shared I/O threads (8), ten pulls at once would hold them
    all, and the downloads' writes, queued behind, would never run."""
    repos = [f"{registry.address}/stream/many{i}" for i in range(10)]
    ids = {}
    for repo in repos:
        ids[repo] = random_image(pier.client, work, repo, 400_000)
        push(pier.client, repo)
        pier.client.delete(f"/images/{repo}:latest")
    # 1 MB/s per connection: every download lasts well after every pull has begun.
    slow = FaultyProxy(("127.0.0.1", registry.port), rate=1_000_000).start()
    results: dict[str, BaseException | None] = {}

    def one(repo: str) -> None:
        try:
            pull(pier.client, repo.replace(registry.address, slow.address))
            results[repo] = None
        except BaseException as exc:  # reported below
            results[repo] = exc

    try:
        threads = [threading.Thread(target=one, args=(r,), daemon=True) for r in repos]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        stuck = [r for r, t in zip(repos, threads, strict=True) if t.is_alive()]
        assert not stuck, f"{len(stuck)} pulls never ended"
    finally:
        slow.stop()
    assert results == dict.fromkeys(repos)
    for repo in repos:
        pulled = repo.replace(registry.address, slow.address)
        assert pier.client.get_json(f"/images/{pulled}/json")["Id"] == ids[repo]
