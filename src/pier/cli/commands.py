"""Every `pier` command, declared once: the dispatcher and all help are built from here.

A declaration names the function that runs the command as "module:function" under
`pier.cli` (imported only when that command runs, so that this table costs nothing
to load), the one-line description, the usage after the command path, and every
path that reaches it: "container ls" is the word "ls" of the management group
"container", a one-word path is a top-level command. Docker's help lists a command
under its first path in a group and shows all its paths as "Aliases".

Adding a command is a module under `pier.cli` with its flag `Spec` and function,
plus one `Command(...)` line below; a new management group also needs its `Group`.
"""

from __future__ import annotations


class Group:
    """A management command such as `container`: a word that only groups commands."""

    __slots__ = ("description", "name", "pier_only")

    def __init__(self, name: str, description: str, *, pier_only: bool = False) -> None:
        self.name = name
        self.description = description
        self.pier_only = pier_only


class Command:
    """One command: what runs it, its help header and the paths that reach it."""

    __slots__ = ("common", "description", "long", "paths", "pier_only", "target", "usage")

    def __init__(
        self,
        target: str,
        description: str,
        usage: str,
        paths: tuple[str, ...],
        *,
        common: bool = False,
        long: str = "",
        pier_only: bool = False,
    ) -> None:
        self.target = target  # "containers:ps": pier.cli.containers.ps(ctx, argv)
        self.description = description
        self.usage = usage  # after the command path: "[OPTIONS] IMAGE [COMMAND] [ARG...]"
        self.paths = paths  # in docker's Aliases order: group paths first
        # listed under "Common Commands" in `pier --help`, as docker's
        self.common = common
        # the command's own help text when docker's differs from the listed line
        self.long = long or description
        self.pier_only = pier_only  # no docker counterpart (`pier registry ...`)

    @property
    def top(self) -> str:
        """The top-level word that runs this command, or "" if only a group does."""
        return next((p for p in self.paths if " " not in p), "")

    def word_in(self, group: str) -> str:
        """The word listed for this command in `group`'s help, or ""."""
        prefix = group + " "
        return next((p[len(prefix) :] for p in self.paths if p.startswith(prefix)), "")


GROUPS: tuple[Group, ...] = (
    Group("builder", "Manage builds"),
    Group("container", "Manage containers"),
    Group("image", "Manage images"),
    Group("network", "Manage networks"),
    Group("registry", "Run Pier's own registry", pier_only=True),
    Group("system", "Manage Pier"),
    Group("volume", "Manage volumes"),
)

_CONTAINERS = "[OPTIONS] CONTAINER [CONTAINER...]"

# Common commands first, in docker's order (`pier --help` keeps it); the others are sorted
# when listed.
COMMANDS: tuple[Command, ...] = (
    Command("run:run", "Create and run a new container from an image",
            "[OPTIONS] IMAGE [COMMAND] [ARG...]", ("container run", "run"), common=True),
    Command("exec:exec_", "Execute a command in a running container",
            "[OPTIONS] CONTAINER COMMAND [ARG...]", ("container exec", "exec"), common=True),
    Command("ps:ps", "List containers", "[OPTIONS]",
            ("container ls", "container list", "container ps", "ps"), common=True),
    Command("build:build", "Build an image from a Dockerfile", "[OPTIONS] PATH | URL | -",
            ("image build", "build", "builder build"), common=True),
    Command("pull:pull", "Download an image from a registry", "[OPTIONS] NAME[:TAG|@DIGEST]",
            ("image pull", "pull"), common=True),
    Command("pull:push", "Upload an image to a registry", "[OPTIONS] NAME[:TAG]",
            ("image push", "push"), common=True),
    Command("images:images", "List images", "[OPTIONS] [REPOSITORY[:TAG]]",
            ("image ls", "image list", "images"), common=True),
    Command("login:login", "Authenticate to a registry", "[OPTIONS] [SERVER]",
            ("login",), common=True,
            long="Authenticate to a registry.\nDefaults to Docker Hub if no server is specified."),
    Command("login:logout", "Log out from a registry", "[SERVER]", ("logout",), common=True,
            long="Log out from a registry.\n"
            "If no server is specified, the default is defined by the daemon."),
    Command("system:version", "Show the Pier version information", "[OPTIONS]",
            ("version",), common=True),
    Command("system:info", "Display system-wide information", "[OPTIONS]",
            ("system info", "info"), common=True),
    Command("attach:attach",
            "Attach local standard input, output, and error streams to a running container",
            "[OPTIONS] CONTAINER", ("container attach", "attach")),
    Command("run:create", "Create a new container", "[OPTIONS] IMAGE [COMMAND] [ARG...]",
            ("container create", "create")),
    Command("build:builder_prune", "Remove build cache", "", ("builder prune",)),
    Command("build:commit", "Create a new image from a container's changes",
            "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]", ("container commit", "commit")),
    Command("build:diff", "Inspect changes to files or directories on a container's filesystem",
            "CONTAINER", ("container diff", "diff")),
    Command("images:history", "Show the history of an image", "[OPTIONS] IMAGE",
            ("image history", "history")),
    Command("images:import_", "Import the contents from a tarball to create a filesystem image",
            "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]", ("image import", "import")),
    Command("containers:inspect", "Return low-level information on Pier objects",
            "[OPTIONS] NAME|ID [NAME|ID...]", ("inspect",)),
    Command("containers:container_inspect",
            "Display detailed information on one or more containers", _CONTAINERS,
            ("container inspect",)),
    Command("images:image_inspect", "Display detailed information on one or more images",
            "[OPTIONS] IMAGE [IMAGE...]", ("image inspect",)),
    Command("containers:kill", "Kill one or more running containers", _CONTAINERS,
            ("container kill", "kill")),
    Command("containers:logs", "Fetch the logs of a container", "[OPTIONS] CONTAINER",
            ("container logs", "logs")),
    Command("containers:pause", "Pause all processes within one or more containers",
            "CONTAINER [CONTAINER...]", ("container pause", "pause")),
    Command("containers:rename", "Rename a container", "CONTAINER NEW_NAME",
            ("container rename", "rename")),
    Command("containers:restart", "Restart one or more containers", _CONTAINERS,
            ("container restart", "restart")),
    Command("containers:rm", "Remove one or more containers", _CONTAINERS,
            ("container rm", "container remove", "rm")),
    Command("images:rmi", "Remove one or more images", "[OPTIONS] IMAGE [IMAGE...]",
            ("image rm", "image remove", "rmi")),
    Command("run:start", "Start one or more stopped containers", _CONTAINERS,
            ("container start", "start")),
    Command("containers:stop", "Stop one or more running containers", _CONTAINERS,
            ("container stop", "stop")),
    Command("images:tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
            "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]", ("image tag", "tag")),
    Command("containers:unpause", "Unpause all processes within one or more containers",
            "CONTAINER [CONTAINER...]", ("container unpause", "unpause")),
    Command("saveload:save",
            "Save one or more images to a tar archive (streamed to STDOUT by default)",
            "[OPTIONS] IMAGE [IMAGE...]", ("image save", "save")),
    Command("saveload:load", "Load an image from a tar archive or STDIN", "[OPTIONS]",
            ("image load", "load")),
    Command("registry:serve", "Serve an OCI distribution registry", "[OPTIONS]",
            ("registry serve",), pier_only=True),
    Command("registry:gc", "Remove the blobs no manifest of the registry references",
            "[OPTIONS]", ("registry gc",), pier_only=True),
    Command("containers:wait",
            "Block until one or more containers stop, then print their exit codes",
            "CONTAINER [CONTAINER...]", ("container wait", "wait")),
    Command("update:update", "Update configuration of one or more containers", _CONTAINERS,
            ("container update", "update")),
    Command("update:top", "Display the running processes of a container",
            "CONTAINER [ps OPTIONS]", ("container top", "top")),
    Command("stats:stats", "Display a live stream of container(s) resource usage statistics",
            "[OPTIONS] [CONTAINER...]", ("container stats", "stats")),
    Command("events:events", "Get real time events from the server", "[OPTIONS]",
            ("system events", "events")),
    Command("network:create", "Create a network", "[OPTIONS] NETWORK", ("network create",)),
    Command("network:ls", "List networks", "[OPTIONS]", ("network ls", "network list")),
    Command("network:inspect", "Display detailed information on one or more networks",
            "[OPTIONS] NETWORK [NETWORK...]", ("network inspect",)),
    Command("network:rm", "Remove one or more networks", "NETWORK [NETWORK...]",
            ("network rm", "network remove")),
    Command("network:prune", "Remove all unused networks", "[OPTIONS]", ("network prune",)),
    Command("network:connect", "Connect a container to a network",
            "[OPTIONS] NETWORK CONTAINER", ("network connect",)),
    Command("network:disconnect", "Disconnect a container from a network",
            "[OPTIONS] NETWORK CONTAINER", ("network disconnect",)),
    Command("network:port", "List port mappings or a specific mapping for the container",
            "CONTAINER [PRIVATE_PORT[/PROTO]]", ("container port", "port")),
    Command("volume:create", "Create a volume", "[OPTIONS] [VOLUME]", ("volume create",)),
    Command("volume:inspect", "Display detailed information on one or more volumes",
            "[OPTIONS] VOLUME [VOLUME...]", ("volume inspect",)),
    Command("volume:ls", "List volumes", "[OPTIONS]", ("volume ls", "volume list")),
    Command("volume:prune", "Remove unused local volumes", "[OPTIONS]", ("volume prune",)),
    Command("volume:rm", "Remove one or more volumes", "[OPTIONS] VOLUME [VOLUME...]",
            ("volume rm", "volume remove"),
            long="Remove one or more volumes. You cannot remove a volume that is in use by a "
            "container."),
    Command("copy:cp", "Copy files/folders between a container and the local filesystem",
            "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tpier cp [OPTIONS] SRC_PATH|- "
            "CONTAINER:DEST_PATH", ("container cp", "cp"),
            long="Copy files/folders between a container and the local filesystem\n\n"
            "Use '-' as the source to read a tar archive from stdin\n"
            "and extract it to a directory destination in a container.\n"
            "Use '-' as the destination to stream a tar archive of a\n"
            "container source to stdout."),
    Command("copy:export", "Export a container's filesystem as a tar archive",
            "[OPTIONS] CONTAINER", ("container export", "export")),
    Command("disk:df", "Show pier disk usage", "[OPTIONS]", ("system df",)),
    Command("disk:system_prune", "Remove unused data", "[OPTIONS]", ("system prune",)),
    Command("disk:container_prune", "Remove all stopped containers", "[OPTIONS]",
            ("container prune",)),
    Command("disk:image_prune", "Remove unused images", "[OPTIONS]", ("image prune",)),
)  # fmt: skip


def group(name: str) -> Group | None:
    return next((g for g in GROUPS if g.name == name), None)


def find(path: str) -> Command | None:
    """The command that `path` ("ps", "container ls") runs, if any."""
    return next((c for c in COMMANDS if path in c.paths), None)
