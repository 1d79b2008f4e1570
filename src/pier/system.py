"""What `/version` and `/info` report: facts about this daemon and host."""

from __future__ import annotations

import os
import platform
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pier import API_VERSION, MIN_API_VERSION, __version__
from pier.config import DaemonConfig
from pier.containers.model import Status
from pier.containers.service import ContainerService
from pier.runtime.cgroups import CgroupMode, detect_mode


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def _os_name() -> str:
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return "Linux"
    for line in text.splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.partition("=")[2].strip().strip('"')
    return "Linux"


class SystemInfo:
    def __init__(
        self,
        *,
        config: DaemonConfig,
        containers: ContainerService,
        image_count: Any,
        warnings: tuple[str, ...] = (),
        daemon_id: str,
    ) -> None:
        self._config = config
        self._containers = containers
        self._image_count = image_count
        self._warnings = warnings
        self._id = daemon_id

    def version(self) -> dict[str, Any]:
        uname = os.uname()
        details = {
            "ApiVersion": API_VERSION,
            "Arch": _arch(),
            "BuildTime": "",
            "Experimental": "false",
            "GitCommit": "",
            "GoVersion": f"python{platform.python_version()}",
            "KernelVersion": uname.release,
            "MinAPIVersion": MIN_API_VERSION,
            "Os": "linux",
        }
        return {
            "Platform": {"Name": f"Pier {__version__}"},
            "Components": [{"Name": "Engine", "Version": __version__, "Details": details}],
            "Version": __version__,
            **{k: v for k, v in details.items() if k != "Experimental"},
        }

    async def info(self) -> dict[str, Any]:
        records = self._containers.newest_first()
        running = sum(1 for c in records if c.state.status == Status.RUNNING)
        paused = sum(1 for c in records if c.state.status == Status.PAUSED)
        cgroup_version = "2" if detect_mode() is CgroupMode.V2 else "1"
        uname = os.uname()
        return {
            "ID": self._id,
            "Containers": len(records),
            "ContainersRunning": running,
            "ContainersPaused": paused,
            "ContainersStopped": len(records) - running - paused,
            "Images": await self._image_count(),
            "Driver": "overlay2",
            "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]],
            "Plugins": {
                "Volume": ["local"],
                "Network": ["host", "null"],
                "Authorization": None,
                "Log": ["json-file", "none"],
            },
            "MemoryLimit": True,
            "SwapLimit": cgroup_version == "2",
            "CpuCfsPeriod": True,
            "CpuCfsQuota": True,
            "CPUShares": True,
            "CPUSet": True,
            "PidsLimit": True,
            "IPv4Forwarding": True,
            "Debug": self._config.log_level == "debug",
            "NFd": len(os.listdir("/proc/self/fd")),
            "OomKillDisable": cgroup_version == "1",
            "NGoroutines": 0,
            "SystemTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "LoggingDriver": "json-file",
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": cgroup_version,
            "NEventsListener": 0,
            "KernelVersion": uname.release,
            "OperatingSystem": _os_name(),
            "OSVersion": "",
            "OSType": "linux",
            "Architecture": platform.machine(),
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": {
                "AllowNondistributableArtifactsCIDRs": None,
                "AllowNondistributableArtifactsHostnames": None,
                "InsecureRegistryCIDRs": ["127.0.0.0/8"],
                "IndexConfigs": {},
                "Mirrors": None,
            },
            "NCPU": os.cpu_count() or 1,
            "MemTotal": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
            "GenericResources": None,
            "DockerRootDir": str(self._config.data_root),
            "HttpProxy": "",
            "HttpsProxy": "",
            "NoProxy": "",
            "Name": socket.gethostname(),
            "Labels": [],
            "ExperimentalBuild": False,
            "ServerVersion": __version__,
            "Runtimes": {
                name: {"path": rt.path, **({"runtimeArgs": list(rt.args)} if rt.args else {})}
                for name, rt in self._config.runtimes.items()
            },
            "DefaultRuntime": self._config.default_runtime,
            "Swarm": {
                "NodeID": "",
                "NodeAddr": "",
                "LocalNodeState": "inactive",
                "ControlAvailable": False,
                "Error": "",
                "RemoteManagers": None,
            },
            "LiveRestoreEnabled": True,
            "Isolation": "",
            "InitBinary": self._config.init_path,
            "ContainerdCommit": {"ID": "", "Expected": ""},
            "RuncCommit": {"ID": "", "Expected": ""},
            "InitCommit": {"ID": "", "Expected": ""},
            "SecurityOptions": ["name=seccomp,profile=builtin"],
            "Warnings": list(self._warnings),
            "ProductLicense": "",
            "Pier": {"Python": sys.version.split()[0]},
        }
