"""`stats`: docker's live table of resource usage, and `--no-stream`.

One reader thread per container streams its stats (a frame a second from the daemon);
the table is redrawn every half second in one write, the cursor moved home and each
line cleared to its end, so a terminal does not flicker (docker's way).
"""

from __future__ import annotations

import threading

from pier.cli.common import container_path
from pier.cli.flags import FORMAT, Flag, Spec
from pier.cli.main import Context, StatusError
from pier.client.errors import APIError, ClientError

# typing and collections.abc cost milliseconds at start-up: only the checker reads them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pier.client.api import Client

STATS = Spec(
    flags=(
        Flag(name="all", short="a", help="Show all containers (default shows just running)"),
        FORMAT,
        Flag(name="no-stream", help="Disable streaming stats and only pull the first result"),
        Flag(name="no-trunc", help="Do not truncate output"),
    ),
)  # fmt: skip

TABLE = (
    "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}"
    "\t{{.BlockIO}}\t{{.PIDs}}"
)
HEADERS = {
    "Container": "CONTAINER",
    "ID": "CONTAINER ID",
    "Name": "NAME",
    "CPUPerc": "CPU %",
    "MemUsage": "MEM USAGE / LIMIT",
    "MemPerc": "MEM %",
    "NetIO": "NET I/O",
    "BlockIO": "BLOCK I/O",
    "PIDs": "PIDS",
}


class Entry:
    """One container's figures, computed as the docker CLI computes them."""

    go_type = "*container.statsContext"

    def __init__(self, container: str, *, trunc: bool = True) -> None:
        self.container = container
        self.trunc = trunc
        self.invalid = True
        self.name = ""
        self.id = ""
        self.cpu = self.mem = self.mem_limit = self.mem_perc = 0.0
        self.rx = self.tx = self.read = self.write = 0.0
        self.pids = 0

    def update(self, v: dict[str, Any]) -> None:
        self.name = str(v.get("name") or "")
        self.id = str(v.get("id") or "")
        cpu = v.get("cpu_stats") or {}
        pre = v.get("precpu_stats") or {}
        cpu_delta = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (
            pre.get("cpu_usage") or {}
        ).get("total_usage", 0)
        system_delta = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
        online = cpu.get("online_cpus") or len(
            (cpu.get("cpu_usage") or {}).get("percpu_usage") or ()
        )
        self.cpu = (
            cpu_delta / system_delta * online * 100 if system_delta > 0 and cpu_delta > 0 else 0.0
        )
        memory = v.get("memory_stats") or {}
        usage = memory.get("usage", 0)
        stats = memory.get("stats") or {}
        if "total_inactive_file" in stats and stats["total_inactive_file"] < usage:
            usage -= stats["total_inactive_file"]  # cgroup v1
        elif stats.get("inactive_file", 0) < usage:
            usage -= stats.get("inactive_file", 0)  # cgroup v2
        self.mem = float(usage)
        self.mem_limit = float(memory.get("limit", 0))
        self.mem_perc = self.mem / self.mem_limit * 100 if self.mem_limit else 0.0
        self.read = self.write = 0.0
        for e in (v.get("blkio_stats") or {}).get("io_service_bytes_recursive") or ():
            op = str(e.get("op") or "")[:1].lower()
            if op == "r":
                self.read += e.get("value", 0)
            elif op == "w":
                self.write += e.get("value", 0)
        nets = (v.get("networks") or {}).values()
        self.rx = float(sum(n.get("rx_bytes", 0) for n in nets))
        self.tx = float(sum(n.get("tx_bytes", 0) for n in nets))
        self.pids = int((v.get("pids_stats") or {}).get("current", 0))
        self.invalid = False

    def reset(self) -> None:
        self.__init__(self.container, trunc=self.trunc)  # type: ignore[misc]

    # -- the template's fields -------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {key: getattr(self, key)() for key in HEADERS}

    def Container(self) -> str:
        return self.container

    def Name(self) -> str:
        return self.name[1:] if len(self.name) > 1 else "--"

    def ID(self) -> str:
        return self.id[:12] if self.trunc else self.id

    def CPUPerc(self) -> str:
        return "--" if self.invalid else f"{self.cpu:.2f}%"

    def MemUsage(self) -> str:
        from pier.cli.output import bytes_size

        if self.invalid:
            return "-- / --"
        return f"{bytes_size(self.mem)} / {bytes_size(self.mem_limit)}"

    def MemPerc(self) -> str:
        return "--" if self.invalid else f"{self.mem_perc:.2f}%"

    def NetIO(self) -> str:
        from pier.cli.output import human_size

        return "--" if self.invalid else f"{human_size(self.rx)} / {human_size(self.tx)}"

    def BlockIO(self) -> str:
        from pier.cli.output import human_size

        return "--" if self.invalid else f"{human_size(self.read)} / {human_size(self.write)}"

    def PIDs(self) -> str:
        return "--" if self.invalid else str(self.pids)


def _collect(client: Client, entry: Entry, stream: bool, first: threading.Event,
             errors: dict[str, str]) -> None:  # fmt: skip
    import json

    try:
        resp = client.request(
            "GET", container_path(entry.container, "stats"), params={"stream": int(stream)}
        )
        with resp:
            for line in resp.iter_lines():
                if line.strip():
                    entry.update(json.loads(line))
                    first.set()
                if not stream:
                    break
    except APIError as exc:
        errors[entry.container] = f"Error response from daemon: {exc.message}"
    except (ClientError, OSError, ValueError):
        entry.reset()
    finally:
        first.set()


def stats(ctx: Context, argv: list[str]) -> int:
    import sys
    import time

    from pier.cli import formatter

    opts = ctx.parse(STATS, argv)
    stream = not opts["no-stream"]
    trunc = not opts["no-trunc"]
    if opts.args:
        names = list(opts.args)
    else:
        params: dict[str, Any] = {"all": 1} if opts["all"] else {}
        names = [c["Id"][:12] for c in ctx.client.get_json("/containers/json", **params)]
    entries = [Entry(name, trunc=trunc) for name in names]
    errors: dict[str, str] = {}
    firsts = []
    for entry in entries:
        first = threading.Event()
        firsts.append(first)
        threading.Thread(
            target=_collect, args=(ctx.client, entry, stream, first, errors), daemon=True
        ).start()
    for first in firsts:
        first.wait()
    if opts.args and errors:
        raise StatusError(1, "\n".join(errors[n] for n in names if n in errors))
    fmt = formatter.chosen(opts["format"] or "", TABLE)
    terminal = stream and sys.stdout.isatty()
    if terminal:
        ctx.out("\033[2J")
    while True:
        shown = [e for e in entries if e.container not in errors]
        text = formatter.render(fmt, shown, HEADERS, Entry.go_type)
        if stream:
            # Home, every line cleared to its end, the rest of the screen cleared: one
            # write, no flicker.
            lines = text.rstrip("\n").split("\n")
            text = "\033[H" + "".join(f"{line}\033[K\n" for line in lines) + "\033[J"
        ctx.out(text)
        sys.stdout.flush()
        if not stream or (not shown and not opts["all"]):
            return 0
        time.sleep(0.5)
