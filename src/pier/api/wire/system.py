"""Docker's `/version` (SystemVersion) and `/info` (SystemInfo) JSON from Pier's facts."""

from __future__ import annotations

from typing import Any

from pier.system import InfoFacts, VersionFacts
from pier.timefmt import format_ns

# A node outside any swarm, as dockerd reports it (api/types/swarm Info).
_INACTIVE_SWARM: dict[str, Any] = {
    "NodeID": "",
    "NodeAddr": "",
    "LocalNodeState": "inactive",
    "ControlAvailable": False,
    "Error": "",
    "RemoteManagers": None,
}


def render_version(v: VersionFacts) -> dict[str, Any]:
    details = {
        "ApiVersion": v.api_version,
        "Arch": v.arch,
        "BuildTime": "",
        "Experimental": "false",
        "GitCommit": "",
        # The CLI prints GoVersion under "Go version"; the interpreter is Pier's Go.
        "GoVersion": f"python{v.python_version}",
        "KernelVersion": v.kernel_version,
        "MinAPIVersion": v.min_api_version,
        "Os": v.os,
    }
    return {
        "Platform": {"Name": f"Pier {v.version}"},
        "Components": [{"Name": "Engine", "Version": v.version, "Details": details}],
        "Version": v.version,
        "ApiVersion": v.api_version,
        "MinAPIVersion": v.min_api_version,
        "GitCommit": "",
        "GoVersion": details["GoVersion"],
        "Os": v.os,
        "Arch": v.arch,
        "KernelVersion": v.kernel_version,
        "BuildTime": "",
    }


def render_info(i: InfoFacts) -> dict[str, Any]:
    cgroup_v2 = i.cgroup_version == "2"
    return {
        "ID": i.id,
        "Containers": i.containers.total,
        "ContainersRunning": i.containers.running,
        "ContainersPaused": i.containers.paused,
        "ContainersStopped": i.containers.stopped,
        "Images": i.images,
        "Driver": "overlay2",
        "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]],
        "Plugins": {
            "Volume": ["local"],
            "Network": list(i.network_drivers),
            "Authorization": None,
            "Log": list(i.log_drivers),
        },
        "MemoryLimit": i.caps.memory_limit,
        "SwapLimit": i.caps.swap_limit,
        "KernelMemoryTCP": i.caps.kernel_memory_tcp,
        "CpuCfsPeriod": i.caps.cpu_cfs,
        "CpuCfsQuota": i.caps.cpu_cfs,
        "CPUShares": i.caps.cpu_shares,
        "CPUSet": i.caps.cpuset,
        "PidsLimit": i.caps.pids_limit,
        "IPv4Forwarding": True,
        "Debug": i.debug,
        "NFd": i.open_fds,
        # cgroup v2 has no switch to turn the OOM killer off.
        "OomKillDisable": i.caps.oom_kill_disable and not cgroup_v2,
        "NGoroutines": 0,
        "SystemTime": format_ns(i.system_time_nano),
        "LoggingDriver": i.logging_driver,
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": i.cgroup_version,
        "NEventsListener": i.event_listeners,
        "KernelVersion": i.kernel_version,
        "OperatingSystem": i.operating_system,
        "OSVersion": "",
        "OSType": "linux",
        "Architecture": i.architecture,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {
            "AllowNondistributableArtifactsCIDRs": None,
            "AllowNondistributableArtifactsHostnames": None,
            "InsecureRegistryCIDRs": ["127.0.0.0/8"],
            "IndexConfigs": {},
            "Mirrors": None,
        },
        "NCPU": i.ncpu,
        "MemTotal": i.mem_total,
        "GenericResources": None,
        "DockerRootDir": i.data_root,
        "HttpProxy": "",
        "HttpsProxy": "",
        "NoProxy": "",
        "Name": i.name,
        "Labels": list(i.labels),
        "ExperimentalBuild": False,
        "ServerVersion": i.server_version,
        "Runtimes": {
            rt.name: {"path": rt.path, **({"runtimeArgs": list(rt.args)} if rt.args else {})}
            for rt in i.runtimes
        },
        "DefaultRuntime": i.default_runtime,
        "Swarm": dict(i.swarm) if i.swarm is not None else dict(_INACTIVE_SWARM),
        "LiveRestoreEnabled": True,
        "Isolation": "",
        "InitBinary": i.init_binary,
        "ContainerdCommit": {"ID": "", "Expected": ""},
        "RuncCommit": {"ID": "", "Expected": ""},
        "InitCommit": {"ID": "", "Expected": ""},
        "SecurityOptions": [
            f"name=seccomp,profile={i.seccomp_profile}",
            *(["name=userns"] if i.userns else []),
            *(["name=no-new-privileges"] if i.no_new_privileges else []),
        ],
        "Warnings": list(i.warnings),
        "ProductLicense": "",
    }
