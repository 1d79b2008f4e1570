"""Instructions that change only the image config, applied as the classic builder does
(moby builder/dockerfile/dispatchers.go), each with its history comment.

Shared by builds, `docker commit --change` and `docker import --change`. Pure: a
config and an instruction (its words already expanded by the caller) in, the new
config and the comment that goes after `#(nop) ` in `created_by` out.
"""

from __future__ import annotations

import posixpath
import signal
from collections.abc import Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType

from pier.build.instructions import Instruction, duration_ns, healthcheck_config
from pier.errors import InvalidParameter
from pier.oci.image import ImageConfig

DEFAULT_SHELL = ("/bin/sh", "-c")
CONFIG_ONLY = frozenset(
    {
        "cmd",
        "entrypoint",
        "env",
        "expose",
        "healthcheck",
        "label",
        "maintainer",
        "onbuild",
        "shell",
        "stopsignal",
        "user",
        "volume",
        "arg",
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Applied:
    config: ImageConfig
    comment: str
    cmd_set: bool
    maintainer: str | None = None  # MAINTAINER's value


def shell_of(config: ImageConfig) -> tuple[str, ...]:
    return tuple(config.shell) if config.shell else DEFAULT_SHELL


def command_line(item: Instruction, config: ImageConfig) -> tuple[str, ...]:
    """RUN/CMD/ENTRYPOINT's argv: the JSON form as is, the shell form under SHELL."""
    if item.json:
        return item.args
    if not item.args:
        return ()
    return (*shell_of(config), *item.args)


def apply(
    config: ImageConfig, item: Instruction, *, cmd_set: bool, expanded_words: Sequence[str] = ()
) -> Applied:
    """Apply a config-only instruction; `item` has its words expanded already, and
    `expanded_words` are EXPOSE's ports after multi-word expansion."""
    kind = item.kind
    if kind == "env":
        env = list(config.env)
        parts = []
        for key, value in item.pairs:
            entry = f"{key}={value or ''}"
            parts.append(entry)
            for i, existing in enumerate(env):
                if existing.partition("=")[0] == key:
                    env[i] = entry
                    break
            else:
                env.append(entry)
        return Applied(
            config=replace(config, env=tuple(env)),
            comment="ENV " + " ".join(parts),
            cmd_set=cmd_set,
        )
    if kind == "label":
        labels = dict(config.labels)
        parts = []
        for key, value in item.pairs:
            labels[key] = value or ""
            parts.append(f"{key}={value or ''}")
        return Applied(
            config=replace(config, labels=MappingProxyType(labels)),
            comment="LABEL " + " ".join(parts),
            cmd_set=cmd_set,
        )
    if kind == "maintainer":
        return Applied(
            config=config,
            comment="MAINTAINER " + item.args[0],
            cmd_set=cmd_set,
            maintainer=item.args[0],
        )
    if kind == "onbuild":
        return Applied(
            config=replace(config, on_build=(*config.on_build, item.expression)),
            comment="ONBUILD " + item.expression,
            cmd_set=cmd_set,
        )
    if kind == "cmd":
        cmd = command_line(item, config)
        return Applied(
            config=replace(config, cmd=cmd),
            comment="CMD " + go_quote_list(cmd),
            cmd_set=cmd_set or bool(item.args),
        )
    if kind == "entrypoint":
        entrypoint = command_line(item, config) if item.args else None
        new = replace(config, entrypoint=entrypoint)
        if not cmd_set:
            new = replace(new, cmd=None)
        return Applied(
            config=new, comment="ENTRYPOINT " + go_quote_list(entrypoint or ()), cmd_set=cmd_set
        )
    if kind == "healthcheck":
        hc = healthcheck_config(item)
        return Applied(
            config=replace(config, healthcheck=MappingProxyType(hc)),
            comment="HEALTHCHECK " + _health_comment(item),
            cmd_set=cmd_set,
        )
    if kind == "expose":
        ports = set(config.exposed_ports)
        for spec in expanded_words:
            ports.update(parse_port_spec(spec))
        return Applied(
            config=replace(config, exposed_ports=tuple(sorted(ports))),
            comment="EXPOSE " + " ".join(expanded_words),
            cmd_set=cmd_set,
        )
    if kind == "user":
        return Applied(
            config=replace(config, user=item.args[0]),
            comment="USER " + item.args[0],
            cmd_set=cmd_set,
        )
    if kind == "volume":
        vols = set(config.volumes)
        for vol in item.args:
            if not vol:
                raise InvalidParameter("VOLUME specified can not be an empty string")
            vols.add(vol)
        return Applied(
            config=replace(config, volumes=tuple(sorted(vols))),
            comment="VOLUME [" + " ".join(item.args) + "]",
            cmd_set=cmd_set,
        )
    if kind == "stopsignal":
        check_signal(item.args[0])
        return Applied(
            config=replace(config, stop_signal=item.args[0]),
            comment="STOPSIGNAL " + item.args[0],
            cmd_set=cmd_set,
        )
    if kind == "shell":
        return Applied(
            config=replace(config, shell=item.args),
            comment="SHELL [" + " ".join(item.args) + "]",
            cmd_set=cmd_set,
        )
    if kind == "arg":
        words = [k if v is None else f"{k}={v}" for k, v in item.pairs]
        return Applied(config=config, comment="ARG " + " ".join(words), cmd_set=cmd_set)
    raise InvalidParameter(f"{item.kind.upper()} does not only change the config")


def workdir(current: str, requested: str) -> str:
    """moby's normalizeWorkdir: relative to the current working directory."""
    if not requested:
        raise InvalidParameter("cannot normalize nothing")
    if not requested.startswith("/"):
        requested = posixpath.join("/", current or "/", requested)
    return posixpath.normpath(requested)


def parse_port_spec(spec: str) -> list[str]:
    """nat.ParsePortSpecs for EXPOSE: `80`, `53/udp`, `8000-8001/tcp`."""
    port, _, proto = spec.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise InvalidParameter(f"invalid proto: {proto}")
    if ":" in port:
        port = port.rsplit(":", 1)[1]
    start_s, _, end_s = port.partition("-")
    try:
        start = int(start_s)
        end = int(end_s) if end_s else start
    except ValueError:
        raise InvalidParameter(f"invalid containerPort: {port}") from None
    if not (0 <= start <= 65535 and start <= end <= 65535):
        raise InvalidParameter(f"invalid containerPort: {port}")
    return [f"{p}/{proto}" for p in range(start, end + 1)]


def check_signal(sig: str) -> None:
    if sig.isdigit():
        if 0 < int(sig) < 65:
            return
        raise InvalidParameter(f"Invalid signal: {sig}")
    name = sig.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    if name.startswith("SIGRTMIN") or name.startswith("SIGRTMAX") or hasattr(signal, name):
        return
    raise InvalidParameter(f"Invalid signal: {sig}")


def go_quote_list(items: Sequence[str]) -> str:
    """Go's %q of a []string: `["/bin/sh" "-c" "echo hi"]`."""
    return "[" + " ".join(go_quote(s) for s in items) + "]"


def go_quote(text: str) -> str:
    out = ['"']
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _go_duration(ns: int) -> str:
    """Go's time.Duration.String for the values a HEALTHCHECK takes."""
    if ns == 0:
        return "0s"
    if ns < 1000:
        return f"{ns}ns"
    if ns < 10**6:
        return f"{_trim(ns / 1000)}µs"
    if ns < 10**9:
        return f"{_trim(ns / 10**6)}ms"
    total = ns / 10**9
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    out = ""
    if hours:
        out += f"{int(hours)}h"
    if hours or minutes:
        out += f"{int(minutes)}m"
    return out + f"{_trim(seconds)}s"


def _trim(value: float) -> str:
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return text or "0"


def _health_comment(item: Instruction) -> str:
    """Go's %q of the HealthcheckConfig pointer, as dockerd writes it in history."""
    test = go_quote_list(item.health_test)
    if item.health_test == ("NONE",):
        return f'&{{{test} "0s" "0s" "0s" "0s" \'\\x00\'}}'
    durations = [
        _go_duration(duration_ns(item.flag(f)) if item.flag(f) else 0)
        for f in ("interval", "timeout", "start-period", "start-interval")
    ]
    retries = int(item.flag("retries") or 0)
    quoted = " ".join(f'"{d}"' for d in durations)
    return f"&{{{test} {quoted} '{_go_char(retries)}'}}"


def _go_char(code: int) -> str:
    if 0x20 <= code < 0x7F and chr(code) not in ("'", "\\"):
        return chr(code)
    if chr(code) in ("'", "\\"):
        return "\\" + chr(code)
    return f"\\x{code:02x}"
