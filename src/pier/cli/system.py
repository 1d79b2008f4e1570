"""`version` and `info`."""

from __future__ import annotations

import os
import sys

from pier.cli.flags import FORMAT_F, Spec
from pier.cli.main import Context, StatusError
from pier.client.errors import ClientError

# typing and collections.abc cost milliseconds at start-up: only the checker reads them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


# version and info
NO_ARGS = Spec(max_args=0, flags=(FORMAT_F,))


def _template(fmt: str, data: Any) -> str:
    from pier.cli.gotemplate import Template, TemplateError

    if fmt == "json":
        fmt = "{{json .}}"
    try:
        return Template(fmt).execute(data) + "\n"
    except TemplateError as exc:
        raise StatusError(1, f"template: {exc}") from None


def _client_info(ctx: Context) -> dict[str, Any]:
    from pier import API_VERSION, __version__

    # not `platform`: with the `re` and `enum` it imports, 8 to 11 ms of start-up here
    machine = os.uname().machine
    return {
        "Platform": {"Name": ""},
        "Version": __version__,
        "ApiVersion": ctx.client.version,
        "DefaultAPIVersion": API_VERSION,
        "PythonVersion": "{}.{}.{}".format(*sys.version_info),
        "GoVersion": "",
        "Os": "linux",
        "Arch": {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine),
        "Context": "default",
    }


def version(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(NO_ARGS, argv)
    client = _client_info(ctx)
    server: Any = None
    error: ClientError | None = None
    try:
        server = ctx.client.get_json("/version")
    except ClientError as exc:
        error = exc
    if opts["format"]:
        ctx.out(_template(opts["format"], {"Client": client, "Server": server}))
    else:
        lines = [
            "Client:",
            f" Version:           {client['Version']}",
            f" API version:       {client['ApiVersion']}",
            f" Python version:    {client['PythonVersion']}",
            f" OS/Arch:           {client['Os']}/{client['Arch']}",
            f" Context:           {client['Context']}",
        ]
        if server is not None:
            lines += ["", "Server:"]
            components = server.get("Components") or [
                {"Name": "Engine", "Version": server.get("Version", ""), "Details": server}
            ]
            for comp in components:
                details = comp.get("Details") or {}
                lines.append(f" {comp.get('Name', '')}:")
                lines.append(f"  Version:          {comp.get('Version', '')}")
                if comp.get("Name") == "Engine":
                    api = details.get("ApiVersion", server.get("ApiVersion", ""))
                    minimum = details.get("MinAPIVersion", server.get("MinAPIVersion", ""))
                    lines += [
                        f"  API version:      {api} (minimum version {minimum})",
                        f"  Go version:       {details.get('GoVersion', '')}",
                        f"  Git commit:       {details.get('GitCommit', '')}",
                        f"  Built:            {_ansic(str(details.get('BuildTime', '')))}",
                        f"  OS/Arch:          {details.get('Os', '')}/{details.get('Arch', '')}",
                        f"  Experimental:     {str(details.get('Experimental', 'false')).lower()}",
                    ]
                else:
                    for key in sorted(details):
                        lines.append(f"  {key + ':':<18}{details[key]}")
        ctx.out("\n".join(lines) + "\n")
    if error is not None:
        raise error
    return 0


def _ansic(stamp: str) -> str:
    """docker version shows the build time in Go's time.ANSIC layout, local time."""
    from pier import timefmt

    try:
        return timefmt.ansic(timefmt.parse_ns(stamp) / 1e9)
    except ValueError:
        return stamp


def _yes(v: Any) -> str:
    return "true" if v else "false"


def info(ctx: Context, argv: list[str]) -> int:
    from pier.cli.output import bytes_size

    opts = ctx.parse(NO_ARGS, argv)
    from pier import __version__

    if opts["format"]:
        data = ctx.client.get_json("/info")
        ctx.out(_template(opts["format"], data))
        return 0
    head = [
        "Client:",
        f" Version:    {__version__}",
        " Context:    default",
        f" Debug Mode: {_yes(ctx.debug)}",
        "",
        "Server:",
    ]
    ctx.out("\n".join(head) + "\n")
    i = ctx.client.get_json("/info")
    plugins = i.get("Plugins") or {}
    lines = [
        f" Containers: {i.get('Containers', 0)}",
        f"  Running: {i.get('ContainersRunning', 0)}",
        f"  Paused: {i.get('ContainersPaused', 0)}",
        f"  Stopped: {i.get('ContainersStopped', 0)}",
        f" Images: {i.get('Images', 0)}",
        f" Server Version: {i.get('ServerVersion', '')}",
        f" Storage Driver: {i.get('Driver', '')}",
    ]
    lines += [f"  {k}: {v}" for k, v in i.get("DriverStatus") or []]
    lines += [
        f" Logging Driver: {i.get('LoggingDriver', '')}",
        f" Cgroup Driver: {i.get('CgroupDriver', '')}",
        f" Cgroup Version: {i.get('CgroupVersion', '')}",
        " Plugins:",
        f"  Volume: {' '.join(plugins.get('Volume') or [])}",
        f"  Network: {' '.join(plugins.get('Network') or [])}",
        f"  Log: {' '.join(plugins.get('Log') or [])}",
        f" Swarm: {(i.get('Swarm') or {}).get('LocalNodeState', 'inactive')}",
        f" Runtimes: {' '.join(sorted(i.get('Runtimes') or {}))}",
        f" Default Runtime: {i.get('DefaultRuntime', '')}",
        f" Init Binary: {i.get('InitBinary', '')}",
    ]
    sec = i.get("SecurityOptions") or []
    if sec:
        lines.append(" Security Options:")
        for opt in sec:
            fields = dict(p.partition("=")[::2] for p in str(opt).split(","))
            lines.append(f"  {fields.get('name', opt)}")
            if fields.get("profile"):
                lines.append(f"   Profile: {fields['profile']}")
    lines += [
        f" Kernel Version: {i.get('KernelVersion', '')}",
        f" Operating System: {i.get('OperatingSystem', '')}",
        f" OSType: {i.get('OSType', '')}",
        f" Architecture: {i.get('Architecture', '')}",
        f" CPUs: {i.get('NCPU', 0)}",
        f" Total Memory: {bytes_size(float(i.get('MemTotal', 0)))}",
        f" Name: {i.get('Name', '')}",
        f" ID: {i.get('ID', '')}",
        f" Docker Root Dir: {i.get('DockerRootDir', '')}",
        f" Debug Mode: {_yes(i.get('Debug'))}",
        f" Experimental: {_yes(i.get('ExperimentalBuild'))}",
        f" Live Restore Enabled: {_yes(i.get('LiveRestoreEnabled'))}",
    ]
    for warning in i.get("Warnings") or []:
        lines.append(warning)
    ctx.out("\n".join(lines) + "\n\n")
    return 0
