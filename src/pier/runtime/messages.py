"""Turn what crun and runc print on failure into Docker's wording.

Clients match on the text: the docker CLI exits 127 when the message contains
"executable file not found" or "no such file or directory", and 126 when it contains
"permission denied"; dockerd answers 400 for those and sets the container's exit code.
runc already speaks Go's wording (`exec: "x": executable file not found in $PATH`);
crun has its own (executable file `x` not found in $PATH: No such file or directory),
so crun's messages are rewritten into runc's.
"""

from __future__ import annotations

import re

from pier.errors import InvalidParameter, PierError, SystemFailure

_LOGFMT_MSG = re.compile(r'\bmsg="((?:[^"\\]|\\.)*)"')
_CRUN_NOT_FOUND = re.compile(r"executable file `(.*)` not found in \$PATH")
_CRUN_OPEN_EXEC = re.compile(r"^open executable: (Permission denied|Operation not permitted)")


def runtime_message(stderr: str) -> str:
    """The error line of a runtime's stderr (runc logs logfmt, crun plain lines)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if not lines:
        return ""
    for line in reversed(lines):
        found = _LOGFMT_MSG.search(line)
        if found and "level=error" in line:
            return found.group(1).replace('\\"', '"').replace("\\\\", "\\")
    line = lines[-1]
    found = _LOGFMT_MSG.search(line)
    if found:
        return found.group(1).replace('\\"', '"').replace("\\\\", "\\")
    return line.removeprefix("crun: ")


def normalise_exec_error(message: str, executable: str | None) -> str:
    """Rewrite crun's exec failures as runc/Go's; other messages pass unchanged."""
    found = _CRUN_NOT_FOUND.search(message)
    if found:
        name = found.group(1)
        if "/" in name:
            return f'exec: "{name}": stat {name}: no such file or directory'
        return f'exec: "{name}": executable file not found in $PATH'
    if _CRUN_OPEN_EXEC.search(message):
        return f'exec: "{executable or ""}": permission denied'
    return message


def create_error(runtime_name: str, stderr: str, executable: str | None) -> PierError:
    """The error for a failed `<runtime> create`, worded as dockerd's start error."""
    detail = normalise_exec_error(runtime_message(stderr), executable)
    if runtime_name != "runc" and detail.startswith("exec: "):
        detail = f"{runtime_name} create failed: unable to start container process: {detail}"
    message = (
        "failed to create task for container: failed to create shim task: "
        f"OCI runtime create failed: {detail}: unknown"
    )
    if start_error_exit_code(message) is not None:
        return InvalidParameter(message)
    return SystemFailure(message)


def exec_error(runtime_name: str, message: str, executable: str | None) -> PierError:
    """The error for a failed `<runtime> exec`, worded as dockerd's."""
    detail = normalise_exec_error(runtime_message(message), executable)
    if detail.startswith("exec: "):
        detail = f"exec failed: unable to start container process: {detail}"
    text = f"OCI runtime exec failed: {detail}: unknown"
    if start_error_exit_code(text) is not None:
        return InvalidParameter(text)
    return SystemFailure(text)


def start_error_exit_code(message: str) -> int | None:
    """The exit code dockerd records for a container that failed to start this way."""
    lowered = message.lower()
    if "executable file not found" in lowered or "no such file or directory" in lowered:
        return 127
    if "permission denied" in lowered:
        return 126
    return None
