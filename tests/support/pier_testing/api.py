"""Short-hands over pier.client for the integration tests."""

from __future__ import annotations

import struct
import time
from typing import Any

from pier.client.api import Client


def create(
    client: Client,
    cmd: list[str] | None,
    *,
    name: str | None = None,
    image: str = "busybox",
    host_config: dict[str, Any] | None = None,
    **config: Any,
) -> str:
    body: dict[str, Any] = {"Image": image, **config}
    if cmd is not None:
        body["Cmd"] = cmd
    if host_config:
        body["HostConfig"] = host_config
    params = {"name": name} if name else {}
    return str(client.post_json("/containers/create", body, **params)["Id"])


def demux(data: bytes) -> tuple[bytes, bytes]:
    """Split Docker's multiplexed stream into stdout and stderr."""
    out, err = bytearray(), bytearray()
    while data:
        stream, size = struct.unpack(">BxxxI", data[:8])
        payload = data[8 : 8 + size]
        (out if stream == 1 else err).extend(payload)
        data = data[8 + size :]
    return bytes(out), bytes(err)


def logs(client: Client, cid: str, **params: Any) -> tuple[bytes, bytes]:
    params = {"stdout": 1, "stderr": 1, **params}
    resp = client.request("GET", f"/containers/{cid}/logs", params=params)
    return demux(resp.read())


def wait(client: Client, cid: str, condition: str | None = None) -> int:
    params = {"condition": condition} if condition else {}
    return int(client.post_json(f"/containers/{cid}/wait", **params)["StatusCode"])


def run(client: Client, cmd: list[str], **kw: Any) -> tuple[int, str, str]:
    """Create, start, wait and read the logs of a container (left for the fixture to
    remove); returns (exit code, stdout, stderr)."""
    cid = create(client, cmd, **kw)
    client.post(f"/containers/{cid}/start")
    code = wait(client, cid)
    out, err = logs(client, cid)
    return code, out.decode(), err.decode()


def inspect(client: Client, cid: str) -> dict[str, Any]:
    return dict(client.get_json(f"/containers/{cid}/json"))


def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError("condition not met within the timeout")


def status(client: Client, method: str, path: str, **params: Any) -> int:
    """The HTTP status of a request whose body does not matter."""
    resp = client.open(method, path, params=params)
    try:
        resp.read()
    finally:
        resp.close()
    return resp.status
