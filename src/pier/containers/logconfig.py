"""Log drivers and their options, checked at create as dockerd checks them.

Pier keeps every container's output in conmon's k8s-file format and serves it as
Docker's `json-file` and `local` drivers would; `none` keeps no log a client can read
(a small file still feeds `attach`). The daemon's `log-driver` and `log-opts`
(daemon.json) apply to containers that ask for no driver or for the default one, as
moby's mergeAndVerifyLogConfig; without `log-opts` in daemon.json the default
json-file is rotated (`max-size=10m`, `max-file=3`), where Docker's is unbounded.

Option names are refused with each driver's wording ("unknown log opt 'x' for
json-file log driver"); bad values, which dockerd only finds when the container
starts, are refused here at create with the same messages.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from pier.errors import InvalidParameter, NotImplementedByPier

DRIVERS = ("json-file", "local", "none")
# Drivers dockerd has and Pier does not (yet): a 501, not "not registered".
_DOCKER_DRIVERS = frozenset(
    {"syslog", "journald", "gelf", "fluentd", "awslogs", "splunk", "etwlogs", "gcplogs",
     "logentries"}
)  # fmt: skip
PIER_DEFAULT_OPTS: Mapping[str, str] = MappingProxyType({"max-size": "10m", "max-file": "3"})
_JSON_FILE_OPTS = frozenset(
    {"max-file", "max-size", "compress", "labels", "labels-regex", "env", "env-regex", "tag"}
)
_LOCAL_OPTS = frozenset({"max-file", "max-size", "compress"})
_BUILTIN_OPTS = frozenset({"mode", "max-buffer-size"})
# The `local` driver's own defaults (moby daemon/logger/local).
_LOCAL_MAX_SIZE = 20 * 1024 * 1024
_LOCAL_MAX_FILE = 5
# What a `none` container keeps, only for attach to read.
ATTACH_ONLY_SIZE = 1024 * 1024

_SIZE = re.compile(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")
_DECIMAL = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}


@dataclass(frozen=True, slots=True, kw_only=True)
class LogPolicy:
    """How a container's log file is kept: rotated at `max_size` bytes (None: never)
    into `max_file` files in all (1: truncated when full), older ones gzipped when
    `compress`; `readable` False for `none`."""

    max_size: int | None = None
    max_file: int = 1
    compress: bool = False
    readable: bool = True

    @property
    def keeps_rotated(self) -> bool:
        return self.max_size is not None and self.max_file > 1

    @property
    def monitor_size_max(self) -> int | None:
        """The size at which conmon itself starts a new file. With several files pierd
        rotates at `max_size` (keeping the old file); conmon's cut, which drops it, is
        only the backstop for when pierd is down or far behind."""
        if self.max_size is not None and self.keeps_rotated:
            return self.max_size * 2
        return self.max_size


def parse_size(text: str) -> int:
    """go-units FromHumanSize: decimal units ("10m" is 10,000,000 bytes)."""
    match = _SIZE.match(text.strip())
    if not match:
        raise ValueError(f"invalid size: '{text}'")
    number, unit = match.groups()
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"invalid size: '{text}'") from None
    return int(value * _DECIMAL[(unit or "").lower()])


def _bool(text: str) -> bool:
    """Go's strconv.ParseBool."""
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError(f'strconv.ParseBool: parsing "{text}": invalid syntax')


def _atoi(text: str, prefix: str) -> int:
    """Go's strconv.Atoi, with its error wording."""
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    shown = f"{text}: " if prefix else ""
    raise InvalidParameter(f'{prefix}{shown}strconv.Atoi: parsing "{text}": invalid syntax')


def resolve(
    driver: str,
    opts: Mapping[str, str],
    *,
    default_driver: str,
    default_opts: Mapping[str, str] | None,
) -> tuple[str, dict[str, str]]:
    """The container's driver and options with the daemon's defaults merged in, checked
    (InvalidParameter with dockerd's wording; NotImplementedByPier for a Docker driver
    Pier lacks). `default_opts` None: daemon.json sets no log-opts (Pier's defaults)."""
    driver = driver or default_driver
    merged = dict(opts)
    if driver == default_driver:
        defaults = PIER_DEFAULT_OPTS if default_opts is None else default_opts
        if driver == "json-file" or default_opts is not None:
            for key, value in defaults.items():
                merged.setdefault(key, value)
    check(driver, merged)
    return driver, merged


def check(driver: str, opts: Mapping[str, str]) -> None:
    if driver == "none":
        return
    mode = opts.get("mode", "")
    if mode not in ("", "blocking", "non-blocking"):
        raise InvalidParameter(f"logger: logging mode not supported: {mode}")
    if "max-buffer-size" in opts and mode != "non-blocking":
        raise InvalidParameter(
            "logger: max-buffer-size option is only supported with 'mode=non-blocking'"
        )
    if driver in _DOCKER_DRIVERS:
        raise NotImplementedByPier(f"the {driver} log driver is not implemented in Pier yet")
    if driver not in DRIVERS:
        raise InvalidParameter(f"logger: no log driver named '{driver}' is registered")
    known = _JSON_FILE_OPTS if driver == "json-file" else _LOCAL_OPTS
    for key in opts:
        if key in _BUILTIN_OPTS or key in known:
            continue
        if driver == "json-file":
            raise InvalidParameter(f"unknown log opt '{key}' for json-file log driver")
        raise InvalidParameter(f"unknown log opt '{key}' for log driver {driver}")
    policy(driver, opts)  # the values, as the driver reads them at start


def policy(driver: str, opts: Mapping[str, str]) -> LogPolicy:
    """The rotation `driver` with `opts` asks for (checked: InvalidParameter)."""
    if driver == "none":
        return LogPolicy(max_size=ATTACH_ONLY_SIZE, max_file=1, readable=False)
    local = driver == "local"
    max_size: int | None = _LOCAL_MAX_SIZE if local else None
    max_file = _LOCAL_MAX_FILE if local else 1
    compress = local
    try:
        if "max-size" in opts:
            max_size = parse_size(opts["max-size"])
    except ValueError as exc:
        prefix = f"invalid value for max-size: {opts['max-size']}: " if local else ""
        raise InvalidParameter(f"{prefix}{exc}") from None
    if "max-file" in opts:
        max_file = _atoi(opts["max-file"], "invalid value for max-file: " if local else "")
    try:
        if "compress" in opts:
            compress = _bool(opts["compress"])
    except ValueError as exc:
        prefix = "error reading compress log option: " if local else ""
        raise InvalidParameter(f"{prefix}{exc}") from None
    if local:
        if max_size is not None and max_size < 0:
            raise InvalidParameter("max size should be a positive number")
        if max_file < 0:
            raise InvalidParameter("max file count cannot be less than 0")
        if compress and max_file <= 1:
            raise InvalidParameter("compression cannot be enabled when max file count is 1")
        return LogPolicy(max_size=max_size or None, max_file=max(max_file, 1), compress=compress)
    if max_size is not None and max_size <= 0:
        raise InvalidParameter("max-size must be a positive number")
    if max_file < 1:
        raise InvalidParameter("max-file cannot be less than 1")
    if compress and (max_file == 1 or max_size is None):
        raise InvalidParameter(
            "compress cannot be true when max-file is less than 2 or max-size is not set"
        )
    return LogPolicy(max_size=max_size, max_file=max_file, compress=compress)
