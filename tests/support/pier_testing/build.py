"""Builds against the module's pierd: a context made from a dict of files, sent as a
tar to `POST /build`, the JSON stream read back."""

from __future__ import annotations

import io
import json
import sqlite3
import tarfile
from dataclasses import dataclass, field
from typing import Any

from pier_testing.daemon import PierDaemon


@dataclass
class Outcome:
    status: int
    lines: list[dict[str, Any]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(str(m.get("stream", "")) for m in self.lines)

    @property
    def image_id(self) -> str:
        ids = [m["aux"]["ID"] for m in self.lines if "aux" in m]
        return str(ids[-1]) if ids else ""

    @property
    def error(self) -> dict[str, Any] | None:
        errors = [m for m in self.lines if "error" in m]
        return errors[-1] if errors else None

    def ok(self) -> Outcome:
        assert self.status == 200 and self.error is None, (self.status, self.text, self.lines)
        assert self.image_id.startswith("sha256:"), self.lines
        return self


def context_tar(files: dict[str, Any]) -> bytes:
    """A tar of `files`: str/bytes are regular files, ("symlink", target) a symlink,
    ("dir",) a directory; keys are paths."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            if isinstance(content, tuple) and content[0] == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = content[1]
                tf.addfile(info)
            elif isinstance(content, tuple) and content[0] == "dir":
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tf.addfile(info)
            else:
                data = content.encode() if isinstance(content, str) else content
                info.size = len(data)
                info.mode = 0o644
                tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def build(pier: PierDaemon, files: dict[str, Any] | bytes, **params: Any) -> Outcome:
    body = files if isinstance(files, bytes) else context_tar(files)
    resp = pier.client.open(
        "POST",
        "/build",
        params={k: v for k, v in params.items() if v is not None},
        body=body,
        headers={"Content-Type": "application/x-tar"},
    )
    data = resp.read()
    if resp.status != 200:
        return Outcome(status=resp.status, lines=[json.loads(data)])
    lines = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
    return Outcome(status=resp.status, lines=lines)


def snapshot_keys(pier: PierDaemon) -> list[str]:
    """Keys of the snapshots pierd has recorded (read from its database)."""
    conn = sqlite3.connect(f"file:{pier.data_root / 'pier.db'}?mode=ro", uri=True)
    try:
        return [r[0] for r in conn.execute("SELECT key FROM snap_snapshots")]
    finally:
        conn.close()


def leftovers(pier: PierDaemon) -> list[str]:
    """What a build must not leave: its snapshots, its private directory."""
    found = [k for k in snapshot_keys(pier) if k.startswith("build-")]
    pier.removals_done()  # the daemon's trash (tmp/removing) emptied: its final state
    tmp = pier.data_root / "tmp"
    found += [p.name for p in tmp.iterdir() if p.name != "removing"] if tmp.is_dir() else []
    return found


def run_output(pier: PierDaemon, image: str, *cmd: str) -> str:
    """Run `cmd` in a container of `image`; its stdout and stderr (demultiplexed)."""
    out = pier.client.post_json("/containers/create", {"Image": image, "Cmd": list(cmd)})
    pier.client.post(f"/containers/{out['Id']}/start")
    pier.client.post_json(f"/containers/{out['Id']}/wait")
    raw = pier.client.request(
        "GET", f"/containers/{out['Id']}/logs", params={"stdout": 1, "stderr": 1}
    ).read()
    pier.client.delete(f"/containers/{out['Id']}")
    text = b""
    while len(raw) >= 8:
        size = int.from_bytes(raw[4:8], "big")
        text += raw[8 : 8 + size]
        raw = raw[8 + size :]
    return text.decode()
