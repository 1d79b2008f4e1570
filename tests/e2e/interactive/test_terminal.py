"""The pty harness itself, on the host's /bin/sh (no daemon): a failure here is the
harness's, not Pier's."""

from __future__ import annotations

import os

import pytest

from pier_testing.api import wait_for
from pier_testing.terminal import Terminal, stty_size, stty_size_when

ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "TERM": "xterm", "PS1": "host> "}


def test_shell_sees_the_size_the_resizes_and_ctrl_c_of_its_terminal() -> None:
    with Terminal(["/bin/sh", "-i"], env=ENV, rows=33, cols=101) as term:
        term.expect("host> ")
        assert stty_size(term) == "33 101"
        term.resize(40, 120)
        assert term.size == (40, 120)
        assert stty_size_when(term, "40 120") == "40 120"
        # ^C becomes SIGINT only for a foreground job of a controlling terminal.
        term.sendline("sleep 100")
        term.expect("sleep 100")  # the echo: only a later prompt matches below
        # Until the child has exec'd sleep it may still hold the shell's SIGINT handler,
        # so the job must be sleep itself before ^C.
        wait_for(lambda: _cmdline(term.foreground_group()) == "sleep\x00100\x00")
        term.send(b"\x03")
        term.expect("host> ")
        term.sendline("exit 3")
        assert term.wait() == 3


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline") as f:
            return f.read()
    except OSError:
        return ""


def test_expect_fails_with_the_unread_screen() -> None:
    with Terminal(["/bin/sh", "-c", "echo one; echo two"], env=ENV) as term:
        term.expect("one")
        with pytest.raises(AssertionError, match=r"'never' not seen \(the terminal closed\)"):
            term.expect("never")
        assert "two" in term.screen
        assert term.wait() == 0


def test_close_kills_the_whole_process_group() -> None:
    term = Terminal(["/bin/sh", "-c", "sleep 1000 & echo bg=$!; wait"], env=ENV)
    background = int(term.expect(r"bg=(\d+)").group(1))
    term.close()
    assert term.survivors() == []
    assert not os.path.exists(f"/proc/{background}") or _is_zombie(background)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
