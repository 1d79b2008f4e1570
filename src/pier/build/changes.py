"""`docker commit --change` and `docker import --change`: Dockerfile instructions
applied to an image config (moby's BuildFromConfig), with Docker's wording."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from pier.build import config_ops
from pier.build.expand import env_mapping, expand, expose_words
from pier.build.instructions import Instruction, instruction
from pier.build.lexer import Lexer
from pier.build.parser import ParseError, parse
from pier.errors import InvalidParameter
from pier.oci.image import ImageConfig

VALID_COMMANDS = frozenset(
    {
        "cmd",
        "entrypoint",
        "healthcheck",
        "env",
        "expose",
        "label",
        "onbuild",
        "stopsignal",
        "user",
        "volume",
        "workdir",
    }
)


def apply_changes(config: ImageConfig, changes: Sequence[str]) -> ImageConfig:
    if not changes:
        return config
    try:
        parsed = parse("\n".join(changes))
    except ParseError as exc:
        raise InvalidParameter(exc.message) from None
    for node in parsed.nodes:
        if node.name not in VALID_COMMANDS:
            raise InvalidParameter(f"{node.keyword} is not a valid change command")
    items = []
    for node in parsed.nodes:
        item = instruction(node)
        assert isinstance(item, Instruction)
        items.append(item)
    lex = Lexer(parsed.escape)
    cmd_set = False
    for item in items:
        env = env_mapping(config.env)
        item = expand(item, lex, env)
        if item.kind == "workdir":
            config = replace(
                config, working_dir=config_ops.workdir(config.working_dir, item.args[0])
            )
            continue
        ports = expose_words(item, lex, env) if item.kind == "expose" else ()
        applied = config_ops.apply(config, item, cmd_set=cmd_set, expanded_words=ports)
        config, cmd_set = applied.config, applied.cmd_set
    return config
