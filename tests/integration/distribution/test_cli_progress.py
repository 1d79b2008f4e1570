"""`pier pull` shows Docker's progress: off a terminal the very lines the docker CLI
prints for the same pull; on a terminal one line per layer redrawn in place."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from pier_testing.binaries import PIER
from pier_testing.daemon import PierDaemon
from pier_testing.registry import DistributionRegistry
from pier_testing.terminal import Terminal
from pier_testing.transfer import push, random_image


def _pushed(pier: PierDaemon, registry: DistributionRegistry, work: Path, name: str) -> str:
    repo = f"{registry.address}/progress/{name}"
    random_image(pier.client, work, repo, 1_500_000)
    push(pier.client, repo)
    return repo


def test_plain_pull_output_is_the_docker_clis(
    pier: PierDaemon, registry: DistributionRegistry, work: Path
) -> None:
    repo = _pushed(pier, registry, work, "pipe")
    outputs = {}
    for cli in ("docker", str(PIER)):
        for round_ in ("new", "again"):
            if round_ == "new":
                pier.client.delete(f"/images/{repo}:latest")
            done = subprocess.run(
                [cli, "pull", repo], env=pier.env(), capture_output=True, text=True
            )
            assert done.returncode == 0, done.stderr
            outputs[cli, round_] = done.stdout
    for round_ in ("new", "again"):
        assert outputs[str(PIER), round_] == outputs["docker", round_]
    assert outputs["docker", "new"].splitlines()[-1] == f"{repo}:latest"


def test_pull_progress_on_a_terminal(
    pier: PierDaemon, registry: DistributionRegistry, work: Path
) -> None:
    repo = _pushed(pier, registry, work, "tty")
    pier.client.delete(f"/images/{repo}:latest")
    env = {**pier.env(), "TERM": "xterm"}
    with Terminal([str(PIER), "-H", pier.host, "pull", repo], env=env, rows=30, cols=120) as term:
        assert term.wait() == 0
        screen = term.screen
    lines = [line.rstrip() for line in screen.splitlines() if line.strip()]
    assert lines[:2] == ["Using default tag: latest", f"latest: Pulling from {repo}"]
    # One line for the layer, redrawn to its last state (no line per message).
    assert re.fullmatch(r"[0-9a-f]{12}: Pull complete", lines[2]), lines
    assert lines[3].startswith("Digest: sha256:")
    assert lines[4:] == [f"Status: Downloaded newer image for {repo}:latest", f"{repo}:latest"]


def test_plain_push_output_is_the_docker_clis(
    pier: PierDaemon, registry: DistributionRegistry, work: Path
) -> None:
    outputs = {}
    for cli, name in (("docker", "by-docker"), (str(PIER), "by-pier")):
        repo = f"{registry.address}/progress/{name}"
        random_image(pier.client, work, repo, 500_000)  # layers of its own: none mounted
        for round_ in ("new", "again"):
            done = subprocess.run(
                [cli, "push", repo], env=pier.env(), capture_output=True, text=True
            )
            assert done.returncode == 0, done.stderr
            text = done.stdout.replace(name, "REPO")
            text = re.sub(r"sha256:[0-9a-f]{64}", "DIGEST", text)
            outputs[cli, round_] = re.sub(r"\b[0-9a-f]{12}\b", "LAYER", text)
    for round_ in ("new", "again"):
        assert outputs[str(PIER), round_] == outputs["docker", round_]
    assert outputs["docker", "new"].startswith("Using default tag: latest\n")
