"""pier.images.index: the in-memory rows keep SQLite's orders (images by `added`,
references by `seq`, a reference made again last) and hand out a new view exactly
when an image or one of its references changes."""

from __future__ import annotations

from pier.images.index import ImageIndex
from pier.images.rows import ImageRow, ManifestRow, TagRow


def _image(n: int, parent: str = "") -> ImageRow:
    return ImageRow(
        id=f"sha256:{n:064x}", created="", size=n, parent=parent, chain_id="", added=float(n)
    )


def _tag(ref: str, image: ImageRow) -> TagRow:
    return TagRow(
        ref=f"docker.io/library/{ref}", image_id=image.id, last_tag_time="t", familiar=ref
    )


def _manifest(digit: str, image: ImageRow) -> ManifestRow:
    return ManifestRow(
        repository="docker.io/library/x", digest="sha256:" + digit * 64, image_id=image.id
    )


def test_a_moved_tag_leaves_its_old_image_and_goes_last() -> None:
    a, b = _image(1), _image(2)
    index = ImageIndex(images=[a, b], tags=[_tag("x:1", a), _tag("y:1", a), _tag("z:1", b)])
    index.put_tag(_tag("x:1", b))
    assert [t.familiar for t in index.tags_of(a.id)] == ["y:1"]
    assert [t.familiar for t in index.tags_of(b.id)] == ["z:1", "x:1"]
    assert [t.familiar for t in index.tags()] == ["y:1", "z:1", "x:1"]
    assert index.tag_target("docker.io/library/x:1") == b.id


def test_views_change_only_with_their_image() -> None:
    a, b = _image(1), _image(2)
    index = ImageIndex(images=[a, b], tags=[_tag("x:1", a)])
    view_a, view_b = index.view(a.id), index.view(b.id)
    assert view_a is not None and view_a.repo_tags == ("x:1",)
    generation = index.generation
    index.put_tag(_tag("y:1", b))
    assert index.generation != generation
    assert index.view(a.id) is view_a
    assert index.view(b.id) is not view_b
    index.put_manifest(_manifest("a", a))
    changed = index.view(a.id)
    assert changed is not view_a and changed is not None
    assert changed.repo_digests == ("x@sha256:" + "a" * 64,)
    index.drop_tag("docker.io/library/nothing:1")  # absent: nothing changes
    assert index.view(a.id) is changed


def test_dropping_an_image_drops_its_references_and_child_link() -> None:
    a = _image(1)
    b = _image(2, parent=a.id)
    index = ImageIndex(
        images=[a, b], tags=[_tag("x:1", b), _tag("y:1", a)], manifests=[_manifest("b", b)]
    )
    assert index.children(a.id) == [b.id]
    assert index.referenced_blobs() == {a.id, b.id, "sha256:" + "b" * 64}
    index.drop_image(b.id)
    assert index.image(b.id) is None and index.view(b.id) is None
    assert index.children(a.id) == []
    assert [t.familiar for t in index.tags()] == ["y:1"]
    assert index.manifests() == [] and index.manifests_of(b.id) == []
    assert index.referenced_blobs() == {a.id}
    assert [v.row.id for v in index.views()] == [a.id]


def test_an_image_recorded_again_keeps_its_row_and_place() -> None:
    a, b = _image(1), _image(2)
    index = ImageIndex(images=[a, b])
    index.put_image(ImageRow(id=a.id, created="", size=99, parent="", chain_id="", added=3.0))
    assert [r.size for r in index.images()] == [1, 2]
    assert index.search_prefix(f"{0:063x}") == [a.id, b.id]
    assert index.search_prefix(f"{0:063x}2") == [b.id]
    assert index.search_prefix("f") == []
