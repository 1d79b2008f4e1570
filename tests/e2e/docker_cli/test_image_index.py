"""The image catalog is served from memory (pier.images.index): after every kind of
write made through the real docker CLI (tag, a tag moved, untag, rmi, image prune,
commit, build, load, pull by tag and by digest) the listing and inspect show exactly
what pier.db has committed, and a restart (clean or kill -9), which loads the rows
from pier.db again, shows the same."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from pier.oci import reference as refs
from pier_testing.daemon import PierDaemon
from pier_testing.registry import DistributionRegistry

Listing = dict[str, tuple[list[str], list[str]]]  # image ID -> (RepoTags, RepoDigests)


def _committed(pier: PierDaemon) -> Listing:
    """What pier.db holds, read beside the daemon (WAL: a reader sees the last commit)."""
    conn = sqlite3.connect(f"file:{pier.data_root / 'pier.db'}?mode=ro", uri=True)
    try:
        images = [r[0] for r in conn.execute("SELECT id FROM img_images")]
        out: Listing = {i: ([], []) for i in images}
        for ref, image_id in conn.execute("SELECT ref, image_id FROM img_tags ORDER BY seq"):
            out[image_id][0].append(refs.familiar(ref))
        for repo, digest, image_id in conn.execute(
            "SELECT repository, digest, image_id FROM img_manifests ORDER BY seq"
        ):
            out[image_id][1].append(refs.familiar(f"{repo}@{digest}"))
        return out
    finally:
        conn.close()


def _served(pier: PierDaemon) -> Listing:
    listed = {
        i["Id"]: (i["RepoTags"], i["RepoDigests"])
        for i in pier.client.get_json("/images/json", all=1)
    }
    for image_id, (tags, digests) in listed.items():
        # Twice: the first lookup may make the record the second finds kept.
        for _ in range(2):
            inspect = pier.client.get_json(f"/images/{image_id}/json")
            assert (inspect["RepoTags"], inspect["RepoDigests"]) == (tags, digests), image_id
            for name in (*tags, *digests, image_id.removeprefix("sha256:")):
                assert pier.client.get_json(f"/images/{name}/json")["Id"] == image_id, name
    return listed


def _in_step(pier: PierDaemon) -> Listing:
    served = _served(pier)
    assert served == _committed(pier)
    return served


def _tags(listing: Listing) -> set[str]:
    return {t for tags, _ in listing.values() for t in tags}


def _image_of(listing: Listing, tag: str) -> str:
    return next(i for i, (tags, _) in listing.items() if tag in tags)


def test_every_write_is_served_as_committed_and_survives_restarts(
    docker, pier: PierDaemon, registry: DistributionRegistry, tmp_path: Path
) -> None:
    busybox = _image_of(_in_step(pier), "busybox:latest")

    docker.ok("tag", "busybox", "idx/a:1")
    docker.ok("tag", "busybox", "idx/b")
    after = _in_step(pier)
    assert after[busybox][0] == ["busybox:latest", "idx/a:1", "idx/b:latest"]

    # A commit makes a second image; a tag moved to it leaves busybox's list.
    cid = docker.ok("create", "--name", "idx-c", "busybox", "true").strip()
    committed = docker.ok("commit", "-c", "ENV IDX=1", cid, "idx/committed:1").strip()
    docker.ok("tag", "idx/committed:1", "idx/a:1")
    after = _in_step(pier)
    assert after[busybox][0] == ["busybox:latest", "idx/b:latest"]
    assert after[committed][0] == ["idx/committed:1", "idx/a:1"]

    assert docker.ok("rmi", "idx/b") == "Untagged: idx/b:latest\n"
    assert "idx/b:latest" not in _tags(_in_step(pier))

    # Pushed and pulled again by tag, then by digest: RepoDigests follow.
    repo = f"{registry.address}/idx/pushed"
    docker.ok("tag", "idx/committed:1", f"{repo}:1")
    pushed = docker.ok("push", f"{repo}:1", timeout=120)
    digest = pushed.split("digest: ")[1].split()[0]
    after = _in_step(pier)
    assert after[committed][1] == [f"{repo}@{digest}"]
    docker.ok("rmi", f"{repo}:1")
    assert _in_step(pier)[committed][1] == []  # the repository's last tag took it along
    docker.ok("pull", f"{repo}@{digest}", timeout=120)
    after = _in_step(pier)
    assert after[committed][1] == [f"{repo}@{digest}"]
    assert f"{repo}:1" not in after[committed][0]
    docker.ok("pull", f"{repo}:1", timeout=120)
    assert f"{repo}:1" in _in_step(pier)[committed][0]

    # A classic build leaves an intermediate image per step (listed with all=1).
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM busybox\nLABEL idx=1\nENV IDX_BUILT=1\n")
    build = docker("build", "-q", "-t", "idx/built:1", str(context), timeout=120)
    assert build.returncode == 0, build.stderr
    built = build.stdout.strip()
    after = _in_step(pier)
    assert after[built][0] == ["idx/built:1"]
    assert len(after) >= 4

    # Built again with another label: the old image is dangling, and prune removes it.
    (context / "Dockerfile").write_text("FROM busybox\nLABEL idx=2\n")
    build = docker("build", "-q", "-t", "idx/built:1", str(context), timeout=120)
    assert build.returncode == 0, build.stderr
    after = _in_step(pier)
    assert after[built][0] == []
    pruned = docker.ok("image", "prune", "-f")
    assert f"deleted: {built}" in pruned
    after = _in_step(pier)
    assert built not in after

    # Saved, removed and loaded back.
    archive = tmp_path / "committed.tar"
    docker.ok("save", "-o", str(archive), "idx/committed:1")
    docker.ok("rm", "idx-c")
    docker.ok("rmi", "-f", committed)
    assert committed not in _in_step(pier)
    docker.ok("load", "-i", str(archive), timeout=120)
    after = _in_step(pier)
    assert after[committed][0] == ["idx/committed:1"]

    # Restarts load the rows again: the same answer, cleanly and after kill -9 (right
    # after a write: it was committed before the client had its answer).
    before = _served(pier)
    pier.restart()
    assert _in_step(pier) == before
    docker.ok("tag", "busybox", "idx/last:1")
    pier.kill9()
    pier.start()
    after = _in_step(pier)
    assert after[busybox][0] == [*before[busybox][0], "idx/last:1"]

    listing = json.loads(docker.ok("images", "--format", "json", "--no-trunc").splitlines()[0])
    assert listing["ID"] in after
