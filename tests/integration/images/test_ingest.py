"""The one ingest path on real stores: layers unpacked side by side, chained by ChainID,
verified, and all or nothing."""

import gzip
import hashlib
import os
import tarfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pier import timefmt
from pier.errors import InvalidParameter
from pier.images.model import MEDIA_TYPE_TAR, MEDIA_TYPE_TAR_GZIP, LayerBlob, ManifestRef
from pier.oci import digest as dg
from pier.oci import reference as refs
from pier.oci.image import ImageConfig, ImageSpec
from pier.snapshots.mount import mount_all, unmount
from pier_testing.image_store import Env, build_tar

DIR = tarfile.DIRTYPE

# Three layers whose later ones delete, hide and replace what earlier ones made.
LAYERS: list[list[dict[str, object]]] = [
    [
        {"name": "etc", "type": DIR, "mode": 0o755},
        {"name": "etc/a", "data": b"a1"},
        {"name": "etc/b", "data": b"b1"},
        {"name": "opt", "type": DIR, "mode": 0o755},
        {"name": "opt/x", "data": b"x"},
        {"name": "opt/y", "data": b"y"},
        {"name": "gone.txt", "data": b"gone"},
        {"name": "keep", "type": DIR, "mode": 0o755},
        {"name": "keep/k", "data": b"k"},
        {"name": "mid.txt", "data": b"one"},
    ],
    [
        {"name": "etc/.wh.a", "data": b""},
        {"name": "opt", "type": DIR, "mode": 0o755},
        {"name": "opt/.wh..wh..opq", "data": b""},
        {"name": "opt/new", "data": b"new"},
        {"name": ".wh.gone.txt", "data": b""},
        {"name": "mid.txt", "data": b"two"},
    ],
    [
        {"name": "etc/c", "data": b"c3"},
        {"name": ".wh.keep", "data": b""},
        {"name": "mid.txt", "data": b"three"},
    ],
]


@dataclass
class Recorder:
    """An IngestProgress that makes every unpack wait until all have started: a serial
    ingest breaks the barrier and fails."""

    parties: int
    barrier: threading.Barrier = field(init=False)
    lock: threading.Lock = field(default_factory=threading.Lock)
    started: dict[int, float] = field(default_factory=dict)
    done: dict[int, float] = field(default_factory=dict)
    existed: list[int] = field(default_factory=list)
    threads: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.barrier = threading.Barrier(self.parties, timeout=20)

    def layer_exists(self, index: int, blob: LayerBlob) -> None:
        with self.lock:
            self.existed.append(index)

    def layer_started(self, index: int, blob: LayerBlob) -> None:
        with self.lock:
            self.started[index] = time.monotonic()
            self.threads.add(threading.current_thread().name)
        self.barrier.wait()

    def layer_done(self, index: int, blob: LayerBlob) -> None:
        with self.lock:
            self.done[index] = time.monotonic()


def _store(env: Env, path: Path, media_type: str = MEDIA_TYPE_TAR) -> LayerBlob:
    data = path.read_bytes()
    with env.content.writer(f"test-{path.name}") as w:
        w.write(data)
        info = w.commit(len(data))
    return LayerBlob(digest=info.digest, media_type=media_type, size=info.size)


def _layers(
    env: Env, tmp_path: Path, entries: list[list[dict[str, object]]]
) -> tuple[list[LayerBlob], list[str]]:
    blobs, diff_ids = [], []
    for i, layer in enumerate(entries):
        tar = build_tar(tmp_path / f"layer{i}.tar", layer)
        diff_ids.append(dg.from_bytes(tar.read_bytes()))
        if i % 2:  # every other layer compressed: the ingest does not care
            gz = tmp_path / f"layer{i}.tar.gz"
            gz.write_bytes(gzip.compress(tar.read_bytes()))
            blobs.append(_store(env, gz, MEDIA_TYPE_TAR_GZIP))
        else:
            blobs.append(_store(env, tar))
    return blobs, diff_ids


def _config(diff_ids: list[str], **labels: str) -> bytes:
    return ImageSpec(
        architecture="amd64",
        os="linux",
        created=timefmt.now(),
        config=ImageConfig(labels=labels),
        diff_ids=tuple(diff_ids),
    ).to_bytes()


def _nothing_stored(env: Env) -> None:
    assert list(env.snapshots.walk()) == []
    assert list(env.content.walk()) == []
    assert env.content.ingests() == []
    assert env.run(env.service.list(all=True)) == []


def test_layers_unpack_concurrently_and_stack_right(env: Env, tmp_path: Path) -> None:
    blobs, diff_ids = _layers(env, tmp_path, LAYERS)
    recorder = Recorder(parties=3)
    tag = refs.parse_normalized("stack").with_default_tag()
    rec = env.run(
        env.service.ingest(layers=blobs, config=_config(diff_ids), tags=[tag], progress=recorder)
    )
    # Every layer was started before any finished, each in its own worker thread.
    assert sorted(recorder.started) == sorted(recorder.done) == [0, 1, 2]
    assert max(recorder.started.values()) < min(recorder.done.values())
    assert len(recorder.threads) == 3
    assert recorder.existed == []

    chain = dg.chain_ids(diff_ids)
    assert rec.diff_ids == tuple(diff_ids)
    assert rec.chain_id == chain[-1]
    assert rec.repo_tags == ("stack:latest",)
    assert {(s.key, s.parent) for s in env.snapshots.walk()} == {
        (chain[0], None),
        (chain[1], chain[0]),
        (chain[2], chain[1]),
    }
    data = [entry.get("data", b"") for layer in LAYERS for entry in layer]
    assert rec.size == sum(len(d) for d in data if isinstance(d, bytes))

    target = tmp_path / "rootfs"
    target.mkdir()
    mount_all(env.run(env.service.prepare_rootfs(rec.id, "ctr")), target)
    try:
        assert sorted(os.listdir(target)) == ["etc", "mid.txt", "opt"]
        assert sorted(os.listdir(target / "etc")) == ["b", "c"]
        assert os.listdir(target / "opt") == ["new"]  # the opaque dir hides x and y
        assert (target / "mid.txt").read_text() == "three"
        assert (target / "etc" / "b").read_text() == "b1"
    finally:
        unmount(target)
    env.run(env.service.remove_rootfs("ctr"))
    env.run(env.service.remove("stack"))
    _nothing_stored(env)


def test_known_layers_are_reused_and_the_rest_stacked_on_them(env: Env, tmp_path: Path) -> None:
    blobs, diff_ids = _layers(env, tmp_path, LAYERS)
    base = env.run(env.service.ingest(layers=blobs[:2], config=_config(diff_ids[:2])))
    recorder = Recorder(parties=1)
    full = env.run(env.service.ingest(layers=blobs, config=_config(diff_ids), progress=recorder))
    assert recorder.existed == [0, 1]
    assert sorted(recorder.started) == [2]
    assert env.snapshots.stat(full.chain_id).parent == base.chain_id
    # The same config again is the same image: only references are added.
    again = env.run(
        env.service.ingest(
            layers=blobs,
            config=env.service.config_bytes(full.id),
            tags=[refs.parse_normalized("again:1")],
        )
    )
    assert again.id == full.id
    assert again.repo_tags == ("again:1",)
    assert len(list(env.snapshots.walk())) == 3


def _failing_ingest(env: Env, blobs: list[LayerBlob], config: bytes, match: str) -> None:
    with pytest.raises(InvalidParameter, match=match):
        env.run(
            env.service.ingest(
                layers=blobs,
                config=config,
                tags=[refs.parse_normalized("half:done")],
                manifests=[ManifestRef(repository="half", digest="sha256:" + "ab" * 32)],
            )
        )
    _nothing_stored(env)


def test_a_wrong_diff_id_stores_nothing(env: Env, tmp_path: Path) -> None:
    blobs, diff_ids = _layers(env, tmp_path, LAYERS)
    diff_ids[1] = "sha256:" + "0" * 64
    _failing_ingest(env, blobs, _config(diff_ids), "invalid diffID for layer 1")


def test_a_corrupted_blob_stores_nothing(env: Env, tmp_path: Path) -> None:
    blobs, diff_ids = _layers(env, tmp_path, LAYERS)
    path = Path(env.content.path(blobs[2].digest))
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # inside the tar's zero padding: the unpacked files are the same
    path.write_bytes(bytes(data))
    _failing_ingest(env, blobs, _config(diff_ids), "content does not match its digest")


def test_a_wrong_size_or_media_type_stores_nothing(env: Env, tmp_path: Path) -> None:
    blobs, diff_ids = _layers(env, tmp_path, LAYERS)
    bad = [*blobs[:2], LayerBlob(digest=blobs[2].digest, media_type=MEDIA_TYPE_TAR, size=1)]
    _failing_ingest(env, bad, _config(diff_ids), "does not match the expected 1")
    blobs, diff_ids = _layers(env, tmp_path, LAYERS)
    odd = [LayerBlob(digest=blobs[0].digest, media_type="text/plain", size=blobs[0].size)]
    _failing_ingest(env, [*odd, *blobs[1:]], _config(diff_ids), "unsupported layer media type")


def test_a_broken_layer_among_good_ones_stores_nothing(env: Env, tmp_path: Path) -> None:
    entries = [*LAYERS[:2], [{"name": "ok", "data": b"x"}, {"name": "../evil", "data": b"x"}]]
    blobs, diff_ids = _layers(env, tmp_path, entries)
    _failing_ingest(env, blobs, _config(diff_ids), "outside of the root")


def test_config_must_list_the_layers(env: Env, tmp_path: Path) -> None:
    blobs, diff_ids = _layers(env, tmp_path, LAYERS)
    _failing_ingest(env, blobs, _config(diff_ids[:2]), "lists 2 layers but 3 were given")


def test_an_image_without_layers(env: Env) -> None:
    config = _config([])
    rec = env.run(env.service.ingest(layers=[], config=config))
    assert rec.id == "sha256:" + hashlib.sha256(config).hexdigest()
    assert (rec.chain_id, rec.size, rec.diff_ids) == ("", 0, ())
    env.run(env.service.remove(rec.id))
    _nothing_stored(env)
