"""Docker-style command-line flags (cobra/pflag semantics, Docker's error wording).

Long flags `--name value` / `--name=value`, short flags `-n value` / `-nvalue`,
bundled booleans (`-it`, `-itd`), repeated list flags, `--` as terminator, and
commands such as `run` whose flags stop at the first positional (the image).
argparse would cost start-up time and word its errors differently.
"""

from __future__ import annotations

# typing and collections.abc cost milliseconds at start-up: only the checker reads them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


BOOL = "bool"
STRING = "string"
LIST = "list"
INT = "int"
FLOAT = "float"


class UsageError(Exception):
    """A flag error: Docker prints it with the usage line and exits 125."""


class ArgCountError(Exception):
    """Wrong number of positionals: Docker prints it with `docker:` and exits 1."""

    def __init__(self, message: str, *, min_form: bool) -> None:
        super().__init__(message)
        # cobra's RequiresMinArgs says "See '... --help'", the others "Run ...".
        self.min_form = min_form


class HelpRequested(Exception):
    """--help, or -h (which docker still takes, with a deprecation notice)."""

    def __init__(self, *, short: bool = False) -> None:
        super().__init__("help requested")
        self.short = short


class Flag:
    """One flag. (A plain slotted class: `dataclasses` costs 18 ms to import.)"""

    __slots__ = ("default", "help", "hidden", "kind", "name", "short", "type_name", "validate")

    def __init__(
        self,
        *,
        name: str,
        short: str = "",
        kind: str = BOOL,
        default: Any = None,
        help: str = "",
        type_name: str = "",
        hidden: bool = False,
        validate: Callable[[str], Any] | None = None,
    ) -> None:
        self.name = name
        self.short = short
        self.kind = kind
        self.default = default
        self.help = help
        # pflag's type word in --help ("string", "list", "int", "bytes", ...)
        self.type_name = type_name
        self.hidden = hidden
        # Checks a value at parse time (`-m 512m`); raises ValueError with pflag's reason.
        self.validate = validate


class Spec:
    """How a command's arguments parse: its flags and positional-argument counts. Its
    name, usage and description are its declaration in `pier.cli.commands`."""

    __slots__ = ("flags", "interspersed", "max_args", "min_args")

    def __init__(
        self,
        *,
        flags: tuple[Flag, ...] = (),
        min_args: int = 0,
        max_args: int | None = None,
        interspersed: bool = True,
    ) -> None:
        self.flags = flags
        self.min_args = min_args
        self.max_args = max_args
        # False for run/create/exec: everything after the first positional is the command.
        self.interspersed = interspersed


# --format, shared by the listing and inspecting commands (docker's -f where it has one)
FORMAT = Flag(name="format", kind=STRING, help="Format output using a custom template")
FORMAT_F = Flag(name="format", short="f", kind=STRING, help=FORMAT.help)


class Parsed:
    """Flag values by long name, the positionals, and which flags were given."""

    __slots__ = ("args", "given", "values")

    def __init__(self, values: dict[str, Any], args: list[str], given: set[str]) -> None:
        self.values = values
        self.args = args
        self.given = given

    def __getitem__(self, name: str) -> Any:
        return self.values[name]


def _parse_bool(text: str) -> bool | None:
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None


def _label(flag: Flag) -> str:
    return f"-{flag.short}, --{flag.name}" if flag.short else f"--{flag.name}"


def _convert(flag: Flag, text: str) -> Any:
    if flag.validate is not None:
        try:
            flag.validate(text)
        except ValueError as exc:
            raise UsageError(
                f'invalid argument "{text}" for "{_label(flag)}" flag: {exc}'
            ) from None
    if flag.kind == INT:
        try:
            return int(text, 10)
        except ValueError:
            raise UsageError(
                f'invalid argument "{text}" for "{_label(flag)}" flag: '
                f'strconv.ParseInt: parsing "{text}": invalid syntax'
            ) from None
    if flag.kind == FLOAT:
        try:
            return float(text)
        except ValueError:
            raise UsageError(
                f'invalid argument "{text}" for "{_label(flag)}" flag: '
                f'strconv.ParseFloat: parsing "{text}": invalid syntax'
            ) from None
    if flag.kind == BOOL:
        value = _parse_bool(text)
        if value is None:
            raise UsageError(
                f'invalid argument "{text}" for "{_label(flag)}" flag: '
                f'strconv.ParseBool: parsing "{text}": invalid syntax'
            )
        return value
    return text


def parse(spec: Spec, argv: list[str], path: str) -> Parsed:
    """Parse `argv` (after the command words); `path` is e.g. "pier container ls"."""
    by_long = {f.name: f for f in spec.flags}
    by_short = {f.short: f for f in spec.flags if f.short}
    values: dict[str, Any] = {}
    for f in spec.flags:
        values[f.name] = list(f.default or []) if f.kind == LIST else f.default
        if f.kind == BOOL and f.default is None:
            values[f.name] = False
    given: set[str] = set()
    args: list[str] = []

    def store(flag: Flag, value: Any) -> None:
        if flag.kind == LIST:
            if flag.name not in given:
                values[flag.name] = []
            values[flag.name].append(value)
        else:
            values[flag.name] = value
        given.add(flag.name)

    i = 0
    n = len(argv)
    while i < n:
        arg = argv[i]
        i += 1
        if arg == "--":
            args.extend(argv[i:])
            break
        if arg.startswith("--") and len(arg) > 2:
            name, eq, inline = arg[2:].partition("=")
            flag = by_long.get(name)
            if flag is None:
                if name == "help":
                    raise HelpRequested
                raise UsageError(f"unknown flag: --{name}")
            if flag.kind == BOOL:
                store(flag, _convert(flag, inline) if eq else True)
            elif eq:
                store(flag, _convert(flag, inline))
            elif i < n:
                store(flag, _convert(flag, argv[i]))
                i += 1
            else:
                raise UsageError(f"flag needs an argument: --{name}")
            continue
        if arg.startswith("-") and len(arg) > 1:
            j = 1
            while j < len(arg):
                ch = arg[j]
                flag = by_short.get(ch)
                if flag is None:
                    if ch == "h":
                        raise HelpRequested(short=True)
                    raise UsageError(f"unknown shorthand flag: '{ch}' in -{arg[j:]}")
                rest = arg[j + 1 :]
                if flag.kind == BOOL:
                    if rest.startswith("="):
                        store(flag, _convert(flag, rest[1:]))
                        break
                    store(flag, True)
                    j += 1
                    continue
                if rest:
                    store(flag, _convert(flag, rest[1:] if rest.startswith("=") else rest))
                elif i < n:
                    store(flag, _convert(flag, argv[i]))
                    i += 1
                else:
                    raise UsageError(f"flag needs an argument: '{ch}' in -{ch}")
                break
            continue
        args.append(arg)
        if not spec.interspersed:
            args.extend(argv[i:])
            break
    check_args(spec, args, path)
    return Parsed(values, args, given)


def check_args(spec: Spec, args: list[str], path: str) -> None:
    lo, hi = spec.min_args, spec.max_args
    if hi == 0 and args:
        raise ArgCountError(f"'{path}' accepts no arguments", min_form=False)
    if lo == hi and len(args) != lo:
        plural = "argument" if lo == 1 else "arguments"
        raise ArgCountError(f"'{path}' requires {lo} {plural}", min_form=False)
    if len(args) < lo:
        plural = "argument" if lo == 1 else "arguments"
        raise ArgCountError(f"'{path}' requires at least {lo} {plural}", min_form=True)
    if hi is not None and len(args) > hi:
        plural = "argument" if hi == 1 else "arguments"
        raise ArgCountError(f"'{path}' requires at most {hi} {plural}", min_form=False)
