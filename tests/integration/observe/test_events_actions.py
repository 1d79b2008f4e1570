"""The container events of resize, top, cp (archive GET/PUT), export and commit, with
the actions and attributes dockerd 28 publishes (daemon/resize.go, top_unix.go,
archive_unix.go, export.go, commit.go): `copy` is Windows-only in moby, and a HEAD
(stat) publishes nothing."""

from __future__ import annotations

import io
import json
import math
import tarfile
import time
from typing import Any

from pier_testing.api import create
from pier_testing.daemon import PierDaemon

LABELS = {"team": "blue"}


def _container_events(pier: PierDaemon, cid: str, since: float) -> list[dict[str, Any]]:
    params = {
        # whole seconds, rounded outward: the window must hold every event
        "since": str(math.floor(since)),
        "until": str(math.ceil(time.time()) + 1),
        "filters": json.dumps({"container": [cid]}),
    }
    resp = pier.client.request("GET", "/events", params=params)
    return [json.loads(line) for line in resp.read().decode().splitlines()]


def _tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("in.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"in\n"))
    return buf.getvalue()


def test_resize_top_copy_export_and_commit_events(pier: PierDaemon) -> None:
    cid = create(
        pier.client, ["sleep", "300"], name="watched", Tty=True, OpenStdin=True, Labels=LABELS
    )
    pier.client.post(f"/containers/{cid}/start")
    since = time.time()
    pier.client.post(f"/containers/{cid}/resize", h=31, w=97)
    pier.client.get_json(f"/containers/{cid}/top")
    head = pier.client.open("HEAD", f"/containers/{cid}/archive", params={"path": "/etc"})
    head.read()
    assert head.status == 200
    pier.client.request(
        "GET", f"/containers/{cid}/archive", params={"path": "/etc/hostname"}
    ).read()
    pier.client.request(
        "PUT", f"/containers/{cid}/archive", params={"path": "/tmp"}, body=_tar()
    ).read()
    pier.client.request("GET", f"/containers/{cid}/export").read()
    plain = pier.client.post_json("/commit", container=cid, comment="snap")["Id"]
    tagged = pier.client.post_json("/commit", container=cid, repo="snap", tag="v1")["Id"]

    events = _container_events(pier, cid, since)
    events = events[[e["Action"] for e in events].index("start") + 1 :]
    # a commit pauses the container meanwhile, as dockerd's does by default
    events = [e for e in events if e["Action"] not in ("pause", "unpause")]
    assert [e["Action"] for e in events] == [
        "resize", "top", "archive-path", "extract-to-dir", "export", "commit", "commit",
    ]  # fmt: skip
    base = {"image": "busybox", "name": "watched", **LABELS}
    for e in events:
        assert e["Type"] == "container" and e["Actor"]["ID"] == cid == e["id"]
    attrs = [e["Actor"]["Attributes"] for e in events]
    assert attrs[0] == {**base, "height": "31", "width": "97"}
    assert attrs[1:5] == [base] * 4
    assert attrs[5] == {**base, "comment": "snap", "imageID": plain, "imageRef": ""}
    assert attrs[6] == {**base, "comment": "", "imageID": tagged, "imageRef": "snap:v1"}
    pier.client.delete(f"/images/{plain}")
    pier.client.delete("/images/snap:v1")


def test_attach_and_detach_events(pier: PierDaemon) -> None:
    # moby's ContainerAttach: `attach` once the asked-for logs are sent (stream or
    # not), `detach` when the client leaves with the detach keys.
    cid = create(
        pier.client, ["sleep", "300"], name="attached", Tty=True, OpenStdin=True, Labels=LABELS
    )
    pier.client.post(f"/containers/{cid}/start")
    since = time.time()
    pier.client.request("POST", f"/containers/{cid}/attach", params={"logs": 1, "stdout": 1}).read()
    stream = pier.client.hijack(
        "POST",
        f"/containers/{cid}/attach",
        params={"stream": 1, "stdin": 1, "stdout": 1, "detachKeys": "ctrl-p,ctrl-q"},
    )
    try:
        stream.sendall(b"\x10\x11")
        while stream.recv():
            pass  # the daemon ends the session at the keys
    finally:
        stream.close()
    pier.client.post(f"/containers/{cid}/stop", t=0)  # a later event: the others are in
    events = _container_events(pier, cid, since)
    events = events[[e["Action"] for e in events].index("start") + 1 :]
    assert [e["Action"] for e in events][:3] == ["attach", "attach", "detach"]
    base = {"image": "busybox", "name": "attached", **LABELS}
    assert [e["Actor"]["Attributes"] for e in events[:3]] == [base] * 3
