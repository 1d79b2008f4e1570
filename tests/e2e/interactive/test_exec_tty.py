"""`exec -it NAME sh` at a real terminal, through `pier` and the docker CLI: typing,
the terminal's size inside the exec, and the exec's exit code as the CLI's."""

from __future__ import annotations

from pier_testing.api import create
from pier_testing.terminal import Terminal, stty_size, stty_size_when

PROMPT = r"/ # "


def _exec_shell(cli, spawn, pier, containers, *, rows: int = 24, cols: int = 80) -> Terminal:
    name = f"exec-{cli.name}"
    cid = create(pier.client, ["sleep", "1000"], name=name)
    pier.client.post(f"/containers/{cid}/start")
    containers.wait_running(name)
    term = spawn(cli("exec", "-it", name, "sh"), rows=rows, cols=cols)
    term.expect(PROMPT, timeout=30)
    return term


def test_exec_runs_typed_commands_and_its_exit_code_is_the_cli_s(
    cli, spawn, pier, containers
) -> None:
    term = _exec_shell(cli, spawn, pier, containers)
    term.sendline("echo $((6*7))")
    term.expect(r"\b42\n")
    term.expect(PROMPT)
    term.sendline("exit 5")
    assert term.wait() == 5
    # The exec ended, not the container.
    assert containers.running(f"exec-{cli.name}")


def test_exec_stty_size_is_and_follows_the_terminal_s(cli, spawn, pier, containers) -> None:
    term = _exec_shell(cli, spawn, pier, containers, rows=33, cols=101)
    assert stty_size(term) == "33 101"
    term.resize(40, 120)
    assert stty_size_when(term, "40 120") == "40 120"
    term.sendline("exit")
    assert term.wait() == 0


def test_exec_typing_ahead_of_the_prompt_is_not_lost(cli, spawn, pier, containers) -> None:
    name = f"exec-ahead-{cli.name}"
    cid = create(pier.client, ["sleep", "1000"], name=name)
    pier.client.post(f"/containers/{cid}/start")
    containers.wait_running(name)
    term = spawn(cli("exec", "-it", name, "sh"))
    # Typed before the CLI has set the terminal raw: as with Docker, not lost.
    term.sendline("echo $((6*7))")
    term.expect(r"\b42\n", timeout=30)
    term.expect(PROMPT)
    term.sendline("exit 4")
    assert term.wait() == 4
