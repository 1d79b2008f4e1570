"""`pier` commands end to end: exit codes, stdout and stderr as docker prints them."""

from __future__ import annotations

import json
import re
from typing import Any

PierCLI = Any  # the `cli` fixture of this directory's conftest

ID64 = re.compile(r"^[0-9a-f]{64}\n$")


def test_run_prints_output_and_exit_code(cli: PierCLI) -> None:
    out = cli("run", "--rm", "busybox", "echo", "hello")
    assert (out.returncode, out.stdout, out.stderr) == (0, "hello\n", "")
    out = cli("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 7")
    assert (out.returncode, out.stdout, out.stderr) == (7, "out\n", "err\n")


def test_run_command_not_found_is_127(cli: PierCLI) -> None:
    out = cli("run", "--rm", "busybox", "nonexist")
    assert out.returncode == 127
    assert out.stdout == ""
    assert out.stderr.startswith("pier: Error response from daemon: ")
    assert "executable file not found" in out.stderr
    assert out.stderr.endswith("\n\nRun 'pier run --help' for more information\n")


def test_run_unknown_flag_is_125(cli: PierCLI) -> None:
    out = cli("run", "--foo", "busybox")
    assert out.returncode == 125
    assert out.stderr == (
        "unknown flag: --foo\n\nUsage:  pier run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\n"
        "Run 'pier run --help' for more information\n"
    )


def test_run_missing_image_tries_a_pull(cli: PierCLI) -> None:
    out = cli("run", "--rm", "nosuchimage")
    assert out.returncode == 125
    assert out.stderr.startswith("Unable to find image 'nosuchimage:latest' locally\n")
    assert "pier: Error response from daemon: " in out.stderr


def test_run_options_shape_the_process(cli: PierCLI) -> None:
    out = cli(
        "run", "--rm", "-e", "A=1", "-w", "/tmp", "-u", "1:2", "-h", "myhost", "busybox",
        "sh", "-c", "echo $A $(pwd) $(id -u):$(id -g) $(hostname)",
    )  # fmt: skip
    assert (out.returncode, out.stdout) == (0, "1 /tmp 1:2 myhost\n"), out.stderr


def test_run_interactive_pipes_stdin(cli: PierCLI) -> None:
    out = cli("run", "--rm", "-i", "busybox", "cat", input="line1\nline2\n")
    assert (out.returncode, out.stdout) == (0, "line1\nline2\n"), out.stderr


def test_detached_lifecycle(cli: PierCLI) -> None:
    out = cli("run", "-d", "--name", "web", "busybox", "sleep", "1000")
    assert out.returncode == 0, out.stderr
    assert ID64.match(out.stdout)
    cid = out.stdout.strip()
    assert cli.ok("ps", "-q") == cid[:12] + "\n"
    assert cli.ok("ps", "--no-trunc", "--format", "{{.ID}} {{.Names}} {{.State}}") == (
        f"{cid} web running\n"
    )
    table = cli.ok("ps").splitlines()
    assert table[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS",
                                "PORTS", "NAMES"]  # fmt: skip
    assert table[1].startswith(f'{cid[:12]}   busybox   "sleep 1000"   ')
    assert table[1].endswith("web")
    assert cli.ok("inspect", "-f", "{{.State.Running}} {{json .Config.Cmd}}", "web") == (
        'true ["sleep","1000"]\n'
    )
    assert cli.ok("rename", "web", "web2") == ""
    assert cli.ok("stop", "-t", "1", "web2") == "web2\n"
    assert cli.ok("wait", "web2") in ("137\n", "143\n")
    assert cli.ok("rm", "web2") == "web2\n"
    assert cli.ok("ps", "-aq") == ""


def test_create_start_attach_logs(cli: PierCLI) -> None:
    cid = cli.ok("create", "--name", "c1", "busybox", "sh", "-c", "echo one; echo two >&2")
    assert ID64.match(cid)
    out = cli("start", "-a", "c1")
    assert (out.returncode, out.stdout, out.stderr) == (0, "one\n", "two\n")
    out = cli("logs", "c1")
    assert (out.returncode, out.stdout, out.stderr) == (0, "one\n", "two\n")
    out = cli("logs", "--tail", "1", "c1")
    assert out.returncode == 0
    assert cli.ok("ps", "-a", "--format", "{{.Names}} {{.State}}") == "c1 exited\n"
    assert cli.ok("rm", "c1") == "c1\n"


def test_inspect_prints_an_indented_array(cli: PierCLI) -> None:
    cli.ok("create", "--name", "i1", "-l", "k=v", "busybox", "true")
    out = cli.ok("inspect", "i1")
    assert out.startswith('[\n    {\n        "Id": ')
    doc = json.loads(out)
    assert doc[0]["Config"]["Labels"] == {"k": "v"}
    assert cli.ok("container", "inspect", "-f", '{{index .Config.Labels "k"}}', "i1") == "v\n"
    out = cli("inspect", "nosuch")
    assert (out.returncode, out.stdout, out.stderr) == (
        1,
        "[]\n",
        "Error: No such object: nosuch\n",
    )


def test_errors_from_the_daemon(cli: PierCLI) -> None:
    out = cli("rm", "nosuch")
    assert (out.returncode, out.stderr) == (
        1,
        "Error response from daemon: No such container: nosuch\n",
    )
    out = cli("stop", "nosuch")
    assert (out.returncode, out.stderr) == (
        1,
        "Error response from daemon: No such container: nosuch\n",
    )
    out = cli("start", "nosuch")
    assert out.returncode == 1
    assert out.stderr.endswith("Error: failed to start containers: nosuch\n")


def test_usage_errors(cli: PierCLI) -> None:
    out = cli("stop")
    assert out.returncode == 1
    assert out.stderr == (
        "pier: 'pier stop' requires at least 1 argument\n\n"
        "Usage:  pier stop [OPTIONS] CONTAINER [CONTAINER...]\n\n"
        "See 'pier stop --help' for more information\n"
    )
    out = cli("bogus")
    assert out.returncode == 1
    assert (
        out.stderr
        == "pier: unknown command: pier bogus\n\nRun 'pier --help' for more information\n"
    )
    out = cli("ps", "--bogus")
    assert out.returncode == 125


def test_images_tag_history_rmi(cli: PierCLI) -> None:
    table = cli.ok("images").splitlines()
    assert table[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert any(line.startswith("busybox      latest    ") for line in table[1:])
    image_id = cli.ok("image", "inspect", "-f", "{{.Id}}", "busybox").strip()
    assert image_id.startswith("sha256:")
    assert cli.ok("tag", "busybox", "mybox:1") == ""
    # (docker also narrows RepoTags to the reference filter; pierd does not yet)
    assert "mybox:1" in cli.ok("images", "--format", "{{.Repository}}:{{.Tag}}", "mybox").split()
    assert cli.ok("history", "-q", "mybox:1").splitlines()[0] in (image_id[7:19], "<missing>")
    assert cli.ok("rmi", "mybox:1") == "Untagged: mybox:1\n"
    out = cli("rmi", "nosuch")
    assert out.returncode == 1
    assert out.stderr.startswith("Error response from daemon: ")


def test_import(cli: PierCLI, busybox_tar: object) -> None:
    out = cli.ok("import", str(busybox_tar), "imported:1")
    assert re.match(r"^sha256:[0-9a-f]{64}\n$", out), out
    assert cli.ok("run", "--rm", "imported:1", "echo", "ok") == "ok\n"
    cli.ok("rmi", "imported:1")


def test_version_and_info(cli: PierCLI) -> None:
    out = cli.ok("version")
    assert out.startswith("Client:\n Version:           ")
    assert "\nServer:\n" in out
    assert cli.ok("version", "--format", "{{.Client.ApiVersion}}") == "1.47\n"
    assert "Containers: " in cli.ok("info")


def test_daemon_unreachable(cli: PierCLI) -> None:
    out = cli("-H", "unix:///nonexistent/pier.sock", "ps")
    assert (out.returncode, out.stderr) == (
        1, "Cannot connect to the Pier daemon at unix:///nonexistent/pier.sock. "
           "Is the pier daemon running?\n")  # fmt: skip
