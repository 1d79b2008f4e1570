""".dockerignore: Docker's pattern rules (moby/patternmatcher and its ignorefile).

Patterns are cleaned paths relative to the context root (a leading `/` is dropped);
`*` and `?` stop at `/`, `**` spans any number of directories, `[...]` is a class,
`\\` escapes; `!pattern` re-includes. The last pattern that matches a path decides,
and a path is excluded when its parent directory is.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_ESCAPE = frozenset(".+()|{}$")


@dataclass(frozen=True, slots=True)
class _Pattern:
    text: str
    exclusion: bool
    regex: re.Pattern[str]


def read_patterns(text: str) -> list[str]:
    """The patterns of a .dockerignore file, cleaned as Docker cleans them."""
    out: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        invert = line.startswith("!")
        if invert:
            line = line[1:].strip()
        if line:
            line = posixpath.normpath(line)
            if len(line) > 1 and line.startswith("/"):
                line = line.lstrip("/") or "/"
        out.append("!" + line if invert else line)
    return out


def _compile(pattern: str) -> re.Pattern[str]:
    out = ["^"]
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            if i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":
                    i += 1
                out.append(".*" if i >= n else "(.*/)?")
            else:
                out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch in _ESCAPE:
            out.append("\\" + ch)
        elif ch == "\\":
            if i < n:
                out.append(re.escape(pattern[i]))
                i += 1
            else:
                out.append("\\\\")
        elif ch == "[":
            if i < n and pattern[i] == "!":
                out.append("[^")
                i += 1
            else:
                out.append("[")
        else:
            out.append(re.escape(ch) if ch not in "]" else ch)
    out.append("$")
    try:
        return re.compile("".join(out), re.DOTALL)
    except re.error:
        return re.compile(re.escape(pattern))


class Matcher:
    def __init__(self, patterns: Iterable[str]) -> None:
        self._patterns: list[_Pattern] = []
        for p in patterns:
            exclusion = p.startswith("!")
            text = p[1:] if exclusion else p
            if not text:
                continue
            self._patterns.append(_Pattern(text, exclusion, _compile(text)))

    def __bool__(self) -> bool:
        return bool(self._patterns)

    def may_include_below(self, directory: str) -> bool:
        """Whether an exception pattern may re-include something under `directory`
        (moby walks into an excluded directory only then)."""
        prefix = directory + "/"
        return any(p.exclusion and (p.text + "/").startswith(prefix) for p in self._patterns)

    def excluded(self, path: str) -> bool:
        """Whether `path` (relative, `/`-separated) or a parent directory is excluded."""
        matched = False
        parent = posixpath.dirname(path)
        parents: Sequence[str] = parent.split("/") if parent else ()
        for pattern in self._patterns:
            if pattern.exclusion != matched:
                continue
            hit = bool(pattern.regex.match(path))
            if not hit and parents:
                for i in range(len(parents)):
                    if pattern.regex.match("/".join(parents[: i + 1])):
                        hit = True
                        break
            if hit:
                matched = not pattern.exclusion
        return matched
