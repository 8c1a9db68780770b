"""Errors that archsim reports to users as one sentence (exit code 2), never as a traceback."""

from __future__ import annotations


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
