"""Which conmon pierd starts: the copy without the journal only while it was made from
the conmon on PATH, and only when daemon.json's `conmon-path` is left at `conmon`."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from pier.runtime.conmon_binary import choose_conmon


@pytest.fixture
def stock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    conmon = bindir / "conmon"
    conmon.write_bytes(b"#!/bin/sh\n# conmon 2.1.6\n")
    conmon.chmod(0o755)
    monkeypatch.setenv("PATH", str(bindir))
    return conmon


def _lean_dir(tmp_path: Path, made_from: bytes) -> Path:
    lean = tmp_path / "libexec"
    lean.mkdir()
    (lean / "conmon").write_bytes(b"#!/bin/sh\n# lean\n")
    (lean / "conmon").chmod(0o755)
    digest = hashlib.sha256(made_from).hexdigest()
    (lean / "conmon.source").write_text(f"{digest} /usr/bin/conmon\n")
    return lean


def test_the_copy_made_from_the_conmon_on_path_is_chosen(stock: Path, tmp_path: Path) -> None:
    lean = _lean_dir(tmp_path, stock.read_bytes())
    chosen = choose_conmon("conmon", lean_dir=lean)
    assert (chosen.path, chosen.lean, chosen.reason) == (str(lean / "conmon"), True, "")


def test_a_copy_of_another_conmon_is_not_chosen(stock: Path, tmp_path: Path) -> None:
    lean = _lean_dir(tmp_path, b"an older conmon")
    chosen = choose_conmon("conmon", lean_dir=lean)
    assert (chosen.path, chosen.lean) == (str(stock), False)
    assert chosen.reason == f"{lean / 'conmon'} was made from another conmon than {stock}"


def test_without_a_copy_the_conmon_on_path_is_found_once(stock: Path, tmp_path: Path) -> None:
    chosen = choose_conmon("conmon", lean_dir=tmp_path / "absent")
    assert (chosen.path, chosen.lean) == (str(stock), False)
    assert chosen.reason.startswith("no copy without the journal in ")


def test_a_copy_that_cannot_run_is_not_chosen(stock: Path, tmp_path: Path) -> None:
    lean = _lean_dir(tmp_path, stock.read_bytes())
    (lean / "conmon").chmod(0o644)
    chosen = choose_conmon("conmon", lean_dir=lean)
    assert (chosen.path, chosen.lean) == (str(stock), False)


def test_a_conmon_path_in_daemon_json_is_started_as_it_is(stock: Path, tmp_path: Path) -> None:
    lean = _lean_dir(tmp_path, stock.read_bytes())
    chosen = choose_conmon(str(stock), lean_dir=lean)
    assert (chosen.path, chosen.lean, chosen.reason) == (
        str(stock),
        False,
        "conmon-path names a binary",
    )
