"""Detaching from `run -it` with the detach keys, and attaching again with `attach`.

Detached containers keep running; the `pier` fixture removes them after each test.
"""

from __future__ import annotations

from pier_testing.terminal import Terminal

PROMPT = r"/ # "
CTRL_P_CTRL_Q = b"\x10\x11"


def _shell(cli, spawn, name: str, *options: str) -> Terminal:
    term = spawn(cli("run", "-it", *options, "--name", name, "busybox", "sh"))
    term.expect(PROMPT, timeout=30)
    return term


def test_ctrl_p_ctrl_q_detaches_and_leaves_the_container_running(cli, spawn, containers) -> None:
    name = f"detach-{cli.name}"
    term = _shell(cli, spawn, name)
    term.sendline("echo $((6*7))")
    term.expect(r"\b42\n")
    term.send(CTRL_P_CTRL_Q)
    assert term.wait() == 0
    assert containers.running(name)


def test_detach_keys_option_replaces_the_sequence(cli, spawn, containers) -> None:
    name = f"detach-keys-{cli.name}"
    term = _shell(cli, spawn, name, "--detach-keys", "ctrl-x,x")
    term.send(b"\x18x")
    assert term.wait() == 0
    assert containers.running(name)


def test_attach_types_into_the_shell_and_detaches_again(cli, spawn, containers) -> None:
    name = f"reattach-{cli.name}"
    first = _shell(cli, spawn, name)
    shell_pid = containers.wait_running(name)
    first.send(CTRL_P_CTRL_Q)
    assert first.wait() == 0

    again = spawn(cli("attach", name))
    # The CLI sets a size one off and then the right one, so that the shell redraws
    # its prompt for the newcomer (docker/cli's resizeTTY).
    again.expect(PROMPT)
    again.sendline("echo $((6*7))")
    again.expect(r"\b42\n")
    again.send(CTRL_P_CTRL_Q)
    # Unlike run's, attach's detach is an error to the docker CLI (measured against
    # Docker 28: "read escape sequence", status 1).
    assert again.wait() == 1
    again.expect(r"read escape sequence\n")
    assert containers.running(name)
    assert containers.wait_running(name) == shell_pid
