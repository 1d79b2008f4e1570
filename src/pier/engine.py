"""Engine: the one composition root. It builds every store and service from a
DaemonConfig, hands the API its routes, and owns shutdown. Tests build one on a
temporary directory exactly as pierd does."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import AsyncIterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pier import __version__
from pier.api.routers import archives as archives_router
from pier.api.routers import build as build_router
from pier.api.routers import container_files as container_files_router
from pier.api.routers import containers as containers_router
from pier.api.routers import disk as disk_router
from pier.api.routers import distribution as distribution_router
from pier.api.routers import exec as exec_router
from pier.api.routers import images as images_router
from pier.api.routers import networks as networks_router
from pier.api.routers import running as running_router
from pier.api.routers import swarm as swarm_router
from pier.api.routers import system as system_router
from pier.api.routers import volumes as volumes_router
from pier.api.routing import Route
from pier.api.wire.containers import parse_create
from pier.build.builder import Builder
from pier.build.commit import Committer
from pier.build.pull import DistributionPuller
from pier.config import DaemonConfig, RuntimeConfig
from pier.containers.attach import Attacher
from pier.containers.exec import ExecService
from pier.containers.files import ContainerFiles
from pier.containers.health import HealthMonitor
from pier.containers.logs import LogOptions, LogRecord
from pier.containers.model import Container, Status
from pier.containers.service import ContainerService
from pier.containers.store import ContainerStore
from pier.containers.userns import open_to_remapped_root
from pier.containers.userns_setting import load_remap
from pier.content.leases import Leases
from pier.content.local import LocalContentStore
from pier.distribution.service import DistributionService
from pier.errors import PierError, SystemFailure
from pier.events import EventBus, SqliteEventJournal
from pier.images.archives import ImageArchives
from pier.images.service import ImageService
from pier.metadata import Database
from pier.networking.dns import host_resolvers
from pier.networking.ipam import AddressPool
from pier.networking.model import ContainerNetworking
from pier.networking.service import NetworkService
from pier.networking.settings import NetworkSettings
from pier.reaper import DirectoryReaper
from pier.runtime.cgroups import check_crun_usable, fix_hybrid
from pier.runtime.cgroupstats import ContainerStats
from pier.runtime.conmon import ConmonRuntime
from pier.runtime.conmon_binary import choose_conmon
from pier.runtime.spec import HostFacts
from pier.snapshots.idmap import idmapped_mounts_work
from pier.snapshots.overlay import OverlaySnapshotter
from pier.swarm.build import build_swarm
from pier.swarm.lifecycle import SwarmSettings
from pier.swarm.nodedoc import NodeFacts
from pier.system import SystemInfo
from pier.volumes.service import VolumeService

if TYPE_CHECKING:
    from pier.api.metrics import Metrics

log = logging.getLogger(__name__)


class Engine:
    def __init__(self, config: DaemonConfig) -> None:
        self.warnings: list[str] = []
        config = self._check_runtimes(config)
        self.config = config
        self.labels = config.labels  # daemon labels: a SIGHUP may replace them
        secure_layout(config.data_root, config.exec_root)
        tmp = config.data_root / "tmp"
        # Whatever a crash left half-made in tmp/ is not recorded anywhere: drop it.
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(mode=0o700)
        self.remap = load_remap(config.userns_remap)
        open_to_remapped_root(config.data_root, self.remap)
        if self.remap is not None and not idmapped_mounts_work(tmp / "idmap-probe"):
            self.remap = replace(self.remap, idmapped=False)
            self.warnings.append(
                "idmapped mounts do not work here: remapped containers use a copy of "
                "each image layer with shifted owners"
            )
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="pier-io")
        # Removed containers' and snapshots' directories go to tmp/, emptied above at
        # every start, and are deleted behind the answers.
        self.reaper = DirectoryReaper(tmp / "removing")
        self.db = Database(config.data_root / "pier.db")
        self.events = EventBus(journal=SqliteEventJournal(self.db))
        self.store = ContainerStore(db=self.db)
        # In-flight work's hold on blobs and snapshots; every mutating API request
        # holds one (pier.daemon), so the garbage collector never takes its results.
        self.leases = Leases()
        self.images = ImageService(
            data_root=config.data_root,
            db=self.db,
            leases=self.leases,
            rootfs_keys=lambda: [c.id for c in self.store],
            content=LocalContentStore(root=config.data_root / "content", leases=self.leases),
            snapshotter=OverlaySnapshotter(
                root=config.data_root / "snapshots",
                db=self.db,
                leases=self.leases,
                reaper=self.reaper,
            ),
            image_users=self.store.users_of_image,
            running_image_users=self._running_users_of_image,
            events=self.events,
            max_unpack_size=config.unpack_bound,
        )
        self.archives = ImageArchives(images=self.images)
        self.distribution = DistributionService(
            images=self.images,
            tmp_dir=self.images.tmp_dir,
            insecure_registries=config.insecure_registries,
            mirrors=config.registry_mirrors,
        )
        conmon = choose_conmon(config.conmon_path)
        log.info("conmon: %s%s", conmon.path, f" ({conmon.reason})" if conmon.reason else "")
        self.runtime = ConmonRuntime(
            exec_root=config.exec_root,
            conmon=conmon,
            log_level="debug" if config.log_level == "debug" else "error",
        )
        self.facts = HostFacts.detect()
        self.networks = NetworkService(
            settings=network_settings(config),
            db=self.db,
            exec_root=config.exec_root,
            events=self.events,
            host_dns=host_resolvers,
        )
        self.volumes = VolumeService(
            root=config.data_root / "volumes",
            db=self.db,
            events=self.events,
            users_of=self._users_of_volume,
            running_users_of=self._running_users_of_volume,
        )
        self.containers = ContainerService(
            config=config,
            store=self.store,
            images=self.images,
            runtime=self.runtime,
            events=self.events,
            facts=self.facts,
            networks=self.networks,
            volumes=self.volumes,
            check_runtime=self._runtime_usable,
            remap=self.remap,
            reaper=self.reaper,
        )
        self.files = ContainerFiles(
            store=self.store,
            images=self.images,
            # Not under tmp/, which start-up empties with rmtree: a mount a crash left
            # there would take the container's files with it.
            tmp_dir=config.exec_root / "files",
            rootfs_path=self.containers.paths.rootfs,
            lock=self.containers.lifecycle_lock,
            events=self.events,
            remap=self.remap,
        )
        self.attacher = Attacher(
            containers=self.containers, runtime=self.runtime, events=self.events
        )
        self.builder = Builder(
            images=self.images,
            containers=self.containers,
            db=self.db,
            puller=DistributionPuller(self.distribution),
            max_unpack_size=config.unpack_bound,
        )
        self.committer = Committer(
            images=self.images, containers=self.containers, events=self.events
        )
        self.execs = ExecService(
            containers=self.containers, runtime=self.runtime, events=self.events, facts=self.facts
        )
        self.health = HealthMonitor(store=self.store, events=self.events, prober=self.execs)
        self.metrics = self._metrics(config.metrics_addr) if config.metrics_addr else None
        self.swarm = build_swarm(
            settings=SwarmSettings(
                data_root=config.data_root / "swarm",
                exec_root=config.exec_root / "swarm",
                cluster_store=config.cluster_store,
            ),
            containers=self.containers,
            events=self.events,
            create=self._create_task_container,
            published=self._published_ports,
            local_logs=self._container_logs,
            facts=self._node_facts,
        )
        self.system = SystemInfo(
            config=config,
            container_statuses=lambda: (c.state.status for c in self.store),
            image_count=self._image_count,
            warnings=tuple(self.warnings),
            daemon_id=self._daemon_id(),
            network_drivers=tuple(self.networks.driver_names()),
            event_listeners=lambda: self.events.listeners,
            labels=lambda: self.labels,
            swarm_info=self.swarm.info,
            swarm_status=self.swarm.status,
            userns=self.remap is not None,
        )

    def _metrics(self, addr: str) -> Metrics:
        # Imported only when asked for (`metrics-addr`): prometheus_client and what it
        # imports are 1.3 MiB of an idle pierd's anonymous memory (measured: 45.7 MiB).
        from pier.api.metrics import Metrics, MetricsSources

        return Metrics(
            addr=addr,
            sources=MetricsSources(
                containers=lambda: list(self.store),
                cgroup=self._cgroup_stats,
                events_published=lambda: self.events.published,
                health_checks=lambda: self.health.probes,
            ),
        )

    async def start(self) -> None:
        """Work that needs the event loop: re-adopt containers, clean up."""
        asyncio.get_running_loop().set_default_executor(self._pool)
        # Sandboxes of containers still running are adopted, the others taken down,
        # before the containers' own restore (which may start some again).
        await self.networks.start({c.id for c in self.store if c.state.has_process})
        await self.health.start()  # before the restore, to see the starts it makes
        await self.containers.restore()
        # After the restore (which finishes interrupted removals): what a crash left
        # half-made or unreferenced goes.
        await self.images.collect_garbage()
        await self.swarm.start()  # after the restore: its agent sees the task containers
        if self.metrics is not None:
            await self.metrics.start()

    def routes(self) -> list[Route]:
        return [
            *system_router.routes(self.system, self.events),
            *images_router.routes(self.images, self.distribution),
            *distribution_router.routes(self.distribution, self.images),
            *archives_router.routes(self.archives, self.images.tmp_dir),
            *containers_router.routes(
                self.containers,
                self.images,
                self.attacher,
                self.execs.of_container,
                network_settings=self._network_settings,
            ),
            *running_router.routes(self.containers),
            *exec_router.routes(self.execs),
            *build_router.routes(self.builder, self.committer),
            *networks_router.routes(self.networks, self.containers),
            *swarm_router.routes(self.swarm, self.swarm.objects),
            *volumes_router.routes(self.volumes),
            *container_files_router.routes(self.files),
            *disk_router.routes(self.containers, self.images, self.volumes, self._network_settings),
        ]

    async def close(self) -> None:
        await self.builder.close()
        if self.metrics is not None:
            await self.metrics.close()
        await self.swarm.close()  # before the containers: its agent uses them
        await self.health.close()
        await self.execs.close()
        await self.containers.close()
        await self.networks.close()
        await self.distribution.close()
        await self.images.close()
        self.reaper.close()
        self.events.close()
        self.store.close()
        self.db.close()
        self._pool.shutdown(wait=True, cancel_futures=True)

    # -- wiring helpers ----------------------------------------------------------

    def _network_settings(self, c: Container) -> ContainerNetworking:
        hc = c.host_config
        return self.networks.settings(c.id, hc.network_mode, hc.port_bindings)

    async def _cgroup_stats(self, c: Container) -> ContainerStats | None:
        try:
            return await self.runtime.stats(c.id, self.containers.runtime_config(c))
        except PierError:
            return None  # it exited meanwhile

    async def _create_task_container(self, name: str, body: Mapping[str, Any]) -> str:
        """A swarm task's container, made as POST /containers/create makes one."""
        config, host_config = parse_create(body)
        result = await self.containers.create(name=name, config=config, host_config=host_config)
        return result.id

    def _published_ports(self, cid: str) -> dict[tuple[int, str], tuple[int, str]]:
        c = self.containers.get(cid)
        return {
            (p.container_port, p.proto): (p.host_port, p.container_ip)
            for p in self._network_settings(c).ports
        }

    def _container_logs(self, cid: str, options: LogOptions) -> AsyncIterator[list[LogRecord]]:
        return self.attacher.log_batches(self.containers.get(cid), options)

    async def relabel(self, labels: tuple[str, ...]) -> None:
        """Daemon labels reloaded: /info's at once, then the swarm node's record."""
        self.labels = labels
        await self.swarm.redescribe()

    def _node_facts(self) -> NodeFacts:
        import socket

        return NodeFacts(
            hostname=socket.gethostname(),
            engine_version=__version__,
            ncpu=os.cpu_count() or 1,
            memory=os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
            labels=self.labels,
            plugins=(
                *(("Log", d) for d in ("json-file", "local")),
                *(("Network", d) for d in self.networks.driver_names()),
                ("Volume", "local"),
            ),
        )

    def _users_of_volume(self, name: str) -> list[str]:
        return [c.id for c in self.store if _uses_volume(c, name)]

    def _running_users_of_volume(self, name: str) -> list[str]:
        return [c.id for c in self.store if c.state.has_process and _uses_volume(c, name)]

    def _running_users_of_image(self, image_id: str) -> list[str]:
        return [
            c.id
            for c in self.store
            if c.image_id == image_id and c.state.status in (Status.RUNNING, Status.PAUSED)
        ]

    async def _image_count(self) -> int:
        return len(await self.images.list())

    def _daemon_id(self) -> str:
        path = self.config.data_root / "engine-id"
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            import uuid

            value = str(uuid.uuid4())
            path.write_text(value + "\n")
            return value

    # -- the hybrid-cgroup problem of crun (DESIGN §11) --------------------------

    def _check_runtimes(self, config: DaemonConfig) -> DaemonConfig:
        self._crun_problem = check_crun_usable()
        if self._crun_problem and config.fix_hybrid_cgroups:
            fixed = fix_hybrid()
            log.warning("mounted cgroup controller(s) %s as v1 hierarchies for crun", fixed)
            self._crun_problem = check_crun_usable()
        if self._crun_problem:
            default = config.runtimes.get(config.default_runtime)
            if default is not None and _is_crun(default) and "runc" in config.runtimes:
                self.warnings.append(
                    f"{self._crun_problem} The default runtime is runc until this is fixed."
                )
                log.warning("%s Falling back to runc as the default runtime.", self._crun_problem)
                config = replace(config, default_runtime="runc")
        return config

    def _runtime_usable(self, runtime: RuntimeConfig) -> None:
        if self._crun_problem and _is_crun(runtime):
            raise SystemFailure(self._crun_problem)
        if (
            not (os.path.isabs(runtime.path) and os.access(runtime.path, os.X_OK))
            and shutil.which(runtime.path) is None
        ):
            raise SystemFailure(f"the OCI runtime {runtime.name} ({runtime.path}) is not installed")


def network_settings(config: DaemonConfig) -> NetworkSettings:
    pools = tuple(AddressPool(base=b, size=n) for b, n in config.default_address_pools)
    settings = NetworkSettings(
        bridge=config.bridge,
        bip=config.bip,
        iptables=config.iptables,
        nft_table=config.nft_table,
        dns=config.dns,
        ipv6=config.ipv6,
        fixed_cidr_v6=config.fixed_cidr_v6,
        icc=config.icc,
    )
    return replace(settings, pools=pools) if pools else settings


def _uses_volume(c: Container, name: str) -> bool:
    return any(m.type == "volume" and m.name == name for m in c.binds)


def _is_crun(runtime: RuntimeConfig) -> bool:
    return Path(runtime.path).name == "crun" or runtime.name == "crun"


# Only root may traverse what holds image layers and containers' files (a setuid binary
# or a device node from an image must not be reachable by other host users: the
# CVE-2021-41091 class); dockerd uses 0710/0700 the same way. The exec root stays
# traversable so the API socket in it can be reached by the socket's group.
_PRIVATE_DIRS = {
    "": 0o710,
    "containers": 0o710,
    "snapshots": 0o700,
    "content": 0o700,
    "volumes": 0o700,
}
_PRIVATE_EXEC_DIRS = {"": 0o711, "conmon": 0o700, "runtime": 0o700, "netns": 0o700}


def secure_layout(data_root: Path, exec_root: Path) -> None:
    """Make the roots and their private directories with their modes, and fix the
    modes of existing ones (an earlier version made them 0755)."""
    for root, dirs in ((data_root, _PRIVATE_DIRS), (exec_root, _PRIVATE_EXEC_DIRS)):
        root.mkdir(parents=True, exist_ok=True)
        for name, mode in dirs.items():
            path = root / name if name else root
            path.mkdir(exist_ok=True)
            os.chmod(path, mode)
