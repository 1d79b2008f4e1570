"""Many distinct images, made fast: a `docker save` archive of N images that share one
small layer and differ by a label in their configs (so each has its own ID, as N
builds or imports would make, without timing N imports). Loaded with `docker load`.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

DISTINCT_REPO = "bench-distinct/"  # images are <this>img<i>:v1


def _add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 1_700_000_000
    info.mode = 0o644
    tf.addfile(info, io.BytesIO(data))


def _layer() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        _add(tf, "bench-distinct.txt", b"one layer shared by every image\n")
    return buf.getvalue()


def write_archive(path: Path, first: int, last: int) -> list[str]:
    """Images `first` .. `last - 1`, tagged `bench-distinct/img<i>:v1`; their tags."""
    layer = _layer()
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    layer_name = diff_id.removeprefix("sha256:") + "/layer.tar"
    manifest = []
    configs: list[tuple[str, bytes]] = []
    for i in range(first, last):
        config = json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                # One second apart, so the listing's order is the images' order.
                "created": f"2024-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}.{i:09d}Z",
                "config": {"Cmd": ["true"], "Labels": {"bench.n": str(i)}},
                "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "bench"}],
            },
            sort_keys=True,
        ).encode()
        name = hashlib.sha256(config).hexdigest() + ".json"
        configs.append((name, config))
        manifest.append(
            {"Config": name, "RepoTags": [f"{DISTINCT_REPO}img{i}:v1"], "Layers": [layer_name]}
        )
    with tarfile.open(path, "w") as tf:
        _add(tf, layer_name, layer)
        for name, config in configs:
            _add(tf, name, config)
        _add(tf, "manifest.json", json.dumps(manifest).encode())
    return [m["RepoTags"][0] for m in manifest]
