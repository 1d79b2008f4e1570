"""Variable substitution in exactly the instructions Docker applies it to.

ENV and LABEL (keys and values), ARG, WORKDIR, USER, VOLUME, STOPSIGNAL, and COPY/ADD
(sources, destination, --chown, --chmod, --checksum, --from) are expanded with the
stage's environment and visible build arguments; EXPOSE splits into words after
expansion; RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK and ONBUILD are left to the shell
that runs them. LABELs from `--label` are never expanded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType

from pier.build.instructions import Instruction
from pier.build.lexer import Lexer

_SINGLE = frozenset({"workdir", "user", "volume", "stopsignal", "maintainer"})
_COPY_FLAGS = ("chown", "chmod", "checksum", "from")


def env_mapping(env: list[str] | tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in env:
        key, _, value = item.partition("=")
        out[key] = value
    return out


def expand(item: Instruction, lex: Lexer, env: Mapping[str, str]) -> Instruction:
    kind = item.kind

    def word(text: str) -> str:
        return lex.process_word(text, env)

    if kind in ("env", "label", "arg"):
        pairs = tuple((word(k), None if v is None else word(v)) for k, v in item.pairs)
        return replace(item, pairs=pairs)
    if kind in _SINGLE and kind != "maintainer":
        return replace(item, args=tuple(word(a) for a in item.args))
    if kind in ("copy", "add"):
        flags = dict(item.flags)
        for name in _COPY_FLAGS:
            if name in flags:
                flags[name] = tuple(word(v) for v in flags[name])
        return replace(item, args=tuple(word(a) for a in item.args), flags=MappingProxyType(flags))
    return item


def expose_words(item: Instruction, lex: Lexer, env: Mapping[str, str]) -> list[str]:
    out: list[str] = []
    for port in item.args:
        out.extend(lex.process_words(port, env))
    return out
