"""`docker diff` (GET /containers/{id}/changes) and `docker commit` (POST /commit):
A/C/D as dockerd lists them, whiteouts and opaque directories, the runtime's mount
points left out; a commit's config, changes, author, message, history and pause."""

from __future__ import annotations

import json
import time
from typing import Any

from pier_testing.build import build, run_output
from pier_testing.daemon import PierDaemon


def _run(pier: PierDaemon, image: str, script: str, **config: Any) -> str:
    body = {"Image": image, "Cmd": ["sh", "-c", script], **config}
    cid = str(pier.client.post_json("/containers/create", body)["Id"])
    pier.client.post(f"/containers/{cid}/start")
    return cid


def _wait(pier: PierDaemon, cid: str) -> None:
    assert pier.client.post_json(f"/containers/{cid}/wait")["StatusCode"] == 0


def test_diff_lists_changes_as_docker(pier: PierDaemon) -> None:
    base = build(
        pier,
        {"Dockerfile": "FROM busybox\nRUN mkdir -p /opq/old /keep && touch /opq/old/f /gone\n"},
    ).ok()
    cid = _run(
        pier,
        base.image_id,
        "echo new > /tmp/new && rm /gone && rm -rf /opq && mkdir /opq && touch /opq/n "
        "&& echo x >> /etc/passwd",
    )
    _wait(pier, cid)
    changes = pier.client.get_json(f"/containers/{cid}/changes")
    kinds = {c["Path"]: c["Kind"] for c in changes}
    assert kinds == {
        "/etc": 0,
        "/etc/passwd": 0,
        "/gone": 2,
        "/opq": 0,
        "/opq/n": 1,
        "/opq/old": 2,
        "/tmp": 0,
        "/tmp/new": 1,
    }
    # /etc/hosts, /etc/resolv.conf, /proc, /dev... are the runtime's, not changes.
    assert [c["Path"] for c in changes] == sorted(kinds)


def test_diff_of_an_unchanged_container_is_null(pier: PierDaemon) -> None:
    cid = _run(pier, "busybox", "true")
    _wait(pier, cid)
    assert pier.client.get_json(f"/containers/{cid}/changes") is None


def test_commit_with_changes_author_message(pier: PierDaemon) -> None:
    cid = _run(pier, "busybox", "echo committed > /data.txt && rm /etc/group", Env=["FROM_RUN=1"])
    _wait(pier, cid)
    answer = pier.client.open(
        "POST",
        "/commit",
        params={
            "container": cid,
            "repo": "committed",
            "tag": "v1",
            "author": "Pier Tester",
            "comment": "a message",
            "changes": ("ENV COMMITTED=yes", 'CMD ["cat", "/data.txt"]', "EXPOSE 8080"),
        },
        body=b'{"Labels": {"from": "body"}}',
        headers={"Content-Type": "application/json"},
    )
    assert answer.status == 201
    image_id = json.loads(answer.read())["Id"]
    info = pier.client.get_json("/images/committed:v1/json")
    assert info["Id"] == image_id
    assert info["Author"] == "Pier Tester" and info["Comment"] == "a message"
    assert info["Config"]["Cmd"] == ["cat", "/data.txt"]
    assert "COMMITTED=yes" in info["Config"]["Env"] and "FROM_RUN=1" in info["Config"]["Env"]
    assert info["Config"]["Labels"] == {"from": "body"}
    assert "8080/tcp" in info["Config"]["ExposedPorts"]
    top = pier.client.get_json("/images/committed:v1/history")[0]
    assert top["CreatedBy"] == "sh -c echo committed > /data.txt && rm /etc/group"
    assert top["Comment"] == "a message"
    assert run_output(pier, image_id) == "committed\n"
    assert run_output(pier, image_id, "ls", "/etc/group").startswith("ls: /etc/group")


def test_commit_pauses_a_running_container(pier: PierDaemon) -> None:
    cid = _run(pier, "busybox", "echo x > /x; exec sleep 60")
    since = int(time.time()) - 1
    image = pier.client.post_json("/commit", None, container=cid)["Id"]
    image2 = pier.client.post_json("/commit", None, container=cid, pause=0)["Id"]
    until = int(time.time()) + 1
    raw = pier.client.get_raw(
        "/events", since=since, until=until, filters='{"container":["' + cid + '"]}'
    )
    actions = [json.loads(line)["Action"] for line in raw.splitlines() if line.strip()]
    # Paused for the first commit only, and running again afterwards.
    assert actions[-4:] == ["pause", "unpause", "commit", "commit"]
    state = pier.client.get_json(f"/containers/{cid}/json")["State"]
    assert state["Running"] and not state["Paused"]
    assert image2 != image


def test_commit_errors(pier: PierDaemon) -> None:
    resp = pier.client.open("POST", "/commit", params={"container": "nosuch"})
    assert (resp.status, resp.read()) == (404, b'{"message":"No such container: nosuch"}\n')
    cid = _run(pier, "busybox", "true")
    _wait(pier, cid)
    resp = pier.client.open("POST", "/commit", params={"container": cid, "changes": "RUN x"})
    assert resp.status == 400
    assert b"RUN is not a valid change command" in resp.read()
