"""Input errors raised by the model layer.

``models`` must not depend on ``archsim`` (data flows one way), so it defines its own error; the
archsim CLI treats it exactly like ``archsim.errors.InputError`` (one sentence, exit code 2).
"""

from __future__ import annotations


class ModelInputError(ValueError):
    """Bad model or workload input; ``field`` names the offending key or argument."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)
