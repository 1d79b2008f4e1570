"""How each instruction's arguments split (the frontend's line parsers): leading
builder flags, words with their quotes kept, key=value pairs, JSON arrays or the shell
form. Quotes and escapes are removed later, by variable expansion."""

from __future__ import annotations

import json
import re

from pier.errors import InvalidParameter

DEFAULT_ESCAPE = "\\"
_WHITESPACE = re.compile(r"[\t\v\f\r ]+")


def split_command(line: str, escape: str = DEFAULT_ESCAPE) -> tuple[str, list[str], str]:
    parts = _WHITESPACE.split(line.strip(), maxsplit=1)
    if len(parts) < 2:
        return parts[0], [], ""
    rest, flags = _extract_flags(parts[1], escape)
    return parts[0], flags, rest.strip()


def _extract_flags(line: str, escape: str) -> tuple[str, list[str]]:
    """Leading `--name[=value]` words (quotes allowed), and the rest of the line."""
    words: list[str] = []
    pos = 0
    n = len(line)
    while True:
        while pos < n and line[pos].isspace():
            pos += 1
        if pos >= n:
            return "", words
        if not line.startswith("--", pos):
            return line[pos:], words
        buf: list[str] = []
        quote = ""
        blank_ok = False
        while pos < n:
            ch = line[pos]
            if quote:
                if ch == quote:
                    quote = ""
                elif ch == escape and pos + 1 < n:
                    pos += 1
                    buf.append(line[pos])
                elif ch != escape:
                    buf.append(ch)
                pos += 1
                continue
            if ch.isspace():
                break
            if ch in ("'", '"'):
                quote = ch
                blank_ok = True
            elif ch == escape:
                if pos + 1 < n:
                    pos += 1
                    buf.append(line[pos])
            else:
                buf.append(ch)
            pos += 1
        word = "".join(buf)
        if word == "--":
            return line[pos:], words
        if blank_ok or word:
            words.append(word)


def parse_words(rest: str, escape: str = DEFAULT_ESCAPE) -> list[str]:
    """Whitespace-separated words, quotes and escapes kept (expansion removes them)."""
    words: list[str] = []
    buf: list[str] = []
    in_word = False
    quote = ""
    blank_ok = False
    i, n = 0, len(rest)
    while i < n:
        ch = rest[i]
        if quote:
            if ch == quote:
                quote = ""
            elif ch == escape and quote != "'":
                if i + 1 == n:
                    i += 1
                    continue
                buf.append(ch)
                i += 1
                ch = rest[i]
            buf.append(ch)
            i += 1
            continue
        if not in_word:
            if ch.isspace():
                i += 1
                continue
            in_word = True
        if ch.isspace():
            if blank_ok or buf:
                words.append("".join(buf))
            buf, in_word, blank_ok = [], False, False
            i += 1
            continue
        if ch in ("'", '"'):
            quote = ch
            blank_ok = True
        if ch == escape:
            if i + 1 == n:
                i += 1
                continue
            buf.append(ch)
            i += 1
            ch = rest[i]
        buf.append(ch)
        i += 1
    if in_word and (blank_ok or buf):
        words.append("".join(buf))
    return words


def name_values(rest: str, key: str, escape: str) -> tuple[str, ...]:
    words = parse_words(rest, escape)
    if not words:
        return ()
    if "=" not in words[0]:
        # The old form: `ENV name value with spaces`.
        parts = _WHITESPACE.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise InvalidParameter(f"{key} must have two arguments")
        return (parts[0], parts[1], "")
    out: list[str] = []
    for word in words:
        if "=" not in word:
            raise InvalidParameter(
                f"Syntax error - can't find = in {_go_quote(word)}. Must be of the form: name=value"
            )
        name, _, value = word.partition("=")
        out.extend((name, value, "="))
    return tuple(out)


def whitespace_words(rest: str) -> tuple[str, ...]:
    if not rest:
        return ()
    return tuple(_WHITESPACE.split(rest))


class _NotStrings(InvalidParameter):
    pass


def _json(rest: str) -> tuple[str, ...] | None:
    rest = rest.lstrip()
    if not rest.startswith("["):
        return None
    try:
        parsed = json.loads(rest)
    except ValueError:
        return None
    if not isinstance(parsed, list):
        return None
    if not all(isinstance(x, str) for x in parsed):
        raise _NotStrings("when using JSON array syntax, arrays must be comprised of strings only")
    return tuple(parsed)


def maybe_json(rest: str) -> tuple[tuple[str, ...], bool]:
    if not rest:
        return (), False
    parsed = _json(rest)
    if parsed is not None:
        return parsed, True
    return (rest,), False


def maybe_json_to_list(rest: str) -> tuple[tuple[str, ...], bool]:
    parsed = _json(rest)
    if parsed is not None:
        return parsed, True
    return whitespace_words(rest), False


def health(rest: str) -> tuple[tuple[str, ...], bool]:
    parts = rest.split(None, 1)
    if not parts:
        return (), False
    kind = parts[0]
    cmd, is_json = maybe_json(parts[1] if len(parts) > 1 else "")
    return (kind, *cmd), is_json


def _go_quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)
