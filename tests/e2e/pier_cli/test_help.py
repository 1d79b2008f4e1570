"""`pier`'s help and its command-word errors, beside the real docker CLI's.

No daemon is involved: both binaries answer these from their command tables. Docker's
output is compared after writing "pier" for "docker" (and "Pier" for "Docker").
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from pier.cli.commands import COMMANDS, GROUPS, Command

PIER = Path(__file__).resolve().parents[3] / ".venv" / "bin" / "pier"
DOCKER = Path("/usr/local/bin/docker")

pytestmark = pytest.mark.docker_cli

ALL_PATHS = [(c, p) for c in COMMANDS for p in c.paths]
# Commands and groups docker has too: their help is compared with docker's.
DOCKERS_PATHS = [(c, p) for c, p in ALL_PATHS if not c.pier_only]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = dict(os.environ)
    # Neither may reach a daemon (help needs none) nor read the user's configuration.
    env["DOCKER_HOST"] = env["PIER_HOST"] = "unix:///nonexistent/help.sock"
    env["DOCKER_CONFIG"] = str(tmp_path_factory.mktemp("docker-config"))
    env.pop("DOCKER_CONTEXT", None)
    return env


def run(binary: Path, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    out = subprocess.run([str(binary), *args], env=env, capture_output=True, text=True, timeout=30)
    return out.returncode, out.stdout, out.stderr


def as_pier(text: str) -> str:
    # A Dockerfile is still a Dockerfile in pier's help, and Docker Hub is Docker Hub.
    text = text.replace("Dockerfile", "\0").replace("Docker Hub", "\1")
    text = text.replace("docker", "pier").replace("Docker", "Pier")
    return text.replace("\0", "Dockerfile").replace("\1", "Docker Hub")


def docker(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    status, out, err = run(DOCKER, env, *args)
    return status, as_pier(out), as_pier(err)


def pier(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    return run(PIER, env, *args)


def section(text: str, title: str) -> list[str]:
    """The lines under `title:` up to the next blank line."""
    lines = text.splitlines()
    start = lines.index(title + ":") + 1
    end = lines.index("", start)
    return lines[start:end]


def test_main_help_lists_every_command(env: dict[str, str]) -> None:
    status, out, err = pier(env, "--help")
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[:4] == ["Usage:  pier [OPTIONS] COMMAND", "", lines[2], ""]
    assert lines[2], "a one-line description of pier"
    titles = [line for line in lines if line.endswith(":") and not line.startswith(" ")]
    assert titles == [
        "Common Commands:", "Management Commands:", "Commands:", "Global Options:",
    ]  # fmt: skip
    assert lines[-2:] == ["", "Run 'pier COMMAND --help' for more information on a command."]
    listed = {}
    for title in ("Common Commands", "Commands"):
        for line in section(out, title):
            word, _, text = line.strip().partition(" ")
            assert word not in listed, f"{word} listed twice"
            listed[word] = text.strip()
    expected = {c.top: c.description for c in COMMANDS if c.top}
    assert listed == expected
    assert all(listed.values()), "every command has a description"
    assert [line.split()[0] for line in section(out, "Management Commands")] == sorted(
        g.name for g in GROUPS
    )
    assert "pause" in listed and "unpause" in listed


def test_main_help_lines_are_dockers(env: dict[str, str]) -> None:
    _, out, _ = pier(env, "--help")
    status, theirs, _ = docker(env, "--help")
    assert status == 0
    pier_only = {g.name for g in GROUPS if g.pier_only} | {
        c.top for c in COMMANDS if c.pier_only and c.top
    }
    for title in ("Common Commands", "Management Commands", "Commands"):
        ours = [line for line in section(out, title) if line.split()[0] not in pier_only]
        # Same words, same descriptions, same columns, in docker's order.
        assert [line for line in section(theirs, title) if line in ours] == ours, title
    common = [line.split()[0] for line in section(out, "Common Commands")]
    assert common[:3] == ["run", "exec", "ps"]


def test_no_command_prints_the_help_on_stderr(env: dict[str, str]) -> None:
    status, out, err = pier(env)
    assert (status, out) == (0, "")
    assert err == pier(env, "--help")[1]
    assert docker(env)[:2] == (0, "")


@pytest.mark.parametrize("grp", [g.name for g in GROUPS if not g.pier_only])
def test_group_help(env: dict[str, str], grp: str) -> None:
    status, out, err = pier(env, grp, "--help")
    assert (status, err) == (0, "")
    listed = {}
    for line in section(out, "Commands"):
        word, _, text = line.strip().partition(" ")
        listed[word] = text.strip()
    assert listed == {c.word_in(grp): c.description for c in COMMANDS if c.word_in(grp)}
    assert out.startswith(f"Usage:  pier {grp} COMMAND\n\n")
    assert out.endswith(f"\n\nRun 'pier {grp} COMMAND --help' for more information on a command.\n")
    _, theirs, _ = docker(env, grp, "--help")
    ours = out.splitlines()
    assert ours[:3] == theirs.splitlines()[:3]
    assert [line for line in section(theirs, "Commands") if line in ours] == section(
        out, "Commands"
    )
    # Without a command word: the same help, on stderr, as docker.
    assert pier(env, grp) == (0, "", out)
    assert docker(env, grp)[:2] == (0, "")


def _header(help_text: str) -> str:
    """Usage, description and aliases: what precedes the flags."""
    return help_text.partition("\nOptions:\n")[0].rstrip("\n")


def _flag_names(help_text: str) -> set[str]:
    options = help_text.partition("\nOptions:\n")[2]
    return {word for word in options.split() if word.startswith("--")}


@pytest.mark.parametrize(("command", "path"), DOCKERS_PATHS, ids=[p for _, p in DOCKERS_PATHS])
def test_command_help_is_dockers(env: dict[str, str], command: Command, path: str) -> None:
    status, out, err = pier(env, *path.split(), "--help")
    assert (status, err) == (0, "")
    # In a group, the command is named by its first word there even when called by another.
    named = path if " " not in path else f"{path.split()[0]} {command.word_in(path.split()[0])}"
    assert out.startswith(f"Usage:  pier {named} {command.usage}".rstrip() + "\n\n")
    assert f"\n{command.long}\n" in out
    theirs = docker(env, *path.split(), "--help")
    assert theirs[0] == 0
    assert _header(out) == _header(theirs[1])
    # Every flag pier offers is one of docker's.
    assert _flag_names(out) <= _flag_names(theirs[1])
    assert out.endswith("\n") and not out.endswith("\n\n")


def test_help_forms_agree(env: dict[str, str]) -> None:
    ps = pier(env, "ps", "--help")
    assert pier(env, "help", "ps") == ps
    assert pier(env, "--help", "ps") == ps
    assert pier(env, "help", "container", "ls")[1] == pier(env, "container", "ls", "--help")[1]
    assert pier(env, "help", "image") == pier(env, "image", "--help")
    assert pier(env, "help") == pier(env, "--help")
    status, out, err = pier(env, "container", "ls", "-h")
    assert (status, err) == (0, "")
    assert (
        out
        == "Flag shorthand -h has been deprecated, use --help\n"
        + pier(env, "container", "ls", "--help")[1]
    )


@pytest.mark.parametrize(
    "args",
    [("foo",), ("container", "foo"), ("image", "bogus", "x"), ("container", "--bogus"),
     ("image", "-x"), ("--bogus", "ps"), ("-x",), ("help", "foo"), ("ps", "--bogus"),
     ("stop",), ("rename", "a"), ("ps", "a"), ("container", "list", "a"),
     ("image", "remove", "--bogus")],
    ids=" ".join,
)  # fmt: skip
def test_errors_are_dockers(env: dict[str, str], args: tuple[str, ...]) -> None:
    status, out, err = pier(env, *args)
    assert status in (1, 125)
    assert (status, out, err) == docker(env, *args)


def test_pier_starts_through_symlinks(env: dict[str, str], tmp_path: Path) -> None:
    """`make install` links /usr/local/bin/pier to the environment's script, which
    finds its interpreter beside where the links end, not beside the link."""
    link = tmp_path / "bin" / "pier"
    link.parent.mkdir()
    link.symlink_to(PIER)
    twice = tmp_path / "pier-again"
    twice.symlink_to(link)
    direct = run(PIER, env, "--version")
    assert direct[0] == 0 and direct[1].startswith("Pier version ")
    assert run(link, env, "--version") == direct
    assert run(twice, env, "--version") == direct
