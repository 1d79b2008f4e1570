"""The image, tag, manifest and layer records in pier.db (tables `img_*`).

Layers are keyed by ChainID and shared by every image whose stack contains them;
`img_image_layers` lists each image's stack, so a layer is unused exactly when no row
there names it. An image's *references* are its tags (`repo:tag`) and its manifests
(`repo@sha256:...`, shown as RepoDigests), both stored with normalised repository names.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from pier.metadata import Database

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


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageRow:
    id: str
    created: str
    size: int
    parent: str
    chain_id: str
    added: float


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerRow:
    chain_id: str
    diff_id: str
    parent_chain: str
    snapshot: str
    size: int
    blob: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TagRow:
    ref: str  # normalised, e.g. docker.io/library/busybox:latest
    image_id: str
    last_tag_time: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ManifestRow:
    """A manifest that resolves to an image: what `docker pull repo@digest` fetched."""

    repository: str  # normalised, e.g. docker.io/library/busybox
    digest: str  # the manifest's digest
    image_id: str

    @property
    def ref(self) -> str:
        return f"{self.repository}@{self.digest}"


def _tag(row: sqlite3.Row) -> TagRow:
    return TagRow(ref=row["ref"], image_id=row["image_id"], last_tag_time=row["last_tag_time"])


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
    def __init__(self, *, db: Database) -> None:
        self._db = db
        db.ensure_schema(_SCHEMA)

    # -- images ------------------------------------------------------------------------

    def get(self, image_id: str) -> ImageRow | None:
        rows = self._db.query("SELECT * FROM img_images WHERE id = ?", (image_id,))
        return _image(rows[0]) if rows else None

    def images(self) -> list[ImageRow]:
        return [_image(r) for r in self._db.query("SELECT * FROM img_images ORDER BY added")]

    def search_prefix(self, hex_prefix: str) -> list[str]:
        like = hex_prefix.replace("%", "").replace("_", "") + "%"
        return [
            r["id"]
            for r in self._db.query(
                "SELECT id FROM img_images WHERE id LIKE ?", ("sha256:" + like,)
            )
        ]

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
        with self._db.transaction() as conn:
            if not conn.execute("SELECT 1 FROM img_images WHERE id = ?", (image.id,)).fetchone():
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
                    "INSERT INTO img_image_layers (image_id, position, chain_id) VALUES (?,?,?)",
                    [(image.id, i, c) for i, c in enumerate(chain_ids)],
                )
            for ref in tags:
                _set_tag(conn, ref, image.id, when)
            for m in manifests:
                _set_manifest(conn, m.repository, m.digest, image.id)

    def delete_image(self, image_id: str) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM img_tags WHERE image_id = ?", (image_id,))
            conn.execute("DELETE FROM img_manifests WHERE image_id = ?", (image_id,))
            conn.execute("DELETE FROM img_image_layers WHERE image_id = ?", (image_id,))
            conn.execute("DELETE FROM img_images WHERE id = ?", (image_id,))

    def children(self, image_id: str) -> list[str]:
        return [
            r["id"]
            for r in self._db.query("SELECT id FROM img_images WHERE parent = ?", (image_id,))
        ]

    # -- tags --------------------------------------------------------------------------

    def tags(self) -> list[TagRow]:
        return [_tag(r) for r in self._db.query("SELECT * FROM img_tags ORDER BY seq")]

    def tags_of(self, image_id: str) -> list[TagRow]:
        return [
            _tag(r)
            for r in self._db.query(
                "SELECT * FROM img_tags WHERE image_id = ? ORDER BY seq", (image_id,)
            )
        ]

    def tag_target(self, ref: str) -> str | None:
        rows = self._db.query("SELECT image_id FROM img_tags WHERE ref = ?", (ref,))
        return str(rows[0]["image_id"]) if rows else None

    def set_tag(self, ref: str, image_id: str, when: str) -> None:
        with self._db.transaction() as conn:
            _set_tag(conn, ref, image_id, when)

    def delete_tag(self, ref: str) -> bool:
        with self._db.transaction() as conn:
            cur = conn.execute("DELETE FROM img_tags WHERE ref = ?", (ref,))
            return cur.rowcount > 0

    # -- manifests ---------------------------------------------------------------------

    def manifests(self) -> list[ManifestRow]:
        return [_manifest(r) for r in self._db.query("SELECT * FROM img_manifests ORDER BY seq")]

    def manifests_of(self, image_id: str) -> list[ManifestRow]:
        return [
            _manifest(r)
            for r in self._db.query(
                "SELECT * FROM img_manifests WHERE image_id = ? ORDER BY seq", (image_id,)
            )
        ]

    def manifest_target(self, repository: str, digest: str) -> str | None:
        rows = self._db.query(
            "SELECT image_id FROM img_manifests WHERE repository = ? AND digest = ?",
            (repository, digest),
        )
        return str(rows[0]["image_id"]) if rows else None

    def add_manifest(self, repository: str, digest: str, image_id: str) -> None:
        with self._db.transaction() as conn:
            _set_manifest(conn, repository, digest, image_id)

    def delete_manifest(self, repository: str, digest: str) -> bool:
        with self._db.transaction() as conn:
            cur = conn.execute(
                "DELETE FROM img_manifests WHERE repository = ? AND digest = ?",
                (repository, digest),
            )
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
        rows = self._db.query(
            "SELECT id AS d FROM img_images UNION SELECT digest FROM img_manifests"
        )
        return {str(r["d"]) for r in rows}

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
