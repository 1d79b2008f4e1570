"""Help texts in docker's layout (cobra's templates as docker/cli sets them), built from
the command declarations in `pier.cli.commands` and each command's flag `Spec`."""

from __future__ import annotations

from pier.cli.commands import COMMANDS, GROUPS, Command, Group

TYPE_CHECKING = False  # not typing's: importing typing costs the CLI milliseconds
if TYPE_CHECKING:
    from pier.cli.flags import Spec

GLOBAL_USAGE = "[OPTIONS] COMMAND"

# Only the global flags pier acts on; --config, --context and --log-level are accepted
# for docker's sake but change nothing, so they are not offered.
_GLOBAL_OPTIONS = (
    "  -D, --debug              Enable debug mode",
    "  -H, --host list          Daemon socket to connect to",
    "  -v, --version            Print version information and quit",
)


def _entries(pairs: list[tuple[str, str]]) -> list[str]:
    # cobra pads names to 11 columns (or the longest name), then one space.
    width = max([11, *(len(name) for name, _ in pairs)])
    return [f"  {name:<{width}} {text}" for name, text in pairs]


def main_help() -> str:
    lines = [f"Usage:  pier {GLOBAL_USAGE}", "", "A Docker-compatible container engine", ""]
    common = [(c.top, c.description) for c in COMMANDS if c.common and c.top]
    others = sorted((c.top, c.description) for c in COMMANDS if not c.common and c.top)
    lines += ["Common Commands:", *_entries(common), ""]
    lines += ["Management Commands:"]
    lines += _entries(sorted((g.name, g.description) for g in GROUPS))
    lines += ["", "Commands:", *_entries(others), ""]
    lines += ["Global Options:", *_GLOBAL_OPTIONS, ""]
    lines.append("Run 'pier COMMAND --help' for more information on a command.")
    return "\n".join(lines) + "\n"


def group_help(group: Group) -> str:
    words = sorted((c.word_in(group.name), c.description) for c in COMMANDS)
    words = [(word, text) for word, text in words if word]
    lines = [f"Usage:  pier {group.name} COMMAND", "", group.description, "", "Commands:"]
    lines += _entries(words)
    lines += ["", f"Run 'pier {group.name} COMMAND --help' for more information on a command."]
    return "\n".join(lines) + "\n"


def command_help(command: Command, spec: Spec, path: str) -> str:
    """`pier <command> --help`; `path` is how it was called ("pier container ls")."""
    from pier.cli.flags import BOOL, LIST, STRING

    lines = [f"Usage:  {path} {command.usage}".rstrip(), "", command.long]
    if len(command.paths) > 1:
        lines += ["", "Aliases:", "  " + ", ".join(f"pier {p}" for p in command.paths)]
    shown = [f for f in spec.flags if not f.hidden]
    if shown:
        lines += ["", "Options:"]
        entries = []
        for f in shown:
            head = f"  -{f.short}, --{f.name}" if f.short else f"      --{f.name}"
            tname = f.type_name or ("" if f.kind == BOOL else f.kind)
            if tname:
                head += " " + tname
            text = f.help
            if f.kind == BOOL and f.default is True:
                text += " (default true)"
            elif f.kind not in (BOOL, LIST) and f.default not in (None, "", 0):
                shown_default = f'"{f.default}"' if f.kind == STRING else str(f.default)
                text += f" (default {shown_default})"
            entries.append((head, text))
        width = max(len(h) for h, _ in entries) + 3
        lines += [h.ljust(width) + t for h, t in entries]
    return "\n".join(lines) + "\n"
