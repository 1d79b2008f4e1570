"""`stats`: docker's live table of resource usage, and `--no-stream`.

One reader thread per container streams its stats (a frame a second from the daemon);
the table is redrawn every half second in one write, the cursor moved home and each
line cleared to its end, so a terminal does not flicker (docker's way). Without
container names the table follows the daemon's container events as docker's does.
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


class Board:
    """The containers shown, in the order they came, each with its collector (the
    docker CLI's cStats): added from the list and from events, removed by events."""

    def __init__(self, client: Client, *, stream: bool, trunc: bool) -> None:
        self._client = client
        self._stream = stream
        self._trunc = trunc
        self._lock = threading.Lock()
        self._entries: list[Entry] = []
        self.errors: dict[str, str] = {}

    def add(self, container: str) -> threading.Event | None:
        """Start collecting `container` unless it is shown already; the event is set
        at its first figures (or failure)."""
        with self._lock:
            if any(e.container == container for e in self._entries):
                return None
            entry = Entry(container, trunc=self._trunc)
            self._entries.append(entry)
        first = threading.Event()
        threading.Thread(
            target=_collect,
            args=(self._client, entry, self._stream, first, self.errors),
            daemon=True,
        ).start()
        return first

    def remove(self, container: str) -> None:
        with self._lock:
            self._entries = [e for e in self._entries if e.container != container]

    def shown(self) -> list[Entry]:
        with self._lock:
            return [e for e in self._entries if e.container not in self.errors]


def _follow(client: Client, board: Board, show_all: bool, subscribed: threading.Event) -> None:
    """docker's event handlers of `stats` without names: a container that starts (or,
    with -a, is created) joins the table, one that dies leaves it unless -a."""
    import json

    try:
        resp = client.request(
            "GET", "/events", params={"filters": json.dumps({"type": ["container"]})}
        )
    except (ClientError, OSError):
        return
    finally:
        subscribed.set()
    try:
        with resp:
            for line in resp.iter_lines():
                if not line.strip():
                    continue
                event = json.loads(line)
                action = event.get("Action") or ""
                key = str((event.get("Actor") or {}).get("ID") or event.get("id") or "")[:12]
                if action == "start" or (show_all and action == "create"):
                    board.add(key)
                elif action == "die" and not show_all:
                    board.remove(key)
    except (ClientError, OSError, ValueError):
        return


def stats(ctx: Context, argv: list[str]) -> int:
    import sys
    import time

    from pier.cli import formatter

    opts = ctx.parse(STATS, argv)
    stream = not opts["no-stream"]
    board = Board(ctx.client, stream=stream, trunc=not opts["no-trunc"])
    show_all = not opts.args
    if show_all:
        if stream:
            # Subscribed before the list is read, so a container started in between
            # is not missed (docker's order).
            subscribed = threading.Event()
            threading.Thread(
                target=_follow, args=(ctx.client, board, opts["all"], subscribed), daemon=True
            ).start()
            subscribed.wait()
        params: dict[str, Any] = {"all": 1} if opts["all"] else {}
        names = [c["Id"][:12] for c in ctx.client.get_json("/containers/json", **params)]
    else:
        names = list(opts.args)
    firsts = [first for name in names if (first := board.add(name)) is not None]
    for first in firsts:
        first.wait()
    if not show_all and board.errors:
        raise StatusError(1, "\n".join(board.errors[n] for n in names if n in board.errors))
    fmt = formatter.chosen(opts["format"] or "", TABLE)
    terminal = stream and sys.stdout.isatty()
    if terminal:
        ctx.out("\033[2J")
    while True:
        shown = board.shown()
        text = formatter.render(fmt, shown, HEADERS, Entry.go_type)
        if stream:
            # Home, every line cleared to its end, the rest of the screen cleared: one
            # write, no flicker.
            lines = text.rstrip("\n").split("\n")
            text = "\033[H" + "".join(f"{line}\033[K\n" for line in lines) + "\033[J"
        ctx.out(text)
        sys.stdout.flush()
        # Without names the table follows the containers until interrupted, even empty.
        if not stream or (not shown and not show_all):
            return 0
        time.sleep(0.5)
