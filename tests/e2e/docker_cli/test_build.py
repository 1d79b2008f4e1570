"""`DOCKER_BUILDKIT=0 docker build` (the real docker CLI, classic builder) and the docker
SDK's `images.build` against pierd: the step lines, `Using cache`, `--iidfile`, `-q`,
`-f` (outside the context, from stdin), `docker build - < Dockerfile`, build args,
labels, a failing RUN's exit status, `docker history`, `docker diff`, `docker commit`
and `docker builder prune`."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from pier_testing.daemon import PierDaemon

DOCKER = "/usr/local/bin/docker"


class DockerBuild:
    """The docker CLI on pierd with the classic builder (DOCKER_BUILDKIT=0)."""

    def __init__(self, daemon: PierDaemon) -> None:
        self._env = {**daemon.env(), "DOCKER_BUILDKIT": "0"}

    def __call__(
        self, *args: str, input: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [DOCKER, *args],
            env=self._env,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


DOCKERFILE = """FROM busybox
COPY a.txt /a.txt
RUN echo built > /built
ARG WHO=nobody
RUN echo "$WHO" > /who
CMD ["cat", "/a.txt", "/built", "/who"]
"""


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / "a.txt").write_text("a\n")
    return tmp_path


@pytest.fixture
def cli(pier: PierDaemon) -> DockerBuild:
    return DockerBuild(pier)


def test_build_cache_iidfile_and_run(cli: DockerBuild, ctx: Path, tmp_path: Path) -> None:
    iid = tmp_path / "iid"
    first = cli(
        "build", "-t", "e2e-build:1", "--iidfile", str(iid), "--build-arg", "WHO=e2e", str(ctx)
    )
    assert first.returncode == 0, first.stderr
    assert "Step 1/6 : FROM busybox" in first.stdout
    assert " ---> Running in " in first.stdout
    image_id = iid.read_text()
    assert image_id.startswith("sha256:")
    assert f"Successfully built {image_id[7:19]}" in first.stdout
    assert "Successfully tagged e2e-build:1" in first.stdout
    second = cli(
        "build", "-t", "e2e-build:1", "--iidfile", str(iid), "--build-arg", "WHO=e2e", str(ctx)
    )
    assert second.returncode == 0, second.stderr
    assert second.stdout.count(" ---> Using cache") == 5
    assert iid.read_text() == image_id
    run = cli("run", "--rm", "e2e-build:1")
    assert (run.returncode, run.stdout) == (0, "a\nbuilt\ne2e\n")
    history = cli("history", "--no-trunc", "--format", "{{.CreatedBy}}", "e2e-build:1")
    lines = history.stdout.splitlines()
    assert lines[0] == '/bin/sh -c #(nop)  CMD ["cat" "/a.txt" "/built" "/who"]'
    assert lines[1] == '|1 WHO=e2e /bin/sh -c echo "$WHO" > /who'
    assert lines[2] == "/bin/sh -c #(nop)  ARG WHO=nobody"


def test_quiet_prints_only_the_id(cli: DockerBuild, ctx: Path) -> None:
    out = cli("build", "-q", str(ctx))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith("sha256:") and len(out.stdout.split()) == 1


def test_dockerfile_outside_the_context_and_from_stdin(cli: DockerBuild, tmp_path: Path) -> None:
    context = tmp_path / "context"
    context.mkdir()
    (context / "f").write_text("from-context\n")
    outside = tmp_path / "elsewhere.Dockerfile"
    outside.write_text('FROM busybox\nCOPY f /f\nCMD ["cat", "/f"]\n')
    built = cli("build", "-q", "-f", str(outside), str(context))
    assert built.returncode == 0, built.stderr
    assert cli("run", "--rm", built.stdout.strip()).stdout == "from-context\n"
    piped = cli("build", "-q", "-f", "-", str(context), input=outside.read_text())
    assert piped.returncode == 0, piped.stderr
    # No context at all: the Dockerfile itself on stdin.
    bare = cli("build", "-q", "-", input="FROM busybox\nLABEL bare=yes\n")
    assert bare.returncode == 0, bare.stderr
    labels = cli("inspect", "--format", "{{.Config.Labels.bare}}", bare.stdout.strip())
    assert labels.stdout.strip() == "yes"


def test_failing_run_exit_status(cli: DockerBuild, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN echo about to fail; exit 7\n")
    out = cli("build", "--force-rm", str(tmp_path))
    assert out.returncode == 7
    assert "about to fail" in out.stdout
    assert (
        "The command '/bin/sh -c echo about to fail; exit 7' returned a non-zero code: 7"
        in out.stderr
    )
    assert cli("ps", "-aq").stdout == ""


def test_parse_error(cli: DockerBuild, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUNN x\n")
    out = cli("build", str(tmp_path))
    assert out.returncode == 1
    assert out.stderr.endswith(
        "Error response from daemon: dockerfile parse error on line 2: unknown instruction: "
        "RUNN (did you mean RUN?)\n"
    )


def test_diff_commit_and_prune(cli: DockerBuild) -> None:
    made = cli("run", "--name", "to-commit", "busybox", "sh", "-c", "echo hi > /tmp/hi")
    assert made.returncode == 0, made.stderr
    diff = cli("diff", "to-commit")
    assert diff.stdout == "C /tmp\nA /tmp/hi\n"
    commit = cli(
        "commit", "-m", "msg", "-a", "me", "-c", "CMD cat /tmp/hi", "to-commit", "committed:e2e"
    )
    assert commit.returncode == 0, commit.stderr
    assert commit.stdout.startswith("sha256:")
    assert cli("run", "--rm", "committed:e2e").stdout == "hi\n"
    prune = cli("builder", "prune", "-f")
    assert prune.returncode == 0, prune.stderr
    assert "Total reclaimed space" in prune.stdout


@pytest.fixture
def sdk(pier: PierDaemon) -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url=pier.host, timeout=120)
    yield client
    client.close()


def test_sdk_images_build(sdk: docker.DockerClient, ctx: Path) -> None:
    image, logs = sdk.images.build(path=str(ctx), tag="sdk-build:1", buildargs={"WHO": "sdk"})
    assert "sdk-build:1" in image.tags
    text = "".join(str(chunk.get("stream", "")) for chunk in logs)
    assert "Step 6/6" in text
    again, logs2 = sdk.images.build(path=str(ctx), tag="sdk-build:1", buildargs={"WHO": "sdk"})
    assert again.id == image.id
    assert "Using cache" in "".join(str(c.get("stream", "")) for c in logs2)
    out = sdk.containers.run("sdk-build:1", remove=True)
    assert out == b"a\nbuilt\nsdk\n"
    # A failure is the stream's last message (read to its end, so the connection closes).
    failed = list(sdk.api.build(fileobj=io.BytesIO(b"FROM busybox\nRUN exit 4\n"), decode=True))
    assert failed[-1]["errorDetail"] == {
        "code": 4,
        "message": "The command '/bin/sh -c exit 4' returned a non-zero code: 4",
    }


def test_sdk_low_level_build_stream(sdk: docker.DockerClient) -> None:
    stream = sdk.api.build(fileobj=io.BytesIO(b"FROM busybox\nENV X=1\n"), decode=True, rm=True)
    messages = list(stream)
    assert any("aux" in m for m in messages)
    assert messages[-1]["stream"].startswith("Successfully built ")
