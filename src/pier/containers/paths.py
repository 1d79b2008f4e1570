"""Where a container's files live: `<data-root>/containers/<id>/` holds its bundle
(config.json), its root file system's mount point, its log and its /etc files."""

from __future__ import annotations

from pathlib import Path


class ContainerPaths:
    def __init__(self, root: Path) -> None:
        self.root = root

    def container_dir(self, cid: str) -> Path:
        return self.root / cid

    def rootfs(self, cid: str) -> Path:
        return self.root / cid / "rootfs"

    def log_path(self, cid: str) -> Path:
        return self.root / cid / "ctr.log"
