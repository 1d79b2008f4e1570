"""The command declarations: each reachable by its paths, each target a command."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from pier.cli.commands import COMMANDS, GROUPS, Command, find, group

IDS = [c.paths[0] for c in COMMANDS]


def test_paths_are_unique_and_groups_declared() -> None:
    paths = [p for c in COMMANDS for p in c.paths]
    assert len(paths) == len(set(paths))
    for path in paths:
        words = path.split(" ")
        assert 1 <= len(words) <= 2, path
        if len(words) == 2:
            assert group(words[0]) is not None, path
        else:
            assert group(path) is None, f"{path} is both a command and a group"
    assert len({g.name for g in GROUPS}) == len(GROUPS)
    # A group that lists nothing would print an empty help.
    assert all(any(c.word_in(g.name) for c in COMMANDS) for g in GROUPS)


@pytest.mark.parametrize("command", COMMANDS, ids=IDS)
def test_declaration_is_complete(command: Command) -> None:
    assert command.description and not command.description.endswith(".")
    assert command.description[0].isupper()
    assert command.usage == command.usage.strip()
    assert all(find(p) is command for p in command.paths)
    if command.common:
        assert command.top, "a common command is a top-level one"


@pytest.mark.parametrize("command", COMMANDS, ids=IDS)
def test_target_is_a_command_function(command: Command) -> None:
    module_name, colon, func_name = command.target.partition(":")
    assert colon and module_name and func_name
    module = importlib.import_module(f"pier.cli.{module_name}")
    assert callable(getattr(module, func_name))


def test_words() -> None:
    ps = find("ps")
    assert ps is not None
    assert (ps.top, ps.word_in("container"), ps.word_in("image")) == ("ps", "ls", "")
    inspect = find("container inspect")
    assert inspect is not None and inspect.top == ""
    assert find("container") is None
    assert find("nosuch") is None


def test_loading_the_declarations_imports_no_command() -> None:
    # The table is read on every start; the commands' modules only when they run.
    code = (
        "import sys, pier.cli.commands, pier.cli.main; "
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('pier'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["pier", "pier.cli", "pier.cli.commands", "pier.cli.main"]
