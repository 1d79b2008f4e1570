"""Dockerfile instructions applied to an image config: `docker import --change` and
`docker commit --change`, with Docker's forms and error wording."""

from __future__ import annotations

import json
import posixpath
import re
import signal
from collections.abc import Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from pier.errors import InvalidParameter
from pier.oci.image import ImageConfig

VALID_COMMANDS = frozenset(
    {
        "cmd",
        "entrypoint",
        "healthcheck",
        "env",
        "expose",
        "label",
        "onbuild",
        "stopsignal",
        "user",
        "volume",
        "workdir",
    }
)
DEFAULT_SHELL = ("/bin/sh", "-c")
_VAR = re.compile(
    r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))"
)


def split_instructions(changes: Sequence[str]) -> list[tuple[str, str]]:
    """(keyword as written, rest) for each instruction; comments, blank lines and `\\`
    line continuations handled as Docker's parser does."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in "\n".join(changes).split("\n"):
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = (pending + stripped).strip()
        pending = ""
        if full:
            word, _, rest = full.partition(" ")
            out.append((word, rest.strip()))
    if pending.strip():
        word, _, rest = pending.strip().partition(" ")
        out.append((word, rest.strip()))
    return out


def apply_changes(config: ImageConfig, changes: Sequence[str]) -> ImageConfig:
    instructions = split_instructions(changes)
    for word, _ in instructions:
        if word.lower() not in VALID_COMMANDS:
            raise InvalidParameter(f"{word.lower()} is not a valid change command")
    cmd_set = False
    for word, rest in instructions:
        kind = word.lower()
        env = _env_map(config.env)
        if kind == "cmd":
            config = replace(config, cmd=_command(rest, config.shell))
            cmd_set = True
        elif kind == "entrypoint":
            entrypoint = _command(rest, config.shell)
            config = replace(config, entrypoint=entrypoint or None)
            if not cmd_set:
                config = replace(config, cmd=None)
        elif kind == "env":
            merged = dict(env)
            for key, value in _name_values(rest, env, "ENV"):
                merged[key] = value
                env = merged
            config = replace(config, env=tuple(f"{k}={v}" for k, v in merged.items()))
        elif kind == "label":
            labels = dict(config.labels)
            labels.update(_name_values(rest, env, "LABEL"))
            config = replace(config, labels=MappingProxyType(labels))
        elif kind == "expose":
            ports = set(config.exposed_ports)
            for word_ in words(rest, env):
                ports.update(_ports(word_))
            config = replace(config, exposed_ports=tuple(sorted(ports)))
        elif kind == "user":
            config = replace(config, user=" ".join(words(rest, env)))
        elif kind == "volume":
            vols = set(config.volumes)
            for vol in _json_or_words(rest, env):
                if not vol.strip():
                    raise InvalidParameter("VOLUME specified can not be an empty string")
                vols.add(vol)
            config = replace(config, volumes=tuple(sorted(vols)))
        elif kind == "workdir":
            target = " ".join(words(rest, env))
            if not target:
                raise InvalidParameter("WORKDIR requires exactly one argument")
            if not target.startswith("/"):
                target = posixpath.join("/", config.working_dir or "/", target)
            config = replace(config, working_dir=posixpath.normpath(target))
        elif kind == "stopsignal":
            sig = " ".join(words(rest, env))
            _check_signal(sig)
            config = replace(config, stop_signal=sig)
        elif kind == "onbuild":
            trigger = rest.split(None, 1)[0].upper() if rest else ""
            if not trigger:
                raise InvalidParameter("ONBUILD requires at least one argument")
            if trigger == "ONBUILD":
                raise InvalidParameter("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
            if trigger in ("MAINTAINER", "FROM"):
                raise InvalidParameter(f"{trigger} isn't allowed as an ONBUILD trigger")
            config = replace(config, on_build=(*config.on_build, rest))
        elif kind == "healthcheck":
            config = replace(config, healthcheck=_healthcheck(rest, config.shell))
    return config


def _env_map(env: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in env:
        key, _, value = item.partition("=")
        out[key] = value
    return out


def _expand(name: str, op: str | None, word: str | None, env: Mapping[str, str]) -> str:
    value = env.get(name)
    if op in (":-", "-"):
        return value if value else (word or "")
    if op in (":+", "+"):
        return (word or "") if value else ""
    return value or ""


def words(s: str, env: Mapping[str, str]) -> list[str]:
    """Shell-like words with quotes removed and `$VAR`/`${VAR}` expanded (not in '')."""
    out: list[str] = []
    cur: list[str] = []
    in_word = False
    i, n = 0, len(s)

    def var(i: int) -> int:
        m = _VAR.match(s, i)
        if m is None:
            cur.append("$")
            return i + 1
        name = m.group(1) or m.group(4)
        cur.append(_expand(name, m.group(2), m.group(3), env))
        return m.end()

    while i < n:
        c = s[i]
        if c.isspace():
            if in_word:
                out.append("".join(cur))
                cur, in_word = [], False
            i += 1
            continue
        in_word = True
        if c == "'":
            j = s.find("'", i + 1)
            if j < 0:
                raise InvalidParameter("unexpected end of statement while looking for matching '")
            cur.append(s[i + 1 : j])
            i = j + 1
        elif c == '"':
            i += 1
            while i < n and s[i] != '"':
                if s[i] == "\\" and i + 1 < n and s[i + 1] in '"\\$':
                    cur.append(s[i + 1])
                    i += 2
                elif s[i] == "$":
                    i = var(i)
                else:
                    cur.append(s[i])
                    i += 1
            if i >= n:
                raise InvalidParameter('unexpected end of statement while looking for matching "')
            i += 1
        elif c == "\\":
            if i + 1 < n:
                cur.append(s[i + 1])
            i += 2
        elif c == "$":
            i = var(i)
        else:
            cur.append(c)
            i += 1
    if in_word:
        out.append("".join(cur))
    return out


def _name_values(rest: str, env: Mapping[str, str], instr: str) -> list[tuple[str, str]]:
    if not rest:
        raise InvalidParameter(f"{instr} requires at least one argument")
    first = rest.split(None, 1)[0]
    if "=" not in first:
        # Legacy form: `ENV key value with spaces`.
        parts = rest.split(None, 1)
        if len(parts) < 2:
            raise InvalidParameter(f"{instr} must have two arguments")
        return [(parts[0], " ".join(words(parts[1], env)))]
    pairs = []
    for w in words(rest, env):
        key, sep, value = w.partition("=")
        if not sep:
            raise InvalidParameter(
                f'Syntax error - can\'t find = in "{w}". Must be of the form: name=value'
            )
        if not key:
            raise InvalidParameter(f"{instr} names can not be blank")
        pairs.append((key, value))
    return pairs


def _json_array(rest: str) -> list[str] | None:
    if not rest.startswith("["):
        return None
    try:
        parsed: Any = json.loads(rest)
    except json.JSONDecodeError:
        return None
    if not isinstance(parsed, list) or not all(isinstance(x, str) for x in parsed):
        return None
    return parsed


def _command(rest: str, shell: tuple[str, ...] | None) -> tuple[str, ...]:
    parsed = _json_array(rest)
    if parsed is not None:
        return tuple(parsed)
    if not rest:
        return ()
    return (*(shell or DEFAULT_SHELL), rest)


def _json_or_words(rest: str, env: Mapping[str, str]) -> list[str]:
    parsed = _json_array(rest)
    if parsed is not None:
        return parsed
    return words(rest, env)


def _ports(spec: str) -> list[str]:
    port, _, proto = spec.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise InvalidParameter(f"invalid proto: {proto}")
    start_s, _, end_s = port.partition("-")
    try:
        start = int(start_s)
        end = int(end_s) if end_s else start
    except ValueError:
        raise InvalidParameter(f"invalid containerPort: {port}") from None
    if not (0 <= start <= 65535 and start <= end <= 65535):
        raise InvalidParameter(f"invalid containerPort: {port}")
    return [f"{p}/{proto}" for p in range(start, end + 1)]


def _check_signal(sig: str) -> None:
    if sig.isdigit() and 0 < int(sig) < 65:
        return
    name = sig.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    if name.startswith("SIGRTMIN") or name.startswith("SIGRTMAX") or hasattr(signal, name):
        return
    raise InvalidParameter(f"Invalid signal: {sig}")


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {
    "ns": 1,
    "us": 1000,
    "µs": 1000,
    "ms": 10**6,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
}


def _duration_ns(text: str) -> int:
    pos, total = 0, 0.0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise InvalidParameter(f'time: invalid duration "{text}"')
    return int(total)


def _healthcheck(rest: str, shell: tuple[str, ...] | None) -> Mapping[str, Any]:
    args = rest
    hc: dict[str, Any] = {}
    flags = {
        "interval": "Interval",
        "timeout": "Timeout",
        "start-period": "StartPeriod",
        "start-interval": "StartInterval",
        "retries": "Retries",
    }
    while args.startswith("--"):
        flag, _, args = args.partition(" ")
        args = args.strip()
        key, _, value = flag[2:].partition("=")
        if key not in flags:
            raise InvalidParameter(f"Unknown flag: {key}")
        if key == "retries":
            try:
                hc["Retries"] = int(value)
            except ValueError:
                raise InvalidParameter(
                    f'strconv.ParseInt: parsing "{value}": invalid syntax'
                ) from None
        else:
            hc[flags[key]] = _duration_ns(value)
    word, _, cmd = args.partition(" ")
    if word.upper() == "NONE":
        if cmd.strip() or hc:
            raise InvalidParameter("HEALTHCHECK NONE takes no arguments")
        return MappingProxyType({"Test": ["NONE"]})
    if word.upper() != "CMD":
        raise InvalidParameter(f'Unknown type "{word.upper()}" in HEALTHCHECK (try CMD)')
    cmd = cmd.strip()
    parsed = _json_array(cmd)
    hc["Test"] = ["CMD", *parsed] if parsed is not None else ["CMD-SHELL", cmd]
    return MappingProxyType(hc)
