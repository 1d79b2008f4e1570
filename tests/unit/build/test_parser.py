"""The Dockerfile front end on a corpus: every instruction and form, parser directives,
continuations and comments, heredocs, variable substitution, and Dockerfiles written
in the style of well-known official images."""

from __future__ import annotations

import pytest

from pier.build.instructions import Instruction, parse_dockerfile
from pier.build.lexer import Lexer
from pier.errors import InvalidParameter


def only_stage(text: str) -> list[Instruction]:
    df = parse_dockerfile(text)
    assert len(df.stages) == 1
    return list(df.stages[0].instructions)


# -- lexer ---------------------------------------------------------------------------------

ENV = {"A": "a", "EMPTY": "", "PATH_ISH": "/usr/local/bin:/usr/bin", "V": "1.2.3"}


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("$A", "a"),
        ("${A}", "a"),
        ("${A}x", "ax"),
        ("$Ax", ""),
        ("${UNSET:-dflt}", "dflt"),
        ("${EMPTY:-dflt}", "dflt"),
        ("${EMPTY-dflt}", ""),
        ("${UNSET-dflt}", "dflt"),
        ("${A:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${EMPTY+alt}", "alt"),
        ("${UNSET+alt}", ""),
        ("'$A'", "$A"),
        ('"$A"', "a"),
        ('"\\$A"', "$A"),
        ("\\$A", "$A"),
        ("a\\ b", "a b"),
        ("${V%.*}", "1.2"),
        ("${V%%.*}", "1"),
        ("${V#*.}", "2.3"),
        ("${V##*.}", "3"),
        ("${PATH_ISH/usr/opt}", "/opt/local/bin:/usr/bin"),
        ("${PATH_ISH//usr/opt}", "/opt/local/bin:/opt/bin"),
        ("$", "$"),
        ("${A:-${UNSET:-nested}}", "a"),
    ],
)
def test_substitution(word: str, expected: str) -> None:
    assert Lexer().process_word(word, ENV) == expected


def test_backtick_escape_and_words() -> None:
    assert Lexer("`").process_word("a`$A", ENV) == "a$A"
    assert Lexer().process_words('80 "443 8443" $V', ENV) == ["80", "443 8443", "1.2.3"]


@pytest.mark.parametrize(
    ("word", "message"),
    [
        ("${A", 'failed to process "${A": unsupported modifier (\ufffd) in substitution'),
        ("${}", 'failed to process "${}": syntax error: bad substitution'),
        ("'open", "failed to process \"'open\": unexpected end of statement while looking for "
         "matching single-quote"),
        ("${UNSET:?must be set}", 'failed to process "${UNSET:?must be set}": UNSET: must be set'),
    ],
)  # fmt: skip
def test_substitution_errors(word: str, message: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        Lexer().process_word(word, ENV)
    assert info.value.message == message


# -- the structure -------------------------------------------------------------------------


def test_directives_comments_and_continuations() -> None:
    text = """# syntax=docker/dockerfile:1
# escape=`
# check=skip=all
# a comment after the directives
FROM busybox AS Base
RUN echo one `
    # a comment inside a continuation
    two `

    three
COPY ["a b", "/dst/"]
"""
    df = parse_dockerfile(text)
    assert df.escape == "`"
    assert dict(df.directives) == {
        "syntax": "docker/dockerfile:1",
        "escape": "`",
        "check": "skip=all",
    }
    assert df.warnings and df.warnings[0].startswith("Empty continuation line found in: ")
    stage = df.stages[0]
    assert (stage.base, stage.name, stage.line) == ("busybox", "base", 5)
    run, copy = stage.instructions
    assert run.args == ("echo one     two     three",)
    assert run.line == 6
    assert copy.json and copy.args == ("a b", "/dst/")
    assert copy.line == 11


def test_a_directive_after_an_instruction_is_a_comment() -> None:
    df = parse_dockerfile("FROM busybox\n# escape=`\nRUN a \\\n b\n")
    assert df.escape == "\\"
    assert df.stages[0].instructions[0].args == ("a  b",)


def test_every_instruction_and_form() -> None:
    text = """ARG BASE=busybox
FROM --platform=linux/amd64 ${BASE}:latest AS build
MAINTAINER someone
RUN echo shell form
RUN ["echo", "exec", "form"]
RUN --network=none --mount=type=cache,target=/c echo flags
CMD echo cmd
CMD ["cmd"]
ENTRYPOINT ["/e"]
ENTRYPOINT /e shell
ENV A=1 B="two words" C=three\\ words
ENV LEGACY value with spaces
ARG X Y=2
LABEL a=b "c d"=e
EXPOSE 80 443/tcp 53/udp
COPY --chown=1:1 --chmod=644 --link --from=other a b /dst/
ADD --checksum=sha256:abc https://example.com/x /x
WORKDIR /srv
USER app:app
VOLUME /a /b
VOLUME ["/c"]
STOPSIGNAL SIGINT
HEALTHCHECK --interval=30s --timeout=3s CMD curl -f http://localhost/ || exit 1
HEALTHCHECK NONE
SHELL ["/bin/bash", "-c"]
ONBUILD RUN echo later
"""
    df = parse_dockerfile(text)
    assert [a.pairs for a in df.meta_args] == [(("BASE", "busybox"),)]
    stage = df.stages[0]
    assert (stage.base, stage.platform) == ("${BASE}:latest", "linux/amd64")
    items = stage.instructions
    kinds = [i.kind for i in items]
    assert kinds == [
        "maintainer", "run", "run", "run", "cmd", "cmd", "entrypoint", "entrypoint", "env", "env",
        "arg", "label", "expose", "copy", "add", "workdir", "user", "volume", "volume",
        "stopsignal", "healthcheck", "healthcheck", "shell", "onbuild",
    ]  # fmt: skip
    by_line = {i.line: i for i in items}
    assert by_line[4].args == ("echo shell form",) and not by_line[4].json
    assert by_line[5].args == ("echo", "exec", "form") and by_line[5].json
    assert by_line[6].flags["network"] == ("none",)
    assert by_line[6].flags["mount"] == ("type=cache,target=/c",)
    assert by_line[11].pairs == (("A", "1"), ("B", '"two words"'), ("C", "three\\ words"))
    assert by_line[12].pairs == (("LEGACY", "value with spaces"),)
    assert by_line[13].pairs == (("X", None), ("Y", "2"))
    assert by_line[15].args == ("443/tcp", "53/udp", "80")
    copy = by_line[16]
    assert copy.flag("chown") == "1:1" and copy.flag("chmod") == "644"
    assert copy.flag_bool("link") and copy.flag("from") == "other"
    assert copy.args == ("a", "b", "/dst/")
    assert by_line[17].flag("checksum") == "sha256:abc"
    assert by_line[23].health_test == ("CMD-SHELL", "curl -f http://localhost/ || exit 1")
    assert by_line[24].health_test == ("NONE",)
    assert by_line[26].expression == "RUN echo later"


def test_heredocs() -> None:
    text = """FROM busybox
RUN <<EOF
echo a
EOF
RUN <<-"EOT" bash
\techo quoted
\tEOT
COPY <<one <<two /dst/
1
one
2
two
RUN 3<<X cat /dev/fd/3
x
X
"""
    run1, run2, copy, run3 = only_stage(text)
    assert run1.heredocs[0].name == "EOF" and run1.heredocs[0].content == "echo a\n"
    assert run1.heredocs[0].expand
    doc = run2.heredocs[0]
    assert (doc.name, doc.chomp, doc.expand) == ("EOT", True, False)
    assert doc.data() == "echo quoted\n"
    assert [d.name for d in copy.heredocs] == ["one", "two"]
    assert [d.content for d in copy.heredocs] == ["1\n", "2\n"]
    assert run3.heredocs[0].fd == 3


def test_stages_and_meta_args() -> None:
    df = parse_dockerfile(
        "ARG V=1\nFROM busybox AS a\nRUN x\nFROM a\nFROM scratch AS final\nCOPY --from=a / /\n"
    )
    assert [(s.name, s.base, s.index) for s in df.stages] == [
        ("a", "busybox", 0),
        ("", "a", 1),
        ("final", "scratch", 2),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("FROM busybox\nRUNN x\n",
         "dockerfile parse error on line 2: unknown instruction: RUNN (did you mean RUN?)"),
        ("FROM busybox\ncopy\n", "dockerfile parse error on line 2: COPY requires at least two "
         "arguments, but only one was provided. Destination could not be determined"),
        ("FROM busybox\nCOPY a <<EOF\nx\nEOF\n", "dockerfile parse error on line 2: COPY cannot "
         "accept a heredoc as a destination"),
        ("FROM busybox AS 1x\n", 'dockerfile parse error on line 1: invalid name for build stage: '
         '"1x", name can\'t start with a number or contain symbols'),
        ("FROM busybox\nWORKDIR\n", "dockerfile parse error on line 2: WORKDIR requires exactly "
         "one argument"),
        ("FROM busybox\nSHELL sh -c\n", "dockerfile parse error on line 2: SHELL requires the "
         "arguments to be in JSON form: SHELL sh -c"),
        ("FROM busybox\nHEALTHCHECK CMD\n", "dockerfile parse error on line 2: Missing command "
         "after HEALTHCHECK CMD"),
        ("FROM busybox\nHEALTHCHECK FOO x\n", 'dockerfile parse error on line 2: Unknown type '
         '"FOO" in HEALTHCHECK (try CMD)'),
        ("FROM busybox\nHEALTHCHECK --interval=1us CMD x\n", 'dockerfile parse error on line 2: '
         'Interval "interval" cannot be less than 1ms'),
        ("FROM busybox\nRUN --mount x\n", "dockerfile parse error on line 2: missing a value on "
         "flag: --mount"),
        ("FROM busybox\nCOPY --link=maybe a b\n", "dockerfile parse error on line 2: expecting "
         "boolean value for flag --link, not: maybe"),
        ("FROM busybox\nCOPY --from=a --from=b x y\n", "dockerfile parse error on line 2: "
         "duplicate flag specified: --from"),
        ("FROM busybox\nONBUILD ONBUILD RUN x\n", "dockerfile parse error on line 2: Chaining "
         "ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
        ("FROM busybox\nLABEL =x\n", "dockerfile parse error on line 2: LABEL names can not be "
         "blank"),
        ("FROM busybox\nENV a=1 b\n", "failed to parse Dockerfile: dockerfile parse error on line "
         '2: Syntax error - can\'t find = in "b". Must be of the form: name=value'),
        ("FROM busybox\nRUN [1, 2]\n", "failed to parse Dockerfile: dockerfile parse error on line "
         "2: when using JSON array syntax, arrays must be comprised of strings only"),
        ("# escape=x\nFROM busybox\n", "failed to parse Dockerfile: dockerfile parse error on line "
         "0: invalid escape token 'x' does not match ` or \\"),
        ("# escape=`\n# escape=\\\nFROM busybox\n", "failed to parse Dockerfile: dockerfile parse "
         "error on line 1: only one escape parser directive can be used"),
    ],
)  # fmt: skip
def test_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        parse_dockerfile(text)
    assert info.value.message == message


# -- in the style of official images ------------------------------------------------------

NGINX_STYLE = r"""FROM debian:bookworm-slim

LABEL maintainer="NGINX Docker Maintainers <docker-maint@nginx.com>"

ENV NGINX_VERSION   1.27.3
ENV NJS_VERSION     0.8.7
ENV PKG_RELEASE     1~bookworm

RUN set -x \
# create nginx user/group first, to be consistent throughout docker variants
    && groupadd --system --gid 101 nginx \
    && useradd --system --gid nginx --no-create-home --home /nonexistent \
        --comment "nginx user" --shell /bin/false --uid 101 nginx \
    && apt-get update \
    && apt-get install --no-install-recommends --no-install-suggests -y gnupg1 ca-certificates \
    && rm -rf /var/lib/apt/lists/*

COPY docker-entrypoint.sh /
COPY 10-listen-on-ipv6-by-default.sh /docker-entrypoint.d
ENTRYPOINT ["/docker-entrypoint.sh"]

EXPOSE 80

STOPSIGNAL SIGQUIT

CMD ["nginx", "-g", "daemon off;"]
"""

PYTHON_STYLE = r"""FROM buildpack-deps:bookworm

# ensure local python is preferred over distribution python
ENV PATH /usr/local/bin:$PATH

# runtime dependencies
RUN set -eux; \
	apt-get update; \
	apt-get install -y --no-install-recommends \
		libbluetooth-dev \
		tk-dev \
		uuid-dev \
	; \
	rm -rf /var/lib/apt/lists/*

ENV GPG_KEY A035C8C19219BA821ECEA86B64E628F8D684696D
ENV PYTHON_VERSION 3.13.1
ENV PYTHON_SHA256 9cf9427bee9e2242e3877dd0f6b641c1853ca461f39d6503ce260a59c80bf0d9

RUN set -eux; \
	\
	wget -O python.tar.xz \
		"https://www.python.org/ftp/python/${PYTHON_VERSION%%[a-z]*}/Python-$V.tar.xz"; \
	echo "$PYTHON_SHA256 *python.tar.xz" | sha256sum -c -; \
	python3 --version

# make some useful symlinks that are expected to exist ("/usr/local/bin/python" and friends)
RUN set -eux; \
	for src in idle3 pip3 pydoc3 python3 python3-config; do \
		dst="$(echo "$src" | tr -d 3)"; \
		[ -s "/usr/local/bin/$src" ]; \
		[ ! -e "/usr/local/bin/$dst" ]; \
		ln -svT "$src" "/usr/local/bin/$dst"; \
	done

CMD ["python3"]
"""

GOLANG_MULTISTAGE_STYLE = r"""# syntax=docker/dockerfile:1
ARG GO_VERSION=1.23
FROM golang:${GO_VERSION}-alpine AS build
WORKDIR /src
RUN --mount=type=cache,target=/go/pkg/mod/ \
    --mount=type=bind,source=go.sum,target=go.sum \
    --mount=type=bind,source=go.mod,target=go.mod \
    go mod download -x
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod/ \
    --mount=type=bind,target=. \
    CGO_ENABLED=0 GOARCH=$TARGETARCH go build -o /bin/server ./cmd/server

FROM alpine:latest AS final
RUN --mount=type=cache,target=/var/cache/apk \
    apk --update add ca-certificates tzdata && update-ca-certificates
ARG UID=10001
RUN adduser --disabled-password --gecos "" --home "/nonexistent" \
    --shell "/sbin/nologin" --no-create-home --uid "${UID}" appuser
USER appuser
COPY --from=build /bin/server /bin/
EXPOSE 8080
ENTRYPOINT [ "/bin/server" ]
"""

REDIS_STYLE = r"""FROM alpine:3.21
RUN set -eux; \
# alpine already has a gid 999, so we'll use the next id
	addgroup -S -g 1000 redis; \
	adduser -S -G redis -u 999 redis
# runtime dependencies
RUN set -eux; \
	apk add --no-cache \
# add tzdata for https://github.com/docker-library/redis/issues/138
		tzdata \
	;
ENV REDIS_DOWNLOAD_URL http://download.redis.io/releases/redis-7.4.2.tar.gz
RUN mkdir /data && chown redis:redis /data
VOLUME /data
WORKDIR /data
COPY docker-entrypoint.sh /usr/local/bin/
ENTRYPOINT ["docker-entrypoint.sh"]
EXPOSE 6379
CMD ["redis-server"]
"""


@pytest.mark.parametrize(
    ("text", "stages", "kinds"),
    [
        (NGINX_STYLE, 1, ["label", "env", "env", "env", "run", "copy", "copy", "entrypoint",
                          "expose", "stopsignal", "cmd"]),
        (PYTHON_STYLE, 1, ["env", "run", "env", "env", "env", "run", "run", "cmd"]),
        (GOLANG_MULTISTAGE_STYLE, 2, ["run", "arg", "run", "user", "copy", "expose",
                                     "entrypoint"]),
        (REDIS_STYLE, 1, ["run", "run", "env", "run", "volume", "workdir", "copy", "entrypoint",
                          "expose", "cmd"]),
    ],
    ids=["nginx", "python", "go-multistage", "redis"],
)  # fmt: skip
def test_official_image_styles(text: str, stages: int, kinds: list[str]) -> None:
    df = parse_dockerfile(text)
    assert len(df.stages) == stages
    last = df.stages[-1]
    assert [i.kind for i in last.instructions] == kinds


def test_official_style_details() -> None:
    nginx = parse_dockerfile(NGINX_STYLE).stages[0].instructions
    run = nginx[4]
    # The comment line inside the continuation is dropped; the lines are joined.
    assert "# create" not in run.args[0]
    assert run.args[0].startswith("set -x     && groupadd --system --gid 101 nginx")
    assert nginx[1].pairs == (("NGINX_VERSION", "1.27.3"),)
    python = parse_dockerfile(PYTHON_STYLE).stages[0].instructions
    assert python[0].pairs == (("PATH", "/usr/local/bin:$PATH"),)
    go = parse_dockerfile(GOLANG_MULTISTAGE_STYLE)
    assert dict(go.directives) == {"syntax": "docker/dockerfile:1"}
    assert go.meta_args[0].pairs == (("GO_VERSION", "1.23"),)
    assert go.stages[0].instructions[1].flags["mount"] == (
        "type=cache,target=/go/pkg/mod/",
        "type=bind,source=go.sum,target=go.sum",
        "type=bind,source=go.mod,target=go.mod",
    )
    assert go.stages[1].instructions[4].flag("from") == "build"
