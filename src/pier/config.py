"""DaemonConfig: everything pierd is told, from flags and a daemon.json-style file.

Keys of the config file follow dockerd's daemon.json where dockerd has one
(`data-root`, `exec-root`, `hosts`, `runtimes`, `default-runtime`, `log-level`,
`cgroup-parent`, `pidfile`, `init-path`); Pier's own keys are documented below.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pier.codec import json_kind
from pier.errors import InvalidParameter

DEFAULT_HOST = "unix:///run/pier/pier.sock"


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeConfig:
    """An OCI runtime the daemon may run containers with (Docker's `runtimes`)."""

    name: str
    path: str
    args: tuple[str, ...] = ()


def _default_runtimes() -> Mapping[str, RuntimeConfig]:
    found = {}
    for name in ("crun", "runc"):
        path = shutil.which(name) or f"/usr/bin/{name}"
        found[name] = RuntimeConfig(name=name, path=path)
    return MappingProxyType(found)


def _first_found(*names: str) -> str:
    for name in names:
        path = shutil.which(name)
        if path is not None:
            return path
    return names[0]


@dataclass(frozen=True, slots=True, kw_only=True)
class DaemonConfig:
    hosts: tuple[str, ...] = (DEFAULT_HOST,)
    data_root: Path = Path("/var/lib/pier")
    exec_root: Path = Path("/run/pier")
    pidfile: Path | None = None  # default: <exec_root>/pierd.pid
    log_level: str = "info"
    # The daemon.json this configuration came from: read again on SIGHUP.
    config_file: Path | None = None
    runtimes: Mapping[str, RuntimeConfig] = field(default_factory=_default_runtimes)
    default_runtime: str = "crun"
    # The cgroup (relative to each hierarchy's root) under which containers are placed;
    # Docker's cgroupfs driver uses "/docker".
    cgroup_parent: str = "/pier"
    # dockerd's cpu-rt-period / cpu-rt-runtime (microseconds): written to the parent
    # cgroups before each start, so containers can be given real-time CPU time.
    cpu_rt_period: int = 0
    cpu_rt_runtime: int = 0
    conmon_path: str = "conmon"
    # The init binary for `--init`. It runs inside the container's root file system, so
    # it must be static: Docker ships tini-static as docker-init; Debian's plain tini
    # is dynamically linked and fails in an image without its libc.
    init_path: str = field(default_factory=lambda: _first_found("tini-static", "catatonit"))
    # Pier's own: on a cgroup v1 "hybrid" host whose cgroup2 mount holds a controller,
    # crun refuses to run. When true, pierd mounts that controller as a v1 hierarchy
    # to free it (a host change, hence opt-in); when false, pierd falls back to runc.
    fix_hybrid_cgroups: bool = False
    # dockerd's `log-driver` and `log-opts`; without `log-opts` json-file is rotated
    # (max-size=10m, max-file=3: containers.logconfig), where dockerd's is unbounded.
    log_driver: str = "json-file"
    log_opts: Mapping[str, str] | None = None
    # dockerd's `metrics-addr`: where Prometheus metrics are served ("" for nowhere).
    metrics_addr: str = ""
    # dockerd's: registries spoken to over plain HTTP (and TLS without verification), as
    # host[:port] or CIDR; loopback is always insecure, as in dockerd.
    insecure_registries: tuple[str, ...] = ()
    # dockerd's: mirrors of Docker Hub tried before it, as URLs.
    registry_mirrors: tuple[str, ...] = ()
    # Networking, as dockerd's keys: the default bridge's device (`bridge`) and address
    # (`bip`), the pools user networks take subnets from (`default-address-pools`),
    # whether Pier manages NAT and port rules (`iptables`), the containers' resolvers
    # (`dns`). `nft-table` is Pier's own: the nftables table (ip family) it owns.
    bridge: str = "pier0"
    bip: str = ""
    default_address_pools: tuple[tuple[str, int], ...] = ()
    iptables: bool = True
    nft_table: str = "pier"
    # IPv6 on the default bridge (`ipv6`), with this subnet (`fixed-cidr-v6`; else a
    # /64 of a ULA prefix derived from the daemon, as dockerd's).
    ipv6: bool = False
    fixed_cidr_v6: str = ""
    dns: tuple[str, ...] = ()
    # API access, as dockerd's keys: the UNIX socket's group (`group`; None: `pier`
    # when that group exists, else root's) and TLS for tcp:// and activated TCP
    # sockets (`tls`, `tlsverify`, `tlscacert`, `tlscert`, `tlskey`; unset paths are
    # ca.pem, cert.pem and key.pem in $DOCKER_CERT_PATH or ~/.docker, as dockerd's).
    group: str | None = None
    tls: bool = False
    tlsverify: bool = False
    tlscacert: Path | None = None
    tlscert: Path | None = None
    tlskey: Path | None = None
    # Container defaults, as dockerd's keys: `no-new-privileges`, `seccomp-profile`
    # (a file, `builtin` or `unconfined`; pierd reads the file at start into
    # seccomp_profile_json), `default-ulimits` (name -> (soft, hard)) and Pier's own
    # `default-pids-limit`: dockerd has no bound, Pier puts one on a container that
    # asks for none (0: none), so that a fork bomb cannot take the host's pids.
    no_new_privileges: bool = False
    seccomp_profile: str = ""
    seccomp_profile_json: str = ""
    default_ulimits: Mapping[str, tuple[int, int]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    default_pids_limit: int = 4096
    # dockerd's `icc` (traffic between containers of the default bridge) and
    # `userland-proxy`/`userland-proxy-path`, accepted: Pier publishes ports on
    # loopback with nftables alone, with no proxy process either way.
    icc: bool = True
    userland_proxy: bool = True
    userland_proxy_path: str = ""
    # dockerd's old `cluster-store`, given a new meaning: the etcd cluster swarm mode
    # keeps its state in (`etcd://host:port`, `http://...`, `unix:///path`, several
    # separated by commas). Empty: `swarm init` starts an etcd member of its own.
    cluster_store: tuple[str, ...] = ()
    # dockerd's `userns-remap`: `default`, `user[:group]` or `uid[:gid]`, whose
    # /etc/subuid and /etc/subgid ranges containers' user namespaces map to.
    userns_remap: str = ""
    # Pier's own `max-unpack-size` (bytes): what one import, load or pull (its new
    # layers together), or one build context, may write to disk (file data only: holes
    # do not count), so that a small upload cannot fill the disk. Far above any real
    # image; 0: no bound.
    max_unpack_size: int = 64 * 1024**3
    # dockerd's `labels` (`--label`): key=value pairs /info reports and a swarm node
    # publishes as its engine labels (placement constraints `engine.labels.<key>`).
    labels: tuple[str, ...] = ()

    @property
    def unpack_bound(self) -> int | None:
        """`max_unpack_size` as the unpackers take it (None: no bound)."""
        return self.max_unpack_size or None

    @property
    def pidfile_path(self) -> Path:
        return self.pidfile or self.exec_root / "pierd.pid"

    def runtime(self, name: str | None) -> RuntimeConfig:
        key = name or self.default_runtime
        try:
            return self.runtimes[key]
        except KeyError:
            raise InvalidParameter(f"unknown or invalid runtime name: {key}") from None

    def with_overrides(self, **changes: Any) -> DaemonConfig:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def load_config_file(path: Path) -> dict[str, Any]:
    """Read a daemon.json-style file into DaemonConfig keyword arguments."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise InvalidParameter(f"config file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise InvalidParameter(f"invalid daemon configuration file {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise InvalidParameter(f"invalid daemon configuration file {path}: not an object")
    out: dict[str, Any] = {}
    simple = {
        "data-root": ("data_root", Path),
        "exec-root": ("exec_root", Path),
        "pidfile": ("pidfile", Path),
        "log-level": ("log_level", str),
        "default-runtime": ("default_runtime", str),
        "cgroup-parent": ("cgroup_parent", str),
        "cpu-rt-period": ("cpu_rt_period", int),
        "cpu-rt-runtime": ("cpu_rt_runtime", int),
        "conmon-path": ("conmon_path", str),
        "init-path": ("init_path", str),
        "fix-hybrid-cgroups": ("fix_hybrid_cgroups", bool),
        "bridge": ("bridge", str),
        "bip": ("bip", str),
        "iptables": ("iptables", bool),
        "nft-table": ("nft_table", str),
        "ipv6": ("ipv6", bool),
        "fixed-cidr-v6": ("fixed_cidr_v6", str),
        "log-driver": ("log_driver", str),
        "metrics-addr": ("metrics_addr", str),
        "userns-remap": ("userns_remap", str),
        "max-unpack-size": ("max_unpack_size", int),
        "group": ("group", str),
        "tls": ("tls", bool),
        "tlsverify": ("tlsverify", bool),
        "tlscacert": ("tlscacert", Path),
        "tlscert": ("tlscert", Path),
        "tlskey": ("tlskey", Path),
        "no-new-privileges": ("no_new_privileges", bool),
        "seccomp-profile": ("seccomp_profile", str),
        "default-pids-limit": ("default_pids_limit", int),
        "icc": ("icc", bool),
        "userland-proxy": ("userland_proxy", bool),
        "userland-proxy-path": ("userland_proxy_path", str),
    }
    for key, value in raw.items():
        try:
            _read_key(out, simple, key, value)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            # A value of the wrong shape (a string for a list, an object without
            # its keys): pierd's own refusal, not a traceback.
            raise InvalidParameter(
                f"invalid daemon configuration file {path}: {key}: bad value ({exc!r})"
            ) from None
    if out.get("max_unpack_size", 0) < 0:
        raise InvalidParameter("max-unpack-size must be a number of bytes, 0 for no bound")
    return out


_JSON_KINDS: dict[type, tuple[type, ...]] = {bool: (bool,), int: (int,), str: (str,), Path: (str,)}


def _read_key(
    out: dict[str, Any], simple: Mapping[str, tuple[str, type]], key: str, value: Any
) -> None:
    if key in simple:
        attr, kind = simple[key]
        # As Go's decoder: no conversion between JSON's kinds ("false" is no
        # boolean, and bool("false") would be true).
        if not isinstance(value, _JSON_KINDS[kind]) or (kind is int and value is True):
            raise InvalidParameter(
                f"json: cannot unmarshal {json_kind(value)} into Go struct field "
                f"Config.{key} of type {_go_kind(kind)}"
            )
        out[attr] = kind(value)
    elif key in ("insecure-registries", "registry-mirrors"):
        out[key.replace("-", "_")] = _strings(key, value)
    elif key == "log-opts":
        out["log_opts"] = MappingProxyType({str(k): str(v) for k, v in value.items()})
    elif key == "default-ulimits":
        out["default_ulimits"] = parse_default_ulimits(value)
    elif key == "hosts":
        out["hosts"] = _strings(key, value)
    elif key == "cluster-store":
        out["cluster_store"] = parse_cluster_store(value)
    elif key == "dns":
        out["dns"] = _strings(key, value)
    elif key == "labels":
        out["labels"] = parse_labels(_strings(key, value))
    elif key == "default-address-pools":
        out["default_address_pools"] = tuple((str(p["base"]), int(p["size"])) for p in value)
    elif key == "runtimes":
        runtimes = dict(_default_runtimes())
        for name, spec in value.items():
            runtimes[name] = RuntimeConfig(
                name=name,
                path=str(spec["path"]),
                args=tuple(spec.get("runtimeArgs", ())),
            )
        out["runtimes"] = MappingProxyType(runtimes)
    else:
        raise InvalidParameter(
            f"the following directives don't match any configuration option: {key}"
        )


def _strings(key: str, value: Any) -> tuple[str, ...]:
    """A list of strings (a lone string would otherwise be read as its characters)."""
    if not isinstance(value, list):
        raise InvalidParameter(
            f"json: cannot unmarshal {json_kind(value)} into Go struct field "
            f"Config.{key} of type []string"
        )
    return tuple(str(v) for v in value)


def _go_kind(kind: type) -> str:
    return {bool: "bool", int: "int"}.get(kind, "string")


def parse_labels(labels: tuple[str, ...]) -> tuple[str, ...]:
    """dockerd's checks of daemon labels (opts.ValidateLabel, GetConflictFreeLabels)."""
    seen: dict[str, str] = {}
    for label in labels:
        if "=" not in label:
            raise InvalidParameter(f"bad attribute format: {label}")
        if label.lower().startswith(("com.docker.", "io.docker.", "org.dockerproject.")):
            raise InvalidParameter(
                f"label {label} is not allowed: the namespaces com.docker.*, io.docker.*, "
                "and org.dockerproject.* are reserved for internal use"
            )
        key, _, value = label.partition("=")
        if key in seen and seen[key] != value:
            raise InvalidParameter(f"conflict labels for {key}={value} and {key}={seen[key]}")
        seen[key] = value
    return tuple(f"{k}={v}" for k, v in seen.items())


def parse_cluster_store(value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    out = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        if item.startswith("etcd://"):
            item = "http://" + item[len("etcd://") :]
        if not item.startswith(("http://", "https://", "unix:///")):
            raise InvalidParameter(
                f"invalid cluster-store {item!r}: use etcd://host:port, http(s)://host:port "
                "or unix:///path"
            )
        out.append(item)
    return tuple(out)


def parse_ulimit(text: str) -> tuple[str, tuple[int, int]]:
    """`name=soft[:hard]`, as dockerd's `--default-ulimit` (and the CLI's `--ulimit`)."""
    name, sep, limits = text.partition("=")
    soft_text, _, hard_text = limits.partition(":")
    try:
        soft = int(soft_text)
        hard = int(hard_text) if hard_text else soft
    except ValueError:
        raise InvalidParameter(f"invalid ulimit argument: {text}") from None
    if not sep or not name:
        raise InvalidParameter(f"invalid ulimit argument: {text}")
    if soft > hard:
        raise InvalidParameter(
            f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        )
    return name, (soft, hard)


def parse_default_ulimits(value: Any) -> Mapping[str, tuple[int, int]]:
    """daemon.json's `{"nofile": {"Name": "nofile", "Soft": 1024, "Hard": 2048}}`."""
    if not isinstance(value, dict):
        raise InvalidParameter("default-ulimits: expected an object of ulimits by name")
    out: dict[str, tuple[int, int]] = {}
    for name, limit in value.items():
        if not isinstance(limit, dict):
            raise InvalidParameter(f"default-ulimits: {name}: expected an object")
        try:
            soft, hard = int(limit["Soft"]), int(limit["Hard"])
        except (KeyError, TypeError, ValueError):
            raise InvalidParameter(f"default-ulimits: {name}: Soft and Hard are numbers") from None
        out[str(limit.get("Name") or name)] = (soft, hard)
    return MappingProxyType(out)
