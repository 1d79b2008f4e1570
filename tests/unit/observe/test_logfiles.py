"""Log options as dockerd checks them, and the shifting of rotated files."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from pier.containers import logconfig
from pier.containers.logfiles import LogFiles
from pier.containers.logs import rotated_files
from pier.errors import InvalidParameter


@pytest.mark.parametrize(
    ("text", "size"),
    [("10m", 10_000_000), ("1k", 1000), ("1.5MB", 1_500_000), ("100", 100), ("2g", 2 * 10**9)],
)
def test_sizes_are_decimal_as_go_units(text: str, size: int) -> None:
    assert logconfig.parse_size(text) == size


def test_defaults_merge_only_into_the_default_driver() -> None:
    assert logconfig.resolve("", {}, default_driver="json-file", default_opts=None) == (
        "json-file",
        {"max-size": "10m", "max-file": "3"},
    )
    assert logconfig.resolve(
        "json-file", {"max-size": "1m"}, default_driver="json-file", default_opts=None
    ) == ("json-file", {"max-size": "1m", "max-file": "3"})
    assert logconfig.resolve("local", {}, default_driver="json-file", default_opts=None) == (
        "local",
        {},
    )
    # daemon.json log-opts replace Pier's defaults altogether (Docker's semantics).
    assert logconfig.resolve("", {}, default_driver="json-file", default_opts={}) == (
        "json-file",
        {},
    )


def test_policies() -> None:
    assert logconfig.policy("json-file", {}) == logconfig.LogPolicy()
    local = logconfig.policy("local", {})
    assert (local.max_size, local.max_file, local.compress) == (20 * 1024 * 1024, 5, True)
    assert not logconfig.policy("none", {}).readable
    p = logconfig.policy("json-file", {"max-size": "10m", "max-file": "3"})
    assert p.keeps_rotated and p.monitor_size_max == 20_000_000
    with pytest.raises(InvalidParameter, match="max-size must be a positive number"):
        logconfig.policy("json-file", {"max-size": "0"})


def _fill(path: Path, text: str) -> None:
    with open(path, "a") as fh:
        fh.write(text)


def _conmon_reopens(path: Path) -> None:
    """What conmon does: a new file renamed over the log."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("")
    tmp.replace(path)


def test_shifting_keeps_max_file_and_compresses(tmp_path: Path) -> None:
    log = tmp_path / "ctr.log"
    files = LogFiles(log_path=lambda cid: log)
    policy = logconfig.LogPolicy(max_size=10, max_file=3, compress=True)
    files.prepare("c", policy)
    assert os.path.samefile(log, tmp_path / "ctr.log.0")
    for generation in ("a", "b", "c"):
        _fill(log, generation * 20)
        assert files.full("c", policy) is not None
        _conmon_reopens(log)
        assert files.rotate("c", policy)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["ctr.log", "ctr.log.0", "ctr.log.1.gz", "ctr.log.2.gz"]
    assert gzip.decompress((tmp_path / "ctr.log.1.gz").read_bytes()) == b"c" * 20
    assert gzip.decompress((tmp_path / "ctr.log.2.gz").read_bytes()) == b"b" * 20
    assert rotated_files(log) == [tmp_path / "ctr.log.2.gz", tmp_path / "ctr.log.1.gz"]
    # A rotation nobody shifted yet (pierd was down): .0 is read before the current file.
    _fill(log, "d" * 20)
    _conmon_reopens(log)
    assert rotated_files(log)[-1] == tmp_path / "ctr.log.0"


def test_a_full_log_is_rotated_before_the_start(tmp_path: Path) -> None:
    log = tmp_path / "ctr.log"
    _fill(log, "x" * 50)
    files = LogFiles(log_path=lambda cid: log)
    files.prepare("c", logconfig.LogPolicy(max_size=10, max_file=2))
    assert (tmp_path / "ctr.log.1").read_text() == "x" * 50
    assert log.read_text() == ""
