"""`run -it --rm busybox sh` at a real terminal, through `pier` and the docker CLI:
typing, the terminal's size inside the container, ctrl-C, and the shell's exit code."""

from __future__ import annotations

import re

from pier_testing.terminal import Terminal, stty_size, stty_size_when

PROMPT = r"/ # "


def _shell(cli, spawn, name: str, *, rows: int = 24, cols: int = 80) -> Terminal:
    term = spawn(cli("run", "-it", "--rm", "--name", name, "busybox", "sh"), rows=rows, cols=cols)
    term.expect(PROMPT, timeout=30)
    return term


def test_typed_command_runs_and_exit_code_is_the_cli_s(cli, spawn, containers) -> None:
    term = _shell(cli, spawn, f"tty-type-{cli.name}")
    # The echo of the line shows "$((6*7))": 42 can only be the shell's output.
    term.sendline("echo $((6*7))")
    term.expect(r"\b42\n")
    term.expect(PROMPT)
    term.sendline("exit 3")
    assert term.wait() == 3
    # --rm: the CLI waited for the removal before exiting.
    assert containers.names() == []


def test_stty_size_is_the_terminal_s_size(cli, spawn) -> None:
    term = _shell(cli, spawn, f"tty-size-{cli.name}", rows=33, cols=101)
    assert stty_size(term) == "33 101"
    term.sendline("exit")
    assert term.wait() == 0


def test_resizing_the_terminal_resizes_the_container_s(cli, spawn) -> None:
    term = _shell(cli, spawn, f"tty-resize-{cli.name}", rows=33, cols=101)
    assert stty_size(term) == "33 101"
    term.resize(40, 120)
    assert stty_size_when(term, "40 120") == "40 120"
    term.resize(20, 60)
    assert stty_size_when(term, "20 60") == "20 60"
    term.sendline("exit")
    assert term.wait() == 0


def test_ctrl_c_interrupts_the_foreground_command_not_the_shell(cli, spawn, containers) -> None:
    name = f"tty-intr-{cli.name}"
    term = _shell(cli, spawn, name)
    shell_pid = containers.wait_running(name)
    term.sendline("sleep 100")
    containers.wait_for_child(shell_pid, "sleep 100")
    term.send(b"\x03")
    # The container's terminal echoes ^C; the shell prompts again well before 100 s.
    term.expect(r"\^C")
    term.expect(PROMPT)
    term.sendline("echo $((6*7))")
    term.expect(r"\b42\n")
    assert containers.running(name)
    assert re.search(r"sleep 100\n\^C\n", term.screen), term.screen
    term.sendline("exit 0")
    assert term.wait() == 0


def test_typing_ahead_of_the_prompt_is_not_lost(cli, spawn) -> None:
    # Typed before the CLI has even set the terminal raw: as with Docker, the line
    # waits in the terminal and reaches the shell once it runs.
    term = spawn(cli("run", "-it", "--rm", "--name", f"tty-ahead-{cli.name}", "busybox", "sh"))
    term.sendline("echo $((6*7))")
    term.expect(r"\b42\n", timeout=30)
    term.expect(PROMPT)
    term.sendline("exit 4")
    assert term.wait() == 4
