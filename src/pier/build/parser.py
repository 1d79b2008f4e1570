"""A Dockerfile's text -> nodes: one per instruction, with its source lines.

This is the frontend's first pass (moby/buildkit `frontend/dockerfile/parser`, whose
rules Docker's builders share): parser directives at the top (`# escape=`,
`# syntax=`, `# check=`), comments dropped (also inside continuations), line
continuations joined, builder flags (`--from=x`) taken off the front, heredocs read
for RUN/COPY/ADD, and the arguments split as each instruction's form says (JSON array
or shell form, key=value pairs, whitespace-separated words). Variables are not
expanded here: that happens per instruction when it runs (`pier.build.lexer`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pier.build.forms import (
    DEFAULT_ESCAPE,
    health,
    maybe_json,
    maybe_json_to_list,
    name_values,
    parse_words,
    split_command,
    whitespace_words,
)
from pier.build.lexer import Lexer
from pier.errors import InvalidParameter

_HEREDOC = re.compile(r"^(\d*)<<(-?)\s*([^<]*)$", re.DOTALL)
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_DIRECTIVES = ("syntax", "escape", "check")
_LEADING_TABS = re.compile(r"^\t+", re.MULTILINE)

HEREDOC_INSTRUCTIONS = frozenset({"add", "copy", "run"})


class ParseError(InvalidParameter):
    """A syntax error, with the line range it was found on."""

    def __init__(self, message: str, start: int, end: int = 0) -> None:
        super().__init__(message)
        self.start = start
        self.end = max(end, start)


@dataclass(frozen=True, slots=True, kw_only=True)
class Heredoc:
    name: str
    content: str = ""
    expand: bool = True  # the name was not quoted: the content is expanded
    chomp: bool = False  # `<<-`: leading tabs removed
    fd: int = 0

    def data(self) -> str:
        return chomp(self.content) if self.chomp else self.content


@dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    """One instruction as written. `args` depend on the instruction's form: the JSON
    array's strings, a single shell-form string, words, or (ENV/LABEL) flattened
    key, value, separator triples."""

    keyword: str  # as written ("run", "RUN")
    flags: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    json: bool = False
    original: str = ""
    start_line: int = 0
    end_line: int = 0
    heredocs: tuple[Heredoc, ...] = ()
    sub: Node | None = None  # ONBUILD's instruction
    comments: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.keyword.lower()


@dataclass(frozen=True, slots=True, kw_only=True)
class Parsed:
    nodes: tuple[Node, ...]
    escape: str = DEFAULT_ESCAPE
    directives: tuple[tuple[str, str], ...] = ()
    warnings: tuple[str, ...] = field(default=())


def chomp(text: str) -> str:
    return _LEADING_TABS.sub("", text)


class _Directives:
    def __init__(self) -> None:
        self.escape = DEFAULT_ESCAPE
        self.done = False
        self.seen: dict[str, str] = {}
        self._set_continuation()

    def _set_continuation(self) -> None:
        e = re.escape(self.escape)
        self.continuation = re.compile(rf"([^{e}]){e}[ \t]*$|^{e}[ \t]*$")

    def feed(self, line: str) -> bool:
        """True if `line` is a parser directive (they may only open the file)."""
        if self.done:
            return False
        m = _DIRECTIVE.match(line)
        if m is None or m.group(1).lower() not in _DIRECTIVES:
            self.done = True
            return False
        key = m.group(1).lower()
        if key in self.seen:
            raise InvalidParameter(f"only one {key} parser directive can be used")
        value = m.group(2)
        self.seen[key] = value
        if key == "escape":
            if value not in ("`", "\\"):
                raise InvalidParameter(f"invalid escape token '{value}' does not match ` or \\")
            self.escape = value
            self._set_continuation()
        return True

    def trim_continuation(self, line: str) -> tuple[str, bool]:
        """The line without its continuation token, and whether the instruction ends."""
        if self.continuation.search(line):
            return self.continuation.sub(lambda m: m.group(1) or "", line), False
        return line, True


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def parse(text: str) -> Parsed:
    """Parse a whole Dockerfile. ParseError (a 400) on bad syntax, with its line."""
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.splitlines(keepends=True)
    d = _Directives()
    nodes: list[Node] = []
    warnings: list[str] = []
    comments: list[str] = []
    i = 0
    n = len(lines)
    current = 0
    while i < n:
        raw = lines[i]
        i += 1
        if _is_comment(raw):
            comment = raw.strip()[1:].strip()
            comments = [*comments, comment] if comment else []
        token = raw.rstrip("\r\n").lstrip()
        try:
            if d.feed(token):
                comments = comments[:-1]
        except InvalidParameter as exc:
            raise ParseError(exc.message, current) from None
        token = "" if _is_comment(token) else token
        current += 1
        start = current
        token, end_of_line = d.trim_continuation(token)
        if end_of_line and not token:
            continue
        parts = [token]
        empty_continuation = False
        while not end_of_line and i < n:
            raw = lines[i]
            i += 1
            d.done = True
            current += 1
            if _is_comment(raw):
                continue
            cont = raw.rstrip("\r\n")
            if not cont.strip():
                empty_continuation = True
                continue
            cont, end_of_line = d.trim_continuation(cont)
            parts.append(cont)
        line = "".join(parts)
        if empty_continuation:
            warnings.append(f"Empty continuation line found in: {line}")
        try:
            node = _node_from_line(line, d, tuple(comments))
        except InvalidParameter as exc:
            raise ParseError(exc.message, start, current) from None
        target = node.sub if node.name == "onbuild" and node.sub is not None else node
        if target.name in HEREDOC_INSTRUCTIONS and not target.json and "<<" in line:
            docs: list[Heredoc] = []
            try:
                wanted = _heredocs_in(line)
            except InvalidParameter as exc:
                raise ParseError(exc.message, start, current) from None
            for doc in wanted:
                body: list[str] = []
                terminated = False
                while i < n:
                    raw = lines[i]
                    i += 1
                    current += 1
                    candidate = raw.rstrip("\r\n")
                    if doc.chomp:
                        candidate = candidate.lstrip("\t")
                    if candidate == doc.name:
                        terminated = True
                        break
                    body.append(raw)
                if not terminated:
                    raise ParseError("unterminated heredoc", start, current)
                docs.append(
                    Heredoc(
                        name=doc.name,
                        content="".join(body),
                        expand=doc.expand,
                        chomp=doc.chomp,
                        fd=doc.fd,
                    )
                )
            node = _with_heredocs(node, tuple(docs))
        nodes.append(_lines(node, start, current))
        comments = []
    if not nodes:
        raise ParseError("file with no instructions", current)
    return Parsed(
        nodes=tuple(nodes),
        escape=d.escape,
        directives=tuple(d.seen.items()),
        warnings=tuple(warnings),
    )


def _with_heredocs(node: Node, docs: tuple[Heredoc, ...]) -> Node:
    if node.name == "onbuild" and node.sub is not None:
        return _replace(node, sub=_replace(node.sub, heredocs=docs), heredocs=docs)
    return _replace(node, heredocs=docs)


def _lines(node: Node, start: int, end: int) -> Node:
    return _replace(node, start_line=start, end_line=end)


def _replace(node: Node, **changes: object) -> Node:
    from dataclasses import replace

    return replace(node, **changes)  # type: ignore[arg-type]


def parse_heredoc(word: str) -> Heredoc | None:
    """The heredoc a word like `<<EOF`, `<<-"EOF"` or `3<<EOF` opens, if any."""
    m = _HEREDOC.match(word)
    if m is None or not m.group(3):
        return None
    rest = m.group(3)
    plain = Lexer(DEFAULT_ESCAPE, skip_unset=True).process_words(rest, {})
    if len(plain) != 1:
        return None
    raw = Lexer(DEFAULT_ESCAPE, skip_unset=True, raw_quotes=True).process_words(rest, {})
    name = plain[0]
    quoted = (name.count("'") + name.count('"')) != (raw[0].count("'") + raw[0].count('"'))
    return Heredoc(
        name=name,
        expand=not quoted,
        chomp=m.group(2) == "-",
        fd=int(m.group(1)) if m.group(1) else 0,
    )


def _heredocs_in(line: str) -> list[Heredoc]:
    lex = Lexer(DEFAULT_ESCAPE, raw_quotes=True, raw_escapes=True, skip_unset=True)
    try:
        words = lex.process_words(line, {})
    except InvalidParameter:
        return []
    return [doc for doc in (parse_heredoc(w) for w in words) if doc is not None]


# -- one line -> one node ---------------------------------------------------------------


def _node_from_line(line: str, d: _Directives, comments: tuple[str, ...]) -> Node:
    keyword, flags, rest = split_command(line, d.escape)
    name = keyword.lower()
    sub: Node | None = None
    is_json = False
    args: tuple[str, ...] = ()
    if name == "onbuild":
        if rest:
            sub = _node_from_line(rest, d, ())
    elif name in ("add", "copy", "volume"):
        args, is_json = maybe_json_to_list(rest)
    elif name == "arg":
        args = tuple(parse_words(rest, d.escape))
    elif name in ("cmd", "entrypoint", "run", "shell"):
        args, is_json = maybe_json(rest)
    elif name in ("env", "label"):
        args = name_values(rest, name.upper(), d.escape)
    elif name in ("expose", "from"):
        args = whitespace_words(rest)
    elif name == "healthcheck":
        args, is_json = health(rest)
    elif name in ("maintainer", "stopsignal", "user", "workdir"):
        args = (rest,) if rest else ()
    return Node(
        keyword=keyword,
        flags=tuple(flags),
        args=args,
        json=is_json,
        original=line,
        sub=sub,
        comments=comments,
    )
