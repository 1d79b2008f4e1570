"""Nodes -> typed instructions and build stages, with the frontend's checks and wording.

`parse_dockerfile` is the whole front end: text -> `Dockerfile` (the ARGs before the
first FROM, then the stages with their instructions). An error names its line the
way Docker does: `dockerfile parse error on line 3: unknown instruction: RUNN (did
you mean RUN?)`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from pier.build.parser import Heredoc, Node, ParseError, parse, parse_heredoc
from pier.errors import InvalidParameter

INSTRUCTIONS = (
    "add",
    "arg",
    "cmd",
    "copy",
    "entrypoint",
    "env",
    "expose",
    "from",
    "healthcheck",
    "label",
    "maintainer",
    "onbuild",
    "run",
    "shell",
    "stopsignal",
    "user",
    "volume",
    "workdir",
)
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9-_.]*$")

_STRING, _STRINGS, _BOOL = "string", "strings", "bool"
# The flags each instruction takes (None: flags are not looked at, as the frontend).
_FLAGS: dict[str, dict[str, str] | None] = {
    "from": {"platform": _STRING},
    "run": {"mount": _STRINGS, "network": _STRING, "security": _STRING},
    "copy": {
        "chown": _STRING,
        "from": _STRING,
        "chmod": _STRING,
        "link": _BOOL,
        "parents": _BOOL,
        "exclude": _STRINGS,
    },
    "add": {
        "chown": _STRING,
        "chmod": _STRING,
        "link": _BOOL,
        "keep-git-dir": _BOOL,
        "checksum": _STRING,
        "exclude": _STRINGS,
    },
    "healthcheck": {
        "interval": _STRING,
        "timeout": _STRING,
        "start-period": _STRING,
        "start-interval": _STRING,
        "retries": _STRING,
    },
    "arg": None,
    "stopsignal": None,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Instruction:
    """One instruction, checked. `args` hold the command line (RUN/CMD/ENTRYPOINT/
    SHELL: the JSON array, or one shell-form string), the sources then the destination
    (COPY/ADD), or the words (EXPOSE, VOLUME, USER, WORKDIR, STOPSIGNAL, MAINTAINER);
    `pairs` the keys and values of ENV, LABEL and ARG (None: an ARG without default)."""

    kind: str
    original: str
    line: int
    args: tuple[str, ...] = ()
    json: bool = False
    flags: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    pairs: tuple[tuple[str, str | None], ...] = ()
    heredocs: tuple[Heredoc, ...] = ()
    expression: str = ""  # ONBUILD's trigger as written
    health_test: tuple[str, ...] = ()  # HEALTHCHECK's Test

    def flag(self, name: str, default: str = "") -> str:
        values = self.flags.get(name)
        return values[-1] if values else default

    def flag_bool(self, name: str) -> bool:
        return self.flag(name) == "true"

    def __str__(self) -> str:
        return self.original


@dataclass(frozen=True, slots=True, kw_only=True)
class Stage:
    base: str  # the image or stage FROM names, before expansion
    name: str  # lower-cased `AS` name, "" if none
    platform: str
    original: str
    line: int
    index: int
    instructions: tuple[Instruction, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Dockerfile:
    meta_args: tuple[Instruction, ...]
    stages: tuple[Stage, ...]
    escape: str
    warnings: tuple[str, ...] = ()
    directives: tuple[tuple[str, str], ...] = ()


def parse_dockerfile(text: str, name: str = "Dockerfile") -> Dockerfile:
    if not text:
        raise InvalidParameter(f"the Dockerfile ({name}) cannot be empty")
    try:
        parsed = parse(text)
    except ParseError as exc:
        raise InvalidParameter(
            f"failed to parse {name}: dockerfile parse error on line {exc.start}: {exc.message}"
        ) from None
    meta: list[Instruction] = []
    stages: list[Stage] = []
    for node in parsed.nodes:
        try:
            item = instruction(node)
        except InvalidParameter as exc:
            raise InvalidParameter(
                f"dockerfile parse error on line {node.start_line}: {exc.message}"
            ) from None
        if isinstance(item, Stage):
            stages.append(replace(item, index=len(stages)))
        elif not stages:
            if item.kind != "arg":
                raise InvalidParameter("no build stage in current context")
            meta.append(item)
        else:
            last = stages[-1]
            stages[-1] = replace(last, instructions=(*last.instructions, item))
    return Dockerfile(
        meta_args=tuple(meta),
        stages=tuple(stages),
        escape=parsed.escape,
        warnings=parsed.warnings,
        directives=parsed.directives,
    )


def instruction(node: Node) -> Instruction | Stage:
    kind = node.name
    if kind not in INSTRUCTIONS:
        raise InvalidParameter(
            _suggest(f"unknown instruction: {node.keyword}", node.keyword, INSTRUCTIONS)
        )
    flags = _parse_flags(kind, node.flags)
    base = Instruction(kind=kind, original=node.original, line=node.start_line, flags=flags)
    args = node.args
    if kind == "from":
        return _stage(node, flags)
    if kind in ("env", "label"):
        if not args:
            raise InvalidParameter(f"{kind.upper()} requires at least one argument")
        pairs: list[tuple[str, str | None]] = []
        for i in range(0, len(args), 3):
            if not args[i]:
                raise InvalidParameter(f"{kind.upper()} names can not be blank")
            pairs.append((args[i], args[i + 1]))
        return replace(base, pairs=tuple(pairs))
    if kind == "arg":
        if not args:
            raise InvalidParameter("ARG requires at least one argument")
        arg_pairs: list[tuple[str, str | None]] = []
        for word in args:
            if "=" in word:
                key, _, value = word.partition("=")
                if not key:
                    raise InvalidParameter("ARG names can not be blank")
                arg_pairs.append((key, value))
            else:
                arg_pairs.append((word, None))
        return replace(base, pairs=tuple(arg_pairs))
    if kind in ("add", "copy"):
        return _copy(node, base)
    if kind in ("maintainer", "workdir", "user", "stopsignal"):
        if len(args) != 1:
            raise InvalidParameter(f"{kind.upper()} requires exactly one argument")
        return replace(base, args=args)
    if kind in ("run", "cmd", "entrypoint"):
        return replace(base, args=args, json=node.json, heredocs=node.heredocs)
    if kind == "shell":
        if not args:
            raise InvalidParameter("SHELL requires at least one argument")
        if not node.json:
            raise InvalidParameter(
                f"SHELL requires the arguments to be in JSON form: {node.original}"
            )
        return replace(base, args=args, json=True)
    if kind == "expose":
        if not args:
            raise InvalidParameter("EXPOSE requires at least one argument")
        return replace(base, args=tuple(sorted(args)))
    if kind == "volume":
        if not args:
            raise InvalidParameter("VOLUME requires at least one argument")
        vols = tuple(v.strip() for v in args)
        if any(not v for v in vols):
            raise InvalidParameter("VOLUME specified can not be an empty string")
        return replace(base, args=vols, json=node.json)
    if kind == "onbuild":
        return _onbuild(node, base)
    return _healthcheck(node, base)


def _stage(node: Node, flags: Mapping[str, tuple[str, ...]]) -> Stage:
    args = node.args
    name = ""
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not _STAGE_NAME.match(name):
            raise InvalidParameter(
                f'invalid name for build stage: "{args[2]}", name can\'t start with a number '
                "or contain symbols"
            )
    elif len(args) != 1:
        raise InvalidParameter("FROM requires either one or three arguments")
    platform = flags.get("platform", ("",))[-1]
    return Stage(
        base=args[0],
        name=name,
        platform=platform,
        original=node.original.strip(),
        line=node.start_line,
        index=0,
    )


def _copy(node: Node, base: Instruction) -> Instruction:
    kind = base.kind.upper()
    if len(node.args) < 2:
        raise InvalidParameter(
            f"{kind} requires at least two arguments, but only one was provided. Destination "
            "could not be determined"
        )
    if parse_heredoc(node.args[-1]) is not None:
        raise InvalidParameter(f"{kind} cannot accept a heredoc as a destination")
    return replace(base, args=node.args, json=node.json, heredocs=node.heredocs)


def _onbuild(node: Node, base: Instruction) -> Instruction:
    sub = node.sub
    if sub is None:
        raise InvalidParameter("ONBUILD requires at least one argument")
    trigger = sub.keyword.upper()
    if trigger == "ONBUILD":
        raise InvalidParameter("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger in ("MAINTAINER", "FROM"):
        raise InvalidParameter(f"{trigger} isn't allowed as an ONBUILD trigger")
    expression = re.sub(r"(?i)^\s*ONBUILD\s*", "", node.original)
    for doc in node.heredocs:
        expression += "\n" + doc.content + doc.name
    return replace(base, expression=expression)


def _healthcheck(node: Node, base: Instruction) -> Instruction:
    if not node.args:
        raise InvalidParameter("HEALTHCHECK requires at least one argument")
    kind = node.args[0].upper()
    rest = node.args[1:]
    if kind == "NONE":
        if rest:
            raise InvalidParameter("HEALTHCHECK NONE takes no arguments")
        return replace(base, flags=MappingProxyType({}), health_test=("NONE",))
    if kind != "CMD":
        raise InvalidParameter(f'Unknown type "{kind}" in HEALTHCHECK (try CMD)')
    if not rest or (not node.json and not rest[0]):
        raise InvalidParameter("Missing command after HEALTHCHECK CMD")
    test = ("CMD", *rest) if node.json else ("CMD-SHELL", *rest)
    for name in ("interval", "timeout", "start-period", "start-interval"):
        value = base.flag(name)
        if value:
            ns = duration_ns(value)
            if 0 < ns < 1_000_000:
                raise InvalidParameter(f'Interval "{name}" cannot be less than 1ms')
    retries = base.flag("retries")
    if retries:
        try:
            count = int(retries)
        except ValueError:
            raise InvalidParameter(
                f'strconv.ParseInt: parsing "{retries}": invalid syntax'
            ) from None
        if count < 0:
            raise InvalidParameter(f"--retries cannot be negative ({count})")
    return replace(base, health_test=test, json=node.json)


def healthcheck_config(item: Instruction) -> dict[str, object]:
    """The image config's Healthcheck for a HEALTHCHECK instruction."""
    config: dict[str, object] = {"Test": list(item.health_test)}
    if item.health_test == ("NONE",):
        return config
    for flag, key in (
        ("interval", "Interval"),
        ("timeout", "Timeout"),
        ("start-period", "StartPeriod"),
        ("start-interval", "StartInterval"),
    ):
        value = item.flag(flag)
        if value and duration_ns(value):
            config[key] = duration_ns(value)
    if item.flag("retries"):
        config["Retries"] = int(item.flag("retries"))
    return config


def _parse_flags(kind: str, raw: Sequence[str]) -> Mapping[str, tuple[str, ...]]:
    known = _FLAGS.get(kind, {})
    if known is None:
        return MappingProxyType({})
    out: dict[str, list[str]] = {}
    for arg in raw:
        if arg == "--":
            break
        if not arg.startswith("--"):
            raise InvalidParameter(f"arg should start with -- : {arg}")
        flag_name, eq, value = arg.partition("=")
        name = flag_name[2:]
        kind_of = known.get(name)
        if kind_of is None:
            raise InvalidParameter(
                _suggest(f"unknown flag: {flag_name}", name, tuple(known), case_sensitive=True)
            )
        if name in out and kind_of != _STRINGS:
            raise InvalidParameter(f"duplicate flag specified: {flag_name}")
        if kind_of == _BOOL:
            if eq and not value:
                raise InvalidParameter(f"missing a value on flag: {flag_name}")
            if value.lower() not in ("true", "", "false"):
                raise InvalidParameter(
                    f"expecting boolean value for flag {flag_name}, not: {value}"
                )
            out[name] = ["false" if value.lower() == "false" else "true"]
        else:
            if not eq:
                raise InvalidParameter(f"missing a value on flag: {flag_name}")
            out.setdefault(name, []).append(value)
    return MappingProxyType({k: tuple(v) for k, v in out.items()})


def _levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _suggest(message: str, value: str, options: Sequence[str], case_sensitive: bool = False) -> str:
    """The frontend's `(did you mean X?)`: the closest option within distance 2."""
    wanted = value if case_sensitive else value.lower()
    best, best_dist = "", 3
    for option in options:
        candidate = option if case_sensitive else option.lower()
        if candidate == wanted:
            return message
        dist = _levenshtein(wanted, candidate)
        if dist < best_dist:
            best, best_dist = candidate, dist
    if not best:
        return message
    if not case_sensitive:
        if value == value.upper():
            best = best.upper()
        elif value != value.lower():
            best = best  # mixed case: the option as listed
    return f"{message} (did you mean {best}?)"


_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {
    "ns": 1,
    "us": 1000,
    "µs": 1000,
    "ms": 10**6,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
}


def duration_ns(text: str) -> int:
    """Go's time.ParseDuration, in nanoseconds."""
    sign = 1
    body = text
    if body[:1] in "+-" and body:
        sign = -1 if body[0] == "-" else 1
        body = body[1:]
    if body == "0":
        return 0
    pos, total = 0, 0.0
    for m in _DURATION.finditer(body):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not body or pos != len(body):
        raise InvalidParameter(f'time: invalid duration "{text}"')
    return sign * int(total)
