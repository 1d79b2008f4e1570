from pier.snapshots.overlay import OverlaySnapshotter
from pier.snapshots.types import Kind, Mount, SnapshotInfo, Snapshotter, Usage

__all__ = ["Kind", "Mount", "OverlaySnapshotter", "SnapshotInfo", "Snapshotter", "Usage"]
