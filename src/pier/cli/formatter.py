"""Docker's `--format` contexts for ps, images and history, and the table renderer.

A context object exposes Docker's formatter fields as methods (`.ID`, `.Status`,
`.Label "k"`); a table's header row is the same template run on an object whose
fields return the column titles (docker/cli cli/command/formatter).

Only the CreatedAt fields import `pier.timefmt`: `ps`'s default table does not need it.
"""

from __future__ import annotations

from pier.cli import output
from pier.cli.main import StatusError

# typing and collections.abc cost milliseconds at start-up: only the checker reads them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any


PS_TABLE = (
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
)
IMAGES_TABLE = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
IMAGES_DIGEST_TABLE = (
    "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
)
HISTORY_TABLE = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
HISTORY_TABLE_NOHUMAN = "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"


def short_id(ident: str) -> str:
    """stringid.TruncateID: drop the algorithm, keep 12 hex digits."""
    return ident.partition(":")[2][:12] if ":" in ident else ident[:12]


def _fields(obj: Any) -> dict[str, Any]:
    out = {}
    for name in sorted(dir(type(obj))):
        if name[:1].isupper():
            attr = getattr(type(obj), name)
            if callable(attr) and attr.__code__.co_argcount == 1:
                out[name] = attr(obj)
    return out


def display_ports(ports: list[dict[str, Any]]) -> str:
    """Docker's DisplayablePorts: `0.0.0.0:8080->80/tcp, 443/tcp`, ranges grouped."""

    def key(p: dict[str, Any]) -> tuple[Any, ...]:
        return (
            p.get("PrivatePort", 0),
            p.get("IP", ""),
            p.get("PublicPort", 0),
            p.get("Type", ""),
        )

    groups: dict[str, list[int]] = {}
    order: list[str] = []
    result: list[str] = []
    mappings: list[str] = []

    def form(group_key: str, first: int, last: int) -> str:
        ip, _, kind = group_key.rpartition("/")
        text = str(first) if first == last else f"{first}-{last}"
        if ip:
            text = f"{ip}:{text}->{text}"
        return f"{text}/{kind}"

    for p in sorted(ports, key=key):
        current = int(p.get("PrivatePort", 0))
        group_key = str(p.get("Type", ""))
        ip = str(p.get("IP") or "")
        if ip:
            public = int(p.get("PublicPort", 0))
            if public != current:
                host = f"[{ip}]" if ":" in ip else ip
                mappings.append(f"{host}:{public}->{current}/{p.get('Type', '')}")
                continue
            group_key = f"{ip}/{group_key}"
        group = groups.get(group_key)
        if group is None:
            groups[group_key] = [current, current]
            order.append(group_key)
            continue
        if current == group[1] + 1:
            group[1] = current
            continue
        result.append(form(group_key, group[0], group[1]))
        groups[group_key] = [current, current]
    result += [form(k, *groups[k]) for k in order]
    return ", ".join(result + mappings)


class ContainerContext:
    go_type = "*formatter.ContainerContext"

    def __init__(self, c: dict[str, Any], *, trunc: bool = True, now: float | None = None):
        self.c = c
        self.trunc = trunc
        self.now = now

    def to_json(self) -> dict[str, Any]:
        return _fields(self)

    def ID(self) -> str:
        ident = str(self.c.get("Id", ""))
        return short_id(ident) if self.trunc else ident

    def Names(self) -> str:
        names = [
            str(n)[1:] if str(n).startswith("/") else str(n) for n in self.c.get("Names") or []
        ]
        if self.trunc:
            # Link names (`other/alias`) are hidden unless --no-trunc.
            for name in names:
                if "/" not in name:
                    return name
        return ",".join(names)

    def Image(self) -> str:
        image = str(self.c.get("Image") or "<no image>")
        if self.trunc:
            image_id = str(self.c.get("ImageID", ""))
            if short_id(image) == short_id(image_id) and image_id:
                return short_id(image)
            if "@" in image:
                image = image.partition("@")[0]
        return image

    def Command(self) -> str:
        command = str(self.c.get("Command", ""))
        if self.trunc:
            command = output.ellipsis(command, 20)
        return output.go_quote(command)

    def CreatedAt(self) -> str:
        from pier import timefmt

        return timefmt.go_string(float(self.c.get("Created", 0)))

    def RunningFor(self) -> str:
        return output.since(float(self.c.get("Created", 0)), self.now)

    def Platform(self) -> Any:
        return (self.c.get("ImageManifestDescriptor") or {}).get("platform")

    def Ports(self) -> str:
        return display_ports(list(self.c.get("Ports") or []))

    def State(self) -> str:
        return str(self.c.get("State", ""))

    def Status(self) -> str:
        return str(self.c.get("Status", ""))

    def Size(self) -> str:
        rw = int(self.c.get("SizeRw") or 0)
        root = int(self.c.get("SizeRootFs") or 0)
        text = output.human_size(rw)
        if root > 0:
            text = f"{text} (virtual {output.human_size(root)})"
        return text

    def Labels(self) -> str:
        labels = self.c.get("Labels") or {}
        return ",".join(f"{k}={labels[k]}" for k in sorted(labels))

    def Label(self, name: str) -> str:
        return str((self.c.get("Labels") or {}).get(name, ""))

    def Mounts(self) -> str:
        names = []
        for m in self.c.get("Mounts") or []:
            name = str(m.get("Name") or m.get("Source") or "")
            names.append(output.ellipsis(name, 15) if self.trunc else name)
        return ",".join(names)

    def LocalVolumes(self) -> str:
        mounts = self.c.get("Mounts") or []
        return str(sum(1 for m in mounts if m.get("Driver") == "local"))

    def Networks(self) -> str:
        nets = (self.c.get("NetworkSettings") or {}).get("Networks") or {}
        return ",".join(sorted(nets))


CONTAINER_HEADERS = {
    "ID": "CONTAINER ID",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED",
    "Ports": "PORTS",
    "State": "STATE",
    "Status": "STATUS",
    "Size": "SIZE",
    "Names": "NAMES",
    "Labels": "LABELS",
    "Mounts": "MOUNTS",
    "LocalVolumes": "LOCAL VOLUMES",
    "Networks": "NETWORKS",
}


class ImageContext:
    go_type = "*formatter.ImageContext"

    def __init__(
        self,
        img: dict[str, Any],
        repo: str,
        tag: str,
        digest: str,
        *,
        trunc: bool = True,
        now: float | None = None,
    ) -> None:
        self.i = img
        self.repo = repo
        self.tag = tag
        self.digest = digest
        self.trunc = trunc
        self.now = now

    def to_json(self) -> dict[str, Any]:
        return _fields(self)

    def ID(self) -> str:
        ident = str(self.i.get("Id", ""))
        return short_id(ident) if self.trunc else ident

    def Repository(self) -> str:
        return self.repo

    def Tag(self) -> str:
        return self.tag

    def Digest(self) -> str:
        return self.digest

    def CreatedSince(self) -> str:
        created = int(self.i.get("Created") or 0)
        return "N/A" if created == 0 else output.since(created, self.now)

    def CreatedAt(self) -> str:
        from pier import timefmt

        return timefmt.go_string(float(self.i.get("Created") or 0))

    def Size(self) -> str:
        return output.human_size(float(self.i.get("Size") or 0))

    def Containers(self) -> str:
        n = int(self.i.get("Containers", -1))
        return "N/A" if n == -1 else str(n)

    def VirtualSize(self) -> str:
        # units.HumanSize: 4 significant digits, unlike Size.
        return output.human_size(float(self.i.get("VirtualSize", self.i.get("Size")) or 0), 4)

    def SharedSize(self) -> str:
        n = int(self.i.get("SharedSize", -1))
        return "N/A" if n == -1 else output.human_size(n, 4)  # units.HumanSize

    def UniqueSize(self) -> str:
        shared = int(self.i.get("SharedSize", -1))
        if shared == -1:
            return "N/A"
        return output.human_size(int(self.i.get("Size") or 0) - shared, 4)


IMAGE_HEADERS = {
    "ID": "IMAGE ID",
    "Repository": "REPOSITORY",
    "Tag": "TAG",
    "Digest": "DIGEST",
    "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT",
    "Size": "SIZE",
    "Containers": "CONTAINERS",
    "VirtualSize": "VIRTUAL SIZE",
    "SharedSize": "SHARED SIZE",
    "UniqueSize": "UNIQUE SIZE",
}


def image_rows(
    images: list[dict[str, Any]], *, digests: bool, trunc: bool, now: float | None = None
) -> list[ImageContext]:
    """One row per repository:tag (and per digest with --digests), like docker images."""
    rows: list[ImageContext] = []
    for img in images:
        tags = [t for t in img.get("RepoTags") or [] if t != "<none>:<none>"]
        dgsts = [d for d in img.get("RepoDigests") or [] if d != "<none>@<none>"]
        if not tags and not dgsts:
            rows.append(ImageContext(img, "<none>", "<none>", "<none>", trunc=trunc, now=now))
            continue
        repo_tags: dict[str, list[str]] = {}
        for ref in tags:
            slash = ref.rfind("/")
            colon = ref.rfind(":")
            if colon <= slash:
                continue
            repo_tags.setdefault(ref[:colon], []).append(ref[colon + 1 :])
        repo_digests: dict[str, list[str]] = {}
        for ref in dgsts:
            repo, _, dgst = ref.partition("@")
            repo_digests.setdefault(repo, []).append(dgst)
        for repo, tag_list in repo_tags.items():
            ds = repo_digests.pop(repo, [])
            if not digests:
                ds = []
            for tag in tag_list:
                if not ds:
                    rows.append(ImageContext(img, repo, tag, "<none>", trunc=trunc, now=now))
                for d in ds:
                    rows.append(ImageContext(img, repo, tag, d, trunc=trunc, now=now))
        for repo, ds in repo_digests.items():
            if digests:
                for d in ds:
                    rows.append(ImageContext(img, repo, "<none>", d, trunc=trunc, now=now))
            else:
                rows.append(ImageContext(img, repo, "<none>", "", trunc=trunc, now=now))
    return rows


class HistoryContext:
    go_type = "*formatter.historyContext"

    def __init__(
        self, h: dict[str, Any], *, trunc: bool, human: bool, now: float | None = None
    ) -> None:
        self.h = h
        self.trunc = trunc
        self.human = human
        self.now = now

    def to_json(self) -> dict[str, Any]:
        return _fields(self)

    def ID(self) -> str:
        ident = str(self.h.get("Id", ""))
        return short_id(ident) if self.trunc and ident != "<missing>" else ident

    def CreatedSince(self) -> str:
        created = float(self.h.get("Created") or 0)
        if not self.human:
            return self.CreatedAt()
        return output.since(created, self.now)

    def CreatedAt(self) -> str:
        from pier import timefmt

        return timefmt.local_rfc3339(float(self.h.get("Created") or 0))

    def CreatedBy(self) -> str:
        created_by = str(self.h.get("CreatedBy", "")).replace("\t", " ")
        return output.ellipsis(created_by, 45) if self.trunc else created_by

    def Size(self) -> str:
        size = int(self.h.get("Size") or 0)
        return output.human_size(size) if self.human else str(size)

    def Comment(self) -> str:
        return str(self.h.get("Comment", ""))


HISTORY_HEADERS = {
    "ID": "IMAGE",
    "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT",
    "CreatedBy": "CREATED BY",
    "Size": "SIZE",
    "Comment": "COMMENT",
}


def _label_header(name: str) -> str:
    last = name.split(".")[-1]
    return last.replace("-", " ").replace("_", " ")


def header_object(headers: dict[str, str], go_type: str) -> Any:
    def const(value: str) -> Callable[[Any], str]:
        return lambda self: value

    namespace: dict[str, Any] = {name: const(h) for name, h in headers.items()}
    namespace["Label"] = lambda self, name: _label_header(name)
    namespace["go_type"] = go_type
    return type("Header", (), namespace)()


def _simple_fields(body: str) -> list[str] | None:
    """Text and plain `{{.Field}}` actions only: the fields, else None.

    Default formats are all of this shape; rendering them without the template
    engine keeps `pier ps` from importing it.
    """
    parts = body.split("{{")
    fields = []
    for part in parts[1:]:
        action, sep, _text = part.partition("}}")
        name = action.strip()
        if not sep or not name.startswith(".") or not name[1:].isidentifier():
            return None
        fields.append(name[1:])
    return fields


def _render_simple(body: str, fields: list[str], rows: list[Any]) -> str:
    pieces = []
    for part in body.split("{{")[1:]:
        pieces.append(part.partition("}}")[2])
    lead = body.split("{{")[0]
    out: list[str] = []
    for row in rows:
        out.append(lead)
        for name, tail in zip(fields, pieces, strict=True):
            out.append(str(getattr(row, name)()))
            out.append(tail)
        out.append("\n")
    return "".join(out)


def chosen(given: str, table: str, *, quiet: bool = False) -> str:
    """docker's choice of template: the IDs with -q, the command's `table` when none or
    "table" is given, else the given one (`render` reads "json")."""
    if quiet:
        return "{{.ID}}"
    return table if given in ("", "table") else given


def render(
    fmt: str,
    rows: Iterable[Any],
    headers: dict[str, str],
    go_type: str,
    *,
    parse_status: int = 1,
) -> str:
    """Docker's formatter.Context: `table` prefix, `\\t`/`\\n` escapes, aligned columns."""
    if fmt == "json":
        fmt = "{{json .}}"
    is_table = fmt.startswith("table")
    body = fmt[len("table") :] if is_table else fmt
    body = body.strip(" ").replace("\\t", "\t").replace("\\n", "\n")
    rows = list(rows)
    fields = _simple_fields(body)
    if fields is not None and all(f in headers for f in fields):
        text = _render_simple(body, fields, rows)
        if not is_table:
            return text
        header = _render_simple(body, fields, [header_object(headers, go_type)])
        return output.tabwrite(header + text)
    from pier.cli.gotemplate import HEADER_FUNCS, Template, TemplateError, TemplateParseError

    try:
        tmpl = Template(body)
    except TemplateParseError as exc:
        raise StatusError(parse_status, f"template parsing error: {exc}") from None
    parts: list[str] = []
    try:
        for row in rows:
            parts.append(tmpl.execute(row))
            parts.append("\n")
    except TemplateError as exc:
        raise StatusError(1, f"failed to execute template: {exc}") from None
    if not is_table:
        return "".join(parts)
    try:
        head = tmpl.execute(header_object(headers, go_type), HEADER_FUNCS)
    except TemplateError:
        head = ""
    return output.tabwrite(head + "\n" + "".join(parts))
