"""The design points of a sweep spec: a mixed-radix index over its dimensions (an axis, a zip group, or the
hardware-override grid), resolved hardware variants, and a stable key per fully-resolved point.

Point ``i`` is the same point on every machine and in every run of the same spec, so chunks of indices
are the unit of work, of storage transactions and of resumption.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from archsim.errors import InputError
from archsim.hardware import HardwareSpec, load_hardware
from archsim.sweep.spec import AXIS_DEFAULTS, SweepSpec
from models.config import ModelConfig, load_model

KEY_VERSION = "1"
OVERRIDE_AXIS = "hw_overrides"


def _set_path(raw: dict[str, Any], path: str, value: float, hw_id: str) -> None:
    """Set a dotted path of a hardware dict: a ``{value, source}`` leaf gets the value and an override source."""
    node: Any = raw
    parts = path.split(".")
    for part in parts[:-1]:
        if not isinstance(node, dict) or node.get(part) is None:
            raise InputError("overrides", f"'{path}' is not a field of hardware '{hw_id}'.")
        node = node[part]
    leaf = parts[-1]
    if not isinstance(node, dict) or leaf not in node or node[leaf] is None:
        raise InputError("overrides", f"'{path}' is not a field of hardware '{hw_id}'.")
    if isinstance(node[leaf], dict) and "value" in node[leaf]:
        node[leaf] = {"value": value, "source": f"assumption: sweep override of {path}"}
    elif isinstance(node[leaf], (int, float)):
        node[leaf] = value
    else:
        raise InputError("overrides", f"'{path}' of hardware '{hw_id}' is not a number.")


def hardware_variant(base: HardwareSpec, new_id: str, changes: dict[str, float]) -> HardwareSpec:
    """``base`` with dotted paths set (``memory.bandwidth_Bps: 3e12``); ``InputError`` naming a bad path."""
    raw = base.model_dump(mode="python")
    for path, value in changes.items():
        _set_path(raw, path, value, base.id)
    raw["id"] = new_id
    raw["aliases"] = []
    try:
        return HardwareSpec.model_validate(raw)
    except Exception as err:  # pydantic names the field; keep one sentence
        raise InputError("overrides", f"hardware '{new_id}' is invalid after overrides: {err}".split("\n")[0]) from None


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


@dataclass
class Space:
    """All design points of a spec. ``dims`` are the index dimensions (one axis, a zip group, or the
    override grid), each with its values; ``total`` points in row-major order over ``dims``."""

    spec: SweepSpec
    dims: list[tuple[str, ...]] = field(default_factory=list)
    dim_values: list[list[tuple[Any, ...]]] = field(default_factory=list)
    models: dict[str, ModelConfig] = field(default_factory=dict)
    hardware: dict[str, HardwareSpec] = field(default_factory=dict)  # by the name used in the hw axis
    override_grid: list[dict[str, float]] = field(default_factory=list)
    _hw_cache: dict[tuple[str, int], HardwareSpec] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, spec: SweepSpec) -> Space:
        """Resolve a spec: load every model and hardware (errors name the bad value), build the dimensions."""
        space = cls(spec)
        zipped = {name: group for group in spec.zip for name in group}
        done: set[str] = set()
        for name in spec.axes:
            if name in done:
                continue
            group = tuple(zipped.get(name, [name]))
            done.update(group)
            columns = [spec.axis_values(n) for n in group]
            space.dims.append(group)
            space.dim_values.append(list(zip(*columns, strict=True)))
        if spec.overrides:
            paths = list(spec.overrides)
            space.override_grid = [dict(zip(paths, combo, strict=True))
                                   for combo in itertools.product(*(spec.overrides[p] for p in paths))]
            space.dims.append((OVERRIDE_AXIS,))
            space.dim_values.append([(i,) for i in range(len(space.override_grid))])
        for name in spec.axis_values("model"):
            space.models[str(name)] = load_model(name)
        variants = {v.name: v for v in spec.variants}
        for name in spec.axis_values("hw"):
            if name in variants:
                v = variants[name]
                space.hardware[name] = hardware_variant(load_hardware(v.base), v.name, dict(v.set))
            else:
                space.hardware[str(name)] = load_hardware(name)
        if space.override_grid:  # every combination sets the same paths: check them once per hardware, up front
            for hw_name in space.hardware:
                space.resolved_hw(hw_name, 0)
        return space

    @cached_property
    def sizes(self) -> tuple[int, ...]:
        return tuple(len(v) for v in self.dim_values)

    @cached_property
    def total(self) -> int:
        return int(np.prod(self.sizes, dtype=np.int64)) if self.sizes else 0

    def resolved_hw(self, hw_name: str, override: int | None) -> HardwareSpec:
        """The hardware of the ``hw`` axis value with override combination ``override`` applied."""
        if override is None or not self.override_grid:
            return self.hardware[hw_name]
        key = (hw_name, override)
        if key not in self._hw_cache:
            base = self.hardware[hw_name]
            self._hw_cache[key] = hardware_variant(base, f"{base.id}-o{override}", self.override_grid[override])
        return self._hw_cache[key]

    @cached_property
    def _content(self) -> dict[str, str]:
        """Digests of each model's config and each hardware's description (part of every key, so editing
        a preset makes its points new points)."""
        out = {f"m:{k}": _digest(repr(v)) for k, v in self.models.items()}
        out.update({f"h:{k}": _digest(v.model_dump_json()) for k, v in self.hardware.items()})
        return out

    def indices(self, start: int, stop: int) -> np.ndarray:
        """Per-dimension value indices of points ``start..stop-1``: shape (stop - start, len(dims))."""
        flat = np.arange(start, min(stop, self.total), dtype=np.int64)
        return np.stack(np.unravel_index(flat, self.sizes), axis=1) if len(flat) else np.zeros((0, len(self.dims)),
                                                                                               dtype=np.int64)

    def points(self, start: int, stop: int) -> list[dict[str, Any]]:
        """Fully-resolved configurations of points ``start..stop-1`` (every axis, defaults filled in)."""
        out = []
        for row in self.indices(start, stop):
            point = dict(AXIS_DEFAULTS)
            point[OVERRIDE_AXIS] = None
            for d, idx in enumerate(row):
                point.update(zip(self.dims[d], self.dim_values[d][idx], strict=True))
            out.append(point)
        return out

    def _frag(self, name: str, value: Any) -> str:
        """One axis of a key's text; model and hardware carry their content digests."""
        text = f"{name}={value!r}"
        if name == "model":
            text += "#" + self._content[f"m:{value}"]
        elif name == "hw":
            text += "#" + self._content[f"h:{value}"]
        elif name == OVERRIDE_AXIS:
            text = f"{name}=" + (self._override_texts[value] if value is not None else "")
        return text

    def key(self, point: dict[str, Any]) -> str:
        """Stable 128-bit key of a fully-resolved point: every axis (in a fixed order, however the spec
        groups them), its overrides and the content digests of its model and hardware."""
        names = [*AXIS_DEFAULTS, OVERRIDE_AXIS]
        return _digest(KEY_VERSION + "|" + "|".join(self._frag(n, point.get(n)) for n in names))

    def keys(self, idx: np.ndarray) -> list[str]:
        """``key`` of many points at once from their dimension indices (``indices``), equal to ``key``."""
        columns = self.axis_columns(idx, fragments=True)
        texts = columns[0]
        for col in columns[1:]:
            texts = texts + "|" + col
        return [_digest(KEY_VERSION + "|" + t) for t in texts]

    def axis_columns(self, idx: np.ndarray, fragments: bool = False) -> list[np.ndarray]:
        """Per axis (in ``AXIS_DEFAULTS`` order, then the override index) an object array of the points'
        values, or of their key fragments."""
        n = len(idx)
        where = {name: (d, j) for d, dim in enumerate(self.dims) for j, name in enumerate(dim)}
        out = []
        for name in [*AXIS_DEFAULTS, OVERRIDE_AXIS]:
            if name in where:
                d, j = where[name]
                vals = [v[j] for v in self.dim_values[d]]
                table = np.array([self._frag(name, v) if fragments else v for v in vals] + [None], dtype=object)[:-1]
                out.append(table[idx[:, d]])
            else:
                value = None if name == OVERRIDE_AXIS else AXIS_DEFAULTS[name]
                fill = self._frag(name, value) if fragments else value
                col = np.empty(n, dtype=object)
                col[:] = [fill] * n
                out.append(col)
        return out

    @cached_property
    def _override_texts(self) -> list[str]:
        return [json.dumps(o, sort_keys=True) for o in self.override_grid]

    def override_json(self, ovr: int | None) -> str | None:
        """The overrides of combination ``ovr`` as JSON (None without overrides)."""
        return self._override_texts[ovr] if ovr is not None else None

    def spec_digest(self) -> str:
        """Identifies this spec's point set (chunk bookkeeping for --resume)."""
        return _digest(self.spec.model_dump_json() + "".join(sorted(self._content.values())))
