"""GET /containers/{id}/logs with everything Docker's json-file driver offers."""

from __future__ import annotations

import re
import time
from datetime import datetime

import pytest

from pier.client.errors import APIError
from pier_testing.api import create, demux, logs, run, wait, wait_for
from pier_testing.daemon import PierDaemon

STAMP = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z ")


def _finished(pier: PierDaemon, script: str, **kw: object) -> str:
    cid = create(pier.client, ["sh", "-c", script], **kw)  # type: ignore[arg-type]
    pier.client.post(f"/containers/{cid}/start")
    wait(pier.client, cid)
    return cid


def test_streams_apart_and_together(pier: PierDaemon) -> None:
    cid = _finished(pier, "echo o1; echo e1 >&2; echo o2; printf tail")
    assert logs(pier.client, cid) == (b"o1\no2\ntail", b"e1\n")
    assert logs(pier.client, cid, stderr=0) == (b"o1\no2\ntail", b"")
    assert logs(pier.client, cid, stdout=0) == (b"", b"e1\n")


def test_frames_keep_the_order_of_lines(pier: PierDaemon) -> None:
    cid = _finished(pier, "echo a; sleep 0.05; echo b >&2; sleep 0.05; echo c")
    raw = pier.client.request(
        "GET", f"/containers/{cid}/logs", params={"stdout": 1, "stderr": 1}
    ).read()
    frames = []
    while raw:
        frames.append((raw[0], raw[8 : 8 + int.from_bytes(raw[4:8], "big")]))
        raw = raw[8 + int.from_bytes(raw[4:8], "big") :]
    assert frames == [(1, b"a\n"), (2, b"b\n"), (1, b"c\n")]


def test_no_stream_chosen_is_400(pier: PierDaemon) -> None:
    cid = _finished(pier, "true")
    with pytest.raises(APIError) as err:
        pier.client.request("GET", f"/containers/{cid}/logs").read()
    assert err.value.status == 400


def test_long_lines_are_joined(pier: PierDaemon) -> None:
    cid = _finished(pier, "head -c 40000 /dev/zero | tr '\\0' x; echo")
    out, _ = logs(pier.client, cid)
    assert out == b"x" * 40000 + b"\n"


@pytest.mark.parametrize(
    ("tail", "expected"),
    [("2", b"4\n5\n"), ("0", b""), ("all", b"1\n2\n3\n4\n5\n"), ("10", b"1\n2\n3\n4\n5\n")],
    ids=["two", "zero", "all", "more-than-there"],
)
def test_tail(pier: PierDaemon, tail: str, expected: bytes) -> None:
    cid = _finished(pier, "for i in 1 2 3 4 5; do echo $i; done")
    assert logs(pier.client, cid, tail=tail)[0] == expected


def test_timestamps(pier: PierDaemon) -> None:
    cid = _finished(pier, "echo one; echo two")
    out, _ = logs(pier.client, cid, timestamps=1)
    lines = out.splitlines(keepends=True)
    assert len(lines) == 2
    assert all(STAMP.match(line) for line in lines)
    assert [line.split(b" ", 1)[1] for line in lines] == [b"one\n", b"two\n"]


def test_since_and_until(pier: PierDaemon) -> None:
    cid = _finished(pier, "echo early; sleep 1.2; echo late")
    out, _ = logs(pier.client, cid, timestamps=1)
    stamps = [line.split(b" ", 1)[0].decode() for line in out.splitlines()]
    late = datetime.fromisoformat(stamps[1][:26] + "+00:00").timestamp()
    boundary = f"{late - 0.5:.9f}"
    assert logs(pier.client, cid, since=boundary)[0] == b"late\n"
    assert logs(pier.client, cid, until=boundary)[0] == b"early\n"


def test_follow_streams_until_exit(pier: PierDaemon) -> None:
    cid = create(pier.client, ["sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.3; done"])
    pier.client.post(f"/containers/{cid}/start")
    resp = pier.client.request(
        "GET", f"/containers/{cid}/logs", params={"stdout": 1, "stderr": 1, "follow": 1}
    )
    seen: list[tuple[float, bytes]] = []
    for chunk in resp.iter_chunks():
        seen.append((time.monotonic(), chunk))
    resp.close()
    assert demux(b"".join(c for _, c in seen))[0] == b"1\n2\n3\n"
    # output arrived as it was produced, not all at the end
    assert seen[-1][0] - seen[0][0] > 0.3


def test_follow_of_a_stopped_container_returns(pier: PierDaemon) -> None:
    cid = _finished(pier, "echo done")
    assert logs(pier.client, cid, follow=1) == (b"done\n", b"")


def test_follow_with_tail_zero_sees_only_new_lines(pier: PierDaemon) -> None:
    cid = create(pier.client, ["sh", "-c", "echo old; read x; echo new"], OpenStdin=True)
    pier.client.post(f"/containers/{cid}/start")
    wait_for(lambda: logs(pier.client, cid)[0] == b"old\n")
    params = {"stdout": 1, "stderr": 1, "follow": 1, "tail": 0}
    resp = pier.client.open("GET", f"/containers/{cid}/logs", params=params)
    # The answer's headers are in: the daemon is following when the container dies.
    assert resp.status == 200
    pier.client.post(f"/containers/{cid}/kill", signal="KILL")
    result = [demux(resp.read())[0]]
    resp.close()
    assert result == [b""]


def test_tty_logs_are_raw(pier: PierDaemon) -> None:
    cid = _finished(pier, "echo out; echo err >&2", Tty=True)
    raw = pier.client.request(
        "GET", f"/containers/{cid}/logs", params={"stdout": 1, "stderr": 1}
    ).read()
    assert raw == b"out\r\nerr\r\n"


def test_logs_of_unknown_container(pier: PierDaemon) -> None:
    with pytest.raises(APIError) as err:
        logs(pier.client, "nope")
    assert (err.value.status, str(err.value)) == (404, "No such container: nope")


def test_run_helper_sees_both_streams(pier: PierDaemon) -> None:
    assert run(pier.client, ["sh", "-c", "echo a; echo b >&2"]) == (0, "a\n", "b\n")
