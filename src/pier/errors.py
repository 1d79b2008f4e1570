"""The one error hierarchy of Pier.

Every failure a client can see is a PierError; its class decides the HTTP status
(the API server maps it in one place) and its message is Docker's wording, because
clients match on it (the docker CLI turns "executable file not found" into exit 127,
and a 404 on create into a pull).
"""

from __future__ import annotations


class PierError(Exception):
    """Base class; status 500 unless a subclass says otherwise."""

    status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidParameter(PierError):
    status = 400


class Unauthorized(PierError):
    status = 401


class Forbidden(PierError):
    status = 403


class NotFound(PierError):
    status = 404


class Conflict(PierError):
    status = 409


class NotModified(PierError):
    """Start of a running container, stop of a stopped one: Docker answers 304."""

    status = 304


class PayloadTooLarge(PierError):
    status = 413


class NotImplementedByPier(PierError):
    status = 501


class Unavailable(PierError):
    status = 503


class SystemFailure(PierError):
    """An unexpected failure of the host (a runtime, a mount, the disk)."""

    status = 500


class NoSuchContainer(NotFound):
    def __init__(self, ref: str) -> None:
        super().__init__(f"No such container: {ref}")


class NoSuchImage(NotFound):
    def __init__(self, ref: str) -> None:
        super().__init__(f"No such image: {ref}")


class NoSuchExec(NotFound):
    def __init__(self, ref: str) -> None:
        super().__init__(f"No such exec instance: {ref}")


class NoSuchNetwork(NotFound):
    def __init__(self, ref: str) -> None:
        super().__init__(f"network {ref} not found")


class NoSuchVolume(NotFound):
    def __init__(self, ref: str) -> None:
        super().__init__(f"get {ref}: no such volume")


class CommandFailed(PierError):
    """A build step's command exited non-zero; `code` is its exit status, which a
    build stream reports (errorDetail.code) and the docker CLI exits with."""

    status = 500

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code
