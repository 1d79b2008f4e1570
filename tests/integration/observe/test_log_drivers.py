"""Log drivers and rotation: json-file rotated by default, local, none, daemon.json
defaults, reading across rotated (and compressed) files, following across a rotation,
and rotation catching up after pierd was down."""

from __future__ import annotations

import gzip
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from pier.client.errors import APIError
from pier_testing.api import create, demux, inspect, logs, wait
from pier_testing.daemon import PierDaemon

# 3000 numbered lines of 40 bytes of output each (~200 kB as k8s-file records), at
# about 130 kB/s: pierd cuts a file every quarter of a second at most.
WRITER = [
    "sh",
    "-c",
    "i=0; while [ $i -lt 3000 ]; do i=$((i+1)); "
    "printf 'line-%06d-%s\\n' $i xxxxxxxxxxxxxxxxxxxxxxxxxx; "
    "[ $((i % 100)) = 0 ] && sleep 0.05; done; true",
]
MAX = 50_000


def _log_files(pier: PierDaemon, cid: str) -> dict[str, int]:
    path = Path(inspect(pier.client, cid)["LogPath"])
    return {p.name: p.stat().st_size for p in path.parent.iterdir() if p.name.startswith(path.name)}


def _numbers(out: bytes) -> list[int]:
    return [int(line.split(b"-")[1]) for line in out.splitlines()]


def _finished(pier: PierDaemon, cmd: list[str], log_config: dict[str, Any] | None = None) -> str:
    hc = {"LogConfig": log_config} if log_config else None
    cid = create(pier.client, cmd, host_config=hc)
    pier.client.post(f"/containers/{cid}/start")
    assert wait(pier.client, cid) == 0
    return cid


def test_default_is_json_file_rotated(pier: PierDaemon) -> None:
    cid = create(pier.client, ["true"])
    assert inspect(pier.client, cid)["HostConfig"]["LogConfig"] == {
        "Type": "json-file",
        "Config": {"max-size": "10m", "max-file": "3"},
    }


def test_rotation_keeps_max_file_files_and_reads_across_them(pier: PierDaemon) -> None:
    cid = _finished(
        pier, WRITER, {"Type": "json-file", "Config": {"max-size": "50k", "max-file": "3"}}
    )
    files = _log_files(pier, cid)
    assert {"ctr.log", "ctr.log.1", "ctr.log.2"} <= set(files)
    assert not any(name.endswith((".3", ".3.gz")) for name in files)
    # pierd cuts at max-size, plus what was written before it looked.
    assert all(size <= 2 * MAX for size in files.values())
    out, _ = logs(pier.client, cid)
    numbers = _numbers(out)
    # The newest lines, in order and without a gap, ending with the last one.
    assert numbers == list(range(numbers[0], 3001))
    assert 1 < numbers[0] < 2500
    half = len(numbers) // 2
    assert _numbers(logs(pier.client, cid, tail=str(half))[0]) == numbers[-half:]
    assert _numbers(logs(pier.client, cid, tail="5")[0]) == list(range(2996, 3001))


def test_compress_gzips_the_rotated_files(pier: PierDaemon) -> None:
    cid = _finished(
        pier,
        WRITER,
        {"Type": "json-file", "Config": {"max-size": "50k", "max-file": "4", "compress": "true"}},
    )
    files = _log_files(pier, cid)
    gz = sorted(n for n in files if n.endswith(".gz"))
    assert gz and set(gz) <= {"ctr.log.1.gz", "ctr.log.2.gz", "ctr.log.3.gz"}
    path = Path(inspect(pier.client, cid)["LogPath"]).parent / gz[0]
    assert b" stdout F line-" in gzip.decompress(path.read_bytes())
    numbers = _numbers(logs(pier.client, cid)[0])
    assert numbers == list(range(numbers[0], 3001))
    half = len(numbers) // 2
    assert _numbers(logs(pier.client, cid, tail=str(half))[0]) == numbers[-half:]


def test_max_file_one_truncates(pier: PierDaemon) -> None:
    cid = _finished(
        pier, WRITER, {"Type": "json-file", "Config": {"max-size": "50k", "max-file": "1"}}
    )
    files = _log_files(pier, cid)
    assert set(files) == {"ctr.log"} and files["ctr.log"] <= MAX
    numbers = _numbers(logs(pier.client, cid)[0])
    assert numbers[-1] == 3000 and numbers == list(range(numbers[0], 3001))


def test_local_driver(pier: PierDaemon) -> None:
    cid = _finished(pier, ["echo", "hi"], {"Type": "local"})
    assert inspect(pier.client, cid)["HostConfig"]["LogConfig"] == {"Type": "local", "Config": {}}
    assert logs(pier.client, cid) == (b"hi\n", b"")


def test_none_driver_keeps_no_readable_log(pier: PierDaemon) -> None:
    cid = _finished(pier, ["echo", "hi"], {"Type": "none"})
    with pytest.raises(APIError) as err:
        logs(pier.client, cid)
    assert (err.value.status, err.value.message) == (
        501,
        "configured logging driver does not support reading",
    )


@pytest.mark.parametrize(
    ("log_config", "status", "message"),
    [
        ({"Type": "nope"}, 400, "logger: no log driver named 'nope' is registered"),
        (
            {"Type": "json-file", "Config": {"foo": "1"}},
            400,
            "unknown log opt 'foo' for json-file log driver",
        ),
        (
            {"Type": "local", "Config": {"tag": "x"}},
            400,
            "unknown log opt 'tag' for log driver local",
        ),
        ({"Type": "json-file", "Config": {"max-file": "0"}}, 400, "max-file cannot be less than 1"),
        ({"Type": "json-file", "Config": {"max-size": "huge"}}, 400, "invalid size: 'huge'"),
        (
            {"Type": "json-file", "Config": {"compress": "true", "max-file": "1"}},
            400,
            "compress cannot be true when max-file is less than 2 or max-size is not set",
        ),
        ({"Type": "syslog"}, 501, "the syslog log driver is not implemented in Pier yet"),
    ],
    ids=[
        "unknown-driver",
        "unknown-opt",
        "local-opt",
        "max-file",
        "max-size",
        "compress",
        "syslog",
    ],
)
def test_refused_at_create(
    pier: PierDaemon, log_config: dict[str, Any], status: int, message: str
) -> None:
    with pytest.raises(APIError) as err:
        create(pier.client, ["true"], host_config={"LogConfig": log_config})
    assert (err.value.status, err.value.message) == (status, message)
    assert pier.client.get_json("/containers/json", all=1) == []


def test_follow_across_rotations(pier: PierDaemon) -> None:
    slow = [
        "sh",
        "-c",
        "i=0; while [ $i -lt 600 ]; do i=$((i+1)); printf 'line-%06d-%s\\n' $i "
        "xxxxxxxxxxxxxxxxxxxx; [ $((i % 20)) = 0 ] && sleep 0.05; done",
    ]
    cid = create(
        pier.client,
        slow,
        host_config={
            "LogConfig": {"Type": "json-file", "Config": {"max-size": "16k", "max-file": "50"}}
        },
    )
    collected = bytearray()

    def follow() -> None:
        resp = pier.client.request(
            "GET", f"/containers/{cid}/logs", params={"stdout": 1, "follow": 1}
        )
        collected.extend(resp.read())

    # Started first: `logs -f` on a container that is not running returns at once.
    pier.client.post(f"/containers/{cid}/start")
    reader = threading.Thread(target=follow)
    reader.start()
    assert wait(pier.client, cid) == 0
    reader.join(30)
    assert not reader.is_alive()
    assert _numbers(demux(bytes(collected))[0]) == list(range(1, 601))
    assert len(_log_files(pier, cid)) >= 3  # the log was cut while followed


def test_logs_flow_and_rotate_while_pierd_is_down(pier: PierDaemon) -> None:
    script = (
        "read go; i=0; while [ $i -lt 3000 ]; do i=$((i+1)); "
        "printf 'line-%06d-%s\\n' $i xxxxxxxxxxxxxxxxxxxxxxxxxx; done; sleep 600"
    )
    cid = create(
        pier.client,
        ["sh", "-c", script],
        OpenStdin=True,
        host_config={
            "LogConfig": {"Type": "json-file", "Config": {"max-size": "50k", "max-file": "5"}}
        },
    )
    pier.client.post(f"/containers/{cid}/start")
    pid = inspect(pier.client, cid)["State"]["Pid"]
    pier.kill9()
    try:
        # The writer runs while no pierd does: conmon rotates on its own.
        with open(f"/proc/{pid}/fd/0", "w") as stdin:
            stdin.write("go\n")
        log_dir = pier.data_root / "containers" / cid
        deadline = time.monotonic() + 20
        while True:
            text = (log_dir / "ctr.log").read_bytes()
            if b"line-003000" in text:
                break
            assert time.monotonic() < deadline
            time.sleep(0.05)
        sizes = {
            p.name: p.stat().st_size for p in log_dir.iterdir() if p.name.startswith("ctr.log")
        }
        # conmon's own cut, at twice max-size, bounds the files while pierd is down.
        assert all(size <= 2 * MAX for size in sizes.values())
    finally:
        pier.start()
    numbers = _numbers(logs(pier.client, cid)[0])
    assert numbers[-1] == 3000
    # What conmon rotated while pierd was down is partly lost (only .0 keeps a
    # generation), but what is kept is in order.
    assert numbers == sorted(numbers)
    names = set(_log_files(pier, cid))
    assert "ctr.log.1" in names
    os.kill(pid, 0)
