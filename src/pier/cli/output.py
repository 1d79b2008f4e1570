"""Docker's text output helpers: tabwriter tables, human sizes and durations."""

from __future__ import annotations

import time

from pier.humanize import human_duration

_DECIMAL_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def _go_g(value: float, precision: int) -> str:
    # Go's %.Ng and Python's agree on digits and exponent form ("1e+03").
    return f"{value:.{precision}g}"


def human_size(size: float, precision: int = 3) -> str:
    """go-units HumanSizeWithPrecision: decimal units, `precision` significant digits."""
    i = 0
    while size >= 1000.0 and i < len(_DECIMAL_UNITS) - 1:
        size /= 1000.0
        i += 1
    return f"{_go_g(size, precision)}{_DECIMAL_UNITS[i]}"


def bytes_size(size: float) -> str:
    """go-units BytesSize: binary units, 4 significant digits (`23.54GiB`)."""
    i = 0
    while size >= 1024.0 and i < len(_BINARY_UNITS) - 1:
        size /= 1024.0
        i += 1
    return f"{size:.4g}{_BINARY_UNITS[i]}"


def since(timestamp: float, now: float | None = None) -> str:
    """`3 seconds ago` style, as `docker ps` CREATED and `docker images` CREATED."""
    current = time.time() if now is None else now
    return human_duration(current - timestamp) + " ago"


def ellipsis(text: str, width: int) -> str:
    """Docker's formatter.Ellipsis: cut to `width` characters, the last one `…`."""
    if len(text) <= width:
        return text
    if width <= 0:
        return ""
    return text[: width - 1] + "…"


def tabwrite(text: str, minwidth: int = 10, padding: int = 3) -> str:
    """Go's tabwriter with Docker's settings (minwidth 10, tabwidth 1, padding 3, spaces).

    Cells are tab-terminated; the text after a line's last tab is not aligned.
    A column's width is decided per block of consecutive lines that have that cell.
    """
    lines = text.split("\n")
    cells = [line.split("\t") for line in lines]
    widths: list[list[int]] = [[] for _ in cells]

    def format_block(start: int, end: int, column: int) -> None:
        i = start
        while i < end:
            if len(cells[i]) - 1 <= column:
                i += 1
                continue
            j = i
            width = minwidth
            while j < end and len(cells[j]) - 1 > column:
                width = max(width, len(cells[j][column]) + padding)
                j += 1
            for k in range(i, j):
                widths[k].append(width)
            format_block(i, j, column + 1)
            i = j

    format_block(0, len(cells), 0)
    out = []
    for row, ws in zip(cells, widths, strict=True):
        parts = [cell.ljust(w) for cell, w in zip(row, ws, strict=False)]
        parts.append(row[-1])
        out.append("".join(parts))
    return "\n".join(out)


def go_quote(s: str) -> str:
    """strconv.Quote: Go escapes, printable Unicode kept."""
    if s.isascii() and s.isprintable() and '"' not in s and "\\" not in s:
        return f'"{s}"'  # nothing to escape: most commands (`ps` quotes each)
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\a":
            out.append("\\a")
        elif ch == "\b":
            out.append("\\b")
        elif ch == "\f":
            out.append("\\f")
        elif ch == "\v":
            out.append("\\v")
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif not ch.isprintable() and ch != " ":
            out.append(f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)
