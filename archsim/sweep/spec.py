"""The sweep specification: one YAML file describing a design space (pydantic, one-sentence errors).

```yaml
name: gpu-roofline
axes:                          # each a list, or a range {start, stop, step} / {start, stop, num, scale: log}
  model: [llama2-7b, llama3-8b]
  hw: [a100-80g, h100-sxm, a100-2xbw]    # presets or the variants below
  phase: [prefill, decode]
  batch: {start: 1, stop: 64, num: 7, scale: log}
  seq: [512, 1024, 2048]
  mapper: [roofline]
zip: [[batch, seq]]            # axes that advance together instead of forming a product
variants:                      # generated hardware, usable in the hw axis by name
  - {name: a100-2xbw, base: a100-80g, set: {memory.bandwidth_Bps: 4.078e12}}
overrides:                     # an axis over dotted preset paths, applied to every hw of the hw axis
  memory.bandwidth_Bps: [1.5e12, 3.0e12]
constraints: ["memory_bytes <= capacity_bytes"]
objectives: {tokens_per_s: max, energy_per_token_j: min}
refine: {engine: sim, x: energy_per_token_j, y: tokens_per_s}   # simulate the analytic Pareto front
```
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from archsim.errors import InputError, describe_validation

# Axes a design point has, with their defaults (the CLI's defaults).
AXIS_DEFAULTS: dict[str, Any] = {
    "model": None, "hw": None, "phase": "decode", "batch": 1, "seq": 1024, "w_bits": 16, "a_bits": 16,
    "kv_bits": 16, "sparsity": None, "mapper": None, "engine": "analytic", "grid": None, "threads": None,
    "compat": None,
}
INT_AXES = frozenset({"batch", "seq", "w_bits", "a_bits", "kv_bits", "threads"})
# Metrics a constraint or objective may name (Result.as_dict keys stored per point).
METRICS = ("latency_s", "tokens_per_s", "energy_j", "energy_per_token_j", "tokens_per_usd", "memory_bytes",
           "weight_bytes", "kv_bytes", "capacity_bytes", "flops", "bytes_moved")
_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][\w.]*|[-+0-9.eE]+)\s*(<=|>=|<|>)\s*([A-Za-z_][\w.]*|[-+0-9.eE]+)\s*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Range(_Strict):
    """Numbers from ``start`` to ``stop`` (inclusive): by ``step``, or ``num`` of them linearly or on a log
    scale; integer axes round and de-duplicate."""

    start: float
    stop: float
    step: float | None = Field(None, gt=0)
    num: int | None = Field(None, ge=1)
    scale: Literal["linear", "log"] = "linear"

    @model_validator(mode="after")
    def _one_way(self) -> Range:
        if (self.step is None) == (self.num is None):
            raise ValueError("a range needs exactly one of 'step' or 'num'")
        if self.stop < self.start:
            raise ValueError("a range needs stop >= start")
        if self.scale == "log" and (self.start <= 0 or self.num is None):
            raise ValueError("a log range needs start > 0 and 'num'")
        return self

    def values(self, integer: bool) -> list[Any]:
        if self.step is not None:
            n = int(math.floor((self.stop - self.start) / self.step + 1e-9)) + 1
            vals = [self.start + i * self.step for i in range(n)]
        elif self.scale == "log":
            assert self.num is not None
            ratio = (self.stop / self.start) ** (1 / (self.num - 1)) if self.num > 1 else 1.0
            vals = [self.start * ratio**i for i in range(self.num)]
        else:
            assert self.num is not None
            span = (self.stop - self.start) / (self.num - 1) if self.num > 1 else 0.0
            vals = [self.start + i * span for i in range(self.num)]
        if integer:
            return list(dict.fromkeys(int(round(v)) for v in vals))
        return vals


class Variant(_Strict):
    """Generated hardware: a preset with dotted paths set to new values (``memory.bandwidth_Bps: 3e12``)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.\-]*$")
    base: str
    set: dict[str, float]


class Refine(_Strict):
    """Re-run the analytic Pareto front of ``x`` vs ``y`` with ``engine`` (the simulator)."""

    engine: Literal["sim"] = "sim"
    x: str = "energy_per_token_j"
    y: str = "tokens_per_s"


class SweepSpec(_Strict):
    """A design space: axes (lists or ranges), zip groups, hardware variants and overrides, constraints,
    objectives and an optional simulation refinement of the Pareto front."""

    name: str = "sweep"
    description: str = ""
    axes: dict[str, list[Any] | Range]
    zip: list[list[str]] = Field(default_factory=list)
    variants: list[Variant] = Field(default_factory=list)
    overrides: dict[str, list[float]] = Field(default_factory=dict)
    constraints: list[str] = Field(default_factory=list)
    objectives: dict[str, Literal["min", "max"]] = Field(default_factory=dict)
    refine: Refine | None = None
    chunk_size: int = Field(4096, ge=1, le=1_000_000)

    @field_validator("axes", mode="before")
    @classmethod
    def _ranges(cls, axes: Any) -> Any:
        """A mapping value is a range: validate it as one so its error names what is wrong with it."""
        if not isinstance(axes, dict):
            return axes
        out = {}
        for name, vals in axes.items():
            if isinstance(vals, dict):
                try:
                    vals = Range.model_validate(vals)
                except ValidationError as err:
                    first = err.errors()[0]
                    msg = first["msg"].removeprefix("Value error, ")
                    loc = ".".join(str(p) for p in first["loc"])
                    raise ValueError(f"axis '{name}' range{' ' + loc if loc else ''}: {msg}") from None
            elif not isinstance(vals, list):
                vals = [vals]  # a single value is a one-value axis
            out[name] = vals
        return out

    @field_validator("axes")
    @classmethod
    def _known_axes(cls, axes: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(axes) - set(AXIS_DEFAULTS))
        if unknown:
            raise ValueError(f"unknown axis '{unknown[0]}'; axes are {', '.join(AXIS_DEFAULTS)}")
        for need in ("model", "hw"):
            if need not in axes:
                raise ValueError(f"the '{need}' axis is required")
        for name, vals in axes.items():
            if isinstance(vals, list) and not vals:
                raise ValueError(f"axis '{name}' is empty")
        return axes

    @model_validator(mode="after")
    def _consistent(self) -> SweepSpec:
        seen: set[str] = set()
        for group in self.zip:
            if len(group) < 2:
                raise ValueError("a zip group needs at least two axes")
            for name in group:
                if name not in self.axes:
                    raise ValueError(f"zip names axis '{name}', which is not in axes")
                if name in seen:
                    raise ValueError(f"axis '{name}' is in two zip groups")
                seen.add(name)
            lengths = {name: len(self.axis_values(name)) for name in group}
            if len(set(lengths.values())) > 1:
                raise ValueError(f"zipped axes must have equal lengths, got {lengths}")
        for c in self.constraints:
            m = _CONSTRAINT.match(c)
            if not m:
                raise ValueError(f"constraint '{c}' must look like 'metric <= metric_or_number'")
            for side in (m.group(1), m.group(3)):
                if not _is_number(side) and side not in METRICS:
                    raise ValueError(f"constraint '{c}' names '{side}', not one of {', '.join(METRICS)}")
        for name in self.objectives:
            if name not in METRICS:
                raise ValueError(f"objective '{name}' is not one of {', '.join(METRICS)}")
        if self.refine is not None:
            for name in (self.refine.x, self.refine.y):
                if name not in METRICS:
                    raise ValueError(f"refine axis '{name}' is not one of {', '.join(METRICS)}")
        return self

    def axis_values(self, name: str) -> list[Any]:
        """The values of one axis (its default alone when the spec does not sweep it)."""
        if name not in self.axes:
            return [AXIS_DEFAULTS[name]]
        vals = self.axes[name]
        if isinstance(vals, Range):
            return vals.values(integer=name in INT_AXES)
        return list(vals)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def parse_constraint(text: str) -> tuple[str, str, str]:
    """``"memory_bytes <= capacity_bytes"`` -> (left, op, right)."""
    m = _CONSTRAINT.match(text)
    assert m is not None  # validated with the spec
    return m.group(1), m.group(2), m.group(3)


def parse_spec(data: Any, origin: str = "sweep spec") -> SweepSpec:
    """Validate a parsed YAML/dict spec; ``InputError`` with one sentence naming the field."""
    if not isinstance(data, dict):
        raise InputError("spec", f"{origin} must be a YAML mapping with an 'axes' field.")
    try:
        return SweepSpec.model_validate(data)
    except ValidationError as err:
        raise InputError("spec", f"{origin}: {describe_validation(err, 'sweep', SweepSpec.model_fields)}.") from None


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a sweep YAML file."""
    p = Path(path)
    if not p.is_file():
        raise InputError("spec", f"sweep spec '{p}' does not exist.")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InputError("spec", f"sweep spec '{p}' is not valid YAML{where}.") from None
    return parse_spec(data, str(p))
