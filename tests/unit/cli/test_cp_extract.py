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


def _outcome(extract: Callable[[io.BytesIO, str, str, str], None], data: bytes, dest: Path) -> str:
    dest.mkdir()
    try:
        extract(io.BytesIO(data), str(dest), "src", "dst")
    except cptar.CopyError as exc:
        return "refused: " + str(exc).replace(str(dest), "DEST")
    return repr(_tree(dest))


@pytest.mark.parametrize("case", sorted(CASES))
def test_extraction_is_confined(tmp_path: Path, case: str) -> None:
    entries, refusal = CASES[case]
    data = _archive(entries)
    outcome = _outcome(cptar._extract_checked, data, tmp_path / "dest")
    if refusal is None:
        assert not outcome.startswith("refused"), outcome
        if case.startswith("renamed"):
            assert _tree(tmp_path / "dest") == {"dst": "dir", "dst/a": "0o4755 x", "dst/l": "-> a"}
    else:
        assert outcome.startswith("refused") and refusal in outcome, outcome
    assert not (tmp_path / "evil").exists() and not (tmp_path / "x").exists()
    if hasattr(tarfile, "tar_filter"):
        # where the interpreter has extraction filters, they decide the same, in the same words
        assert _outcome(cptar.extract, data, tmp_path / "with-filter") == outcome
