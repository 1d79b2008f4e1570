"""Remote build contexts: a git repository (BuildKit's `repo#ref:subdir`), a tarball
or a plain-text Dockerfile behind a URL; also `ADD <git URL>`'s clone."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from pier.errors import InvalidParameter

_CHUNK = 1 << 20
# A clone that has not finished in this time is given up (a server that accepts and
# never answers would otherwise hold the build, and its worker thread, for ever).
GIT_CLONE_TIMEOUT = 300.0
_GIT_SUFFIX = re.compile(r"\.git(?:#.+)?$")


def is_git_url(url: str) -> bool:
    """moby's urlutil.IsGitURL: a `.git` suffix marks a git URL only on an http(s) URL;
    a bare `lib.git` is a path (a context directory to ADD, never a clone of the
    daemon's own files)."""
    if url.startswith(("git://", "git@", "github.com/")):
        return True
    return url.startswith(("http://", "https://")) and _GIT_SUFFIX.search(url) is not None


def fetch_remote(url: str, workdir: Path) -> tuple[Path | None, str | None]:
    """A remote context: (a context tar to unpack, None), or (None, Dockerfile text) for
    a plain-text URL, or a git checkout unpacked straight into `workdir/context`."""
    if is_git_url(url):
        git_clone(url, workdir / "context")
        return None, None
    if not url.startswith(("http://", "https://")):
        raise InvalidParameter(f"remoteURL ({url}) could not be recognized as URL")
    archive = workdir / "remote.tar"
    try:
        with urllib.request.urlopen(url, timeout=60) as resp:
            content_type = str(resp.headers.get("Content-Type", ""))
            with open(archive, "wb") as out:
                shutil.copyfileobj(resp, out, _CHUNK)
    except urllib.error.HTTPError as exc:
        raise InvalidParameter(
            f"error downloading remote context {url}: {exc.code} {exc.reason}"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason: Any = getattr(exc, "reason", exc)
        raise InvalidParameter(f"error downloading remote context {url}: {reason}") from None
    if content_type.startswith("text/plain"):
        return None, archive.read_text(errors="replace")
    return archive, None


def git_clone(
    url: str,
    dest: Path,
    *,
    keep_git: bool = False,
    what: str = "",
    timeout: float = GIT_CLONE_TIMEOUT,
) -> str:
    """Check out `url` (`repo#ref:subdir`, BuildKit's form) into `dest`, without its
    `.git` unless `keep_git`; the repository's `subdir` becomes `dest`. Returns the
    commit checked out. A clone that takes longer than `timeout` seconds is a failed
    fetch (400), its processes killed and `dest` removed."""
    repo, _, fragment = url.partition("#")
    ref, _, subdir = fragment.partition(":")
    if repo.startswith("github.com/"):
        repo = "https://" + repo
    args = ["git", "clone", "--quiet", "--depth", "1", "--recurse-submodules"]
    if ref:
        args += ["--branch", ref]
    prefix = what or (
        "unable to prepare context: unable to 'git clone' to temporary context directory"
    )
    returncode, stderr = _run_clone([*args, "--", repo, str(dest)], timeout)
    if returncode is None:
        shutil.rmtree(dest, ignore_errors=True)
        raise InvalidParameter(
            f"{prefix}: error fetching {repo}: no answer within {timeout:g} s (timed out)"
        )
    if returncode != 0:
        raise InvalidParameter(
            f"{prefix}: error fetching: {stderr.strip()}: exit status {returncode}"
        )
    commit = subprocess.run(
        ["git", "-C", str(dest), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    if not keep_git:
        shutil.rmtree(dest / ".git", ignore_errors=True)
    if subdir:
        sub = Path(os.path.realpath(dest / subdir))
        if not sub.is_relative_to(os.path.realpath(dest)):
            raise InvalidParameter(f'invalid build context: "{subdir}" is outside of the context')
        if not sub.is_dir():
            raise InvalidParameter(f"subdirectory {subdir} not found in the repository")
        tmp = dest.with_name(dest.name + "-sub")
        sub.rename(tmp)
        shutil.rmtree(dest)
        tmp.rename(dest)
    return commit


def _run_clone(argv: list[str], timeout: float) -> tuple[int | None, str]:
    """(exit status, stderr) of the clone; (None, stderr) when it timed out. The clone
    runs in a session of its own so a timeout kills its helpers too (git-remote-http,
    submodule clones), not only the git that started them."""
    with subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
    ) as proc:
        try:
            _, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            _, stderr = proc.communicate()
            return None, stderr
        return proc.returncode, stderr
