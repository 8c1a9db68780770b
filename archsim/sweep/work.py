"""Evaluate one chunk of design points (runs in a worker process or on a Dask worker).

Points that the GPU roofline can price in bulk (``mapper: roofline``, analytic engine) go through the
vectorized path (``archsim.sweep.vectorized``) in groups of the same structure; every other point goes
through ``archsim.evaluate.evaluate`` one at a time. A point that fails is recorded with its error, never
fatal for the chunk.
"""

from __future__ import annotations

import operator
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from archsim.sweep.space import OVERRIDE_AXIS, Space
from archsim.sweep.spec import AXIS_DEFAULTS, SweepSpec, parse_constraint

# Stored columns and their DuckDB types, in table order (``run_id`` is added by the store).
AXIS_COLUMNS = {"model": "VARCHAR", "hw": "VARCHAR", "hw_overrides": "VARCHAR", "family": "VARCHAR",
                "phase": "VARCHAR", "batch": "INTEGER", "seq": "INTEGER", "w_bits": "INTEGER", "a_bits": "INTEGER",
                "kv_bits": "INTEGER", "sparsity": "VARCHAR", "mapper": "VARCHAR", "engine": "VARCHAR",
                "grid": "VARCHAR", "threads": "INTEGER", "compat": "VARCHAR"}
METRIC_COLUMNS = {"latency_s": "DOUBLE", "tokens_per_s": "DOUBLE", "energy_j": "DOUBLE",
                  "energy_per_token_j": "DOUBLE", "tokens_per_usd": "DOUBLE", "memory_bytes": "DOUBLE",
                  "weight_bytes": "DOUBLE", "kv_bytes": "DOUBLE", "capacity_bytes": "DOUBLE",
                  "fits_memory": "BOOLEAN", "flops": "DOUBLE", "bytes_moved": "DOUBLE"}
COLUMNS = {"key": "VARCHAR", "point_index": "BIGINT", **AXIS_COLUMNS, **METRIC_COLUMNS, "feasible": "BOOLEAN",
           "status": "VARCHAR", "error": "VARCHAR"}
_OPS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}


@lru_cache(maxsize=4)
def space_of(spec_json: str) -> Space:
    """The resolved space of a spec (cached per process: workers see the same spec for every chunk)."""
    return Space.of(SweepSpec.model_validate_json(spec_json))


_AXES = [*AXIS_DEFAULTS, OVERRIDE_AXIS]
_GROUP_AXES = ("model", "phase", "sparsity", "compat")  # bit widths vary within a group (arrays)


def _result_row(res: Any) -> dict[str, Any]:
    d = res.as_dict()
    return {k: d[k] for k in METRIC_COLUMNS} | {"family": res.family, "mapper_used": res.mapper}


def _evaluate_one(space: Space, p: dict[str, Any]) -> dict[str, Any]:
    from archsim.evaluate import evaluate

    hw = space.resolved_hw(p["hw"], p.get(OVERRIDE_AXIS))
    res = evaluate(space.models[p["model"]], hw, phase=p["phase"], batch=p["batch"], seq=p["seq"],
                   w_bits=p["w_bits"], a_bits=p["a_bits"], kv_bits=p["kv_bits"], sparsity=p["sparsity"],
                   mapper=p["mapper"], engine=p["engine"], compat=p["compat"], grid=p["grid"], threads=p["threads"])
    return _result_row(res)


@dataclass
class _Columns:
    """Column-wise results of a chunk (metrics NaN until a point is priced)."""

    n: int
    metrics: dict[str, np.ndarray] = field(init=False)
    fits: np.ndarray = field(init=False)
    ok: np.ndarray = field(init=False)
    family: np.ndarray = field(init=False)
    mapper: np.ndarray = field(init=False)
    error: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.metrics = {k: np.full(self.n, np.nan) for k in METRIC_COLUMNS if k != "fits_memory"}
        self.fits = np.zeros(self.n, dtype=bool)
        self.ok = np.zeros(self.n, dtype=bool)
        self.family = np.full(self.n, None, dtype=object)
        self.mapper = np.full(self.n, None, dtype=object)
        self.error = np.full(self.n, None, dtype=object)

    def put(self, i: int, row: dict[str, Any]) -> None:
        for k, arr in self.metrics.items():
            arr[i] = row[k]
        self.fits[i] = bool(row["fits_memory"])
        self.family[i] = row["family"]
        self.mapper[i] = row["mapper_used"]
        self.ok[i] = True


def _evaluate_vectorized(space: Space, axes: dict[str, np.ndarray], pos: np.ndarray, out: _Columns) -> bool:
    """Price same-structure roofline points in bulk; False when the bulk path refuses the group."""
    try:
        from archsim.sweep.vectorized import roofline_block
    except ImportError:
        return False
    first = int(pos[0])
    pairs = list(zip(axes["hw"][pos], axes[OVERRIDE_AXIS][pos], strict=True))
    uniq = list(dict.fromkeys(pairs))
    where = {pair: j for j, pair in enumerate(uniq)}
    hw_list = [space.resolved_hw(*pair) for pair in uniq]
    hw_index = np.fromiter((where[pair] for pair in pairs), dtype=np.int64, count=len(pairs))
    try:
        cols = roofline_block(space.models[axes["model"][first]], axes["phase"][first],
                              axes["batch"][pos].astype(np.int64), axes["seq"][pos].astype(np.int64), hw_list,
                              hw_index, w_bits=axes["w_bits"][pos].astype(np.int64),
                              a_bits=axes["a_bits"][pos].astype(np.int64),
                              kv_bits=axes["kv_bits"][pos].astype(np.int64), sparsity=axes["sparsity"][first],
                              compat=axes["compat"][first])
    except Exception:  # e.g. a non-GPU device in the group: price it point by point
        return False
    capacity = np.array([hw.capacity_bytes for hw in hw_list])[hw_index]
    for k, arr in out.metrics.items():
        arr[pos] = capacity if k == "capacity_bytes" and k not in cols else cols[k]
    out.fits[pos] = cols["fits_memory"]
    out.family[pos] = np.array([hw.family for hw in hw_list] + [None], dtype=object)[:-1][hw_index]
    out.mapper[pos] = "roofline"
    out.ok[pos] = True
    return True


def evaluate_chunk(spec_json: str, start: int, stop: int) -> dict[str, np.ndarray]:
    """Evaluate points ``start..stop-1`` of the spec; returns one array per stored column (without run_id)."""
    space = space_of(spec_json)
    idx = space.indices(start, stop)
    return _evaluate(space, idx, np.arange(start, start + len(idx), dtype=np.int64), None)


def evaluate_points(spec_json: str, indices: list[int], engine: str | None = None) -> dict[str, np.ndarray]:
    """Evaluate the points with these indices, optionally with another engine (the Pareto refinement)."""
    space = space_of(spec_json)
    idx = np.concatenate([space.indices(i, i + 1) for i in indices]) if indices else space.indices(0, 0)
    return _evaluate(space, idx, np.asarray(indices, dtype=np.int64), engine)


def _evaluate(space: Space, idx: np.ndarray, point_index: np.ndarray, engine: str | None) -> dict[str, np.ndarray]:
    n = len(idx)
    axes = dict(zip(_AXES, space.axis_columns(idx), strict=True))
    if engine is not None:
        axes["engine"] = np.full(n, engine, dtype=object)
    out = _Columns(n)
    vec = (axes["mapper"] == "roofline") & (axes["engine"] == "analytic")
    vec &= np.array([g is None for g in axes["grid"]], dtype=bool) & np.array([t is None for t in axes["threads"]],
                                                                              dtype=bool)
    groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    vec_pos = np.flatnonzero(vec)
    for i, key in zip(vec_pos, zip(*(axes[a][vec_pos] for a in _GROUP_AXES), strict=True), strict=True):
        groups[key].append(int(i))
    single = [int(i) for i in np.flatnonzero(~vec)]
    for members in groups.values():
        pos = np.asarray(members, dtype=np.int64)
        if not _evaluate_vectorized(space, axes, pos, out):
            single.extend(members)
    for i in single:
        point = {a: axes[a][i] for a in _AXES}
        try:
            out.put(i, _evaluate_one(space, point))
        except Exception as err:  # recorded, not fatal (issue 8 item 3)
            out.error[i] = f"{type(err).__name__}: {err}"
            out.family[i] = space.hardware[point["hw"]].family
            out.mapper[i] = point["mapper"]
    if engine is None:
        keys = space.keys(idx)
    else:
        keys = [space.key({a: axes[a][i] for a in _AXES}) for i in range(n)]
    cols: dict[str, np.ndarray] = {"key": np.array(keys, dtype=object), "point_index": point_index}
    for name in AXIS_COLUMNS:
        if name == "hw_overrides":
            cols[name] = np.array([space.override_json(v) for v in axes[OVERRIDE_AXIS]] + [None], dtype=object)[:-1]
        elif name == "family":
            cols[name] = out.family
        elif name == "mapper":
            cols[name] = out.mapper
        elif AXIS_COLUMNS[name] == "VARCHAR":
            cols[name] = np.array([None if v is None else str(v) for v in axes[name]] + [None], dtype=object)[:-1]
        else:
            cols[name] = _int_column(axes[name])
    for k, arr in out.metrics.items():
        cols[k] = np.where(out.ok, arr, np.nan)
    cols["fits_memory"] = _nullable(out.fits, out.ok)
    cols["feasible"] = _nullable(_feasible(space.spec, out), out.ok)
    cols["status"] = np.where(out.ok, "ok", "error").astype(object)
    cols["error"] = out.error
    return {name: cols[name] for name in COLUMNS}


def _int_column(values: np.ndarray) -> np.ndarray:
    if any(v is None for v in values):
        return np.array([None if v is None else int(v) for v in values] + [None], dtype=object)[:-1]
    return values.astype(np.int64)


def _nullable(values: np.ndarray, ok: np.ndarray) -> np.ndarray:
    if ok.all():
        return values.astype(bool)
    return np.array([bool(v) if k else None for v, k in zip(values, ok, strict=True)] + [None], dtype=object)[:-1]


def _feasible(spec: SweepSpec, out: _Columns) -> np.ndarray:
    """Every constraint of the spec, element-wise over the chunk."""
    keep = np.ones(out.n, dtype=bool)
    for text in spec.constraints:
        left, op, right = parse_constraint(text)
        a = out.metrics[left] if left in out.metrics else float(left)
        b = out.metrics[right] if right in out.metrics else float(right)
        with np.errstate(invalid="ignore"):
            keep &= _OPS[op](a, b)
    return keep
