"""The attributes a json-file log gives its messages, shown by `logs --details`.

As moby's jsonfilelog driver: the container labels named by the `labels` log option
(and matched by `labels-regex`), the environment variables named by `env` (and
`env-regex`), and `tag` when the option is set, its template filled from the
container (moby's logger.Info). `logs --details` puts them before each message as
`k=v,k=v ` (keys sorted, both query-escaped; a lone space when there are none).
"""

from __future__ import annotations

import re
from urllib.parse import quote_plus

from pier.containers.model import Container

_FIELD = re.compile(r"\{\{\s*\.(\w+)\s*\}\}")


def log_attrs(record: Container) -> dict[str, str]:
    opts = record.host_config.log_opts
    labels = record.config.labels
    attrs: dict[str, str] = {}
    for name in _names(opts.get("labels", "")):
        if name in labels:
            attrs[name] = labels[name]
    if opts.get("labels-regex"):
        pattern = re.compile(opts["labels-regex"])
        attrs.update({k: v for k, v in labels.items() if pattern.search(k)})
    env = dict(e.split("=", 1) for e in record.config.env if "=" in e)
    for name in _names(opts.get("env", "")):
        if name in env:
            attrs[name] = env[name]
    if opts.get("env-regex"):
        pattern = re.compile(opts["env-regex"])
        attrs.update({k: v for k, v in env.items() if pattern.search(k)})
    tag = fill_tag(opts.get("tag", ""), record)
    if tag:
        attrs["tag"] = tag
    return attrs


def details_prefix(attrs: dict[str, str]) -> bytes:
    """moby's attrsByteSlice, and the space after it."""
    # quote_plus keeps what Go's url.QueryEscape keeps (letters, digits, -_.~).
    pairs = (f"{quote_plus(k)}={quote_plus(v)}" for k, v in sorted(attrs.items()))
    return (",".join(pairs) + " ").encode()


def fill_tag(template: str, record: Container) -> str:
    """A tag template's fields (moby's logger.Info methods); others are left as written."""
    if not template:
        return ""
    image_id = record.image_id.removeprefix("sha256:")
    values = {
        "ID": record.id[:12],
        "FullID": record.id,
        "Name": record.name,
        "ImageID": image_id[:12],
        "ImageFullID": record.image_id,
        "ImageName": record.config.image,
        "Hostname": record.config.hostname,
        "Command": " ".join((record.path, *record.args)),
        "DaemonName": "docker",
    }
    return _FIELD.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def _names(text: str) -> list[str]:
    return [n for n in text.split(",") if n]
