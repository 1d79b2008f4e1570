"""`pierd`: flags -> DaemonConfig -> Engine -> API server; signals; pidfile.

SIGTERM and SIGINT stop the daemon and leave the containers running: their monitors
(conmon) are not pierd's children in any way that the signal reaches, and the next
pierd re-adopts them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from pier import __version__
from pier.api.listeners import Listener, TlsOptions, close_listeners, open_listeners
from pier.config import (
    DEFAULT_HOST,
    DaemonConfig,
    load_config_file,
    parse_labels,
    parse_ulimit,
)
from pier.containers.security import host_defaults
from pier.daemon import arenas, eventloop
from pier.daemon.reload import log_level_name, reload
from pier.errors import PierError
from pier.runtime.process import Ulimit, rlimits

log = logging.getLogger("pierd")


def parse_args(argv: list[str]) -> DaemonConfig:
    parser = argparse.ArgumentParser(prog="pierd", description="Pier container engine daemon")
    parser.add_argument(
        "-H",
        "--host",
        action="append",
        dest="hosts",
        help=f"daemon socket to listen on (default {DEFAULT_HOST})",
    )
    parser.add_argument("--data-root", type=Path, help="root of persistent state")
    parser.add_argument("--exec-root", type=Path, help="root of runtime state")
    parser.add_argument("--config-file", type=Path, help="daemon.json-style configuration")
    parser.add_argument("--pidfile", "-p", type=Path, help="path of the pid file")
    parser.add_argument("-l", "--log-level", choices=["debug", "info", "warn", "error", "fatal"])
    parser.add_argument("--default-runtime")
    parser.add_argument(
        "--fix-hybrid-cgroups",
        action="store_true",
        default=None,
        help="mount cgroup controllers held by cgroup2 as v1 (for crun)",
    )
    parser.add_argument("--bip", help="the default bridge's address and prefix (CIDR)")
    parser.add_argument("-b", "--bridge", help="the default bridge's device name")
    parser.add_argument(
        "--iptables",
        type=lambda v: v.lower() in ("1", "true", "yes"),
        default=None,
        help="manage NAT and published-port rules (nftables); false leaves them to you",
    )
    parser.add_argument("--dns", action="append", help="DNS server for containers")
    parser.add_argument("--label", action="append", help="a daemon label (key=value)")
    parser.add_argument(
        "--userns-remap",
        help="user/group setting for user namespaces (default, user[:group], uid[:gid])",
    )
    parser.add_argument(
        "-G", "--group", help="group of the UNIX socket (default pier, when it exists)"
    )
    parser.add_argument("--tls", action="store_true", default=None, help="serve TLS")
    parser.add_argument(
        "--tlsverify",
        action="store_true",
        default=None,
        help="serve TLS and require client certificates signed by --tlscacert",
    )
    parser.add_argument("--tlscacert", type=Path, help="CA clients' certificates must chain to")
    parser.add_argument("--tlscert", type=Path, help="the server's TLS certificate")
    parser.add_argument("--tlskey", type=Path, help="the server's TLS key")
    parser.add_argument(
        "--no-new-privileges",
        action="store_true",
        default=None,
        help="containers get no-new-privileges unless they say otherwise",
    )
    parser.add_argument("--seccomp-profile", help="seccomp profile file, builtin or unconfined")
    parser.add_argument(
        "--default-ulimit", action="append", help="default ulimit of containers (name=soft:hard)"
    )
    parser.add_argument(
        "--default-pids-limit",
        type=int,
        help="pids limit of containers that ask for none (0: no limit)",
    )
    parser.add_argument(
        "--icc", type=_flag, default=None, help="traffic between containers on the default bridge"
    )
    parser.add_argument(
        "--userland-proxy", type=_flag, default=None, help="accepted: Pier runs no proxy"
    )
    parser.add_argument("--userland-proxy-path", help="accepted: Pier runs no proxy")
    parser.add_argument("-v", "--version", action="version", version=f"pierd {__version__}")
    args = parser.parse_args(argv)
    kwargs = {}
    if args.config_file is not None:
        kwargs = load_config_file(args.config_file)
    config = DaemonConfig(**kwargs)
    return config.with_overrides(
        hosts=tuple(args.hosts) if args.hosts else None,
        data_root=args.data_root,
        exec_root=args.exec_root,
        pidfile=args.pidfile,
        log_level=args.log_level,
        config_file=args.config_file,
        default_runtime=args.default_runtime,
        bip=args.bip,
        bridge=args.bridge,
        iptables=args.iptables,
        dns=tuple(args.dns) if args.dns else None,
        labels=parse_labels(tuple(args.label)) if args.label else None,
        fix_hybrid_cgroups=args.fix_hybrid_cgroups,
        userns_remap=args.userns_remap,
        group=args.group,
        tls=args.tls,
        tlsverify=args.tlsverify,
        tlscacert=args.tlscacert,
        tlscert=args.tlscert,
        tlskey=args.tlskey,
        no_new_privileges=args.no_new_privileges,
        seccomp_profile=args.seccomp_profile,
        default_ulimits=_default_ulimits(config, args.default_ulimit),
        default_pids_limit=args.default_pids_limit,
        icc=args.icc,
        userland_proxy=args.userland_proxy,
        userland_proxy_path=args.userland_proxy_path,
    )


def _flag(value: str) -> bool:
    """A Go boolean flag's value (`--icc=false`)."""
    return value.lower() in ("1", "t", "true", "yes")


def _default_ulimits(
    config: DaemonConfig, flags: list[str] | None
) -> Mapping[str, tuple[int, int]] | None:
    """`--default-ulimit` flags over daemon.json's `default-ulimits`, by name."""
    if not flags:
        return None
    parsed = dict(parse_ulimit(flag) for flag in flags)
    # dockerd's flag parser (units.ParseUlimit) refuses a name it does not know, so a
    # typo stops the daemon instead of failing every container's start.
    rlimits((Ulimit(name=n, soft=s, hard=h) for n, (s, h) in parsed.items()), 0)
    return MappingProxyType({**config.default_ulimits, **parsed})


def tls_options(config: DaemonConfig) -> TlsOptions:
    """dockerd's: unset paths default to $DOCKER_CERT_PATH or ~/.docker."""
    certs = Path(os.environ.get("DOCKER_CERT_PATH") or Path.home() / ".docker")
    return TlsOptions(
        enabled=config.tls,
        verify=config.tlsverify,
        cacert=config.tlscacert or certs / "ca.pem",
        cert=config.tlscert or certs / "cert.pem",
        key=config.tlskey or certs / "key.pem",
    )


async def serve(config: DaemonConfig, listeners: list[Listener]) -> None:
    began = time.monotonic()
    from pier.api.server import ApiServer, build_app
    from pier.engine import Engine

    imported = time.monotonic()
    engine = Engine(config)
    server: ApiServer | None = None
    loop = asyncio.get_running_loop()
    reloads: set[asyncio.Task[bool]] = set()
    reload_lock = asyncio.Lock()
    serving = False

    def on_sighup() -> None:
        # A reload needs the started services; one asked for while pierd starts or
        # stops is dropped rather than left to SIGHUP's default action, which ends
        # the process mid-restore or mid-close.
        if not serving:
            log.warning("SIGHUP ignored: pierd is not serving yet or any more")
            return
        task = loop.create_task(
            reload(
                config.config_file,
                daemon_id=engine.system.daemon_id,
                default_runtime=config.default_runtime,
                log_level=config.log_level,
                registries=engine.distribution,
                events=engine.events,
                labels=engine,
                lock=reload_lock,
            )
        )
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, on_sighup)
    try:
        await engine.start()
        app = build_app(engine.routes(), scope=engine.leases.lease)
        if engine.metrics is not None:
            app.middlewares.append(engine.metrics.middleware)  # request counts, latencies
        server = ApiServer(app=app, listeners=listeners)
        await server.start()
        done = time.monotonic()
        log.info(
            "API listening on %s (imports %.3f s, restore %.3f s)",
            ", ".join(f"{x.name}{' (mutual TLS)' if x.ssl_context else ''}" for x in listeners),
            imported - began,
            done - imported,
        )
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        serving = True
        await stop.wait()
        serving = False
        await asyncio.gather(*reloads)
        log.info("stopping: ending requests, then closing the services")
    finally:
        started = time.monotonic()
        if server is not None:
            await server.close()
        log.debug("API closed in %.3f s", time.monotonic() - started)
        await engine.close()
        log.info("stopped in %.3f s", time.monotonic() - started)


def _early_sighup(signum: int, frame: object) -> None:
    log.warning("SIGHUP ignored: pierd is not serving yet")


def _write_pidfile(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        old = int(path.read_text().strip())
    except (OSError, ValueError):
        old = 0
    if old and old != os.getpid() and Path(f"/proc/{old}").exists():
        cmdline = Path(f"/proc/{old}/cmdline").read_bytes()
        if b"pierd" in cmdline:
            raise PierError(f"pid file found, ensure pierd is not running or delete {path}")
    path.write_text(f"{os.getpid()}\n")


def main(argv: list[str] | None = None) -> int:
    try:
        config = parse_args(sys.argv[1:] if argv is None else argv)
    except PierError as exc:
        print(f"pierd: {exc}", file=sys.stderr)
        return 1
    logging.basicConfig(
        level=log_level_name(config.log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        config = host_defaults(config)
    except PierError as exc:
        print(f"pierd: {exc}", file=sys.stderr)
        return 1
    arenas.limit()  # before any thread allocates
    # Until pierd's loop takes SIGHUP over (serve), a reload asked for as soon as the
    # pid file names pierd must not end it: a Python handler, unlike SIG_IGN, is not
    # inherited by the children pierd starts.
    signal.signal(signal.SIGHUP, _early_sighup)
    pidfile = config.pidfile_path
    try:
        _write_pidfile(pidfile)
    except PierError as exc:
        print(f"pierd: {exc}", file=sys.stderr)
        return 1
    listeners: list[Listener] = []
    try:
        # Bound while pierd has no thread yet (the UNIX socket under a umask) and
        # before the restore, so that a bad -H or TLS file fails at once.
        listeners = open_listeners(config.hosts, group=config.group, tls=tls_options(config))
        eventloop.run(serve(config, listeners))
    except PierError as exc:
        print(f"pierd: {exc}", file=sys.stderr)
        return 1
    finally:
        close_listeners(listeners)
        with contextlib.suppress(OSError):
            if pidfile.read_text().strip() == str(os.getpid()):
                pidfile.unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
