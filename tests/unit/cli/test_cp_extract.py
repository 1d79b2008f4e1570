"""`pier cp`'s confined extraction, with and without the interpreter's extraction
filters (Debian 12's Python 3.11.2 has none): the same trees, the same refusals."""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from pier.cli import cptar

Entry = tuple[str, str, str]  # (name, kind: file/dir/sym, content or link target)


def _archive(entries: list[Entry]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, kind, value in entries:
            info = tarfile.TarInfo(name)
            info.mode = 0o4755 if kind == "file" else 0o755
            data = b""
            if kind == "dir":
                info.type = tarfile.DIRTYPE
            elif kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, value
            else:
                data = value.encode()
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _tree(root: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = "-> " + os.readlink(path)
            elif path.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = f"{oct(path.stat().st_mode & 0o7777)} {path.read_text()}"
    return out


Extractor = Callable[[io.BytesIO, str, str, str], None]
EXTRACTORS: list[Extractor] = [cptar._extract_checked]
if hasattr(tarfile, "tar_filter"):
    EXTRACTORS.append(cptar.extract)

CASES: dict[str, tuple[list[Entry], str | None]] = {
    "renamed top entry, setuid kept": (
        [("src", "dir", ""), ("src/a", "file", "x"), ("src/l", "sym", "a")],
        None,
    ),
    "dot-dot": ([("../evil", "file", "x")], "would be extracted to"),
    "absolute name stripped": ([("/abs", "file", "x")], None),
    # docker cp copies links as they are, wherever they point
    "absolute symlink": ([("l", "sym", "/etc")], None),
    "symlink out": ([("l", "sym", "../../x")], None),
    "through an extracted symlink": (
        [("d", "sym", "."), ("d/../../x", "file", "x")],
        "would be extracted to",
    ),
}


@pytest.mark.parametrize("extract", EXTRACTORS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("case", sorted(CASES))
def test_extraction_is_confined(tmp_path: Path, extract: Extractor, case: str) -> None:
    entries, refusal = CASES[case]
    dest = tmp_path / "dest"
    dest.mkdir()
    stream = io.BytesIO(_archive(entries))
    if refusal is None:
        extract(stream, str(dest), "src", "dst")
        assert _tree(dest)  # something landed, and only under dest
        assert not (tmp_path / "evil").exists() and not (tmp_path / "x").exists()
        if case.startswith("renamed"):
            assert _tree(dest) == {"dst": "dir", "dst/a": "0o4755 x", "dst/l": "-> a"}
        return
    with pytest.raises(cptar.CopyError, match=refusal):
        extract(stream, str(dest), "src", "dst")
    assert not (tmp_path / "evil").exists() and not (tmp_path / "x").exists()


def test_both_extractors_refuse_in_the_same_words(tmp_path: Path) -> None:
    if len(EXTRACTORS) < 2:
        pytest.skip("this interpreter has no extraction filters to compare with")
    for case, (entries, refusal) in sorted(CASES.items()):
        if refusal is None:
            continue
        messages = []
        for i, extract in enumerate(EXTRACTORS):
            dest = tmp_path / f"{case}-{i}"
            dest.mkdir()
            with pytest.raises(cptar.CopyError) as caught:
                extract(io.BytesIO(_archive(entries)), str(dest), "src", "dst")
            messages.append(str(caught.value).replace(f"{case}-{i}", "DEST"))
        assert messages[0] == messages[1], case
