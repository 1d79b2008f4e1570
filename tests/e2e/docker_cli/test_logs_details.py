"""`docker logs --details`: the json-file log's attributes (log options labels=, env=,
tag=, as moby's jsonfilelog) before each message, keys sorted and query-escaped."""

from __future__ import annotations

from .conftest import DockerCLI


def test_details_show_the_labels_env_and_tag_asked_for(docker: DockerCLI) -> None:
    output = docker.ok(
        "run",
        "--network", "none",
        "--name", "detailed",
        "--label", "team=a b",
        "--label", "unlisted=1",
        "--label", "tier=web",
        "-e", "STAGE=prod",
        "-e", "OTHER=x",
        "--log-opt", "labels=team,tier,missing",
        "--log-opt", "env=STAGE",
        "--log-opt", "tag={{.Name}}/{{.ID}}",
        "busybox", "sh", "-c", "echo one; echo two >&2",
    )  # fmt: skip
    assert output == "one\n"
    cid = docker.ok("inspect", "-f", "{{.Id}}", "detailed").strip()
    out = docker("logs", "--details", "detailed")
    prefix = f"STAGE=prod,tag=detailed%2F{cid[:12]},team=a+b,tier=web "
    assert (out.returncode, out.stdout, out.stderr) == (0, prefix + "one\n", prefix + "two\n")
    stamped = docker.ok("logs", "--details", "-t", "detailed")
    assert stamped.endswith(f"Z {prefix}one\n") and stamped.count(" ") == 2


def test_details_without_attributes_are_a_lone_space(docker: DockerCLI) -> None:
    docker.ok("run", "--network", "none", "--name", "plain", "busybox", "echo", "hi")
    assert docker.ok("logs", "--details", "plain") == " hi\n"
    assert docker.ok("logs", "plain") == "hi\n"


def test_env_regex_and_labels_regex(docker: DockerCLI) -> None:
    docker.ok(
        "run", "--network", "none", "--name", "rx",
        "-e", "APP_A=1", "-e", "APP_B=2", "-e", "NOPE=3",
        "--label", "com.x.one=o", "--label", "org.y=n",
        "--log-opt", "env-regex=^APP_",
        "--log-opt", "labels-regex=^com\\.x\\.",
        "busybox", "echo", "r",
    )  # fmt: skip
    assert docker.ok("logs", "--details", "rx") == "APP_A=1,APP_B=2,com.x.one=o r\n"
