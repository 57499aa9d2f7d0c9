"""The one error hierarchy. Every entrypoint maps these once: API → problem+json, web → message, CLI → exit.

A concrete error is named ``<Thing><Problem>`` and carries a stable ``code`` that clients may rely on.
"""

from __future__ import annotations

from typing import Any, ClassVar


class SeatflowError(Exception):
    code: ClassVar[str] = "error"
    title: ClassVar[str] = "Error"

    def __init__(self, message: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code  # type: ignore[misc]  # an instance may refine its class's code
        self.extra: dict[str, Any] = extra

    def __str__(self) -> str:
        return self.message


class NotFound(SeatflowError):
    code = "not_found"
    title = "Not found"


class Conflict(SeatflowError):
    code = "conflict"
    title = "Conflict"


class InvalidState(SeatflowError):
    code = "invalid_state"
    title = "Invalid state"


class Forbidden(SeatflowError):
    code = "forbidden"
    title = "Forbidden"


class Unauthorized(SeatflowError):
    code = "unauthorized"
    title = "Unauthorized"


class ValidationFailed(SeatflowError):
    code = "validation_failed"
    title = "Validation failed"


class ProviderError(SeatflowError):
    code = "provider_error"
    title = "Provider error"

    def __init__(self, message: str, *, retryable: bool, code: str | None = None, **extra: Any) -> None:
        super().__init__(message, code=code, **extra)
        self.retryable = retryable
