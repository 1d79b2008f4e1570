"""`pier`: global flags, command dispatch and Docker's error conventions.

Start-up time is a feature: this module imports only `os` and `sys`; the commands are
declared in `pier.cli.commands` and each runs from its own module, imported when that
command runs.
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

    from pier.cli.commands import Command
    from pier.cli.flags import Parsed, Spec
    from pier.client import Client


class StatusError(Exception):
    """Exit with `status`, after printing `message` (if any) to stderr."""

    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Context:
    """What a command needs: the daemon client (made on first use), its declaration and
    the path it was called by ("pier container ls"), and the streams."""

    def __init__(self, host: str, command: Command, path: str, *, debug: bool = False) -> None:
        self.host = host
        self.command = command
        self.path = path
        self.debug = debug
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
        """The command's arguments; `--help` prints its help and ends it."""
        from pier.cli.flags import HelpRequested, parse

        try:
            return parse(spec, argv, self.path)
        except HelpRequested as exc:
            from pier.cli.help import command_help

            if exc.short:
                sys.stdout.write("Flag shorthand -h has been deprecated, use --help\n")
            sys.stdout.write(command_help(self.command, spec, self.path))
            raise StatusError(0) from None

    def out(self, text: str) -> None:
        sys.stdout.write(text)

    def err(self, text: str) -> None:
        sys.stderr.write(text)


def print_error(message: str) -> None:
    """One error line on stderr, after whatever stdout holds (so the two keep their order)."""
    sys.stdout.flush()
    sys.stderr.write(message if message.endswith("\n") else message + "\n")


# in usage errors; `pier --help` shows docker's shorter "[OPTIONS] COMMAND"
_GLOBAL_USAGE = "[OPTIONS] COMMAND [ARG...]"


def _usage_error(message: str, path: str, usage: str) -> int:
    sys.stderr.write(
        f"{message}\n\nUsage:  {path} {usage}".rstrip()
        + f"\n\nRun '{path} --help' for more information\n"
    )
    return 125


def _unknown_flag(arg: str) -> str:
    if arg.startswith("--"):
        return f"unknown flag: {arg.partition('=')[0]}"
    return f"unknown shorthand flag: '{arg[1]}' in {arg}"


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
            if arg == "-h":
                sys.stderr.write("Flag shorthand -h has been deprecated, use --help\n")
            # docker: `--help ps` is the help of ps, `--help bogus` the general help.
            return _help(args[i:], strict=False)
        elif arg in ("-l", "--log-level", "-c", "--context", "--config"):
            i += 1  # accepted for compatibility, no effect
        elif arg.startswith(("--log-level=", "--context=", "--config=")):
            pass
        else:
            return _usage_error(_unknown_flag(arg), "pier", _GLOBAL_USAGE)
    if i >= len(args):
        from pier.cli.help import main_help

        # docker shows its help on stderr when it is not asked for.
        sys.stderr.write(main_help())
        return 0
    if args[i] == "help":
        return _help(args[i + 1 :], strict=True)
    found = _resolve(args[i], args[i + 1 :])
    if isinstance(found, int):
        return found
    command, path, rest = found
    from pier.client.host import InvalidHost, resolve_host

    try:
        host = resolve_host(host_flag, os.environ)
    except InvalidHost as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    return _call(Context(host, command, path, debug=debug), rest)


def _resolve(word: str, rest: list[str]) -> tuple[Command, str, list[str]] | int:
    """The command that `word` (with a group, also the next word) names, the path it was
    called by and its arguments; or the exit status, after docker's complaint."""
    from pier.cli.commands import find, group

    grp = group(word)
    if grp is None:
        command = find(word)
        if command is None:
            sys.stderr.write(
                f"pier: unknown command: pier {word}\n\nRun 'pier --help' for more information\n"
            )
            return 1
        return command, f"pier {word}", rest
    if not rest or rest[0] in ("--help", "-h"):
        from pier.cli.help import group_help

        if rest == ["-h"]:
            sys.stdout.write("Flag shorthand -h has been deprecated, use --help\n")
        # As docker: on stdout when asked for, on stderr when the command word is missing.
        (sys.stdout if rest else sys.stderr).write(group_help(grp))
        return 0
    path = f"{word} {rest[0]}"
    command = find(path)
    if command is not None:
        # Called by an alias ("container list"), it is still named by its first word.
        return command, f"pier {word} {command.word_in(word)}", rest[1:]
    if rest[0].startswith("-"):
        return _usage_error(_unknown_flag(rest[0]), f"pier {word}", "")
    sys.stderr.write(
        f"pier: unknown command: pier {path}\n\nUsage:  pier {word}\n\n"
        f"Run 'pier {word} --help' for more information\n"
    )
    return 1


def _help(words: list[str], *, strict: bool) -> int:
    """`pier help [COMMAND]` (`strict`) and `pier --help [COMMAND]`: the help of the
    command the words name, printed by the command itself as for `COMMAND --help`."""
    from pier.cli.commands import find, group
    from pier.cli.help import group_help, main_help

    grp = group(words[0]) if words else None
    command = find(" ".join(words[:2]) if grp else words[0]) if words else None
    if command is not None:
        path = f"pier {grp.name} {command.word_in(grp.name)}" if grp else f"pier {words[0]}"
        # No daemon is needed: every command parses its arguments before it connects.
        return _call(Context("", command, path), ["--help"])
    if grp is not None and len(words) == 1:
        sys.stdout.write(group_help(grp))
        return 0
    if words and strict:
        sys.stderr.write(f"unknown help topic: {words[-1]}\n")
        return 1
    sys.stdout.write(main_help())
    return 0


def _call(ctx: Context, rest: list[str]) -> int:
    from pier.cli.flags import ArgCountError, UsageError
    from pier.client.errors import APIError, ClientError, DaemonUnreachable

    module_name, _, func_name = ctx.command.target.partition(":")
    module = __import__(f"pier.cli.{module_name}", fromlist=[func_name])
    func: Any = getattr(module, func_name)
    try:
        return int(func(ctx, rest))
    except StatusError as exc:
        if exc.message:
            print_error(exc.message)
        return exc.status
    except UsageError as exc:
        return _usage_error(str(exc), ctx.path, ctx.command.usage)
    except ArgCountError as exc:
        verb = "See" if exc.min_form else "Run"
        sys.stderr.write(
            f"pier: {exc}\n\nUsage:  {ctx.path} {ctx.command.usage}\n\n"
            f"{verb} '{ctx.path} --help' for more information\n"
        )
        return 1
    except DaemonUnreachable as exc:
        print_error(str(exc))
        return 1
    except APIError as exc:
        print_error(f"Error response from daemon: {exc.message}")
        return 1
    except ClientError as exc:
        print_error(f"error during connect: {exc}")
        return 1


if __name__ == "__main__":
    main()
