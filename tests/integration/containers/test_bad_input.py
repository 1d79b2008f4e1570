"""Bad requests get Docker's status and wording, and leave nothing behind: no record,
no snapshot, no container directory (and, through the leak check, no mount, process
or cgroup)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from pier.client.errors import APIError
from pier_testing.api import create, inspect
from pier_testing.daemon import PierDaemon


def _artifacts(pier: PierDaemon) -> tuple[int, int]:
    containers = len(os.listdir(pier.data_root / "containers"))
    snapshots = (
        len(os.listdir(pier.data_root / "snapshots" / "snapshots"))
        if (pier.data_root / "snapshots" / "snapshots").is_dir()
        else len(os.listdir(pier.data_root / "snapshots"))
    )
    return containers, snapshots


@pytest.fixture
def unchanged(pier: PierDaemon) -> Iterator[None]:
    before = _artifacts(pier)
    yield
    assert pier.client.get_json("/containers/json", all=1) == []
    assert _artifacts(pier) == before


def _post_create(pier: PierDaemon, body: bytes, **params: str) -> tuple[int, str]:
    resp = pier.client.open(
        "POST",
        "/containers/create",
        params=params,
        body=body,
        headers={"Content-Type": "application/json"},
    )
    body = json.loads(resp.read() or b"{}")
    resp.close()
    return resp.status, str(body.get("message", ""))


@pytest.mark.parametrize(
    ("body", "params", "status", "message"),
    [
        (b"{not json", {}, 400, "invalid JSON"),
        (b"", {}, 400, "invalid JSON"),
        (b'{"Image": "nosuchimage"}', {}, 404, "No such image: nosuchimage:latest"),
        (
            b'{"Image": "busybox", "Cmd": ["true"]}',
            {"name": "a b"},
            400,
            "Invalid container name (a b), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
        ),
        (
            b'{"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Runtime": "nope"}}',
            {},
            400,
            "unknown or invalid runtime name: nope",
        ),
        (
            # dockerd accepts a network that does not exist yet (the start fails), but
            # not a static address where the network has no user-defined subnet.
            b'{"Image": "busybox", "Cmd": ["true"], "NetworkingConfig": {"EndpointsConfig": '
            b'{"bridge": {"IPAMConfig": {"IPv4Address": "10.1.2.3"}}}}}',
            {},
            400,
            "invalid config for network bridge: invalid endpoint settings:\nuser specified IP "
            "address is supported only when connecting to networks with user configured subnets",
        ),
        (
            b'{"Image": "busybox", "Cmd": ["true"], "HostConfig": {"AutoRemove": true, '
            b'"RestartPolicy": {"Name": "always"}}}',
            {},
            400,
            "can't create 'AutoRemove' container with restart policy",
        ),
        (b'{"Image": "busybox", "Cmd": 5}', {}, 400, "cannot unmarshal"),
        (b'{"Cmd": ["true"]}', {}, 400, "config cannot be empty"),
    ],
    ids=[
        "malformed",
        "empty",
        "unknown-image",
        "bad-name",
        "unknown-runtime",
        "static-ip-on-default-bridge",
        "autoremove-restart",
        "bad-cmd-type",
        "no-image",
    ],
)
def test_create_rejects(
    pier: PierDaemon,
    unchanged: None,
    body: bytes,
    params: dict[str, str],
    status: int,
    message: str,
) -> None:
    got_status, text = _post_create(pier, body, **params)
    assert got_status == status
    assert message in text


def test_duplicate_name_is_409(pier: PierDaemon) -> None:
    first = create(pier.client, ["true"], name="twin")
    status, text = _post_create(pier, b'{"Image": "busybox", "Cmd": ["true"]}', name="twin")
    assert status == 409
    assert (
        f'Conflict. The container name "/twin" is already in use by container "{first}". '
        "You have to remove (or rename) that container to be able to reuse that name."
    ) in text
    assert len(pier.client.get_json("/containers/json", all=1)) == 1


@pytest.mark.parametrize(
    ("cmd", "code", "phrase"),
    [
        (["no-such-cmd"], 127, 'exec: "no-such-cmd": executable file not found in $PATH'),
        (["/no/such/path"], 127, "no such file or directory"),
        (["/etc/passwd"], 126, "permission denied"),
    ],
    ids=["not-in-path", "missing-path", "not-executable"],
)
@pytest.mark.parametrize("runtime", ["crun", "runc"])
def test_start_failure_records_exit_code(
    pier: PierDaemon, cmd: list[str], code: int, phrase: str, runtime: str
) -> None:
    cid = create(pier.client, cmd, host_config={"Runtime": runtime})
    with pytest.raises(APIError) as err:
        pier.client.post(f"/containers/{cid}/start")
    assert err.value.status == 400
    assert phrase in str(err.value)
    state = inspect(pier.client, cid)["State"]
    assert (state["Status"], state["ExitCode"], state["Running"]) == ("created", code, False)
    assert phrase in state["Error"]
    # the container can be removed and nothing of the failed run is left
    pier.client.delete(f"/containers/{cid}")


def test_start_failure_with_auto_remove_leaves_nothing(pier: PierDaemon, unchanged: None) -> None:
    cid = create(pier.client, ["no-such-cmd"], host_config={"AutoRemove": True})
    with pytest.raises(APIError) as err:
        pier.client.post(f"/containers/{cid}/start")
    assert err.value.status == 400


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/containers/nosuch/start"),
        ("POST", "/containers/nosuch/stop"),
        ("DELETE", "/containers/nosuch"),
        ("GET", "/containers/nosuch/json"),
        ("POST", "/containers/nosuch/kill"),
        ("POST", "/containers/nosuch/wait"),
    ],
    ids=["start", "stop", "rm", "inspect", "kill", "wait"],
)
def test_unknown_container_is_404(pier: PierDaemon, method: str, path: str) -> None:
    resp = pier.client.open(method, path)
    body = json.loads(resp.read())
    resp.close()
    assert (resp.status, body) == (404, {"message": "No such container: nosuch"})


def test_rmi_of_image_in_use_is_409(pier: PierDaemon) -> None:
    cid = create(pier.client, ["true"])
    resp = pier.client.open("DELETE", "/images/busybox")
    text = resp.read().decode()
    resp.close()
    assert resp.status == 409
    assert f"container {cid[:12]} is using its referenced image" in text
    assert pier.client.get_json("/images/busybox/json")["RepoTags"] == ["busybox:latest"]
