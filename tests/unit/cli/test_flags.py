"""Docker-style flag parsing and its error wording."""

from __future__ import annotations

import pytest

from pier.cli.flags import (
    INT,
    LIST,
    STRING,
    ArgCountError,
    Flag,
    HelpRequested,
    Spec,
    UsageError,
    parse,
)

RUNLIKE = Spec(
    min_args=1,
    interspersed=False,
    flags=(
        Flag(name="interactive", short="i"),
        Flag(name="tty", short="t"),
        Flag(name="detach", short="d"),
        Flag(name="rm"),
        Flag(name="env", short="e", kind=LIST),
        Flag(name="name", kind=STRING),
        Flag(name="hostname", short="h", kind=STRING),
        Flag(name="last", short="n", kind=INT, default=-1),
    ),
)


def test_bundled_short_flags_and_values() -> None:
    p = parse(RUNLIKE, ["-itd", "-e", "A=1", "-eB=2", "--env=C=3", "--name", "x", "img"], "p run")
    assert (p["interactive"], p["tty"], p["detach"]) == (True, True, True)
    assert p["env"] == ["A=1", "B=2", "C=3"]
    assert p["name"] == "x"
    assert p.args == ["img"]
    assert p.given == {"interactive", "tty", "detach", "env", "name"}


def test_flags_stop_at_the_image() -> None:
    p = parse(RUNLIKE, ["--rm", "img", "ls", "-la", "--rm"], "p run")
    assert p["rm"] is True
    assert p.args == ["img", "ls", "-la", "--rm"]


def test_double_dash_terminates() -> None:
    p = parse(RUNLIKE, ["--", "-img"], "p run")
    assert p.args == ["-img"]


def test_bool_with_value_and_int() -> None:
    p = parse(RUNLIKE, ["--rm=false", "-n", "3", "-h", "host", "img"], "p run")
    assert p["rm"] is False
    assert p["last"] == 3
    assert p["hostname"] == "host"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--foo", "img"], "unknown flag: --foo"),
        (["-x", "img"], "unknown shorthand flag: 'x' in -x"),
        (["-e"], "flag needs an argument: 'e' in -e"),
        (["--name"], "flag needs an argument: --name"),
        (["-n", "x", "img"], 'invalid argument "x" for "-n, --last" flag: strconv.ParseInt: '
                             'parsing "x": invalid syntax'),
        (["--rm=maybe", "img"], 'invalid argument "maybe" for "--rm" flag: strconv.ParseBool: '
                                'parsing "maybe": invalid syntax'),
    ],
    ids=["unknown-long", "unknown-short", "short-needs-arg", "long-needs-arg", "bad-int",
         "bad-bool"],
)  # fmt: skip
def test_usage_errors(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError) as info:
        parse(RUNLIKE, argv, "p run")
    assert str(info.value) == message


def test_help() -> None:
    with pytest.raises(HelpRequested):
        parse(RUNLIKE, ["--help"], "p run")


@pytest.mark.parametrize(
    ("spec", "argv", "message", "min_form"),
    [
        (Spec(max_args=0), ["x"], "'p c' accepts no arguments", False),
        (Spec(min_args=2, max_args=2), ["x"], "'p c' requires 2 arguments", False),
        (Spec(min_args=1, max_args=1), [], "'p c' requires 1 argument", False),
        (Spec(min_args=1), [], "'p c' requires at least 1 argument", True),
        (Spec(max_args=1), ["a", "b"], "'p c' requires at most 1 argument", False),
    ],
    ids=["none", "exact-2", "exact-1", "min", "max"],
)
def test_arg_counts(spec: Spec, argv: list[str], message: str, min_form: bool) -> None:
    with pytest.raises(ArgCountError) as info:
        parse(spec, argv, "p c")
    assert str(info.value) == message
    assert info.value.min_form is min_form
