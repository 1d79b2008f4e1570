"""One build stage, step by step, as dockerd's classic builder dispatches it.

Each instruction is expanded (`pier.build.expand`), announced as `Step N/M : ...`,
probed in the cache, and otherwise executed: config-only instructions commit a new
config, WORKDIR/COPY/ADD work in a snapshot, RUN runs a container. The stage's head
moves to the image each step makes (` ---> <id>`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import posixpath
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from pier.build import config_ops, runmounts
from pier.build import copy as copying
from pier.build.buildargs import BuildArgs
from pier.build.context import Context
from pier.build.expand import env_mapping, expand, expose_words
from pier.build.ignore import Matcher
from pier.build.instructions import Instruction, instruction
from pier.build.lexer import Lexer
from pier.build.parser import Heredoc, parse, parse_heredoc
from pier.build.remote import is_git_url
from pier.build.steps import Head, StepRunner, Write
from pier.containers.user import resolve_user
from pier.errors import InvalidParameter, NotImplementedByPier
from pier.images import diff
from pier.oci.image import ImageConfig

Resolve = Callable[[str], Awaitable[tuple[str, bool]]]
"""A `--from`/mount source -> (image ID, is a stage of this build)."""


@dataclass(slots=True, kw_only=True)
class StageRun:
    runner: StepRunner
    head: Head
    args: BuildArgs
    lex: Lexer
    context: Context
    write: Write
    resolve_source: Resolve
    cmd_set: bool = False

    # -- dispatch --------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        config_env = self.head.config.env
        return env_mapping((*config_env, *self.args.visible(config_env)))

    async def dispatch(self, item: Instruction) -> None:
        env = self.env()
        try:
            item = expand(item, self.lex, env)
        except InvalidParameter as exc:
            raise InvalidParameter(exc.message) from None
        kind = item.kind
        if kind == "arg":
            for key, value in item.pairs:
                self.args.add(key, value)
            await self._config_step(item, self.head.config)
        elif kind == "workdir":
            await self._workdir(item)
        elif kind == "run":
            await self._run(item)
        elif kind in ("copy", "add"):
            await self._copy(item)
        elif kind == "maintainer":
            self.head.maintainer = item.args[0]
            await self._config_step(item, self.head.config)
        else:
            ports = expose_words(item, self.lex, env) if kind == "expose" else ()
            if kind == "healthcheck" and self.head.config.healthcheck:
                old = list(self.head.config.healthcheck.get("Test") or [])
                if old and old[0] != "NONE":
                    await self.write(f"Note: overriding previous HEALTHCHECK: [{' '.join(old)}]\n")
            applied = config_ops.apply(
                self.head.config, item, cmd_set=self.cmd_set, expanded_words=ports
            )
            self.cmd_set = applied.cmd_set
            await self._commit_config(applied.comment, applied.config)

    async def _config_step(self, item: Instruction, config: ImageConfig) -> None:
        applied = config_ops.apply(config, item, cmd_set=self.cmd_set)
        await self._commit_config(applied.comment, applied.config)

    async def _commit_config(self, comment: str, config: ImageConfig) -> None:
        shell = config_ops.shell_of(config)
        probe_cmd = (*shell, "#(nop) ", comment)
        key = self.runner.key(
            self.head, {"cmd": probe_cmd, "config": _probe(config), "author": self.head.maintainer}
        )
        created_by = " ".join(probe_cmd)
        if await self.runner.probe(
            self.head, key, self.write, created_by=created_by, config=config
        ):
            return
        await self.runner.commit(
            self.head, key=key, config=config, created_by=created_by, layer=None
        )

    async def triggers(self) -> None:
        """The base image's ONBUILD instructions, run right after FROM."""
        found = self.head.config.on_build
        if not found:
            return
        self.head.config = replace(self.head.config, on_build=())
        plural = "s" if len(found) > 1 else ""
        await self.write(f"# Executing {len(found)} build trigger{plural}\n")
        for text in found:
            parsed = parse(text)
            if len(parsed.nodes) != 1:
                raise InvalidParameter("onbuild trigger should be a single expression")
            item = instruction(parsed.nodes[0])
            if not isinstance(item, Instruction):
                raise InvalidParameter("FROM isn't allowed as an ONBUILD trigger")
            await self.dispatch(item)

    # -- WORKDIR -------------------------------------------------------------------------

    async def _workdir(self, item: Instruction) -> None:
        path = config_ops.workdir(self.head.config.working_dir, item.args[0])
        config = replace(self.head.config, working_dir=path)
        comment = "WORKDIR " + path
        probe_cmd = (*config_ops.shell_of(config), "#(nop) " + comment)
        key = self.runner.key(self.head, {"cmd": probe_cmd, "config": _probe(config)})
        if await self.runner.probe(
            self.head, key, self.write, created_by=" ".join(probe_cmd), config=config
        ):
            return
        async with self.runner.snapshot(self.head.image_id) as (root, layout):
            await asyncio.to_thread(_make_workdir, root, path)
            layer = await self.runner.layer_of(layout)
        await self.runner.commit(
            self.head, key=key, config=config, created_by=" ".join(probe_cmd), layer=layer
        )

    # -- RUN -----------------------------------------------------------------------------

    async def _run(self, item: Instruction) -> None:
        config = self.head.config
        network = item.flag("network")
        if network and network not in ("default", "none", "host"):
            raise InvalidParameter(f"unsupported network mode: {network}")
        if item.flags.get("security"):
            raise NotImplementedByPier("RUN --security is not supported by Pier")
        mounts = [runmounts.parse(spec, config.working_dir) for spec in item.flags.get("mount", ())]
        cmd, script_binds = self._command(item, config)
        visible = self.args.visible(config.env)
        save_cmd = cmd
        if visible:
            kept = sorted(
                v for v in visible if self.args.referenced_or_not_builtin(v.partition("=")[0])
            )
            save_cmd = (f"|{len(kept)}", *kept, *cmd)
        probe = replace(config, cmd=save_cmd, entrypoint=None if save_cmd else config.entrypoint)
        key = self.runner.key(
            self.head,
            {
                "cmd": save_cmd,
                "config": _probe(probe),
                "network": network,
                "mounts": [m.describe() for m in mounts],
            },
        )
        if await self.runner.probe(
            self.head, key, self.write, created_by=" ".join(save_cmd), config=config
        ):
            return
        env = (*config.env, *visible)
        async with contextlib.AsyncExitStack() as held:
            binds = [*script_binds, *[await self._mount_bind(m, held) for m in mounts]]
            cid = await self.runner.run(
                self.head, cmd=cmd, env=env, network=network, binds=tuple(binds), write=self.write
            )
        try:
            mounts_ = await self.runner.images.rootfs_mounts(cid)
            layer = await self.runner.layer_of(diff.layout(mounts_))
            await self.runner.commit(
                self.head, key=key, config=config, created_by=" ".join(save_cmd), layer=layer
            )
        finally:
            if self.runner.request.remove or self.runner.request.force_remove:
                await self.runner.remove_container(cid, self.write)

    async def _mount_bind(self, m: runmounts.RunMount, held: contextlib.AsyncExitStack) -> str:
        """The `-v` form of a RUN mount; what it mounts stays until the step ends."""
        if m.type == "cache":
            root = self.runner.images.tmp_dir.parent / "build-cache"
            path = await asyncio.to_thread(runmounts.cache_dir, root, m)
            return runmounts.bind(path, m)
        if m.type == "tmpfs":
            path = self.runner.workdir / "tmpfs" / secrets.token_hex(8)
            await asyncio.to_thread(path.mkdir, parents=True)
            return runmounts.bind(path, m)
        root = self.context.root
        if m.from_:
            mounted = await held.enter_async_context(_source(self, m.from_))
            if mounted is not None:
                root = mounted
        source = await asyncio.to_thread(runmounts.bind_source, root, m)
        return runmounts.bind(source, m)

    def _command(
        self, item: Instruction, config: ImageConfig
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The step's argv, and the binds a heredoc script with a `#!` line needs."""
        if not item.heredocs:
            return config_ops.command_line(item, config), ()
        line = item.args[0] if item.args else ""
        doc = parse_heredoc(line.strip())
        if doc is not None and len(item.heredocs) == 1:
            data = item.heredocs[0].data()
            if data.startswith("#!"):
                # As BuildKit: the script is a file, run by its interpreter line.
                script = self.runner.workdir / f"heredoc-{secrets.token_hex(8)}"
                script.write_text(data)
                script.chmod(0o755)
                target = "/dev/pipes/" + item.heredocs[0].name
                return (target,), (f"{script}:{target}:ro",)
            return (*config_ops.shell_of(config), data), ()
        full = line
        for d in item.heredocs:
            full += "\n" + d.content + d.name
        return (*config_ops.shell_of(config), full), ()

    # -- COPY / ADD ------------------------------------------------------------------------

    async def _copy(self, item: Instruction) -> None:
        add = item.kind == "add"
        kind = item.kind.upper()
        chown = item.flag("chown")
        chmod_text = item.flag("chmod")
        chmod = _chmod(chmod_text) if chmod_text else None
        from_ref = item.flag("from") if not add else ""
        *srcs, dest = item.args
        dest = _normalize_dest(self.head.config.working_dir, dest)
        source_root = self.context.root
        digests: Mapping[str, str] | None = self.context.digests
        owners = False
        async with _source(self, from_ref) as mounted:
            if mounted is not None:
                source_root, digests, owners = mounted, None, True
            items = await asyncio.to_thread(
                self._sources, item, srcs, source_root, digests, owners, add
            )
            excludes = item.flags.get("exclude", ())
            skip = Matcher(excludes).excluded if excludes else None
            if skip is not None:
                items = [i for i in items if not skip(i.name.lstrip("/"))]
                if not items:
                    raise InvalidParameter("no source files were specified")
            digest = copying.source_digest(items)
            chown_part = f"--chown={chown} " if chown else ""
            comment = f"{kind} {chown_part}{digest} in {dest} "
            probe_cmd = (*config_ops.shell_of(self.head.config), "#(nop) " + comment)
            key = self.runner.key(
                self.head,
                {
                    "cmd": probe_cmd,
                    "config": _probe(self.head.config),
                    "chmod": chmod_text,
                    "parents": item.flag_bool("parents"),
                    "exclude": list(excludes),
                },
            )
            if await self.runner.probe(
                self.head,
                key,
                self.write,
                created_by=" ".join(probe_cmd),
                config=self.head.config,
            ):
                return
            async with self.runner.snapshot(self.head.image_id) as (root, layout):
                await asyncio.to_thread(
                    self._do_copy,
                    root,
                    dest,
                    items,
                    chown,
                    chmod,
                    owners and not chown,
                    add,
                    item.flag_bool("parents"),
                    skip,
                )
                layer = await self.runner.layer_of(layout)
        await self.runner.commit(
            self.head,
            key=key,
            config=self.head.config,
            created_by=" ".join(probe_cmd),
            layer=layer,
        )

    def _sources(
        self,
        item: Instruction,
        srcs: list[str],
        root: Path,
        digests: Mapping[str, str] | None,
        owners: bool,
        add: bool,
    ) -> list[copying.Item]:
        docs: dict[str, Heredoc] = {d.name: d for d in item.heredocs}
        out: list[copying.Item] = []
        plain: list[str] = []
        for src in srcs:
            doc = parse_heredoc(src)
            if doc is not None:
                found = docs.get(doc.name)
                data = found.data() if found is not None else ""
                if found is not None and found.expand:
                    raw = Lexer(self.lex.escape, raw_quotes=True, raw_escapes=True)
                    data = raw.process_word(data, self.env())
                out.append(copying.heredoc_item(doc.name, data.encode()))
            elif add and is_git_url(src):
                downloads = self.runner.workdir / "downloads"
                downloads.mkdir(exist_ok=True)
                keep = item.flag_bool("keep-git-dir")
                out.append(copying.git_checkout(src, downloads, keep_git=keep))
            elif add and src.startswith(("http://", "https://")):
                downloads = self.runner.workdir / "downloads"
                downloads.mkdir(exist_ok=True)
                out.append(copying.download(src, downloads, item.flag("checksum")))
            elif src.startswith(("http://", "https://")):
                raise InvalidParameter("COPY failed: source can't be a URL for COPY")
            else:
                plain.append(src)
        if plain:
            if not self.context.has_files and root == self.context.root:
                raise InvalidParameter(f"{item.kind.upper()} failed: missing build context")
            out.extend(
                copying.sources(
                    root, plain, digests=digests, owners=owners, command=item.kind.upper()
                )
            )
        return out

    @staticmethod
    def _do_copy(
        root: Path,
        dest: str,
        items: list[copying.Item],
        chown: str,
        chmod: int | None,
        keep_owners: bool,
        add: bool,
        parents: bool,
        skip: Callable[[str], bool] | None,
    ) -> None:
        if chown:
            user, _, group = chown.partition(":")
            resolved = resolve_user(root, f"{user}:{group or user}")
            own = copying.Ownership(uid=resolved.uid, gid=resolved.gid, chmod=chmod, skip=skip)
        elif keep_owners:
            own = copying.Ownership(uid=None, gid=None, chmod=chmod, skip=skip)
        else:
            own = copying.Ownership(uid=0, gid=0, chmod=chmod, skip=skip)
        if parents:
            for it in items:
                parent = posixpath.dirname(it.name.lstrip("/"))
                target = posixpath.join(dest, parent) + "/" if parent else dest
                copying.copy_items(root, target, [it], own, add=add)
            return
        copying.copy_items(root, dest, items, own, add=add)


@contextlib.asynccontextmanager
async def _source(stage: StageRun, ref: str) -> AsyncIterator[Path | None]:
    """The root file system of a `--from` source, mounted for the copy (or None)."""
    if not ref:
        yield None
        return
    image_id, _ = await stage.resolve_source(ref)
    async with stage.runner.snapshot(image_id) as (root, _layout):
        yield root


def _probe(config: ImageConfig) -> dict[str, object]:
    return dict(config.to_json())


def _normalize_dest(workdir: str, dest: str) -> str:
    slash = dest.endswith("/") or dest in (".", "./")
    if not dest.startswith("/"):
        dest = posixpath.join("/", workdir or "/", dest)
    dest = posixpath.normpath(dest)
    if slash and not dest.endswith("/"):
        dest += "/"
    return dest


def _chmod(text: str) -> int:
    try:
        value = int(text, 8)
    except ValueError:
        raise InvalidParameter(f"invalid chmod parameter: {text}") from None
    if value > 0o7777:
        raise InvalidParameter(f"invalid chmod parameter: {text}")
    return value


def _make_workdir(root: Path, path: str) -> None:
    target = copying.in_scope(root, path)
    if target.is_dir():
        return
    missing = []
    p = target
    while not os.path.lexists(p) and p != root:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        d.mkdir(mode=0o755)
        os.chmod(d, 0o755)
