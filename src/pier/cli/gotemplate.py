"""A Go text/template interpreter for the subset `--format` users write.

Supported: text and actions with `{{-`/`-}}` trimming and comments; pipelines with
`|`; fields and chains (`.A.B`, `$x.A`, `(pipe).A`), methods with arguments
(`.Label "k"`); variables (`$`, `$x := ...`, `$x = ...`, `range $i, $e := ...`);
`if`/`else if`/`else`, `range` (lists, maps in key order, `else`, `break`,
`continue`), `with`; literals (strings, raw strings, numbers, true/false/nil);
Go's builtins (and, or, not, len, index, slice, print, printf, println, eq, ne,
lt, le, gt, ge) and Docker's (json, join, split, title, lower, upper, pad, truncate).

Data is plain JSON values (dict/list/str/int/float/bool/None) or objects whose
public methods are the fields (the `ps`/`images` formatter contexts): such an
object sets `go_type` (used in error messages) and may define `to_json()`.
Values print as Go's `fmt` prints them (`map[k:v]`, `[a b]`, `<nil>`, `1e+06`).
"""

from __future__ import annotations

from pier.cli.output import go_quote
from pier.client import jsonlite

# typing and collections.abc cost milliseconds at start-up: only the checker reads them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class TemplateError(Exception):
    """Base: the message is Go's wording (`template: :1: ...`)."""


class TemplateParseError(TemplateError):
    pass


class TemplateExecError(TemplateError):
    pass


class _NoValue:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<no value>"


NO_VALUE: Any = _NoValue()


# ---------------------------------------------------------------- lexing


class _Tok:
    __slots__ = (
        "chain",
        "kind",
        "pos",
        "val",
    )

    def __init__(self, kind: str, val: Any, pos: int, chain: bool = False) -> None:
        self.kind = kind
        self.val = val
        self.pos = pos
        self.chain = chain


_KEYWORDS = frozenset(
    ["if", "else", "end", "range", "with", "break", "continue", "define", "template", "block"]
)
_IDENT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_SPACE = " \t\r\n"
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "a": "\a",
            "b": "\b", "f": "\f", "v": "\v", "0": "\0"}  # fmt: skip


def _line_col(src: str, pos: int) -> str:
    line = src.count("\n", 0, pos) + 1
    col = pos - (src.rfind("\n", 0, pos) + 1)
    return f"{line}:{col}"


def _unquote(body: str, src: str, pos: int) -> str:
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        nxt = body[i + 1 : i + 2]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt in ("x", "u", "U"):
            width = {"x": 2, "u": 4, "U": 8}[nxt]
            out.append(chr(int(body[i + 2 : i + 2 + width], 16)))
            i += 2 + width
        else:
            raise TemplateParseError(
                f"template: :{_line_col(src, pos).split(':')[0]}: unquote: invalid syntax"
            )
    return "".join(out)


def _lex_action(src: str, start: int, end: int) -> list[_Tok]:
    toks: list[_Tok] = []
    i = start
    line = src.count("\n", 0, start) + 1

    def fail(msg: str) -> TemplateParseError:
        return TemplateParseError(f"template: :{line}: {msg}")

    while i < end:
        c = src[i]
        if c in _SPACE:
            i += 1
            continue
        glued = bool(toks) and i > start and src[i - 1] not in _SPACE
        prev_operand = glued and toks[-1].kind in ("field", "var", ")", "dot")
        if c == "." and i + 1 < end and src[i + 1] in _IDENT_CHARS and not src[i + 1].isdigit():
            j = i + 1
            while j < end and src[j] in _IDENT_CHARS:
                j += 1
            toks.append(_Tok("field", src[i + 1 : j], i, chain=prev_operand))
            i = j
        elif c == "." and not (i + 1 < end and src[i + 1].isdigit()):
            toks.append(_Tok("dot", ".", i))
            i += 1
        elif c == "$":
            j = i + 1
            while j < end and src[j] in _IDENT_CHARS:
                j += 1
            toks.append(_Tok("var", src[i:j], i))
            i = j
        elif c == '"':
            j = i + 1
            while j < end and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            if j >= end:
                raise fail("unterminated quoted string")
            toks.append(_Tok("str", _unquote(src[i + 1 : j], src, i), i))
            i = j + 1
        elif c == "`":
            j = src.find("`", i + 1, end)
            if j < 0:
                raise fail("unterminated raw quoted string")
            toks.append(_Tok("str", src[i + 1 : j], i))
            i = j + 1
        elif c == "'":
            j = src.find("'", i + 1, end)
            if j < 0:
                raise fail("unterminated character constant")
            text = _unquote(src[i + 1 : j], src, i)
            toks.append(_Tok("num", ord(text[0]) if text else 0, i))
            i = j + 1
        elif c.isdigit() or (c in "+-." and i + 1 < end and src[i + 1].isdigit()):
            j = i + 1
            while j < end and (src[j] in _IDENT_CHARS or src[j] in ".+-"):
                if src[j] in "+-" and src[j - 1] not in "eEpP":
                    break
                j += 1
            text = src[i:j].replace("_", "")
            try:
                num: int | float = int(text, 0)
            except ValueError:
                try:
                    num = float(text)
                except ValueError:
                    raise fail(f"bad number syntax: {text!r}") from None
            toks.append(_Tok("num", num, i))
            i = j
        elif c in _IDENT_CHARS:
            j = i
            while j < end and src[j] in _IDENT_CHARS:
                j += 1
            word = src[i:j]
            if word in ("true", "false"):
                toks.append(_Tok("bool", word == "true", i))
            elif word == "nil":
                toks.append(_Tok("nil", None, i))
            else:
                toks.append(_Tok("ident", word, i))
            i = j
        elif src.startswith(":=", i):
            toks.append(_Tok(":=", ":=", i))
            i += 2
        elif c in "()|=,":
            toks.append(_Tok(c, c, i))
            i += 1
        else:
            raise fail(f"unexpected {c!r} in command")
    return toks


# ---------------------------------------------------------------- parse tree


class _Operand:
    __slots__ = (
        "chain",
        "kind",
        "pos",
        "text",
        "val",
    )

    def __init__(
        self, kind: str, val: Any, pos: int, chain: list[str] | None = None, text: str = ""
    ) -> None:
        self.kind = kind
        self.val = val
        self.pos = pos
        self.chain: list[str] = chain if chain is not None else []
        self.text = text


class _Command:
    __slots__ = (
        "args",
        "pos",
        "text",
    )

    def __init__(self, args: list[_Operand], pos: int, text: str) -> None:
        self.args = args
        self.pos = pos
        self.text = text


class _Pipe:
    __slots__ = (
        "assign",
        "cmds",
        "decl",
        "pos",
    )

    def __init__(self, decl: list[str], assign: bool, cmds: list[_Command], pos: int) -> None:
        self.decl = decl
        self.assign = assign
        self.cmds = cmds
        self.pos = pos


class _Text:
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class _Action:
    __slots__ = ("pipe",)

    def __init__(self, pipe: _Pipe) -> None:
        self.pipe = pipe


class _Branch:
    __slots__ = (
        "body",
        "kind",
        "orelse",
        "pipe",
    )

    def __init__(self, kind: str, pipe: _Pipe, body: list[Any], orelse: list[Any]) -> None:
        self.kind = kind
        self.pipe = pipe
        self.body = body
        self.orelse = orelse


class _Jump:
    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind


class _Parser:
    def __init__(self, src: str) -> None:
        self.src = src
        self.items: list[tuple[str, Any, int]] = []  # ("text", str) | ("action", toks, pos)
        self._split()
        self.i = 0

    def _line(self, pos: int) -> int:
        return self.src.count("\n", 0, pos) + 1

    def _split(self) -> None:
        src = self.src
        pos = 0
        pending_trim = False
        while True:
            start = src.find("{{", pos)
            text = src[pos:] if start < 0 else src[pos:start]
            if pending_trim:
                text = text.lstrip(_SPACE)
            if start < 0:
                if text:
                    self.items.append(("text", text, pos))
                return
            inner = start + 2
            if (
                src.startswith("- ", inner)
                or src.startswith("-\t", inner)
                or (src.startswith("-\n", inner))
            ):
                text = text.rstrip(_SPACE)
                inner += 1
            if text:
                self.items.append(("text", text, pos))
            body_start = inner + _skip(src, inner)
            comment = src.startswith("/*", body_start)
            if comment:
                cend = src.find("*/", body_start + 2)
                if cend < 0:
                    raise TemplateParseError(f"template: :{self._line(start)}: unclosed comment")
                close = src.find("}}", cend + 2)
            else:
                close = src.find("}}", inner)
            if close < 0:
                raise TemplateParseError(f"template: :{self._line(start)}: unclosed action")
            end = close
            pending_trim = False
            if close - 2 >= inner and src[close - 1] == "-" and src[close - 2] in _SPACE:
                end = close - 1
                pending_trim = True
            if comment:
                pos = close + 2
                continue
            self.items.append(("action", _lex_action(src, inner, end), start))
            pos = close + 2

    def parse(self) -> list[Any]:
        body, stop = self._list()
        if stop is not None:
            raise TemplateParseError(
                f"template: :{self._line(stop[2])}: unexpected {{{{{stop[0]}}}}}"
            )
        return body

    def _list(self) -> tuple[list[Any], tuple[str, list[_Tok], int] | None]:
        """Nodes until `else`/`end` (returned as the stop) or the end of input."""
        nodes: list[Any] = []
        while self.i < len(self.items):
            kind, val, pos = self.items[self.i]
            self.i += 1
            if kind == "text":
                nodes.append(_Text(val))
                continue
            toks: list[_Tok] = val
            if not toks:
                raise TemplateParseError(f"template: :{self._line(pos)}: missing value for command")
            head = toks[0]
            if head.kind == "ident" and head.val in _KEYWORDS:
                word = head.val
                if word in ("end", "else"):
                    return nodes, (word, toks, pos)
                if word in ("break", "continue"):
                    nodes.append(_Jump(word))
                    continue
                if word in ("if", "range", "with"):
                    nodes.append(self._branch(word, toks[1:], pos))
                    continue
                raise TemplateParseError(
                    f"template: :{self._line(pos)}: {{{{{word}}}}} is not supported"
                )
            nodes.append(_Action(self._pipe(toks, pos)))
        return nodes, None

    def _branch(self, word: str, toks: list[_Tok], pos: int) -> _Branch:
        pipe = self._pipe(toks, pos, allow_decl=True)
        body, stop = self._list()
        orelse: list[Any] = []
        if stop is None:
            raise TemplateParseError(f"template: :{self._line(pos)}: unexpected EOF")
        if stop[0] == "else":
            rest = stop[1][1:]
            if rest and rest[0].kind == "ident" and rest[0].val in ("if", "with"):
                # `else if` is an `if` nested in the else branch, sharing its `end`.
                orelse = [self._branch(rest[0].val, rest[1:], stop[2])]
                return _Branch(word, pipe, body, orelse)
            orelse, stop = self._list()
            if stop is None or stop[0] != "end":
                raise TemplateParseError(f"template: :{self._line(pos)}: expected end")
        return _Branch(word, pipe, body, orelse)

    def _pipe(self, toks: list[_Tok], pos: int, allow_decl: bool = True) -> _Pipe:
        decl: list[str] = []
        assign = False
        k = 0
        # `$x :=`, `$i, $e :=`, `$x =`
        j = 0
        names: list[str] = []
        while j < len(toks) and toks[j].kind == "var":
            names.append(toks[j].val)
            if j + 1 < len(toks) and toks[j + 1].kind == ",":
                j += 2
                continue
            if j + 1 < len(toks) and toks[j + 1].kind in (":=", "="):
                decl = names
                assign = toks[j + 1].kind == "="
                k = j + 2
            break
        cmds: list[_Command] = []
        cur: list[_Tok] = []
        groups: list[list[_Tok]] = []
        depth = 0
        for tok in toks[k:]:
            if tok.kind == "(":
                depth += 1
            elif tok.kind == ")":
                depth -= 1
            if tok.kind == "|" and depth == 0:
                groups.append(cur)
                cur = []
            else:
                cur.append(tok)
        groups.append(cur)
        for group in groups:
            if not group:
                raise TemplateParseError(f"template: :{self._line(pos)}: missing value for command")
            cmds.append(self._command(group, pos))
        return _Pipe(decl, assign, cmds, pos)

    def _command(self, toks: list[_Tok], pos: int) -> _Command:
        args: list[_Operand] = []
        i = 0
        while i < len(toks):
            op, i = self._operand(toks, i, pos)
            args.append(op)
        start = toks[0].pos
        return _Command(args, start, "")

    def _operand(self, toks: list[_Tok], i: int, pos: int) -> tuple[_Operand, int]:
        tok = toks[i]
        i += 1
        if tok.kind == "(":
            depth = 1
            j = i
            while j < len(toks) and depth:
                if toks[j].kind == "(":
                    depth += 1
                elif toks[j].kind == ")":
                    depth -= 1
                j += 1
            if depth:
                raise TemplateParseError(f"template: :{self._line(pos)}: unclosed left paren")
            op = _Operand("pipe", self._pipe(toks[i : j - 1], pos), tok.pos)
            i = j
        elif tok.kind == "field":
            op = _Operand("field", None, tok.pos, [tok.val])
        elif tok.kind == ")":
            raise TemplateParseError(f"template: :{self._line(pos)}: unexpected right paren")
        elif tok.kind in ("|", ":=", "=", ","):
            raise TemplateParseError(f"template: :{self._line(pos)}: unexpected {tok.val!r}")
        else:
            op = _Operand(tok.kind, tok.val, tok.pos)
        # Go reports a chain at the position of its second element.
        first_link = True
        while i < len(toks) and toks[i].kind == "field" and toks[i].chain:
            if first_link and op.kind in ("field", "var", "pipe", "dot"):
                op.pos = toks[i].pos
            first_link = False
            op.chain.append(toks[i].val)
            i += 1
        if op.kind == "field":
            op.text = "." + ".".join(op.chain)
        elif op.kind == "var":
            op.text = op.val + "".join("." + c for c in op.chain)
        else:
            op.text = str(op.val)
        return op, i


def _skip(src: str, i: int) -> int:
    n = 0
    while i + n < len(src) and src[i + n] in _SPACE:
        n += 1
    return n


# ---------------------------------------------------------------- values


def go_float(f: float) -> str:
    """fmt's %v for a float64: shortest digits, %e form below 1e-4 or from 1e+06.

    This is why `docker inspect -f` prints `1e+09` for numbers it reads as float64.
    """
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "-0" if str(f).startswith("-") else "0"
    r = repr(abs(f))
    mant, _, exp_s = r.partition("e")
    exp_adj = int(exp_s) if exp_s else 0
    intpart, _, frac = mant.partition(".")
    if frac == "0":
        frac = ""
    digits = (intpart + frac).lstrip("0")
    lead_zeros = len(intpart + frac) - len((intpart + frac).lstrip("0"))
    dp = len(intpart) + exp_adj - lead_zeros
    digits = digits.rstrip("0") or "0"
    exp = dp - 1
    sign = "-" if f < 0 else ""
    if exp < -4 or exp >= 6:
        m = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{m}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if dp <= 0:
        return f"{sign}0.{'0' * -dp}{digits}"
    if dp >= len(digits):
        return f"{sign}{digits}{'0' * (dp - len(digits))}"
    return f"{sign}{digits[:dp]}.{digits[dp:]}"


def go_str(v: Any) -> str:
    """fmt.Sprint of one value."""
    if isinstance(v, str):
        return v
    if v is None:
        return "<nil>"
    if v is NO_VALUE:
        return "<no value>"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return go_float(v)
    if isinstance(v, dict):
        return "map[" + " ".join(f"{go_str(k)}:{go_str(v[k])}" for k in sorted(v)) + "]"
    if isinstance(v, list | tuple):
        return "[" + " ".join(go_str(x) for x in v) + "]"
    return str(v)


def truth(v: Any) -> bool:
    if v is None or v is NO_VALUE:
        return False
    if isinstance(v, bool | int | float | str | list | tuple | dict):
        return bool(v)
    return True


def go_type(v: Any) -> str:
    if isinstance(v, str):
        return "string"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, dict):
        return "map[string]interface {}"
    if isinstance(v, list | tuple):
        return "[]interface {}"
    if v is None:
        return "interface {}"
    return str(getattr(v, "go_type", type(v).__name__))


def to_json_value(v: Any) -> Any:
    if hasattr(v, "to_json"):
        return v.to_json()
    return v


# ---------------------------------------------------------------- functions


class _Stop(Exception):
    def __init__(self, kind: str) -> None:
        self.kind = kind


def _fn_json(v: Any) -> str:
    if hasattr(v, "to_json"):
        # Docker's contexts marshal themselves with json.Marshal, which escapes <>&.
        return jsonlite.dumps(v.to_json(), html_escape=True)
    return jsonlite.dumps(v)


def _fn_index(item: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(item, dict):
            item = item.get(key, "" if all(isinstance(x, str) for x in item.values()) else None)
        elif isinstance(item, list | tuple | str):
            if not isinstance(key, int) or not 0 <= key < len(item):
                raise TemplateExecError(f"error calling index: index out of range: {key}")
            item = item[key]
        elif item is None or item is NO_VALUE:
            raise TemplateExecError("error calling index: index of untyped nil")
        else:
            raise TemplateExecError(
                f"error calling index: can't index item of type {go_type(item)}"
            )
    return item


def _fn_len(v: Any) -> int:
    if isinstance(v, str | list | tuple | dict):
        return len(v.encode() if isinstance(v, str) else v)
    raise TemplateExecError(f"error calling len: len of type {go_type(v)}")


def _fn_slice(item: Any, *idx: int) -> Any:
    if len(idx) == 0:
        return item
    return item[idx[0] : idx[1]] if len(idx) > 1 else item[idx[0] :]


def _fn_join(items: Any, sep: str) -> str:
    if not isinstance(items, list | tuple):
        raise TemplateExecError(f"wrong type for value; expected []string; got {go_type(items)}")
    return sep.join(go_str(x) for x in items)


def _fn_title(s: str) -> str:
    out = []
    prev_letter = False
    for ch in str(s):
        out.append(ch.upper() if not prev_letter else ch)
        prev_letter = ch.isalnum() or ch == "_"
    return "".join(out)


def _fn_pad(s: str, before: int, after: int) -> str:
    return " " * before + s + " " * after


def _fn_truncate(s: str, n: int) -> str:
    return s[:n] if len(s) > n else s


def _sprint(*args: Any) -> str:
    out = []
    for i, a in enumerate(args):
        if i and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(go_str(a))
    return "".join(out)


def _sprintln(*args: Any) -> str:
    return " ".join(go_str(a) for a in args) + "\n"


def sprintf(fmt: str, *args: Any) -> str:
    """fmt.Sprintf for the verbs templates use (%s %v %q %d %x %X %o %b %f %e %g %t %c %%)."""
    out: list[str] = []
    ai = 0
    i = 0
    n = len(fmt)
    while i < n:
        c = fmt[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        i += 1
        flags = ""
        while i < n and fmt[i] in "-+# 0":
            flags += fmt[i]
            i += 1
        width = ""
        while i < n and fmt[i].isdigit():
            width += fmt[i]
            i += 1
        prec = None
        if i < n and fmt[i] == ".":
            i += 1
            p = ""
            while i < n and fmt[i].isdigit():
                p += fmt[i]
                i += 1
            prec = int(p or "0")
        if i >= n:
            out.append("%!(NOVERB)")
            break
        verb = fmt[i]
        i += 1
        if verb == "%":
            out.append("%")
            continue
        if ai >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[ai]
        ai += 1
        text = _format_one(verb, arg, flags, prec)
        if width:
            w = int(width)
            if "-" in flags:
                text = text.ljust(w)
            elif "0" in flags and verb in "dxXobfeg" and not isinstance(arg, str):
                sign = text[0] if text[:1] in "+-" else ""
                text = sign + text[len(sign) :].rjust(w - len(sign), "0")
            else:
                text = text.rjust(w)
        out.append(text)
    if ai < len(args):
        extra = ", ".join(f"{go_type(a)}={go_str(a)}" for a in args[ai:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _format_one(verb: str, arg: Any, flags: str, prec: int | None) -> str:
    if verb in "sv":
        text = go_str(arg)
        return text[:prec] if prec is not None and verb == "s" else text
    if verb == "q":
        return go_quote(arg) if isinstance(arg, str) else f"'{chr(arg)}'"
    if verb == "t" and isinstance(arg, bool):
        return go_str(arg)
    if verb in "dxXob" and isinstance(arg, int) and not isinstance(arg, bool):
        spec = {"d": "d", "x": "x", "X": "X", "o": "o", "b": "b"}[verb]
        return format(arg, ("+" if "+" in flags else "") + spec)
    if verb in "xX" and isinstance(arg, str):
        h = arg.encode().hex()
        return h.upper() if verb == "X" else h
    if verb in "feEgG" and isinstance(arg, int | float) and not isinstance(arg, bool):
        if verb in "gG" and prec is None:
            return go_float(float(arg))
        return format(float(arg), f".{6 if prec is None else prec}{verb}")
    if verb == "c" and isinstance(arg, int):
        return chr(arg)
    return f"%!{verb}({go_type(arg)}={go_str(arg)})"


def _cmp(op: str) -> Callable[..., bool]:
    def compare(a: Any, *bs: Any) -> bool:
        a = None if a is NO_VALUE else a
        if op == "eq":
            if not bs:
                raise TemplateExecError("error calling eq: missing argument for comparison")
            return any((a == b and type(a) is type(b)) or _num_eq(a, b) for b in bs)
        b = bs[0] if bs else None
        try:
            if op == "ne":
                return bool(a != b)
            if op == "lt":
                return bool(a < b)
            if op == "le":
                return bool(a <= b)
            if op == "gt":
                return bool(a > b)
            return bool(a >= b)
        except TypeError:
            raise TemplateExecError(
                f"error calling {op}: incompatible types for comparison"
            ) from None

    return compare


def _num_eq(a: Any, b: Any) -> bool:
    nums = (int, float)
    return (
        isinstance(a, nums)
        and isinstance(b, nums)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
        and a == b
    )


BUILTINS: dict[str, Callable[..., Any]] = {
    "json": _fn_json,
    "index": _fn_index,
    "len": _fn_len,
    "slice": _fn_slice,
    "join": _fn_join,
    "split": lambda s, sep: str(s).split(sep),
    "title": _fn_title,
    "lower": lambda s: str(s).lower(),
    "upper": lambda s: str(s).upper(),
    "pad": _fn_pad,
    "truncate": _fn_truncate,
    "print": _sprint,
    "println": _sprintln,
    "printf": lambda fmt, *args: sprintf(fmt, *args),
    "not": lambda v: not truth(v),
    "eq": _cmp("eq"),
    "ne": _cmp("ne"),
    "lt": _cmp("lt"),
    "le": _cmp("le"),
    "gt": _cmp("gt"),
    "ge": _cmp("ge"),
}

# Docker prints table headers by running the template on the header names with
# these functions turned into identities (cli/templates HeaderFunctions).
HEADER_FUNCS: dict[str, Callable[..., Any]] = {
    "json": lambda v: v,
    "join": lambda v, _s: v,
    "split": lambda v, _s: v,
    "title": lambda v: v,
    "lower": lambda v: v,
    "upper": lambda v: v,
    "pad": lambda v, _a, _b: v,
    "truncate": lambda v, _n: v,
}


# ---------------------------------------------------------------- execution


class Template:
    """A parsed template. `missing_key_error` is Go's `missingkey=error` option."""

    def __init__(
        self,
        source: str,
        *,
        funcs: dict[str, Callable[..., Any]] | None = None,
        missing_key_error: bool = False,
    ) -> None:
        self.source = source
        self.funcs = dict(BUILTINS)
        if funcs:
            self.funcs.update(funcs)
        self.missing_key_error = missing_key_error
        self._tree = _Parser(source).parse()
        self._check_funcs(self._tree)

    def _check_funcs(self, nodes: list[Any]) -> None:
        for node in nodes:
            if isinstance(node, _Action):
                self._check_pipe(node.pipe)
            elif isinstance(node, _Branch):
                self._check_pipe(node.pipe)
                self._check_funcs(node.body)
                self._check_funcs(node.orelse)

    def _check_pipe(self, pipe: _Pipe) -> None:
        for cmd in pipe.cmds:
            for op in cmd.args:
                if op.kind == "ident" and op.val not in self.funcs and op.val not in ("and", "or"):
                    line = self.source.count("\n", 0, op.pos) + 1
                    raise TemplateParseError(f'template: :{line}: function "{op.val}" not defined')
                if op.kind == "pipe":
                    self._check_pipe(op.val)

    def execute(self, data: Any, funcs: dict[str, Callable[..., Any]] | None = None) -> str:
        out: list[str] = []
        env = _Exec(self, data, {**self.funcs, **(funcs or {})})
        # A stray break/continue outside range just ends the template.
        try:  # noqa: SIM105 - contextlib would cost an import
            env.walk(self._tree, data, {"$": data}, out)
        except _Stop:
            pass
        return "".join(out)


class _Exec:
    def __init__(self, tmpl: Template, root: Any, funcs: dict[str, Callable[..., Any]]) -> None:
        self.t = tmpl
        self.root = root
        self.funcs = funcs

    def fail(self, pos: int, text: str, msg: str) -> TemplateExecError:
        where = _line_col(self.t.source, pos)
        return TemplateExecError(f'template: :{where}: executing "" at <{text}>: {msg}')

    def walk(self, nodes: list[Any], dot: Any, vars: dict[str, Any], out: list[str]) -> None:
        for node in nodes:
            if isinstance(node, _Text):
                out.append(node.text)
            elif isinstance(node, _Action):
                value = self.pipe(node.pipe, dot, vars)
                if not node.pipe.decl:
                    out.append(go_str(value))
            elif isinstance(node, _Branch):
                self.branch(node, dot, vars, out)
            elif isinstance(node, _Jump):
                raise _Stop(node.kind)

    def branch(self, node: _Branch, dot: Any, vars: dict[str, Any], out: list[str]) -> None:
        inner = dict(vars)
        if node.kind == "range":
            value = self.pipe(node.pipe, dot, inner, declare=False)
            pairs: list[tuple[Any, Any]]
            if isinstance(value, dict):
                pairs = [(k, value[k]) for k in sorted(value)]
            elif isinstance(value, list | tuple):
                pairs = list(enumerate(value))
            elif isinstance(value, int) and not isinstance(value, bool):
                pairs = [(i, i) for i in range(value)]
            elif value is None or value is NO_VALUE:
                pairs = []
            else:
                raise self.fail(node.pipe.pos, "range", f"range can't iterate over {go_str(value)}")
            if not pairs:
                self.walk(node.orelse, dot, inner, out)
                return
            for key, elem in pairs:
                scope = dict(inner)
                if len(node.pipe.decl) == 1:
                    scope[node.pipe.decl[0]] = elem
                elif len(node.pipe.decl) == 2:
                    scope[node.pipe.decl[0]] = key
                    scope[node.pipe.decl[1]] = elem
                try:
                    self.walk(node.body, elem, scope, out)
                except _Stop as stop:
                    if stop.kind == "break":
                        break
            return
        value = self.pipe(node.pipe, dot, inner)
        if truth(value):
            self.walk(node.body, value if node.kind == "with" else dot, inner, out)
        else:
            self.walk(node.orelse, dot, inner, out)

    def pipe(self, pipe: _Pipe, dot: Any, vars: dict[str, Any], declare: bool = True) -> Any:
        value: Any = _UNSET
        for cmd in pipe.cmds:
            value = self.command(cmd, dot, vars, value)
        if pipe.decl and declare:
            for name in pipe.decl:
                if pipe.assign and name not in vars:
                    raise self.fail(pipe.pos, name, f"undefined variable: {name}")
                vars[name] = value
        return value

    def command(self, cmd: _Command, dot: Any, vars: dict[str, Any], final: Any) -> Any:
        head = cmd.args[0]
        rest = cmd.args[1:]
        if head.kind == "ident":
            name = head.val
            if name in ("and", "or"):
                return self.logic(name, rest, dot, vars, final)
            fn = self.funcs[name]
            args = [self.arg(a, dot, vars) for a in rest]
            if final is not _UNSET:
                args.append(final)
            try:
                return fn(*args)
            except TemplateExecError as exc:
                raise self.fail(head.pos, name, str(exc)) from None
            except TypeError:
                raise self.fail(
                    head.pos, name, f"wrong number of args for {name}: got {len(args)}"
                ) from None
            except (ValueError, AttributeError, IndexError, KeyError) as exc:
                raise self.fail(head.pos, name, f"error calling {name}: {exc}") from None
        if head.kind in ("field", "var", "pipe", "dot") and (head.chain or head.kind == "field"):
            args = [self.arg(a, dot, vars) for a in rest]
            if final is not _UNSET:
                args.append(final)
            return self.chain(head, dot, vars, args)
        if rest or final is not _UNSET:
            raise self.fail(head.pos, head.text, f"can't give argument to non-function {head.text}")
        return self.arg(head, dot, vars)

    def logic(
        self, name: str, ops: list[_Operand], dot: Any, vars: dict[str, Any], final: Any
    ) -> Any:
        # Arguments are evaluated lazily: `and` stops at the first false one.
        value: Any = None
        for op in ops:
            value = self.arg(op, dot, vars)
            if truth(value) == (name == "or"):
                return value
        if final is not _UNSET:
            value = final
        return value

    def arg(self, op: _Operand, dot: Any, vars: dict[str, Any]) -> Any:
        if op.kind == "field" or op.chain:
            return self.chain(op, dot, vars, [])
        if op.kind == "dot":
            return dot
        if op.kind == "var":
            return self.var(op, vars)
        if op.kind == "pipe":
            return self.pipe(op.val, dot, dict(vars))
        if op.kind == "ident":
            return self.command(_Command([op], op.pos, op.val), dot, vars, _UNSET)
        return op.val

    def var(self, op: _Operand, vars: dict[str, Any]) -> Any:
        if op.val not in vars:
            raise TemplateParseError(
                f"template: :{self.t.source.count(chr(10), 0, op.pos) + 1}: "
                f'undefined variable "{op.val}"'
            )
        return vars[op.val]

    def chain(self, op: _Operand, dot: Any, vars: dict[str, Any], args: list[Any]) -> Any:
        if op.kind == "field":
            recv = dot
        elif op.kind == "var":
            recv = self.var(op, vars)
        elif op.kind == "pipe":
            recv = self.pipe(op.val, dot, dict(vars))
        else:
            recv = dot
        names = op.chain
        for i, name in enumerate(names):
            last = i == len(names) - 1
            recv = self.field(recv, name, args if last else [], op)
        return recv

    def field(self, recv: Any, name: str, args: list[Any], op: _Operand) -> Any:
        if recv is NO_VALUE or recv is None:
            raise self.fail(op.pos, op.text, f"nil pointer evaluating interface {{}}.{name}")
        if isinstance(recv, dict):
            if args:
                raise self.fail(op.pos, op.text, f"{name} is not a method but has arguments")
            if name in recv:
                return recv[name]
            if self.t.missing_key_error:
                raise self.fail(op.pos, op.text, f'map has no entry for key "{name}"')
            return NO_VALUE
        if isinstance(recv, str | int | float | bool | list | tuple) or name.startswith("_"):
            raise self.fail(op.pos, op.text, f"can't evaluate field {name} in type {go_type(recv)}")
        attr = getattr(type(recv), name, None)
        if attr is None or name in ("go_type", "to_json"):
            raise self.fail(op.pos, op.text, f"can't evaluate field {name} in type {go_type(recv)}")
        if not callable(attr):
            if args:
                raise self.fail(op.pos, op.text, f"{name} is not a method but has arguments")
            return getattr(recv, name)
        want = attr.__code__.co_argcount - 1
        if want != len(args):
            raise self.fail(
                op.pos,
                op.text,
                f"wrong number of args for {name}: want {want} got {len(args)}",
            )
        return attr(recv, *args)


_UNSET: Any = object()
