"""Pydantic models of user requests, shared by the CLI, ``archsim validate`` and the web app.

They check types and ranges at the boundary and turn the first problem into one sentence naming
the field (``InputError``); the core types re-check their own invariants.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from archsim.errors import InputError
from models.workload import parse_sparsity


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WorkloadRequest(_Request):
    """Workload options shared by ``run`` and ``compare``."""

    model: str
    phase: Literal["prefill", "decode"] = "decode"
    batch: int = Field(1, ge=1)
    seq: int = Field(1024, ge=1)
    gen: int | None = Field(None, ge=1)
    w_bits: int = Field(16, ge=1, le=32)
    a_bits: int = Field(16, ge=1, le=32)
    kv_bits: int = Field(16, ge=1, le=32)
    sparsity: str | None = None
    flash_attention: bool = False
    mapper: str | None = None
    engine: Literal["analytic", "sim"] = "analytic"
    grid: str | None = None
    threads: int | None = Field(None, ge=1)
    compat: Literal["corrected", "llm-viewer"] = "corrected"

    @field_validator("sparsity")
    @classmethod
    def _sparsity(cls, v: str | None) -> str | None:
        try:
            parsed = parse_sparsity(v)
        except ValueError as exc:
            raise ValueError(str(exc).rstrip(".")) from None
        return None if parsed is None else f"{parsed[0]}:{parsed[1]}"


class RunRequest(WorkloadRequest):
    hw: str


class CompareRequest(_Request):
    hw: list[str] = Field(min_length=1)
    workload: WorkloadRequest
    phases: list[Literal["prefill", "decode"]] = Field(min_length=1)


class KernelRequest(_Request):
    op: Literal["gemv", "gemm"]
    hw: str
    m: int = Field(1, ge=1)
    n: int = Field(ge=1)
    k: int = Field(ge=1)
    w_bits: int = Field(16, ge=1, le=32)
    a_bits: int = Field(16, ge=1, le=32)
    sparsity: str | None = None
    mapper: str | None = None
    engine: Literal["analytic", "sim"] = "analytic"
    grid: str | None = None
    threads: int | None = Field(None, ge=1)


def _sentence(err: ValidationError) -> InputError:
    first = err.errors()[0]
    field = ".".join(str(p) for p in first["loc"] if not isinstance(p, int)) or "input"
    ctx: dict[str, Any] = first.get("ctx") or {}
    value = first.get("input")
    kind = first["type"]
    if kind == "greater_than_equal":
        text = f"must be >= {ctx['ge']}, got {value!r}"
    elif kind == "less_than_equal":
        text = f"must be <= {ctx['le']}, got {value!r}"
    elif kind == "literal_error":
        text = f"must be one of {ctx.get('expected', '')}, got {value!r}"
    elif kind == "missing":
        text = "is required"
    elif kind == "extra_forbidden":
        text = "is not a known option"
    elif kind in ("int_parsing", "int_from_float", "int_type"):
        text = f"must be an integer, got {value!r}"
    else:
        text = first["msg"].removeprefix("Value error, ")
        if text and text[0].isupper() and not text.startswith("N:M"):
            text = text[0].lower() + text[1:]
    return InputError(field, f"{field} {text.rstrip('.')}.")


def parse_request(cls: type[_Request], data: dict[str, Any]) -> Any:
    """Validate ``data`` as ``cls``; raise ``InputError`` with one sentence naming the bad field."""
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise _sentence(exc) from None
