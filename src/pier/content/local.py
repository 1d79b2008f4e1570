"""The local ContentStore: plain files under `<data_root>/content`."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from pier.content.leases import Leases, Resource
from pier.content.store import Info, IngestStatus
from pier.errors import Conflict, InvalidParameter, NotFound, SystemFailure
from pier.oci import digest as d


class LocalContentStore:
    def __init__(self, *, root: Path, leases: Leases | None = None) -> None:
        self._root = root
        self._leases = leases if leases is not None else Leases()
        self._blobs = root / "blobs" / "sha256"
        self._ingest = root / "ingest"
        self._open: dict[str, LocalWriter] = {}  # writers of this process, for abort()
        self._blobs.mkdir(parents=True, exist_ok=True)
        self._ingest.mkdir(parents=True, exist_ok=True)

    def _blob_path(self, dgst: str) -> Path:
        return self._blobs / d.hex_of(dgst)

    def _ingest_dir(self, ref: str) -> Path:
        # Refs are arbitrary strings; hashing gives a safe, fixed-length directory name.
        return self._ingest / hashlib.sha256(ref.encode()).hexdigest()

    def info(self, dgst: str) -> Info:
        try:
            st = self._blob_path(dgst).stat()
        except FileNotFoundError:
            raise NotFound(f"content digest {dgst}: not found") from None
        return Info(digest=dgst, size=st.st_size, created_at=st.st_mtime)

    def open(self, dgst: str) -> BinaryIO:
        try:
            return self._blob_path(dgst).open("rb")
        except FileNotFoundError:
            raise NotFound(f"content digest {dgst}: not found") from None

    def path(self, dgst: str) -> str:
        p = self._blob_path(dgst)
        if not p.exists():
            raise NotFound(f"content digest {dgst}: not found")
        return str(p)

    def writer(self, ref: str, expected: str | None = None, *, resume: bool = False) -> LocalWriter:
        if not ref:
            raise InvalidParameter("ref must not be empty")
        if expected is not None and self._blob_path(expected).exists():
            raise Conflict(f"content {expected}: already exists")
        previous = self._open.pop(ref, None)
        if previous is not None:
            previous.close()
        directory = self._ingest_dir(ref)
        if not (resume and (directory / "data").is_file()):
            # Begin again from zero unless asked to resume (an interrupted download
            # continues with a Range request from the writer's offset, as containerd's).
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir(parents=True)
            (directory / "ref").write_text(ref)
            (directory / "startedat").write_text(repr(time.time()))
        writer = LocalWriter(
            store=self, ref=ref, directory=directory, expected=expected, resume=resume
        )
        self._open[ref] = writer
        return writer

    def ingests(self) -> list[IngestStatus]:
        out = []
        for entry in self._ingest.iterdir():
            try:
                ref = (entry / "ref").read_text()
                started = float((entry / "startedat").read_text())
                st = (entry / "data").stat()
            except (FileNotFoundError, ValueError):
                continue
            out.append(
                IngestStatus(ref=ref, offset=st.st_size, started_at=started, updated_at=st.st_mtime)
            )
        return out

    def abort(self, ref: str) -> None:
        directory = self._ingest_dir(ref)
        writer = self._open.pop(ref, None)
        if writer is not None:
            writer.close()
        elif not directory.exists():
            raise NotFound(f"ingest ref {ref!r}: not found")
        shutil.rmtree(directory, ignore_errors=True)

    def writing(self) -> set[str]:
        """Refs of the ingests a writer of this process has open."""
        return set(self._open)

    def walk(self) -> Iterator[Info]:
        for entry in os.scandir(self._blobs):
            if d.is_hex_id(entry.name) and entry.is_file():
                st = entry.stat()
                yield Info(digest="sha256:" + entry.name, size=st.st_size, created_at=st.st_mtime)

    def delete(self, dgst: str) -> None:
        try:
            self._blob_path(dgst).unlink()
        except FileNotFoundError:
            raise NotFound(f"content digest {dgst}: not found") from None

    # Used by LocalWriter.commit.
    def _publish(self, data: Path, dgst: str) -> Info:
        target = self._blob_path(dgst)
        if target.exists():
            data.unlink()
        else:
            os.chmod(data, 0o444)
            os.rename(data, target)
        return self.info(dgst)


class LocalWriter:
    def __init__(
        self,
        *,
        store: LocalContentStore,
        ref: str,
        directory: Path,
        expected: str | None,
        resume: bool = False,
    ):
        self._store = store
        self._ref = ref
        self._dir = directory
        self._expected = expected
        self._hash = hashlib.sha256()
        self._offset = 0
        self._followed = False
        data = directory / "data"
        if resume and data.is_file():
            # The hash state is not kept on disk: read back what is there.
            with data.open("rb") as f:
                while block := f.read(1 << 20):
                    self._hash.update(block)
                    self._offset += len(block)
            self._file: BinaryIO | None = data.open("ab")
        else:
            self._file = data.open("wb")
        self._done = False

    @property
    def offset(self) -> int:
        return self._offset

    def write(self, data: bytes) -> int:
        if self._file is None:
            raise SystemFailure(f"ingest {self._ref!r} is closed")
        try:
            n = self._file.write(data)
            if self._followed:
                self._file.flush()
        except OSError as exc:
            raise SystemFailure(f"failed to write content: {exc}") from exc
        self._hash.update(data)
        self._offset += n
        return n

    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()

    def open_written(self) -> BinaryIO:
        # From now on each write is flushed to the file, where a reader of the same
        # inode sees it; the commit renames the inode, an open reader keeps it.
        self._followed = True
        return (self._dir / "data").open("rb")

    def commit(self, size: int | None = None, expected: str | None = None) -> Info:
        if self._file is None:
            raise SystemFailure(f"ingest {self._ref!r} is closed")
        want = expected or self._expected
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None
            got = self.digest()
            if size is not None and size != self._offset:
                raise InvalidParameter(f"unexpected commit size {self._offset}, expected {size}")
            if want is not None and want != got:
                raise InvalidParameter(f"unexpected commit digest {got}, expected {want}")
            # Leased before it is visible: a collector never sees it unprotected.
            self._store._leases.track(Resource.BLOB, got)
            info = self._store._publish(self._dir / "data", got)
        except OSError as exc:
            self._discard()
            raise SystemFailure(f"failed to commit content: {exc}") from exc
        except BaseException:
            self._discard()
            raise
        self._discard()
        self._done = True
        return info

    def _discard(self) -> None:
        if self._store._open.get(self._ref) is self:
            del self._store._open[self._ref]
        if self._file is not None:
            self._file.close()
            self._file = None
        shutil.rmtree(self._dir, ignore_errors=True)

    def suspend(self) -> None:
        """Close, keeping what was written for a later `writer(ref, resume=True)`."""
        if self._store._open.get(self._ref) is self:
            del self._store._open[self._ref]
        if self._file is not None:
            self._file.flush()
            self._file.close()
            self._file = None
        self._done = True

    def close(self) -> None:
        """Abort unless committed."""
        if not self._done:
            self._discard()

    def __enter__(self) -> LocalWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
