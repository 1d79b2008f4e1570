"""`--security-opt`, read as moby's parseSecurityOpt reads it.

`no-new-privileges[=bool]`, `seccomp=unconfined|builtin|<profile JSON>` (the docker CLI
reads a profile file and sends its content), `apparmor=<profile>`, `label=...` and
`label=disable`. The docker CLI turns `systempaths=unconfined` into empty MaskedPaths and
ReadonlyPaths before it sends the request; Pier's own CLI sends the option itself.
This host class has neither AppArmor nor SELinux: as dockerd there, `apparmor=` and
`label=` have no effect, and Pier says so in the create's warnings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pier.config import DaemonConfig
from pier.containers.model import Container, HostConfig, Ulimit
from pier.errors import InvalidParameter
from pier.runtime import seccomp

_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


@dataclass(frozen=True, slots=True, kw_only=True)
class SecurityOptions:
    no_new_privileges: bool = False
    seccomp_unconfined: bool = False
    # The profile JSON a client sent ("" for the default one).
    seccomp_profile: str = ""
    apparmor_profile: str = ""
    labels: tuple[str, ...] = ()
    systempaths_unconfined: bool = False

    def profile(self) -> Mapping[str, Any] | None:
        return seccomp.load_profile(self.seccomp_profile) if self.seccomp_profile else None


def _go_quote(text: str) -> str:
    return json.dumps(text)


def _bool(value: str, opt: str) -> bool:
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidParameter(f"invalid --security-opt 2: {_go_quote(opt)}")


def parse_security_opts(
    opts: Sequence[str], *, daemon_no_new_privileges: bool = False
) -> SecurityOptions:
    nnp = daemon_no_new_privileges
    unconfined = False
    profile = ""
    apparmor = ""
    labels: list[str] = []
    systempaths = False
    for opt in opts:
        if opt == "no-new-privileges":
            nnp = True
            continue
        if opt == "disable":
            labels.append("disable")
            continue
        sep = "=" if "=" in opt else ":" if ":" in opt else ""
        if not sep:
            raise InvalidParameter(f"invalid --security-opt 1: {_go_quote(opt)}")
        key, _, value = opt.partition(sep)
        if key == "no-new-privileges":
            nnp = _bool(value, opt)
        elif key == "seccomp":
            if value == "unconfined":
                unconfined, profile = True, ""
            elif value in ("builtin", ""):
                unconfined, profile = False, ""
            else:
                seccomp.load_profile(value)  # refused now, not at start
                unconfined, profile = False, value
        elif key == "apparmor":
            apparmor = value
        elif key == "label":
            labels.append(value)
        elif key == "systempaths" and value == "unconfined":
            systempaths = True
        else:
            raise InvalidParameter(f"invalid --security-opt 2: {_go_quote(opt)}")
    return SecurityOptions(
        no_new_privileges=nnp,
        seccomp_unconfined=unconfined,
        seccomp_profile=profile,
        apparmor_profile=apparmor,
        labels=tuple(labels),
        systempaths_unconfined=systempaths,
    )


def host_warnings(options: SecurityOptions) -> tuple[str, ...]:
    """What this host cannot honour (dockerd ignores it silently; Pier says it)."""
    warnings = []
    if options.apparmor_profile and not _apparmor_enabled():
        warnings.append(
            f"AppArmor is not enabled on this host: apparmor={options.apparmor_profile} "
            "has no effect"
        )
    if options.labels and not Path("/sys/fs/selinux/enforce").exists():
        warnings.append("SELinux is not enabled on this host: label options have no effect")
    return tuple(warnings)


def _apparmor_enabled() -> bool:
    try:
        return Path("/sys/module/apparmor/parameters/enabled").read_text().strip() == "Y"
    except OSError:
        return False


def _has_option(opts: Sequence[str], key: str) -> bool:
    return any(opt == key or opt.startswith((f"{key}=", f"{key}:")) for opt in opts)


def create_defaults(hc: HostConfig, config: DaemonConfig) -> HostConfig:
    """daemon.json's defaults a new container keeps for its life, as dockerd keeps them:
    `no-new-privileges` (moby sets the container's NoNewPrivileges at create, and its
    execs inherit it) and `default-ulimits` merged under the container's own by name
    (moby's mergeUlimits; its inspect shows the merged list too)."""
    opts = hc.security_opt
    if config.no_new_privileges and not _has_option(opts, "no-new-privileges"):
        opts = (*opts, "no-new-privileges=true")
    named = {u.name for u in hc.ulimits}
    extra = tuple(
        Ulimit(name=name, soft=soft, hard=hard)
        for name, (soft, hard) in sorted(config.default_ulimits.items())
        if name not in named
    )
    if opts == hc.security_opt and not extra:
        return hc
    return replace(hc, security_opt=opts, ulimits=(*hc.ulimits, *extra))


def start_defaults(record: Container, config: DaemonConfig) -> Container:
    """The record as one run's spec sees it, with the defaults dockerd applies when it
    writes the spec (so a changed daemon.json reaches existing containers at their next
    start, and inspect shows what the client asked): the daemon's seccomp profile for a
    container that names none (moby's WithSeccomp; never for a privileged one), and
    Pier's default pids limit for one that asks for no limit (host_defaults turned it
    off at start where the kernel has no pids controller)."""
    hc = record.host_config
    opts = hc.security_opt
    if not hc.privileged and not _has_option(opts, "seccomp"):
        if config.seccomp_profile == "unconfined":
            opts = (*opts, "seccomp=unconfined")
        elif config.seccomp_profile_json:
            opts = (*opts, f"seccomp={config.seccomp_profile_json}")
    pids = hc.pids_limit
    if pids is None and config.default_pids_limit > 0:
        pids = config.default_pids_limit
    if opts == hc.security_opt and pids == hc.pids_limit:
        return record
    return replace(record, host_config=replace(hc, security_opt=opts, pids_limit=pids))


def _pids_controller() -> bool:
    """Whether the kernel has the pids controller enabled (cgroup v1 or v2)."""
    try:
        lines = Path("/proc/cgroups").read_text().splitlines()
    except OSError:
        return False
    return any(line.split()[0] == "pids" and line.split()[-1] == "1" for line in lines[1:])


def host_defaults(config: DaemonConfig) -> DaemonConfig:
    """The daemon's container defaults resolved against this host once, at start, so
    that no start reads a file for them: the seccomp profile's file read (see
    load_daemon_profile) and the default pids limit dropped without a pids controller."""
    config = load_daemon_profile(config)
    if config.default_pids_limit > 0 and not _pids_controller():
        config = replace(config, default_pids_limit=0)
    return config


def load_daemon_profile(config: DaemonConfig) -> DaemonConfig:
    """Read daemon.json's `seccomp-profile` file at start (a bad one stops pierd with
    moby's words, as dockerd refuses to start); `builtin` and `unconfined` are names."""
    path = config.seccomp_profile
    if path in ("", "builtin", "unconfined"):
        return config
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise InvalidParameter(f"opening seccomp profile ({path}) failed: {exc}") from exc
    try:
        seccomp.load_profile(text)
    except InvalidParameter as exc:
        raise InvalidParameter(f"loading seccomp profile ({path}) failed: {exc}") from exc
    return replace(config, seccomp_profile_json=text)
