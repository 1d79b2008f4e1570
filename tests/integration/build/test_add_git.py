"""ADD <git URL> as BuildKit does it: the tree at a branch or tag (`#ref`), or one of
its directories (`#ref:subdir`), copied into the destination without `.git` (kept with
`--keep-git-dir=true`); the step's cache follows the tree, so a new commit on the
branch rebuilds it. The repository is served by `git daemon` on 127.0.0.1."""

from __future__ import annotations

import subprocess
from pathlib import Path

from pier_testing.build import build, run_output
from pier_testing.daemon import PierDaemon


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t", *args],
        check=True,
        capture_output=True,
    )


def _commit(work: Path, files: dict[str, str], *, tag: str = "") -> None:
    for name, text in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text)
    _git(work, "add", ".")
    _git(work, "commit", "-qm", "change")
    if tag:
        _git(work, "tag", tag)
    _git(work, "push", "-q", "--tags", "origin", "main")


def test_add_a_branch_a_tag_and_a_subdirectory(
    pier: PierDaemon, git_server: tuple[str, Path]
) -> None:
    url, work = git_server
    _commit(work, {"top.txt": "v1\n", "sub/inner.txt": "inner v1\n"}, tag="v1")
    _commit(work, {"top.txt": "v2\n"})
    dockerfile = (
        "FROM busybox\n"
        f"ADD {url}#main /repo\n"
        f"ADD {url}#v1:sub /sub\n"
        f"ADD --keep-git-dir=true {url}#v1 /kept\n"
    )
    out = build(pier, {"Dockerfile": dockerfile}).ok()
    assert run_output(pier, out.image_id, "cat", "/repo/top.txt", "/repo/sub/inner.txt") == (
        "v2\ninner v1\n"
    )
    assert run_output(pier, out.image_id, "ls", "-a", "/repo") == ".\n..\nsub\ntop.txt\n"
    assert run_output(pier, out.image_id, "ls", "/sub") == "inner.txt\n"
    assert run_output(pier, out.image_id, "cat", "/kept/top.txt") == "v1\n"
    assert run_output(pier, out.image_id, "sh", "-c", "test -f /kept/.git/HEAD && echo y") == "y\n"

    again = build(pier, {"Dockerfile": dockerfile}).ok()
    assert again.text.count(" ---> Using cache") == 3
    _commit(work, {"top.txt": "v3\n"})
    moved = build(pier, {"Dockerfile": dockerfile}).ok()
    steps = moved.text.split("Step ")[1:]
    assert [s.split(" :")[0] for s in steps if " ---> Using cache" in s] == []
    assert run_output(pier, moved.image_id, "cat", "/repo/top.txt") == "v3\n"


def test_an_unknown_ref_fails_the_step(pier: PierDaemon, git_server: tuple[str, Path]) -> None:
    url, work = git_server
    _commit(work, {"f": "x\n"})
    failed = build(pier, {"Dockerfile": f"FROM busybox\nADD {url}#no-such-branch /x\n"})
    assert failed.error is not None
    assert failed.error["error"].startswith(f"failed to fetch {url}#no-such-branch: ")


def test_a_context_directory_named_like_a_repository_is_copied(pier: PierDaemon) -> None:
    # moby's IsGitURL: only an http(s) URL ending in .git is one; `lib.git` is a path in
    # the context, and a clone of it would read the daemon's own directory.
    dockerfile = "FROM busybox\nADD lib.git /lib\n"
    out = build(pier, {"Dockerfile": dockerfile, "lib.git/f.txt": "from the context\n"}).ok()
    assert run_output(pier, out.image_id, "cat", "/lib/f.txt") == "from the context\n"
