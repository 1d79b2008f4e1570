"""`pier`: global flags, command dispatch and Docker's error conventions.

Start-up time is a feature: this module imports only `os` and `sys`; each
command group lives in its own module, imported when that command runs.
Exit codes as Docker's: 125 for flag errors (and daemon errors of `run`/`create`),
1 for other errors, else the command's own status.
"""

from __future__ import annotations

import os
import sys

# typing and collections.abc cost milliseconds at start-up: only the checker reads them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pier.cli.flags import Parsed, Spec
    from pier.client import Client

# command word -> (module under pier.cli, function)
_CONTAINERS = "containers"
_RUN = "run"
_IMAGES = "images"
_SYSTEM = "system"
_ATTACH = "attach"
_EXEC = "exec"
COMMANDS: dict[str, tuple[str, str]] = {
    "attach": (_ATTACH, "attach"),
    "exec": (_EXEC, "exec_"),
    "version": (_SYSTEM, "version"),
    "info": (_SYSTEM, "info"),
    "images": (_IMAGES, "images"),
    "import": (_IMAGES, "import_"),
    "tag": (_IMAGES, "tag"),
    "rmi": (_IMAGES, "rmi"),
    "history": (_IMAGES, "history"),
    "create": (_RUN, "create"),
    "run": (_RUN, "run"),
    "start": (_RUN, "start"),
    "ps": (_CONTAINERS, "ps"),
    "stop": (_CONTAINERS, "stop"),
    "kill": (_CONTAINERS, "kill"),
    "restart": (_CONTAINERS, "restart"),
    "rm": (_CONTAINERS, "rm"),
    "pause": (_CONTAINERS, "pause"),
    "unpause": (_CONTAINERS, "unpause"),
    "logs": (_CONTAINERS, "logs"),
    "wait": (_CONTAINERS, "wait"),
    "inspect": (_CONTAINERS, "inspect"),
    "rename": (_CONTAINERS, "rename"),
}

MANAGEMENT: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {
    "container": (
        "Manage containers",
        {
            "attach": (_ATTACH, "attach"),
            "create": (_RUN, "create"),
            "exec": (_EXEC, "exec_"),
            "inspect": (_CONTAINERS, "container_inspect"),
            "kill": (_CONTAINERS, "kill"),
            "logs": (_CONTAINERS, "logs"),
            "ls": (_CONTAINERS, "ps"),
            "pause": (_CONTAINERS, "pause"),
            "list": (_CONTAINERS, "ps"),
            "ps": (_CONTAINERS, "ps"),
            "rename": (_CONTAINERS, "rename"),
            "restart": (_CONTAINERS, "restart"),
            "rm": (_CONTAINERS, "rm"),
            "remove": (_CONTAINERS, "rm"),
            "run": (_RUN, "run"),
            "start": (_RUN, "start"),
            "stop": (_CONTAINERS, "stop"),
            "unpause": (_CONTAINERS, "unpause"),
            "wait": (_CONTAINERS, "wait"),
        },
    ),
    "image": (
        "Manage images",
        {
            "history": (_IMAGES, "history"),
            "import": (_IMAGES, "import_"),
            "inspect": (_IMAGES, "image_inspect"),
            "ls": (_IMAGES, "images"),
            "list": (_IMAGES, "images"),
            "rm": (_IMAGES, "rmi"),
            "remove": (_IMAGES, "rmi"),
            "tag": (_IMAGES, "tag"),
        },
    ),
}

_DESCRIPTIONS = {
    "attach": "Attach local standard input, output, and error streams to a running container",
    "exec": "Execute a command in a running container",
    "container_inspect": "Display detailed information on one or more containers",
    "create": "Create a new container",
    "history": "Show the history of an image",
    "image_inspect": "Display detailed information on one or more images",
    "images": "List images",
    "import": "Import the contents from a tarball to create a filesystem image",
    "info": "Display system-wide information",
    "inspect": "Return low-level information on Docker objects",
    "kill": "Kill one or more running containers",
    "logs": "Fetch the logs of a container",
    "ps": "List containers",
    "rename": "Rename a container",
    "restart": "Restart one or more containers",
    "rm": "Remove one or more containers",
    "rmi": "Remove one or more images",
    "run": "Create and run a new container from an image",
    "start": "Start one or more stopped containers",
    "stop": "Stop one or more running containers",
    "tag": "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
    "version": "Show the Pier version information",
    "wait": "Block until one or more containers stop, then print their exit codes",
}


class StatusError(Exception):
    """Exit with `status`, after printing `message` (if any) to stderr."""

    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Context:
    """What a command needs: the daemon client (made on first use) and the streams."""

    def __init__(self, host: str, *, debug: bool = False) -> None:
        self.host = host
        self.debug = debug
        self.path = "pier"
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            from pier.client.api import Client

            # PIER_API_VERSION pins the version, as DOCKER_API_VERSION does for docker.
            version = os.environ.get("PIER_API_VERSION")
            self._client = Client(self.host, version=version) if version else Client(self.host)
        return self._client

    def parse(self, spec: Spec, argv: list[str]) -> Parsed:
        from pier.cli.flags import ArgCountError, HelpRequested, UsageError, parse

        try:
            return parse(spec, argv, self.path)
        except (UsageError, ArgCountError) as exc:
            setattr(exc, "spec", spec)  # noqa: B010 - read back by _call
            raise
        except HelpRequested:
            from pier.cli.flags import help_text

            sys.stdout.write(help_text(spec, self.path))
            raise StatusError(0) from None

    def out(self, text: str) -> None:
        sys.stdout.write(text)

    def err(self, text: str) -> None:
        sys.stderr.write(text)


_GLOBAL_USAGE = "[OPTIONS] COMMAND [ARG...]"


def _usage_error(message: str, path: str, usage: str) -> int:
    sys.stderr.write(
        f"{message}\n\nUsage:  {path} {usage}\n\nRun '{path} --help' for more information\n"
    )
    return 125


def _main_help() -> str:
    lines = [
        f"Usage:  pier {_GLOBAL_USAGE}",
        "",
        "A Docker-compatible container engine",
        "",
        "Management Commands:",
    ]
    lines += [f"  {name:<11} {desc}" for name, (desc, _) in MANAGEMENT.items()]
    lines += ["", "Commands:"]
    lines += [f"  {name:<11} {_DESCRIPTIONS.get(name, '')}" for name in sorted(COMMANDS)]
    lines += [
        "",
        "Global Options:",
        "  -D, --debug              Enable debug mode",
        "  -H, --host string        Daemon socket to connect to",
        "  -v, --version            Print version information and quit",
        "",
        "Run 'pier COMMAND --help' for more information on a command.",
    ]
    return "\n".join(lines) + "\n"


def _group_help(group: str) -> str:
    desc, subs = MANAGEMENT[group]
    lines = [f"Usage:  pier {group} COMMAND", "", desc, "", "Commands:"]
    # One line per command under its canonical word ("rm", not the alias "remove").
    entries: dict[str, str] = {}
    for name, target in subs.items():
        word = {"rmi": "rm", "rm": "rm", "images": "ls", "ps": "ls"}.get(target[1], name)
        entries[word] = _DESCRIPTIONS.get(target[1].rstrip("_"), "")
    lines += [f"  {word:<11} {text}" for word, text in sorted(entries.items())]
    lines += ["", f"Run 'pier {group} COMMAND --help' for more information on a command."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        status = _run(args)
    except KeyboardInterrupt:
        status = 130
    except BrokenPipeError:
        # The reader went away (`pier ps | head`): not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = 141
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if argv is None:
        sys.exit(status)
    return status


def _run(args: list[str]) -> int:
    host_flag: str | None = None
    debug = False
    i = 0
    # Global flags come before the command word, as with docker.
    while i < len(args) and args[i].startswith("-") and args[i] != "-":
        arg = args[i]
        i += 1
        if arg in ("-H", "--host"):
            if i >= len(args):
                return _usage_error(
                    "flag needs an argument: " + ("'H' in -H" if arg == "-H" else "--host"),
                    "pier",
                    _GLOBAL_USAGE,
                )
            host_flag = args[i]
            i += 1
        elif arg.startswith("--host="):
            host_flag = arg[len("--host=") :]
        elif arg.startswith("-H") and len(arg) > 2:
            host_flag = arg[2:].removeprefix("=")
        elif arg in ("-D", "--debug"):
            debug = True
        elif arg in ("-v", "--version"):
            from pier import __version__

            sys.stdout.write(f"Pier version {__version__}\n")
            return 0
        elif arg in ("--help", "-h"):
            sys.stdout.write(_main_help())
            return 0
        elif arg in ("-l", "--log-level", "-c", "--context", "--config"):
            i += 1  # accepted for compatibility, no effect
        elif arg.startswith(("--log-level=", "--context=", "--config=")):
            pass
        elif arg.startswith("--"):
            return _usage_error(f"unknown flag: {arg.partition('=')[0]}", "pier", _GLOBAL_USAGE)
        else:
            return _usage_error(
                f"unknown shorthand flag: '{arg[1]}' in {arg}", "pier", _GLOBAL_USAGE
            )
    if i >= len(args):
        sys.stdout.write(_main_help())
        return 0
    word = args[i]
    rest = args[i + 1 :]
    path = f"pier {word}"
    target = COMMANDS.get(word)
    if target is None and word in MANAGEMENT:
        subs = MANAGEMENT[word][1]
        if not rest or rest[0] in ("--help", "-h"):
            sys.stdout.write(_group_help(word))
            return 0
        target = subs.get(rest[0])
        if target is None:
            if rest[0].startswith("-"):
                return _usage_error(f"unknown flag: {rest[0]}", path, "COMMAND")
            sys.stderr.write(
                f"pier: unknown command: pier {word} {rest[0]}\n\nUsage:  pier {word}\n\n"
                f"Run 'pier {word} --help' for more information\n"
            )
            return 1
        path = f"pier {word} {rest[0]}"
        rest = rest[1:]
    elif target is None:
        sys.stderr.write(
            f"pier: unknown command: pier {word}\n\nRun 'pier --help' for more information\n"
        )
        return 1
    from pier.client.host import InvalidHost, resolve_host

    try:
        host = resolve_host(host_flag, os.environ)
    except InvalidHost as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    ctx = Context(host, debug=debug)
    ctx.path = path
    module = __import__(f"pier.cli.{target[0]}", fromlist=[target[1]])
    func: Any = getattr(module, target[1])
    return _call(func, ctx, rest)


def _call(func: Any, ctx: Context, rest: list[str]) -> int:
    from pier.cli.flags import ArgCountError, UsageError
    from pier.client.errors import APIError, ClientError, DaemonUnreachable

    try:
        return int(func(ctx, rest))
    except StatusError as exc:
        if exc.message:
            sys.stdout.flush()
            sys.stderr.write(exc.message if exc.message.endswith("\n") else exc.message + "\n")
        return exc.status
    except UsageError as exc:
        spec = getattr(exc, "spec", None)
        usage = spec.usage if spec is not None else "[OPTIONS]"
        return _usage_error(str(exc), ctx.path, usage)
    except ArgCountError as exc:
        spec = getattr(exc, "spec", None)
        usage = spec.usage if spec is not None else "[OPTIONS]"
        verb = "See" if exc.min_form else "Run"
        sys.stderr.write(
            f"pier: {exc}\n\nUsage:  {ctx.path} {usage}\n\n"
            f"{verb} '{ctx.path} --help' for more information\n"
        )
        return 1
    except DaemonUnreachable as exc:
        sys.stdout.flush()
        sys.stderr.write(f"{exc}\n")
        return 1
    except APIError as exc:
        sys.stdout.flush()
        sys.stderr.write(f"Error response from daemon: {exc.message}\n")
        return 1
    except ClientError as exc:
        sys.stdout.flush()
        sys.stderr.write(f"error during connect: {exc}\n")
        return 1


if __name__ == "__main__":
    main()
