"""The Go text/template subset behind --format."""

from __future__ import annotations

from typing import Any

import pytest

from pier.cli.gotemplate import Template, TemplateExecError, TemplateParseError, go_float, sprintf

DATA: dict[str, Any] = {
    "Name": "/web",
    "Config": {"Cmd": ["echo", "hi"], "Labels": {"a": "b", "c": "<d>"}, "Tty": False},
    "State": {"Running": True, "Pid": 12, "Mem": 1e9},
    "Mounts": [{"Source": "/a"}, {"Source": "/b"}],
    "Empty": [],
    "Nil": None,
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{.Name}}", "/web"),
        ("{{.Config.Cmd}}", "[echo hi]"),
        ("{{json .Config.Cmd}}", '["echo","hi"]'),
        ("{{json .Config.Labels}}", '{"a":"b","c":"<d>"}'),
        ("{{.Config | json}}", '{"Cmd":["echo","hi"],"Labels":{"a":"b","c":"<d>"},"Tty":false}'),
        ('{{index .Config.Labels "a"}}', "b"),
        ('{{index .Config.Labels "zz"}}', ""),
        ("{{index .Mounts 1}}", "map[Source:/b]"),
        ("{{(index .Mounts 1).Source}}", "/b"),
        ("{{range .Mounts}}[{{.Source}}]{{end}}", "[/a][/b]"),
        ("{{range $i, $m := .Mounts}}{{$i}}={{$m.Source}};{{end}}", "0=/a;1=/b;"),
        ("{{range .Empty}}x{{else}}none{{end}}", "none"),
        ("{{range .Config.Labels}}{{.}},{{end}}", "b,<d>,"),
        ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
        ("{{if .Config.Tty}}t{{else if .Name}}name{{else}}x{{end}}", "name"),
        ("{{with .Config}}{{.Cmd}}{{end}}", "[echo hi]"),
        ("{{with .Empty}}x{{else}}empty{{end}}", "empty"),
        ('{{join .Config.Cmd " "}}', "echo hi"),
        ('{{upper .Name}} {{lower "AbC"}} {{title "hello big-world"}}', "/WEB abc Hello Big-World"),
        ("{{println .Name}}", "/web\n"),
        ('{{printf "%s=%d|%5s|%-5s|%q" .Name 3 "r" "l" "q"}}', '/web=3|    r|l    |"q"'),
        ("{{len .Mounts}} {{len .Name}}", "2 4"),
        ("{{.State}}", "map[Mem:1e+09 Pid:12 Running:true]"),
        ("{{.Nil}}", "<nil>"),
        ("{{.Missing}}", "<no value>"),
        ("{{$x := .Name}}{{$x}}", "/web"),
        ('{{if eq .Name "/web" "x"}}eq{{end}}', "eq"),
        ("{{if ne .State.Pid 1}}ne{{end}}", "ne"),
        ("{{if and .Name .Empty}}a{{else}}b{{end}}", "b"),
        ('{{or .Empty "fallback"}}', "fallback"),
        ("{{not .Config.Tty}}", "true"),
        ("a  {{- .Name -}}  b", "a/webb"),
        ("{{/* comment */}}x", "x"),
        ('{{split "a,b" ","}}', "[a b]"),
        ('{{truncate "abcdef" 3}} {{pad "x" 1 2}}.', "abc  x  ."),
        ('{{range .Mounts}}{{if eq .Source "/b"}}{{break}}{{end}}{{.Source}}{{end}}', "/a"),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 40 else None,
)
def test_execute(template: str, expected: str) -> None:
    assert Template(template).execute(DATA) == expected


def test_methods_with_arguments() -> None:
    class Ctx:
        go_type = "*formatter.ContainerContext"

        def Label(self, name: str) -> str:
            return {"k": "v"}.get(name, "")

        def ID(self) -> str:
            return "abc"

    assert Template('{{.ID}} {{.Label "k"}}').execute(Ctx()) == "abc v"
    with pytest.raises(TemplateExecError, match="wrong number of args for Label: want 1 got 0"):
        Template("{{.Label}}").execute(Ctx())
    with pytest.raises(
        TemplateExecError,
        match=r"template: :1:2: executing \"\" at <.Bogus>: can't evaluate field Bogus in type "
        r"\*formatter.ContainerContext",
    ):
        Template("{{.Bogus}}").execute(Ctx())


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{.Foo}}", 'template: :1:2: executing "" at <.Foo>: map has no entry for key "Foo"'),
        (
            "{{.Config.Nope.X}}",
            'template: :1:9: executing "" at <.Config.Nope.X>: map has no entry for key "Nope"',
        ),
        ("{{.Name.X}}", "can't evaluate field X in type string"),
    ],
    ids=["missing", "chain-position", "field-of-string"],
)
def test_missing_key_error(template: str, message: str) -> None:
    with pytest.raises(TemplateExecError) as info:
        Template(template, missing_key_error=True).execute(DATA)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{nofunc .X}}", 'template: :1: function "nofunc" not defined'),
        ("{{if .X}}", "unexpected EOF"),
        ("{{.X", "unclosed action"),
        ("{{end}}", "unexpected {{end}}"),
    ],
    ids=["function", "eof", "unclosed", "stray-end"],
)
def test_parse_errors(template: str, message: str) -> None:
    with pytest.raises(TemplateParseError, match=message):
        Template(template)


@pytest.mark.parametrize(
    ("value", "text"),
    [(1e6, "1e+06"), (123456.0, "123456"), (1234567.0, "1.234567e+06"), (0.5, "0.5"),
     (1e-5, "1e-05"), (0.0001, "0.0001"), (-2.5, "-2.5"), (3.0, "3")],
    ids=str,
)  # fmt: skip
def test_go_float(value: float, text: str) -> None:
    assert go_float(value) == text


def test_sprintf_edge_cases() -> None:
    assert sprintf("%s %s", "a") == "a %!s(MISSING)"
    assert sprintf("%d%%", 5) == "5%"
    assert sprintf("%05d", 42) == "00042"
    assert sprintf("%v", [1, "a"]) == "[1 a]"
    assert sprintf("x", 1) == "x%!(EXTRA int=1)"
