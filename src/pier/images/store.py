"""The image, tag, manifest and layer records in pier.db (tables `img_*`).

Layers are keyed by ChainID and shared by every image whose stack contains them;
`img_image_layers` lists each image's stack, so a layer is unused exactly when no row
there names it. An image's *references* are its tags (`repo:tag`) and its manifests
(`repo@sha256:...`, shown as RepoDigests), both stored with normalised repository names.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence

from pier.images.index import ImageIndex
from pier.images.rows import ImageRow, ImageView, LayerRow, ManifestRow, TagRow
from pier.metadata import Database
from pier.oci import reference as refs

__all__ = ["ImageRow", "ImageStore", "ImageView", "LayerRow", "ManifestRow", "TagRow"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS img_images (
    id        TEXT PRIMARY KEY,
    created   TEXT NOT NULL,
    size      INTEGER NOT NULL,
    parent    TEXT NOT NULL DEFAULT '',
    chain_id  TEXT NOT NULL DEFAULT '',
    added     REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS img_tags (
    ref           TEXT PRIMARY KEY,
    image_id      TEXT NOT NULL REFERENCES img_images(id),
    last_tag_time TEXT NOT NULL,
    seq           INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS img_tags_image ON img_tags(image_id);
CREATE TABLE IF NOT EXISTS img_manifests (
    repository TEXT NOT NULL,
    digest     TEXT NOT NULL,
    image_id   TEXT NOT NULL REFERENCES img_images(id),
    seq        INTEGER NOT NULL,
    PRIMARY KEY (repository, digest)
);
CREATE INDEX IF NOT EXISTS img_manifests_image ON img_manifests(image_id);
CREATE TABLE IF NOT EXISTS img_layers (
    chain_id     TEXT PRIMARY KEY,
    diff_id      TEXT NOT NULL,
    parent_chain TEXT NOT NULL DEFAULT '',
    snapshot     TEXT NOT NULL,
    size         INTEGER NOT NULL,
    blob         TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS img_image_layers (
    image_id  TEXT NOT NULL REFERENCES img_images(id),
    position  INTEGER NOT NULL,
    chain_id  TEXT NOT NULL REFERENCES img_layers(chain_id),
    PRIMARY KEY (image_id, position)
);
CREATE INDEX IF NOT EXISTS img_image_layers_chain ON img_image_layers(chain_id);
"""


def _tag(row: sqlite3.Row) -> TagRow:
    return _tag_row(row["ref"], row["image_id"], row["last_tag_time"])


def _tag_row(ref: str, image_id: str, when: str) -> TagRow:
    return TagRow(ref=ref, image_id=image_id, last_tag_time=when, familiar=refs.familiar(ref))


def _manifest(row: sqlite3.Row) -> ManifestRow:
    return ManifestRow(repository=row["repository"], digest=row["digest"], image_id=row["image_id"])


def _image(row: sqlite3.Row) -> ImageRow:
    return ImageRow(
        id=row["id"],
        created=row["created"],
        size=row["size"],
        parent=row["parent"],
        chain_id=row["chain_id"],
        added=row["added"],
    )


def _layer(row: sqlite3.Row) -> LayerRow:
    return LayerRow(
        chain_id=row["chain_id"],
        diff_id=row["diff_id"],
        parent_chain=row["parent_chain"],
        snapshot=row["snapshot"],
        size=row["size"],
        blob=row["blob"],
    )


class ImageStore:
    """Images, tags and manifests are read from memory (`pier.images.index`), loaded
    once here; each write method commits its transaction first and changes the index
    after the commit, under one lock, so readers see the committed state in the order
    it was committed, and a crash loses nothing. Layers are read from SQLite."""

    def __init__(self, *, db: Database) -> None:
        self._db = db
        db.ensure_schema(_SCHEMA)
        self._lock = threading.RLock()
        self._index = ImageIndex(
            images=(_image(r) for r in db.query("SELECT * FROM img_images ORDER BY added")),
            tags=(_tag(r) for r in db.query("SELECT * FROM img_tags ORDER BY seq")),
            manifests=(_manifest(r) for r in db.query("SELECT * FROM img_manifests ORDER BY seq")),
        )

    @property
    def generation(self) -> int:
        """Changes at every write of an image, tag or manifest. Read without the lock
        (one attribute: the event loop may ask while a writer holds the lock): a write
        changes it before its caller is answered, so a request made after that answer
        sees the new value."""
        return self._index.generation

    # -- images ------------------------------------------------------------------------

    def get(self, image_id: str) -> ImageRow | None:
        with self._lock:
            return self._index.image(image_id)

    def view(self, image_id: str) -> ImageView | None:
        with self._lock:
            return self._index.view(image_id)

    def views(self) -> tuple[int, list[ImageView]]:
        """Every image with its references (oldest first), and the generation they
        are of."""
        with self._lock:
            return self._index.generation, self._index.views()

    def peek(
        self, *, image_id: str = "", tag: str = "", manifest: tuple[str, str] | None = None
    ) -> ImageView | None:
        """The kept view of the image a full ID, a normalised tag or a manifest
        (repository, digest) names; None when there is none or it is not made yet.
        Read without the lock, a dict lookup at a time (the event loop may ask while a
        writer holds the lock); a write replaces views before its caller is answered."""
        if tag:
            image_id = self._index.tag_target(tag) or ""
        elif manifest is not None:
            image_id = self._index.manifest_target(*manifest) or ""
        return self._index.kept_view(image_id) if image_id else None

    def search_prefix(self, hex_prefix: str) -> list[str]:
        with self._lock:
            return self._index.search_prefix(hex_prefix)

    def add_image(
        self,
        image: ImageRow,
        chain_ids: list[str],
        *,
        tags: Sequence[str] = (),
        manifests: Sequence[ManifestRow] = (),
        when: str = "",
    ) -> None:
        """Record an image with the tags and manifests that point to it, in one transaction
        (an identical config is the same image: recording it again only adds references)."""
        with self._lock:
            with self._db.transaction() as conn:
                if not conn.execute(
                    "SELECT 1 FROM img_images WHERE id = ?", (image.id,)
                ).fetchone():
                    conn.execute(
                        "INSERT INTO img_images (id, created, size, parent, chain_id, added) "
                        "VALUES (?,?,?,?,?,?)",
                        (
                            image.id,
                            image.created,
                            image.size,
                            image.parent,
                            image.chain_id,
                            image.added,
                        ),
                    )
                    conn.executemany(
                        "INSERT INTO img_image_layers (image_id, position, chain_id) "
                        "VALUES (?,?,?)",
                        [(image.id, i, c) for i, c in enumerate(chain_ids)],
                    )
                for ref in tags:
                    _set_tag(conn, ref, image.id, when)
                for m in manifests:
                    _set_manifest(conn, m.repository, m.digest, image.id)
            self._index.put_image(image)
            for ref in tags:
                self._index.put_tag(_tag_row(ref, image.id, when))
            for m in manifests:
                self._index.put_manifest(
                    ManifestRow(repository=m.repository, digest=m.digest, image_id=image.id)
                )

    def delete_image(self, image_id: str) -> None:
        with self._lock:
            with self._db.transaction() as conn:
                conn.execute("DELETE FROM img_tags WHERE image_id = ?", (image_id,))
                conn.execute("DELETE FROM img_manifests WHERE image_id = ?", (image_id,))
                conn.execute("DELETE FROM img_image_layers WHERE image_id = ?", (image_id,))
                conn.execute("DELETE FROM img_images WHERE id = ?", (image_id,))
            self._index.drop_image(image_id)

    def children(self, image_id: str) -> list[str]:
        with self._lock:
            return self._index.children(image_id)

    # -- tags --------------------------------------------------------------------------

    def tags_of(self, image_id: str) -> list[TagRow]:
        with self._lock:
            return self._index.tags_of(image_id)

    def tag_target(self, ref: str) -> str | None:
        with self._lock:
            return self._index.tag_target(ref)

    def set_tag(self, ref: str, image_id: str, when: str) -> None:
        with self._lock:
            with self._db.transaction() as conn:
                _set_tag(conn, ref, image_id, when)
            self._index.put_tag(_tag_row(ref, image_id, when))

    def delete_tag(self, ref: str) -> bool:
        with self._lock:
            with self._db.transaction() as conn:
                cur = conn.execute("DELETE FROM img_tags WHERE ref = ?", (ref,))
            self._index.drop_tag(ref)
            return cur.rowcount > 0

    # -- manifests ---------------------------------------------------------------------

    def manifests_of(self, image_id: str) -> list[ManifestRow]:
        with self._lock:
            return self._index.manifests_of(image_id)

    def manifest_target(self, repository: str, digest: str) -> str | None:
        with self._lock:
            return self._index.manifest_target(repository, digest)

    def add_manifest(self, repository: str, digest: str, image_id: str) -> None:
        with self._lock:
            with self._db.transaction() as conn:
                _set_manifest(conn, repository, digest, image_id)
            self._index.put_manifest(
                ManifestRow(repository=repository, digest=digest, image_id=image_id)
            )

    def delete_manifest(self, repository: str, digest: str) -> bool:
        with self._lock:
            with self._db.transaction() as conn:
                cur = conn.execute(
                    "DELETE FROM img_manifests WHERE repository = ? AND digest = ?",
                    (repository, digest),
                )
            self._index.drop_manifest(repository, digest)
            return cur.rowcount > 0

    # -- layers ------------------------------------------------------------------------

    def layer(self, chain_id: str) -> LayerRow | None:
        rows = self._db.query("SELECT * FROM img_layers WHERE chain_id = ?", (chain_id,))
        return _layer(rows[0]) if rows else None

    def add_layer(self, layer: LayerRow) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO img_layers "
                "(chain_id, diff_id, parent_chain, snapshot, size, blob) VALUES (?,?,?,?,?,?)",
                (
                    layer.chain_id,
                    layer.diff_id,
                    layer.parent_chain,
                    layer.snapshot,
                    layer.size,
                    layer.blob,
                ),
            )

    def image_layers(self, image_id: str) -> list[LayerRow]:
        """The image's layers, bottom first."""
        return [
            _layer(r)
            for r in self._db.query(
                "SELECT l.* FROM img_image_layers il JOIN img_layers l USING (chain_id) "
                "WHERE il.image_id = ? ORDER BY il.position",
                (image_id,),
            )
        ]

    def unused_layers(self) -> list[LayerRow]:
        """Layers no image uses, top of each stack first (children before parents)."""
        rows = self._db.query(
            "SELECT * FROM img_layers WHERE chain_id NOT IN (SELECT chain_id FROM img_image_layers)"
        )
        layers = [_layer(r) for r in rows]
        parents = {layer.parent_chain for layer in layers}
        # Repeatedly emit layers that are nobody's parent within the set.
        ordered: list[LayerRow] = []
        remaining = layers
        while remaining:
            parents = {layer.parent_chain for layer in remaining}
            top = [layer for layer in remaining if layer.chain_id not in parents]
            if not top:
                break
            ordered.extend(top)
            remaining = [layer for layer in remaining if layer.chain_id in parents]
        return ordered

    def layers(self) -> list[LayerRow]:
        return [_layer(r) for r in self._db.query("SELECT * FROM img_layers")]

    def used_snapshots(self) -> set[str]:
        """The snapshots of every layer some image stacks on."""
        return {
            str(r["snapshot"])
            for r in self._db.query(
                "SELECT DISTINCT l.snapshot FROM img_image_layers il JOIN img_layers l "
                "USING (chain_id)"
            )
        }

    def referenced_blobs(self) -> set[str]:
        """Blobs the image records name themselves: configs (an image's ID is its config's
        digest) and manifests. Layer blobs are named by the layer rows."""
        with self._lock:
            return self._index.referenced_blobs()

    def blob_in_use(self, blob: str) -> bool:
        return bool(self._db.query("SELECT 1 FROM img_layers WHERE blob = ? LIMIT 1", (blob,)))

    def delete_layer(self, chain_id: str) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM img_layers WHERE chain_id = ?", (chain_id,))


def _set_tag(conn: sqlite3.Connection, ref: str, image_id: str, when: str) -> None:
    # seq keeps tags in the order they were made, the order Docker lists them in.
    seq = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM img_tags").fetchone()[0]
    conn.execute(
        "INSERT OR REPLACE INTO img_tags (ref, image_id, last_tag_time, seq) VALUES (?,?,?,?)",
        (ref, image_id, when, seq),
    )


def _set_manifest(conn: sqlite3.Connection, repository: str, digest: str, image_id: str) -> None:
    seq = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM img_manifests").fetchone()[0]
    conn.execute(
        "INSERT OR REPLACE INTO img_manifests (repository, digest, image_id, seq) VALUES (?,?,?,?)",
        (repository, digest, image_id, seq),
    )
