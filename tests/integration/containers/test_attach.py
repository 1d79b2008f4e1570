"""POST /containers/{id}/attach: the hijacked stream, stdin with half-close, multiplexed
output, and detach keys (TTY only, as Docker)."""

from __future__ import annotations

import hashlib
import os
import threading

from pier_testing.api import create, demux, inspect, logs, wait, wait_for
from pier_testing.daemon import PierDaemon

ATTACH = {"stream": 1, "stdin": 1, "stdout": 1, "stderr": 1}


def _read_all(stream: object) -> bytes:
    out = b""
    while True:
        chunk = stream.recv()  # type: ignore[attr-defined]
        if not chunk:
            return out
        out += chunk


def test_binary_stdin_reaches_the_container_whole(pier: PierDaemon) -> None:
    # Random bytes contain ctrl-p ctrl-q: without a TTY that is data, not a detach.
    data = os.urandom(1_500_000) + b"\x10\x11" + os.urandom(1000)
    cid = create(pier.client, ["md5sum"], OpenStdin=True, StdinOnce=True, AttachStdin=True)
    stream = pier.client.hijack("POST", f"/containers/{cid}/attach", params=ATTACH)
    pier.client.post(f"/containers/{cid}/start")
    sender = threading.Thread(target=lambda: (stream.sendall(data), stream.close_write()))
    sender.start()
    out, err = demux(_read_all(stream))
    sender.join(10)
    stream.close()
    assert (out, err) == (f"{hashlib.md5(data).hexdigest()}  -\n".encode(), b"")
    assert wait(pier.client, cid) == 0


def test_attach_to_a_running_container_sees_new_output_only(pier: PierDaemon) -> None:
    cid = create(pier.client, ["sh", "-c", "echo before; read x; echo after $x"], OpenStdin=True)
    pier.client.post(f"/containers/{cid}/start")
    wait_for(lambda: logs(pier.client, cid)[0] == b"before\n")
    stream = pier.client.hijack("POST", f"/containers/{cid}/attach", params=ATTACH)
    stream.sendall(b"typed\n")
    out, _ = demux(_read_all(stream))
    stream.close()
    assert out == b"after typed\n"


def test_tty_detach_keys_leave_the_container_running(pier: PierDaemon) -> None:
    cid = create(pier.client, ["sh"], Tty=True, OpenStdin=True, AttachStdin=True)
    pier.client.post(f"/containers/{cid}/start")
    stream = pier.client.hijack(
        "POST", f"/containers/{cid}/attach", params={**ATTACH, "detachKeys": "ctrl-x,x"}
    )
    stream.sendall(b"echo hel''lo\n")
    seen = b""
    while b"hello" not in seen:
        seen += stream.recv()
    stream.sendall(b"\x18x")
    rest = _read_all(stream)  # the daemon ends the session
    stream.close()
    assert b"hello" in seen + rest
    assert inspect(pier.client, cid)["State"]["Running"] is True
    pier.client.post(f"/containers/{cid}/kill")


def test_stdin_and_heavy_output_at_once_do_not_stall(pier: PierDaemon) -> None:
    # conmon copies output to the stdin connection too: an unread one would block it.
    data = os.urandom(2_000_000)
    cid = create(
        pier.client,
        ["sh", "-c", "tee /dev/stderr | md5sum"],
        OpenStdin=True,
        StdinOnce=True,
        AttachStdin=True,
    )
    stream = pier.client.hijack("POST", f"/containers/{cid}/attach", params=ATTACH)
    pier.client.post(f"/containers/{cid}/start")
    sender = threading.Thread(target=lambda: (stream.sendall(data), stream.close_write()))
    sender.start()
    out, err = demux(_read_all(stream))
    sender.join(10)
    stream.close()
    assert out == f"{hashlib.md5(data).hexdigest()}  -\n".encode()
    assert err == data
    assert wait(pier.client, cid) == 0


def test_attach_refusals_use_dockerd_wording(pier: PierDaemon) -> None:
    cid = create(pier.client, ["sleep", "600"], name="paused-one")
    pier.client.post(f"/containers/{cid}/start")
    bad = pier.client.open(
        "POST", f"/containers/{cid}/attach", params={**ATTACH, "detachKeys": "ctrl-1"}
    )
    assert (bad.status, bad.read()) == (
        400,
        b'{"message":"Invalid detach keys (ctrl-1) provided"}\n',
    )
    pier.client.post(f"/containers/{cid}/pause")
    paused = pier.client.open("POST", "/containers/paused-one/attach", params={"stdout": 1})
    body = paused.read()
    pier.client.post(f"/containers/{cid}/unpause")
    assert paused.status == 409
    assert b"container paused-one is paused, unpause the container before attach" in body


def test_stdin_sent_before_the_client_closes_all_arrives(pier: PierDaemon) -> None:
    data = os.urandom(1_000_000)
    cid = create(pier.client, ["md5sum"], OpenStdin=True, StdinOnce=True)
    pier.client.post(f"/containers/{cid}/start")
    stream = pier.client.hijack("POST", f"/containers/{cid}/attach", params=ATTACH)
    stream.sendall(data)
    stream.close()  # no half-close: the connection just ends
    assert wait(pier.client, cid) == 0
    out, _ = logs(pier.client, cid)
    assert out == f"{hashlib.md5(data).hexdigest()}  -\n".encode()
