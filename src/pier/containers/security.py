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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
