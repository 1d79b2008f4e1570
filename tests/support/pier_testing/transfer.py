"""Pull, push, save and load through a pierd's API, for the distribution tests."""

from __future__ import annotations

import base64
import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

from pier.client.api import Client
from pier.client.errors import APIError

ANONYMOUS = "e30="


def auth_header(username: str = "", password: str = "", **extra: str) -> str:
    body: dict[str, str] = dict(extra)
    if username:
        body.update(username=username, password=password)
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode()


def _messages(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.splitlines() if line.strip()]


def pull(
    client: Client, image: str, tag: str = "latest", *, auth: str = ANONYMOUS, **params: Any
) -> list[dict[str, Any]]:
    """The pull's messages; APIError when it fails before the stream, and an AssertionError
    carrying the message when the stream ends with an error."""
    resp = client.request(
        "POST",
        "/images/create",
        params={"fromImage": image, "tag": tag or None, **params},
        headers={"X-Registry-Auth": auth},
    )
    return _messages(resp.read())


def push(
    client: Client, name: str, tag: str = "latest", *, auth: str = ANONYMOUS
) -> list[dict[str, Any]]:
    resp = client.request(
        "POST",
        f"/images/{name}/push",
        params={"tag": tag or None},
        headers={"X-Registry-Auth": auth},
    )
    return _messages(resp.read())


def errors(messages: list[dict[str, Any]]) -> list[str]:
    return [str(m["errorDetail"]["message"]) for m in messages if "errorDetail" in m]


def statuses(messages: list[dict[str, Any]]) -> list[str]:
    return [
        f"{m['id']}: {m['status']}" if m.get("id") else str(m["status"])
        for m in messages
        if "status" in m and not (m.get("progressDetail") or {}).get("current")
    ]


def api_error(fn: Any, *args: Any, **kwargs: Any) -> APIError:
    try:
        fn(*args, **kwargs)
    except APIError as exc:
        return exc
    raise AssertionError("no error")


def layer_tar(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 1_700_000_000
            tf.addfile(info, io.BytesIO(data))
    return path


def import_image(client: Client, tar: Path, repo: str, tag: str = "latest") -> str:
    with open(tar, "rb") as fh:
        client.request(
            "POST",
            "/images/create",
            params={"fromSrc": "-", "repo": repo, "tag": tag},
            body=fh.read(),
            headers={"Content-Type": "application/x-tar"},
        ).read()
    return str(client.get_json(f"/images/{repo}:{tag}/json")["Id"])


def random_image(client: Client, work: Path, repo: str, size: int, tag: str = "latest") -> str:
    """An image of one layer holding `size` incompressible bytes."""
    tar = layer_tar(work / f"{os.urandom(4).hex()}.tar", {"data.bin": os.urandom(size)})
    return import_image(client, tar, repo, tag)


def content_state(data_root: Path) -> tuple[set[str], list[str]]:
    """(committed blob hexes, ingest directories) of a pierd's content store."""
    blobs = {p.name for p in (data_root / "content" / "blobs" / "sha256").iterdir()}
    ingests = [p.name for p in (data_root / "content" / "ingest").iterdir()]
    return blobs, ingests
