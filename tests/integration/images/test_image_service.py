import asyncio
import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from pier.errors import Conflict, InvalidParameter, NoSuchImage
from pier.snapshots.mount import mount_all, unmount
from pier_testing.image_store import Env


def test_import_id_is_sha256_of_stored_config(env: Env, busybox_tar: Path) -> None:
    rec = env.run(
        env.service.import_archive(busybox_tar, repo="busybox", tag=None, changes=['CMD ["sh"]'])
    )
    raw = env.service.config_bytes(rec.id)
    assert rec.id == "sha256:" + hashlib.sha256(raw).hexdigest()
    config = json.loads(raw)
    assert config["os"] == "linux"
    assert config["architecture"]
    assert config["rootfs"]["type"] == "layers"
    assert config["rootfs"]["diff_ids"] == list(rec.diff_ids)
    diff_id = "sha256:" + hashlib.sha256(busybox_tar.read_bytes()).hexdigest()
    assert rec.diff_ids == (diff_id,)
    assert config["history"][0]["comment"] == "Imported from -"
    assert rec.repo_tags == ("busybox:latest",)
    assert rec.config.cmd == ("sh",)
    assert rec.size > 1_000_000
    assert rec.last_tag_time


def test_gzip_import_and_message(env: Env, busybox_tar: Path, tmp_path: Path) -> None:
    gz = tmp_path / "rootfs.tar.gz"
    with gz.open("wb") as out:
        subprocess.run(["gzip", "-c", str(busybox_tar)], stdout=out, check=True)
    rec = env.run(env.service.import_archive(gz, repo=None, tag=None, message="hello"))
    assert rec.comment == "hello"
    assert rec.history[0].comment == "hello"
    assert rec.repo_tags == ()
    plain = env.run(env.service.import_archive(busybox_tar, repo="x", tag="1"))
    assert plain.diff_ids == rec.diff_ids


def test_same_tar_twice_shares_the_layer(env: Env, busybox_tar: Path) -> None:
    a = env.run(env.service.import_archive(busybox_tar, repo="a", tag=None))
    b = env.run(env.service.import_archive(busybox_tar, repo="b", tag=None))
    assert a.id != b.id  # different creation times
    assert a.chain_id == b.chain_id
    assert [s.key for s in env.snapshots.walk()] == [a.chain_id]
    env.run(env.service.remove("a"))
    assert [s.key for s in env.snapshots.walk()] == [a.chain_id]
    records = env.run(env.service.remove("b"))
    assert records == [
        {"Untagged": "b:latest"},
        {"Deleted": b.id},
        {"Deleted": b.chain_id},
    ]
    assert list(env.snapshots.walk()) == []
    assert list(env.content.walk()) == []


def test_resolve_rules(env: Env, busybox_tar: Path) -> None:
    rec = env.run(env.service.import_archive(busybox_tar, repo="busybox", tag="1.36"))
    hexid = rec.id.removeprefix("sha256:")
    for ref in (
        "busybox:1.36",
        "docker.io/library/busybox:1.36",
        rec.id,
        hexid,
        hexid[:12],
        "sha256:" + hexid[:8],
    ):
        assert env.run(env.service.resolve(ref)).id == rec.id, ref
    with pytest.raises(NoSuchImage, match="No such image: busybox:latest"):
        env.run(env.service.resolve("busybox"))
    with pytest.raises(InvalidParameter, match="must be lowercase"):
        env.run(env.service.resolve("BusyBox"))


def test_tag_untag_and_remove_rules(env: Env, busybox_tar: Path) -> None:
    svc = env.service
    rec = env.run(svc.import_archive(busybox_tar, repo="busybox", tag=None))
    short = rec.id.removeprefix("sha256:")[:12]
    env.run(svc.tag("busybox", "localhost:5000/mine", "v1"))
    assert env.run(svc.resolve(rec.id)).repo_tags == ("busybox:latest", "localhost:5000/mine:v1")

    with pytest.raises(Conflict) as info:
        env.run(svc.remove(rec.id))
    assert str(info.value) == (
        f"conflict: unable to delete {short} (must be forced) - "
        "image is referenced in multiple repositories"
    )
    # Removing one of several tags only untags.
    assert env.run(svc.remove("localhost:5000/mine:v1")) == [{"Untagged": "localhost:5000/mine:v1"}]

    env.users[rec.id] = ["c" * 64]
    with pytest.raises(Conflict) as info:
        env.run(svc.remove("busybox"))
    assert str(info.value) == (
        'conflict: unable to remove repository reference "busybox" (must force) - '
        f"container {'c' * 12} is using its referenced image {short}"
    )
    with pytest.raises(Conflict) as info:
        env.run(svc.remove(rec.id))
    assert str(info.value) == (
        f"conflict: unable to delete {short} (must be forced) - "
        f"image is being used by stopped container {'c' * 12}"
    )
    env.running[rec.id] = ["c" * 64]
    with pytest.raises(Conflict) as info:
        env.run(svc.remove(rec.id, force=True))
    assert str(info.value) == (
        f"conflict: unable to delete {short} (cannot be forced) - "
        f"image is being used by running container {'c' * 12}"
    )
    env.running.clear()
    records = env.run(svc.remove(rec.id, force=True))
    assert records[0] == {"Untagged": "busybox:latest"}
    assert {"Deleted": rec.id} in records
    with pytest.raises(NoSuchImage):
        env.run(svc.resolve(rec.id))


def test_tag_validation(env: Env, busybox_tar: Path) -> None:
    env.run(env.service.import_archive(busybox_tar, repo="busybox", tag=None))
    with pytest.raises(InvalidParameter, match="invalid tag format"):
        env.run(env.service.tag("busybox", "x", "bad tag"))
    with pytest.raises(NoSuchImage):
        env.run(env.service.tag("nosuch", "x", None))


def test_list_filters(env: Env, busybox_tar: Path) -> None:
    a = env.run(
        env.service.import_archive(busybox_tar, repo="alpha", tag=None, changes=["LABEL k=v"])
    )
    b = env.run(env.service.import_archive(busybox_tar, repo=None, tag=None))
    listed = env.run(env.service.list())
    assert {r.id for r in listed} == {a.id, b.id}
    assert [r.id for r in env.run(env.service.list(filters={"dangling": ["true"]}))] == [b.id]
    assert [r.id for r in env.run(env.service.list(filters={"reference": ["alp*"]}))] == [a.id]
    assert [r.id for r in env.run(env.service.list(filters={"label": ["k=v"]}))] == [a.id]
    assert [r.id for r in env.run(env.service.list(filters={"since": ["alpha"]}))] == [b.id]
    assert [r.id for r in env.run(env.service.list(filters={"before": [b.id]}))] == [a.id]
    with pytest.raises(InvalidParameter, match="invalid filter 'bogus'"):
        env.run(env.service.list(filters={"bogus": ["x"]}))


def test_history(env: Env, busybox_tar: Path) -> None:
    rec = env.run(env.service.import_archive(busybox_tar, repo="busybox", tag=None))
    (item,) = env.run(env.service.history("busybox"))
    assert item.id == rec.id
    assert item.tags == ("busybox:latest",)
    assert item.size == rec.size
    assert item.comment == "Imported from -"


def test_rootfs_prepare_mount_and_remove(env: Env, busybox_tar: Path, tmp_path: Path) -> None:
    rec = env.run(env.service.import_archive(busybox_tar, repo="busybox", tag=None))
    mounts = env.run(env.service.prepare_rootfs(rec.id, "ctr1"))
    target = tmp_path / "rootfs"
    target.mkdir()
    mount_all(mounts, target)
    try:
        assert (target / "bin" / "sh").is_symlink()
        assert "root:x:0:0" in (target / "etc" / "passwd").read_text()
        out = subprocess.run(
            ["chroot", str(target), "/bin/sh", "-c", "echo hi > /tmp/f; cat /tmp/f"],
            capture_output=True,
            check=True,
        )
        assert out.stdout == b"hi\n"
    finally:
        unmount(target)
    assert env.run(env.service.rootfs_usage("ctr1")) == 3
    # The layer stays while the container's rootfs stands on it.
    env.run(env.service.remove("busybox", force=True))
    assert rec.chain_id in {s.key for s in env.snapshots.walk()}
    env.run(env.service.remove_rootfs("ctr1"))
    env.run(env.service.remove_rootfs("ctr1"))
    assert list(env.snapshots.walk()) == []


def test_concurrent_imports_of_one_layer_share_it(env: Env, busybox_tar: Path) -> None:
    async def both() -> list[str]:
        recs = await asyncio.gather(
            *(env.service.import_archive(busybox_tar, repo=f"r{i}", tag=None) for i in range(3))
        )
        return [r.chain_id for r in recs]

    chains = env.run(both())
    assert len(set(chains)) == 1
    assert [s.key for s in env.snapshots.walk()] == [chains[0]]
    assert len(list(env.content.walk())) == 4  # one layer blob, three configs


def test_repo_digests_resolve_and_go_with_their_image(env: Env, busybox_tar: Path) -> None:
    svc = env.service
    rec = env.run(svc.import_archive(busybox_tar, repo="busybox", tag=None))
    assert rec.repo_digests == ()  # import records no manifest, as Docker's
    d1, d2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    env.run(svc.add_manifest("busybox", d1, "busybox"))
    env.run(svc.add_manifest("localhost:5000/bb", d2, rec.id))
    got = env.run(svc.resolve(f"docker.io/library/busybox@{d1}"))
    assert got.id == rec.id
    assert got.repo_digests == (f"busybox@{d1}", f"localhost:5000/bb@{d2}")
    assert env.run(svc.resolve(f"localhost:5000/bb:anytag@{d2}")).id == rec.id
    with pytest.raises(NoSuchImage, match=f"No such image: busybox@{d2}"):
        env.run(svc.resolve(f"busybox@{d2}"))  # a digest belongs to its repository
    with pytest.raises(InvalidParameter, match="repository without tag or digest"):
        env.run(svc.add_manifest("busybox:1", d1, rec.id))
    with pytest.raises(InvalidParameter, match="invalid checksum digest"):
        env.run(svc.add_manifest("busybox", "sha256:abc", rec.id))
    assert [r.id for r in env.run(svc.list(filters={"reference": ["localhost:5000/*"]}))] == [
        rec.id
    ]

    # By digest: only that reference goes while others remain.
    assert env.run(svc.remove(f"localhost:5000/bb@{d2}")) == [
        {"Untagged": f"localhost:5000/bb@{d2}"}
    ]
    # The repository's last tag takes its digests along (moby's rule), then the image.
    records = env.run(svc.remove("busybox"))
    assert records[:3] == [
        {"Untagged": "busybox:latest"},
        {"Untagged": f"busybox@{d1}"},
        {"Deleted": rec.id},
    ]
    with pytest.raises(NoSuchImage):
        env.run(svc.resolve(f"busybox@{d1}"))


def test_removing_an_image_drops_its_manifests(env: Env, busybox_tar: Path) -> None:
    svc = env.service
    rec = env.run(svc.import_archive(busybox_tar, repo=None, tag=None))
    d3, d4 = "sha256:" + "3" * 64, "sha256:" + "4" * 64
    env.run(svc.add_manifest("registry.example/app", d3, rec.id))
    assert env.run(svc.list(filters={"dangling": ["true"]})) == []  # a digest is a reference
    env.run(svc.add_manifest("registry.example/other", d4, rec.id))
    with pytest.raises(Conflict, match="referenced in multiple repositories"):
        env.run(svc.remove(rec.id[:12]))
    records = env.run(svc.remove(rec.id[:12], force=True))
    assert records[:3] == [
        {"Untagged": f"registry.example/app@{d3}"},
        {"Untagged": f"registry.example/other@{d4}"},
        {"Deleted": rec.id},
    ]
    # One repository's digests alone do not stop a removal by ID (moby's isSingleReference).
    again = env.run(svc.import_archive(busybox_tar, repo=None, tag=None))
    with pytest.raises(NoSuchImage):
        env.run(svc.resolve(f"registry.example/app@{d3}"))
    env.run(svc.add_manifest("registry.example/app", d3, again.id))
    assert env.run(svc.remove(again.id))[:2] == [
        {"Untagged": f"registry.example/app@{d3}"},
        {"Deleted": again.id},
    ]
    assert list(env.snapshots.walk()) == []
    assert list(env.content.walk()) == []
