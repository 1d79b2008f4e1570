"""api.wire.images.SummaryCache: the body is what json_response would send, and a
filtered listing (a few of the images) does not throw away the encoded items the next
full listing reuses; a full listing drops those of images that are gone."""

from __future__ import annotations

import json

from pier.api.wire.images import SummaryCache, image_summary
from pier.images.model import ImageRecord
from pier.oci.image import ImageConfig


def _record(n: int) -> ImageRecord:
    return ImageRecord(
        id=f"sha256:{n:064x}",
        repo_tags=(f"r{n}:latest",),
        repo_digests=(),
        parent="",
        created="2024-01-01T00:00:00Z",
        created_seconds=1704067200.0,
        size=n,
        config=ImageConfig(),
        architecture="amd64",
        os="linux",
        variant="",
        author="",
        comment="",
        docker_version="",
        diff_ids=(),
        chain_id="",
        history=(),
        last_tag_time="",
    )


def test_a_filtered_listing_keeps_the_items_a_full_one_reuses() -> None:
    records = [_record(n) for n in range(200)]
    cache = SummaryCache()
    body = cache.render(records)
    assert json.loads(body) == [image_summary(r) for r in records]
    assert body.endswith(b"]\n")
    encoded = {r.id: cache._items[(r.id, False)][1] for r in records}

    assert json.loads(cache.render(records[:1], complete=False)) == [image_summary(records[0])]
    # Each record's encoded item is still the one made by the first listing.
    assert all(cache._items[(r.id, False)][1] is encoded[r.id] for r in records)

    # A full listing of the few left drops the items of the images that went.
    assert json.loads(cache.render(records[:1])) == [image_summary(records[0])]
    assert set(cache._items) == {(records[0].id, False)}
