"""What the event loop is answered from without a thread (Catalog.listed, Catalog.peek)
is never older than the last write: a listing whose filter skips an image still
remakes that image's view, and a kept record must not outlive its view."""

from __future__ import annotations

from pathlib import Path

from pier_testing.image_store import Env


def test_kept_answers_follow_writes(env: Env, busybox_tar: Path) -> None:
    rec = env.run(env.service.import_archive(busybox_tar, repo="kept", tag="1"))
    catalog = env.service._catalog
    assert catalog.peek("kept:9") is None  # no such tag: the thread decides
    assert catalog.peek("Bad Name") is None  # the thread gives the refusal
    assert env.run(env.service.resolve("kept:1")).repo_tags == ("kept:1",)
    assert catalog.peek("kept:1") is not None
    assert catalog.peek(rec.id) is not None

    listed = catalog.listed(False)
    assert listed is None or [r.id for r in listed] == [rec.id]
    assert [r.id for r in env.run(env.service.list())] == [rec.id]
    assert catalog.listed(False) is not None

    env.run(env.service.tag(rec.id, "kept", "2"))
    assert catalog.listed(False) is None
    # A filter that skips the image remakes its view without its record.
    assert env.run(env.service.list(filters={"dangling": ["true"]})) == []
    peeked = catalog.peek("kept:1")
    assert peeked is None or peeked.repo_tags == ("kept:1", "kept:2")
    assert env.run(env.service.resolve("kept:2")).repo_tags == ("kept:1", "kept:2")
    assert catalog.peek("kept:2") is not None

    env.run(env.service.remove("kept:1"))
    env.run(env.service.remove("kept:2"))
    assert catalog.peek("kept:2") is None and catalog.peek(rec.id) is None
    assert env.run(env.service.list()) == []
