"""`pier build` (Docker's flags; plain lines off a terminal, one line per step on one),
`pier commit`, `pier diff` and `pier builder prune`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from pier_testing.binaries import PIER
from pier_testing.daemon import PierDaemon
from pier_testing.terminal import Terminal

PierCLI = Any  # the `cli` fixture of this directory's conftest

DOCKERFILE = """FROM busybox
COPY f /f
RUN echo step-output && cat /f > /g
ARG X=1
CMD ["cat", "/g"]
"""


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / "f").write_text("from-context\n")
    return tmp_path


def test_build_plain_output_tags_iidfile(cli: PierCLI, ctx: Path, tmp_path: Path) -> None:
    iid = tmp_path / "iid"
    out = cli("build", "-t", "pier-build:1", "-t", "pier-build:2", "--iidfile", str(iid), str(ctx))
    assert out.returncode == 0, out.stderr
    assert "Step 1/5 : FROM busybox\n" in out.stdout
    assert "step-output\n" in out.stdout
    assert "Successfully tagged pier-build:1\nSuccessfully tagged pier-build:2\n" in out.stdout
    image_id = iid.read_text()
    assert cli.ok("image", "inspect", "-f", "{{.Id}}", "pier-build:2").strip() == image_id
    again = cli("build", "-q", "-t", "pier-build:1", str(ctx))
    assert again.stdout == image_id + "\n"
    assert cli.ok("run", "--rm", "pier-build:1") == "from-context\n"


def test_build_errors_and_exit_codes(cli: PierCLI, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN exit 5\n")
    out = cli("build", "--force-rm", str(tmp_path))
    assert out.returncode == 5
    assert out.stderr == "The command '/bin/sh -c exit 5' returned a non-zero code: 5\n"
    out = cli("build", "--squash", str(tmp_path))
    assert out.returncode == 1
    assert "squash is only supported with experimental mode" in out.stderr
    out = cli("build", str(tmp_path / "nope"))
    assert out.returncode == 1 and "not found" in out.stderr


def test_build_from_stdin(cli: PierCLI) -> None:
    out = cli("build", "-q", "-", input="FROM busybox\nLABEL from=stdin\n")
    assert out.returncode == 0, out.stderr
    label = cli.ok("image", "inspect", "-f", "{{.Config.Labels}}", out.stdout.strip())
    assert label.strip() == "map[from:stdin]"


def test_build_on_a_terminal(pier: PierDaemon, ctx: Path) -> None:
    env = {**pier.env(), "TERM": "xterm"}
    argv = [str(PIER), "-H", pier.host, "build", "--no-cache", str(ctx)]
    with Terminal(argv, env=env, rows=40, cols=120) as term:
        assert term.wait() == 0
        screen = term.screen
    assert re.search(r"\[1/5\] FROM busybox +\d+\.\ds", screen), screen
    assert re.search(r"\[3/5\] RUN echo step-output && cat /f > /g +\d+\.\ds", screen), screen
    assert "Successfully built" in screen
    # The daemon's bookkeeping lines are not shown.
    assert "Running in" not in screen and "Removed intermediate" not in screen


def test_commit_diff_and_prune(cli: PierCLI) -> None:
    cli.ok("run", "--name", "c1", "busybox", "sh", "-c", "mkdir /new && rm /etc/group")
    assert cli.ok("diff", "c1") == "C /etc\nD /etc/group\nA /new\n"
    image = cli.ok("commit", "-m", "from pier", "-c", "ENV COMMITTED=1", "c1", "pier-commit:1")
    assert image.startswith("sha256:")
    env = cli.ok("image", "inspect", "-f", "{{.Config.Env}}", "pier-commit:1")
    assert "COMMITTED=1" in env
    history = cli.ok("history", "--format", "{{.Comment}}", "pier-commit:1").splitlines()
    assert history[0] == "from pier"
    assert "Total reclaimed space:" in cli.ok("builder", "prune", "-f")
    declined = cli("builder", "prune", input="n\n")
    assert declined.returncode == 0
    assert declined.stdout.startswith("WARNING! This will remove all dangling build cache.")
