"""The process of a `docker exec`, from the container's record.

An exec runs with its container's privileges: the same capabilities, rlimits,
no-new-privileges and OOM score (dockerd starts from the container's own OCI process
and changes only the command, env, user, cwd and terminal). Here they come from the
record through `runtime.spec.secure_process`, the function that resolves the
container's own process, and the runtime driver renders the result with the renderer
of config.json's process, so the two cannot drift.
"""

from __future__ import annotations

from pier.containers.model import Container
from pier.containers.spec import merge_env, no_new_privileges, process_env, ulimits
from pier.containers.user import ResolvedUser
from pier.runtime.process import ProcessSpec
from pier.runtime.spec import HostFacts, secure_process


def exec_process(
    record: Container,
    *,
    cmd: tuple[str, ...],
    env: tuple[str, ...],
    working_dir: str,
    user: ResolvedUser,
    tty: bool,
    privileged: bool,
    console_size: tuple[int, int],
    facts: HostFacts,
) -> ProcessSpec:
    """The exec's process: its command, env (over the container's), cwd, user and
    terminal, with the container's security settings; a privileged exec gets every
    capability the daemon has and nothing else changes (as dockerd's)."""
    hc = record.host_config
    process = ProcessSpec(
        args=cmd,
        env=process_env(merge_env(record.config.env, env), record.config.hostname, tty, user),
        cwd=working_dir or record.config.working_dir or "/",
        uid=user.uid,
        gid=user.gid,
        additional_gids=user.additional_gids,
        terminal=tty,
        console_size=console_size if tty and all(console_size) else None,
    )
    return secure_process(
        process,
        privileged=hc.privileged or privileged,
        cap_add=hc.cap_add,
        cap_drop=hc.cap_drop,
        no_new_privileges=no_new_privileges(hc.security_opt),
        ulimits=ulimits(hc),
        oom_score_adj=hc.oom_score_adj or None,
        facts=facts,
    )
