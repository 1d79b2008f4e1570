"""`run`/`create` flags and their translation into Docker's create request body."""

from __future__ import annotations

import os

from pier.cli import netopts, observeopts, portspec
from pier.cli.deviceopt import devices
from pier.cli.flagchecks import check_env, check_label, extra_host
from pier.cli.flags import BOOL, FLOAT, INT, LIST, STRING, Flag
from pier.cli.mountopts import gpu_request, mount, ulimit
from pier.cli.netopts import NET_FLAGS, check_ip
from pier.cli.observeopts import OBSERVE_FLAGS

# typing and collections.abc cost milliseconds at start-up: only the checker reads them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class OptionError(Exception):
    """A flag value that parses but cannot be used: docker prints `docker: <msg>`, exit 125."""


RUN_FLAGS: tuple[Flag, ...] = tuple(sorted((
    Flag(name="add-host", kind=LIST, help="Add a custom host-to-IP mapping (host:ip)",
         validate=extra_host),
    Flag(name="annotation", kind=LIST, type_name="map",
         help="Add an annotation to the container (passed through to the OCI runtime) "
              "(default map[])"),
    Flag(name="attach", short="a", kind=LIST, help="Attach to STDIN, STDOUT or STDERR"),
    Flag(name="cap-add", kind=LIST, help="Add Linux capabilities"),
    Flag(name="cap-drop", kind=LIST, help="Drop Linux capabilities"),
    Flag(name="cidfile", kind=STRING, help="Write the container ID to the file"),
    Flag(name="cpu-count", kind=INT, help="CPU count (Windows only)"),
    Flag(name="cpu-percent", kind=INT, help="CPU percent (Windows only)"),
    Flag(name="cpus", kind=FLOAT, type_name="decimal", help="Number of CPUs"),
    Flag(name="detach", short="d", help="Run container in background and print container ID"),
    Flag(name="detach-keys", kind=STRING, help="Override the key sequence for detaching"),
    Flag(name="device", kind=LIST, help="Add a host device to the container"),
    Flag(name="disable-content-trust", kind=BOOL, default=True,
         help="Skip image verification"),
    Flag(name="dns", kind=LIST, help="Set custom DNS servers", validate=check_ip),
    Flag(name="domainname", kind=STRING, help="Container NIS domain name"),
    Flag(name="entrypoint", kind=STRING, help="Overwrite the default ENTRYPOINT of the image"),
    Flag(name="env", short="e", kind=LIST, help="Set environment variables",
         validate=check_env),
    Flag(name="env-file", kind=LIST, help="Read in a file of environment variables"),
    Flag(name="expose", kind=LIST, help="Expose a port or a range of ports"),
    Flag(name="gpus", kind=LIST, type_name="gpu-request",
         help="GPU devices to add to the container ('all' to pass all GPUs)",
         validate=gpu_request),
    Flag(name="group-add", kind=LIST, help="Add additional groups to join"),
    Flag(name="hostname", short="h", kind=STRING, help="Container host name"),
    Flag(name="init", kind=BOOL,
         help="Run an init inside the container that forwards signals and reaps processes"),
    Flag(name="interactive", short="i", help="Keep STDIN open even if not attached"),
    Flag(name="io-maxbandwidth", kind=STRING, type_name="bytes",
         help="Maximum IO bandwidth limit for the system drive (Windows only)",
         validate=lambda v: ram_in_bytes(v)),
    Flag(name="io-maxiops", kind=INT, type_name="uint",
         help="Maximum IOps limit for the system drive (Windows only)"),
    Flag(name="ipc", kind=STRING, help="IPC mode to use"),
    Flag(name="isolation", kind=STRING, help="Container isolation technology"),
    Flag(name="label", short="l", kind=LIST, help="Set meta data on a container",
         validate=check_label),
    Flag(name="label-file", kind=LIST, help="Read in a line delimited file of labels"),
    Flag(name="memory", short="m", kind=STRING, type_name="bytes", help="Memory limit",
         validate=lambda v: ram_in_bytes(v)),
    Flag(name="mount", kind=LIST, type_name="mount",
         help="Attach a filesystem mount to the container", validate=mount),
    Flag(name="name", kind=STRING, help="Assign a name to the container"),
    Flag(name="pid", kind=STRING, help="PID namespace to use"),
    Flag(name="platform", kind=STRING, help="Set platform if server is multi-platform capable"),
    Flag(name="privileged", help="Give extended privileges to this container"),
    Flag(name="publish", short="p", kind=LIST,
         help="Publish a container's port(s) to the host"),
    Flag(name="pull", kind=STRING, default="missing",
         help='Pull image before running ("always", "missing", "never")'),
    Flag(name="quiet", short="q", help="Suppress the pull output"),
    Flag(name="read-only", help="Mount the container's root filesystem as read only"),
    Flag(name="restart", kind=STRING, default="no",
         help="Restart policy to apply when a container exits"),
    Flag(name="rm", help="Automatically remove the container and its associated anonymous "
                         "volumes when it exits"),
    Flag(name="runtime", kind=STRING, help="Runtime to use for this container"),
    Flag(name="security-opt", kind=LIST, help="Security Options"),
    Flag(name="shm-size", kind=STRING, type_name="bytes", help="Size of /dev/shm",
         validate=lambda v: ram_in_bytes(v)),
    Flag(name="sig-proxy", kind=BOOL, default=True,
         help="Proxy received signals to the process"),
    Flag(name="stop-signal", kind=STRING, help="Signal to stop the container"),
    Flag(name="stop-timeout", kind=INT, help="Timeout (in seconds) to stop a container"),
    Flag(name="storage-opt", kind=LIST, help="Storage driver options for the container"),
    Flag(name="tmpfs", kind=LIST, help="Mount a tmpfs directory"),
    Flag(name="tty", short="t", help="Allocate a pseudo-TTY"),
    Flag(name="ulimit", kind=LIST, type_name="ulimit", help="Ulimit options (default [])",
         validate=ulimit),
    Flag(name="use-api-socket", help="Bind mount Docker API socket and required auth"),
    Flag(name="user", short="u", kind=STRING,
         help="Username or UID (format: <name|uid>[:<group|gid>])"),
    Flag(name="userns", kind=STRING, help="User namespace to use"),
    Flag(name="uts", kind=STRING, help="UTS namespace to use"),
    Flag(name="volume", short="v", kind=LIST, help="Bind mount a volume"),
    Flag(name="volume-driver", kind=STRING, help="Optional volume driver for the container"),
    Flag(name="volumes-from", kind=LIST, help="Mount volumes from the specified container(s)"),
    Flag(name="workdir", short="w", kind=STRING, help="Working directory inside the container"),
    *OBSERVE_FLAGS,
    *NET_FLAGS,
), key=lambda f: f.name))  # fmt: skip

_RAM_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def ram_in_bytes(text: str) -> int:
    """go-units RAMInBytes: `512m`, `1g`, `1024` (binary multiples, optional trailing b)."""
    s = text.strip().lower()
    num = ""
    i = 0
    while i < len(s) and (s[i].isdigit() or s[i] == "."):
        num += s[i]
        i += 1
    unit = s[i:].strip()
    if unit.endswith("ib"):
        unit = unit[:-2]
    elif unit.endswith("b") and len(unit) == 2:
        unit = unit[:-1]
    if not num:
        raise ValueError(f"invalid size: '{text}'")
    if unit not in _RAM_UNITS:
        raise ValueError(f"invalid suffix: '{unit}'")
    return int(float(num) * _RAM_UNITS[unit])


def parse_env_file(path: str, environ: dict[str, str] | os._Environ[str]) -> list[str]:
    """Docker's env-file format: `KEY=value` verbatim, `#` comments, `KEY` alone from the env."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise OptionError(f"open {path}: {exc.strerror.lower() if exc.strerror else exc}") from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise OptionError(f"env file {path} contains invalid utf8 bytes at line 1") from None
    out: list[str] = []
    for raw in text.splitlines():
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        key, eq, value = line.partition("=")
        key = key.lstrip(" \t\n\v\f\r")
        if not key:
            raise OptionError(f"no variable name on line '{line}'")
        if any(c in key for c in " \t\n\v\f\r"):
            raise OptionError(f"variable '{key}' contains whitespaces")
        if eq:
            out.append(f"{key}={value}")
        elif key in environ:
            out.append(f"{key}={environ[key]}")
    return out


def env_list(opts: Any, environ: dict[str, str] | os._Environ[str]) -> list[str]:
    env: list[str] = []
    for path in opts["env-file"]:
        env += parse_env_file(path, environ)
    for item in opts["env"]:
        if "=" not in item and item in environ:
            item = f"{item}={environ[item]}"
        env.append(item)
    return env


def _restart_policy(text: str) -> dict[str, Any]:
    """opts.ParseRestartPolicy."""
    name, sep, count = text.partition(":")
    if sep and not name:
        raise OptionError("invalid restart policy format: no policy provided before colon")
    policy: dict[str, Any] = {"Name": name or "no"}
    if count:
        try:
            policy["MaximumRetryCount"] = int(count)
        except ValueError:
            raise OptionError("invalid restart policy format: maximum retry count must be an "
                              "integer") from None  # fmt: skip
    return policy


def create_body(
    opts: Any,
    image: str,
    cmd: list[str],
    *,
    environ: dict[str, str] | os._Environ[str],
    console_size: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Docker's `POST /containers/create` body for these flags."""
    _refuse_windows_only(opts)
    detach = bool(opts["detach"])
    attach = [a.lower() for a in opts["attach"]]
    for a in attach:
        if a not in ("stdin", "stdout", "stderr"):
            raise OptionError(f"invalid argument \"{a}\" for \"-a, --attach\" flag: "
                             "valid streams are STDIN, STDOUT and STDERR")  # fmt: skip
    interactive = bool(opts["interactive"])
    if detach:
        a_in = a_out = a_err = False
    elif attach:
        a_in, a_out, a_err = "stdin" in attach, "stdout" in attach, "stderr" in attach
    else:
        a_in, a_out, a_err = interactive, True, True
    labels: dict[str, str] = {}
    label_lines = [line for path in opts["label-file"] for line in parse_env_file(path, {})]
    for item in [*label_lines, *opts["label"]]:
        key, _, value = item.partition("=")
        labels[key] = value
    binds: list[str] = []
    volumes: dict[str, Any] = {}
    for v in opts["volume"]:
        if ":" in v:
            host, _, rest = v.partition(":")
            # The docker CLI makes a relative host path (`./data`) absolute; a bare name
            # stays a named volume.
            if host.startswith(".") and not os.path.isabs(host):
                v = f"{os.path.abspath(host)}:{rest}"
            binds.append(v)
        else:
            volumes[v] = {}
    tmpfs: dict[str, str] = {}
    for t in opts["tmpfs"]:
        path, _, options = t.partition(":")
        tmpfs[path] = options
    try:
        exposed, bindings = portspec.ports(opts["publish"], opts["expose"])
    except ValueError as exc:
        raise OptionError(str(exc)) from None
    entrypoint: list[str] | None = None
    if opts["entrypoint"]:
        entrypoint = [opts["entrypoint"]]
    elif "entrypoint" in opts.given:
        entrypoint = [""]
    restart = _restart_policy(opts["restart"] or "no")
    if opts["rm"] and restart["Name"] not in ("no", ""):
        raise OptionError("conflicting options: cannot specify both --restart and --rm")
    host_config: dict[str, Any] = {
        "Binds": binds or None,
        "PortBindings": bindings,
        "RestartPolicy": restart,
        "AutoRemove": bool(opts["rm"]),
        "CapAdd": opts["cap-add"] or None,
        "CapDrop": opts["cap-drop"] or None,
        "ExtraHosts": [extra_host(h) for h in opts["add-host"]] or None,
        "GroupAdd": opts["group-add"] or None,
        "IpcMode": opts["ipc"] or "",
        "PidMode": _mode(opts["pid"] or "", "--pid: invalid PID mode"),
        "UTSMode": _mode(opts["uts"] or "", "--uts: invalid UTS mode", container=False),
        "UsernsMode": _userns(opts["userns"] or ""),
        "Privileged": bool(opts["privileged"]),
        "ReadonlyRootfs": bool(opts["read-only"]),
        "Tmpfs": tmpfs or None,
        "Devices": devices(opts["device"]) or None,
    }
    security = _security_opts(opts["security-opt"] or [], host_config)
    host_config["SecurityOpt"] = security or None
    if "init" in opts.given:
        host_config["Init"] = bool(opts["init"])
    if opts["runtime"]:
        host_config["Runtime"] = opts["runtime"]
    if opts["memory"]:
        host_config["Memory"] = ram_in_bytes(opts["memory"])
    if opts["shm-size"]:
        host_config["ShmSize"] = ram_in_bytes(opts["shm-size"])
    if opts["cpus"]:
        host_config["NanoCpus"] = round(opts["cpus"] * 1e9)
    if console_size is not None:
        host_config["ConsoleSize"] = list(console_size)
    config: dict[str, Any] = {
        "Hostname": opts["hostname"] or "",
        "Domainname": opts["domainname"] or "",
        "User": opts["user"] or "",
        "AttachStdin": a_in,
        "AttachStdout": a_out,
        "AttachStderr": a_err,
        "ExposedPorts": exposed or None,
        "Tty": bool(opts["tty"]),
        "OpenStdin": interactive,
        "StdinOnce": interactive and a_in,
        "Env": env_list(opts, environ),
        "Cmd": cmd or None,
        "Image": image,
        "Volumes": volumes or None,
        "WorkingDir": opts["workdir"] or "",
        "Entrypoint": entrypoint,
        "Labels": labels,
        "HostConfig": host_config,
        "NetworkingConfig": {"EndpointsConfig": {}},
    }
    if opts["stop-signal"]:
        config["StopSignal"] = opts["stop-signal"]
    if opts["stop-timeout"] is not None:
        config["StopTimeout"] = opts["stop-timeout"]
    _more_host_config(opts, host_config)
    try:
        observeopts.apply(opts, config)
        netopts.apply(opts, config)
    except ValueError as exc:
        raise OptionError(str(exc)) from None
    return config


def _more_host_config(opts: Any, hc: dict[str, Any]) -> None:
    """The fields the docker CLI sends only when asked (zero values are omitted)."""
    from pier.cli import mountopts

    annotations = {k: v for k, _, v in (a.partition("=") for a in opts["annotation"])}
    storage: dict[str, str] = {}
    for item in opts["storage-opt"]:
        key, eq, value = item.partition("=")
        if not eq:
            raise OptionError("invalid storage option")
        storage[key] = value
    for key, value in (
        ("Annotations", annotations),
        ("StorageOpt", storage),
        ("Ulimits", mountopts.ulimits(opts["ulimit"])),
        ("Mounts", [mountopts.mount(m) for m in opts["mount"]]),
        ("DeviceRequests", [mountopts.gpu_request(g) for g in opts["gpus"]]),
        ("VolumesFrom", list(opts["volumes-from"])),
        ("VolumeDriver", opts["volume-driver"]),
        ("Isolation", opts["isolation"]),
        ("CpuCount", opts["cpu-count"]),
        ("CpuPercent", opts["cpu-percent"]),
        ("IOMaximumIOps", opts["io-maxiops"]),
        ("IOMaximumBandwidth",
         ram_in_bytes(opts["io-maxbandwidth"]) if opts["io-maxbandwidth"] else 0),
    ):  # fmt: skip
        if value:
            hc[key] = value


def _refuse_windows_only(opts: Any) -> None:
    """The docker CLI checks flags annotated `ostype=windows` against the daemon's OS
    (Pier's is linux) before sending anything, and exits 1."""
    from pier.cli.main import StatusError

    for flag in ("cpu-count", "cpu-percent", "io-maxbandwidth", "io-maxiops"):
        if flag in opts.given:
            raise StatusError(1, f'"--{flag}" is only supported on a Docker daemon running on '
                                 "windows, but the Docker daemon is running on linux")  # fmt: skip


def _mode(mode: str, error: str, *, container: bool = True) -> str:
    """container.PidMode/UTSMode.Valid: empty, `host`, or (PID only) `container:<name>`."""
    if mode in ("", "host") or (container and mode.startswith("container:") and mode[10:]):
        return mode
    raise OptionError(error)


def _userns(mode: str) -> str:
    if mode not in ("", "host"):  # the docker CLI's check: dockerd takes any value
        raise OptionError("--userns: invalid USER mode")
    return mode


def _security_opts(options: list[str], host_config: dict[str, Any]) -> list[str]:
    """As the docker CLI's parseSecurityOpts: a seccomp profile file is read and sent as
    its JSON, `systempaths=unconfined` becomes empty MaskedPaths and ReadonlyPaths."""
    out = []
    for opt in options:
        key, sep, value = opt.partition("=")
        if not sep and key != "no-new-privileges":
            key, sep, value = opt.partition(":")
        if (not sep or not value) and key != "no-new-privileges":
            raise OptionError(f'Invalid --security-opt: "{opt}"')
        if key == "systempaths" and value == "unconfined":
            host_config["MaskedPaths"] = []
            host_config["ReadonlyPaths"] = []
            continue
        if key == "seccomp" and value not in ("unconfined", "builtin", ""):
            import json

            try:
                with open(value, "rb") as fh:
                    profile = json.load(fh)
            except (OSError, ValueError) as exc:
                raise OptionError(f"opening seccomp profile ({value}) failed: {exc}") from None
            opt = "seccomp=" + json.dumps(profile, separators=(",", ":"))
        out.append(opt)
    return out
