"""Errors that archsim reports to users as one sentence (exit code 2), never as a traceback."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class InputError(ValueError):
    """Bad user input: an unknown id, an out-of-range size, a malformed file.

    ``field`` names the offending input (a CLI flag, a YAML key, a config.json key) so the
    message can point at it; ``str(err)`` is the full one-sentence message.
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


class NotSupportedError(InputError):
    """A valid request for a capability that does not exist yet (hardware family, mapper, engine)."""


def describe_validation(err: ValidationError, kind: str, known: Iterable[str] | None = None) -> str:
    """One clause for the first error of a pydantic ``err`` about a ``kind`` document (hardware, sweep ...):
    the dotted field path, and whether it is missing, unknown (listing ``known`` fields) or invalid."""
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"] if not isinstance(p, int)) or "(top level)"
    if first["type"] == "missing":
        return f"field '{loc}' is missing"
    if first["type"] == "extra_forbidden":
        hint = f" (fields: {', '.join(known)})" if known else ""
        return f"field '{loc}' is not a known {kind} field{hint}"
    return f"field '{loc}' is invalid: {first['msg'].removeprefix('Value error, ')}"
