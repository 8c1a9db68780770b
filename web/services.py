"""What the explorer's callbacks ask of archsim: validated evaluations, uploads, sweep stores, RTL summaries.

Nothing here prices anything: design points go through ``archsim.cli.commands`` (the CLI's own path) or
``archsim.evaluate.evaluate`` (for uploaded files), after the same pydantic request models the CLI uses
(``archsim.requests``). Every failure a user can cause is an ``InputError`` (or the model layer's
``ModelInputError``) with one sentence naming the field; ``user_message`` turns any exception into the
sentence a page shows, so no stack trace ever reaches the browser.

The module has no Dash imports: the callbacks in ``web/callbacks`` are thin shells over these functions,
and the tests call them directly.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from archsim.cli import commands
from archsim.cli.render import op_rows
from archsim.errors import InputError
from archsim.evaluate import evaluate
from archsim.hardware import HardwareSpec, hardware_ids, load_hardware, parse_hardware
from archsim.requests import RunRequest, parse_request
from archsim.result import Result
from archsim.sim.core import Trace
from models.config import ModelConfig, load_model, preset_ids
from models.errors import ModelInputError
from web.state import POINT_FIELDS, SWEEP_FILTERS, UPLOADED, split, to_query

log = logging.getLogger("archsim.explore")

# Uploads: a config.json or a hardware YAML is a few KB; anything over this is refused with a message.
UPLOAD_LIMIT_BYTES = 1 << 20
# Any request body (Flask MAX_CONTENT_LENGTH): the server answers 413 beyond it and keeps serving.
MAX_REQUEST_BYTES = 8 << 20
# Sweep scatter: at most this many points are drawn (the Pareto front is computed over all of them).
SCATTER_LIMIT = 20_000

REPO_ROOT = Path(__file__).resolve().parents[1]


def _rtl_paths() -> tuple[Path, Path]:
    try:  # the RTL package owns these locations; fall back to its documented defaults
        from archsim.rtl.synth import SYNTH_ROOT
        from archsim.rtl.verify import VERIFY_JSON
        return Path(VERIFY_JSON), Path(SYNTH_ROOT)
    except Exception:  # noqa: BLE001 - a broken optional package must not stop the explorer
        return REPO_ROOT / "out" / "rtl_verify.json", REPO_ROOT / "out" / "rtl_build" / "synth"


# Where the RTL page looks (``ARCHSIM_RTL_VERIFY_JSON`` / ``ARCHSIM_RTL_SYNTH_DIR`` override, e.g. in tests).
RTL_VERIFY_JSON, RTL_SYNTH_DIR = _rtl_paths()

USER_ERRORS = (InputError, ModelInputError)


def user_message(exc: BaseException, what: str = "this request") -> str:
    """The one sentence a page shows for ``exc``: the message of a user error, otherwise a short
    'internal error' line (the traceback goes to the server log, never to the browser)."""
    if isinstance(exc, USER_ERRORS):
        return str(exc)
    log.error("explorer: %s failed", what, exc_info=exc)
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"archsim could not complete {what} ({type(exc).__name__}{': ' + text if text else ''}); " \
           "the server log has the details."


# --- uploads -------------------------------------------------------------------------------------------------

def _size_text(n: float) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.1f} KB"


def decode_upload(contents: str | None, filename: str | None, field: str, *, too_large: bool = False,
                  size: float | None = None) -> bytes:
    """The bytes of a ``dcc.Upload`` data URL, refusing anything over ``UPLOAD_LIMIT_BYTES``.

    ``too_large``/``size`` come from the browser's own check (it does not send big files at all); the
    server checks again, since a client can send anything.
    """
    name = filename or "the file"
    limit = _size_text(UPLOAD_LIMIT_BYTES)
    if too_large:
        got = f" is {_size_text(size)}" if size else " is too large"
        raise InputError(field, f"'{name}'{got}; uploads are limited to {limit}.")
    if not contents or not isinstance(contents, str):
        raise InputError(field, f"no contents were received for '{name}'.")
    _, comma, b64 = contents.partition(",")
    if not comma:
        raise InputError(field, f"'{name}' did not arrive as a data URL.")
    if len(b64) * 3 // 4 > UPLOAD_LIMIT_BYTES + 3:
        raise InputError(field, f"'{name}' is {_size_text(len(b64) * 3 / 4)}; uploads are limited to {limit}.")
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(field, f"'{name}' could not be decoded (not base64 data).") from None
    if len(raw) > UPLOAD_LIMIT_BYTES:
        raise InputError(field, f"'{name}' is {_size_text(len(raw))}; uploads are limited to {limit}.")
    return raw


def _text(raw: bytes, name: str, field: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(field, f"'{name}' is not UTF-8 text.") from None


def _model_name(raw: Mapping[str, Any], filename: str) -> str:
    name = raw.get("_name_or_path")
    if isinstance(name, str) and name.strip():
        return name.strip().rstrip("/").split("/")[-1]
    stem = Path(filename).stem
    if stem and stem != "config":
        return stem
    kind = raw.get("model_type")
    return f"uploaded-{kind}" if isinstance(kind, str) and kind.isidentifier() else "uploaded-model"


def parse_model_upload(contents: str | None, filename: str | None, *, too_large: bool = False,
                       size: float | None = None) -> dict[str, Any]:
    """Validate an uploaded Hugging Face ``config.json``; returns ``{"name", "filename", "config"}`` (the
    parsed dict, what the page keeps in its store). ``InputError``/``ModelInputError`` name the problem."""
    name = filename or "config.json"
    raw = decode_upload(contents, name, "model", too_large=too_large, size=size)
    try:
        data = json.loads(_text(raw, name, "model"))
    except json.JSONDecodeError as exc:
        raise InputError("model", f"'{name}' is not valid JSON (line {exc.lineno}: {exc.msg}).") from None
    if not isinstance(data, dict):
        raise InputError("model", f"'{name}' must hold a JSON object of config fields.")
    cfg = ModelConfig.from_hf(data, name=_model_name(data, name))
    return {"name": cfg.name, "filename": name, "config": data}


def parse_hw_upload(contents: str | None, filename: str | None, *, too_large: bool = False,
                    size: float | None = None) -> dict[str, Any]:
    """Validate an uploaded hardware YAML; returns ``{"name", "filename", "yaml"}`` (the text, re-parsed
    on every use so a store edited in the browser cannot bypass validation)."""
    name = filename or "hardware.yaml"
    raw = decode_upload(contents, name, "hw", too_large=too_large, size=size)
    text = _text(raw, name, "hw")
    spec = parse_hardware(text, name)
    return {"name": spec.id, "filename": name, "yaml": text}


def uploaded_model(store: Mapping[str, Any] | None) -> ModelConfig:
    """The ``ModelConfig`` of a model-upload store (validated again)."""
    if not store or not isinstance(store.get("config"), dict):
        raise InputError("model", "model 'uploaded' needs a config.json: upload one on the Design point page.")
    return ModelConfig.from_hf(store["config"], name=str(store.get("name") or "uploaded-model"))


def uploaded_hardware(store: Mapping[str, Any] | None) -> HardwareSpec:
    """The ``HardwareSpec`` of a hardware-upload store (validated again)."""
    if not store or not isinstance(store.get("yaml"), str):
        raise InputError("hw", "hw 'uploaded' needs a hardware YAML file: upload one on the Design point page.")
    if len(store["yaml"].encode()) > UPLOAD_LIMIT_BYTES:
        raise InputError("hw", f"the uploaded hardware file is over {_size_text(UPLOAD_LIMIT_BYTES)}.")
    return parse_hardware(store["yaml"], str(store.get("filename") or "uploaded hardware"))


# --- design points -------------------------------------------------------------------------------------------

def _is_path(value: str) -> bool:
    return "/" in value or "\\" in value or value.endswith((".json", ".yaml", ".yml"))


def preset_hardware(hw: Any) -> HardwareSpec:
    """A bundled hardware preset by id or alias; the web app never reads files named in a request."""
    if not isinstance(hw, str) or not hw.strip():
        raise InputError("hw", f"hw must be a hardware id, got {hw!r}.")
    if _is_path(hw) or hw.strip().lower() == "host":
        raise InputError("hw", f"hw '{hw}' is not a preset; the explorer takes a preset id or an uploaded YAML "
                               f"file (presets: {', '.join(hardware_ids())}).")
    return load_hardware(hw.strip())


def _preset_model(model: Any) -> ModelConfig:
    if not isinstance(model, str) or not model.strip():
        raise InputError("model", f"model must be a model id, got {model!r}.")
    if _is_path(model):
        raise InputError("model", f"model '{model}' is not a preset; the explorer takes a preset id or an uploaded "
                                  f"config.json (presets: {', '.join(preset_ids())}).")
    return load_model(model.strip())


def point_params(values: Mapping[str, Any]) -> dict[str, Any]:
    """The ``archsim run`` parameters of a page's control values: empty sparsity/mapper (or "dense" /
    "default") mean none; everything else passes through unchanged for the request model to check."""
    params = {k: values.get(k) for k in POINT_FIELDS}
    for key in ("sparsity", "mapper"):
        v = params.get(key)
        if v is None or (isinstance(v, str) and v.strip().lower() in ("", "dense", "default", "none")):
            params[key] = None
        elif isinstance(v, str):
            params[key] = v.strip()
    return params


@dataclass(slots=True)
class Point:
    """A validated design point: the request, and the model and hardware it resolves to."""

    request: RunRequest
    model: ModelConfig
    hardware: HardwareSpec
    params: dict[str, Any]  # the page's values, cleaned (what the URL carries)

    @property
    def query(self) -> str:
        return to_query(self.params, POINT_FIELDS)


def validate_point(values: Mapping[str, Any], model_upload: Mapping[str, Any] | None = None,
                   hw_upload: Mapping[str, Any] | None = None) -> Point:
    """Validate a page's design point with ``RunRequest`` (the CLI's model), then resolve the model
    (preset or ``uploaded``) and the hardware (preset or ``uploaded``). Raises a user error naming the
    field; checks run in the CLI's order (request fields, then model, then hardware)."""
    params = point_params(values)
    model, hw = params.get("model"), params.get("hw")
    req: RunRequest = parse_request(RunRequest, {**params, "model": str(model) if model is not None else model,
                                                 "hw": str(hw) if hw is not None else hw})
    cfg = uploaded_model(model_upload) if req.model == UPLOADED else _preset_model(req.model)
    spec = uploaded_hardware(hw_upload) if req.hw == UPLOADED else preset_hardware(req.hw)
    return Point(req, cfg, spec, params)


def evaluate_point(point: Point, trace: Trace | None = None, engine: str | None = None) -> Result:
    """Evaluate a validated point: ``commands.run`` (exactly ``archsim run``) for presets, ``evaluate``
    with the parsed objects for uploads. ``engine`` overrides the request's engine."""
    req = point.request if engine is None else point.request.model_copy(update={"engine": engine})
    if req.model != UPLOADED and req.hw != UPLOADED:
        return commands.run({**req.model_dump(), "hw": point.hardware.id}, trace)
    return evaluate(point.model, point.hardware, req.phase, req.batch, req.seq, w_bits=req.w_bits,
                    a_bits=req.a_bits, kv_bits=req.kv_bits, sparsity=req.sparsity,
                    flash_attention=req.flash_attention, mapper=req.mapper, engine=req.engine, compat=req.compat,
                    trace=trace, grid=req.grid, threads=req.threads)


def _finite(x: float) -> float | None:
    return x if isinstance(x, int | float) and math.isfinite(x) else None


def totals(result: Result) -> dict[str, Any]:
    """The headline numbers of a result (SI units; None where not finite)."""
    return {
        "latency_s": _finite(result.latency_s), "tokens_per_s": _finite(result.tokens_per_s),
        "energy_per_token_j": _finite(result.energy_per_token_j), "tokens_per_usd": _finite(result.tokens_per_usd),
        "memory_bytes": result.memory.total_bytes, "capacity_bytes": result.capacity_bytes,
        "fits_memory": result.fits_memory, "roofline_latency_s": _finite(result.extra.get("roofline_latency_s",
                                                                                          math.nan)),
        "mapper": result.mapper, "engine": result.engine, "hardware": result.hardware, "model": result.model,
        "phase": result.phase,
    }


def op_table(result: Result) -> list[dict[str, Any]]:
    """Rows of the per-op table: the ``--format json`` op fields (totals over repeats) plus display units."""
    latency = result.latency_s
    rows = []
    for c in result.ops:
        d = c.as_dict()
        rows.append({
            "name": d["name"], "kind": d["kind"], "repeat": d["repeat"],
            "gflop": d["flops"] / 1e9, "mb": d["bytes"] / 1e6, "intensity": d["intensity"],
            "bound": d["bound"], "peak_dtype": d["peak_dtype"], "kernel": d["kernel"],
            "time_us": d["time_per_instance_s"] * 1e6, "total_us": d["time_s"] * 1e6,
            "share": d["time_s"] / latency * 100 if latency > 0 else None,
        })
    return rows


def op_csv(result: Result) -> str:
    """The per-op CSV of ``archsim run --format csv``."""
    from archsim.cli.render import to_csv

    return to_csv(op_rows(result))


# --- compare -------------------------------------------------------------------------------------------------

def compare(values: Mapping[str, Any]) -> list[Result]:
    """``archsim compare`` over preset hardware ids (a list or comma-separated), validated by its request
    model; families without a simulator fall back to analytic with a warning, as on the CLI."""
    hws = split(values.get("hw"))
    if not hws:
        raise InputError("hw", "pick at least one hardware id to compare.")
    specs = [preset_hardware(h) for h in hws]
    model = values.get("model")
    _preset_model(model)
    params = {"model": model, "hw": [s.id for s in specs], "phase": values.get("phase") or "both",
              "batch": values.get("batch"), "seq": values.get("seq"), "w_bits": values.get("w_bits"),
              "engine": values.get("engine") or "analytic"}
    return commands.compare(params)


def summary_table(results: list[Result]) -> list[dict[str, Any]]:
    """Rows of the Compare page's table (SI values; the table formats them)."""
    rows = []
    for r in results:
        rows.append({
            "hardware": r.hardware, "family": r.family, "phase": r.phase, "mapper": r.mapper, "engine": r.engine,
            "latency_ms": r.latency_s * 1e3, "tokens_per_s": _finite(r.tokens_per_s),
            "energy_per_token_j": _finite(r.energy_per_token_j), "tokens_per_usd": _finite(r.tokens_per_usd),
            "memory_gb": r.memory.total_bytes / 1e9, "capacity_gb": r.capacity_bytes / 1e9,
            "fits": "yes" if r.fits_memory else "no", "warnings": "; ".join(r.warnings),
        })
    return rows


# --- sweeps --------------------------------------------------------------------------------------------------

def _sweep_metrics() -> dict[str, str]:
    from archsim.sweep.pareto import DIRECTIONS

    return dict(DIRECTIONS)


AXIS_CHOICES = ("hw", "model", "family", "phase", "batch", "seq", "w_bits", "a_bits", "kv_bits", "sparsity",
                "mapper", "engine", "feasible")


def _open_store(path: Any) -> Any:
    from archsim.sweep import store

    if not isinstance(path, str) or not path.strip():
        raise InputError("db", "enter the path of a sweep store (a .duckdb file written by `archsim sweep`).")
    p = Path(path.strip()).expanduser()
    if not p.is_absolute():
        p = Path.cwd() / p
    if not p.exists():
        raise InputError("db", f"sweep store '{path.strip()}' does not exist; run `archsim sweep SPEC.yaml --out "
                               f"{path.strip()}` first.")
    if not p.is_file():
        raise InputError("db", f"'{path.strip()}' is not a file.")
    con = store.connect(p, read_only=True)
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    if "points" not in tables:
        con.close()
        raise InputError("db", f"'{path.strip()}' has no 'points' table; it is not an archsim sweep store.")
    return con


def open_sweep(path: Any) -> dict[str, Any]:
    """Summary of a sweep store: point counts, the metrics present, and each filter axis's values."""
    con = _open_store(path)
    try:
        cols = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns "
                                          "WHERE table_name = 'points'").fetchall()}
        total, ok = con.execute("SELECT count(*), count(*) FILTER (WHERE status = 'ok') FROM points").fetchone()
        values: dict[str, list[Any]] = {}
        for axis in SWEEP_FILTERS:
            if axis in cols:
                rows = con.execute(f"SELECT DISTINCT {axis} FROM points WHERE {axis} IS NOT NULL "  # noqa: S608
                                   f"ORDER BY {axis} LIMIT 500").fetchall()
                values[axis] = [r[0] for r in rows]
    finally:
        con.close()
    metrics = [m for m in _sweep_metrics() if m in cols]
    return {"db": str(path).strip(), "points": int(total), "ok": int(ok), "metrics": metrics,
            "axes": [a for a in AXIS_CHOICES if a in cols], "values": values}


def _filters_sql(filters: Mapping[str, Any], feasible_only: bool) -> tuple[str, list[Any]]:
    where, args = ["status = 'ok'"], []
    if feasible_only:
        where.append("feasible")
    for axis, chosen in filters.items():
        if axis not in SWEEP_FILTERS:
            raise InputError("filter", f"'{axis}' is not a sweep axis to filter on; axes: {', '.join(SWEEP_FILTERS)}.")
        items = split(chosen) if not isinstance(chosen, list) else [str(c) for c in chosen]
        if items:
            where.append(f"CAST({axis} AS VARCHAR) IN ({', '.join('?' * len(items))})")
            args += items
    return " AND ".join(where), args


@dataclass(slots=True)
class SweepView:
    """Points of a sweep store for the scatter: all of the front, and a sample of the rest."""

    x: np.ndarray
    y: np.ndarray
    on_front: np.ndarray
    keys: list[str]
    labels: list[str]
    colour: list[str]
    matched: int  # points matching the filters
    front: int  # Pareto-optimal among them


def sweep_view(path: Any, x: str, y: str, colour: str, filters: Mapping[str, Any] | None = None,
               feasible_only: bool = True, limit: int = SCATTER_LIMIT) -> SweepView:
    """The matching points of a store with their Pareto front over ``x`` and ``y`` (each metric's natural
    direction, as ``archsim results pareto``). Filters are bound parameters, never SQL text."""
    from archsim.sweep.pareto import direction, pareto_mask

    xd, yd = direction(x), direction(y)
    if colour not in AXIS_CHOICES:
        raise InputError("colour", f"colour must be one of {', '.join(AXIS_CHOICES)}, got '{colour}'.")
    where, args = _filters_sql(filters or {}, feasible_only)
    con = _open_store(path)
    try:
        sql = (f"SELECT key, {x}, {y}, CAST({colour} AS VARCHAR), model, hw, phase, batch, seq, w_bits "  # noqa: S608
               f"FROM points WHERE {where} AND {x} IS NOT NULL AND {y} IS NOT NULL")
        try:
            data = con.execute(sql, args).fetchnumpy()
        except Exception as err:  # duckdb.Error: a column the store lacks, a locked file
            raise InputError("db", f"the sweep query failed: {str(err).splitlines()[0]}") from None
    finally:
        con.close()
    names = list(data)
    xs = np.asarray(data[names[1]], dtype=float)
    ys = np.asarray(data[names[2]], dtype=float)
    n = len(xs)
    mask = pareto_mask(xs, ys, xd, yd) if n else np.zeros(0, dtype=bool)
    idx = np.arange(n)
    if n > limit:
        rest = idx[~mask]
        rng = np.random.default_rng(0)  # a fixed sample: the same view draws the same points
        take = rng.choice(rest, size=max(0, limit - int(mask.sum())), replace=False) if len(rest) else rest
        idx = np.sort(np.concatenate([idx[mask], take]))
    col = [np.asarray(data[k]) for k in names]

    def label(i: int) -> str:
        return f"{col[4][i]} · {col[5][i]} · {col[6][i]} · b{col[7][i]} s{col[8][i]} W{col[9][i]}"

    return SweepView(xs[idx], ys[idx], mask[idx], [str(col[0][i]) for i in idx], [label(i) for i in idx],
                     [str(col[3][i]) for i in idx], n, int(mask.sum()))


def sweep_point_query(path: Any, key: str) -> str:
    """The Design point page's query string for the stored point ``key``; an ``InputError`` says why a
    point cannot be opened there (a hardware variant of the spec, a model given as a file)."""
    con = _open_store(path)
    try:
        cur = con.execute("SELECT * FROM points WHERE key = ?", [str(key)])
        row = cur.fetchone()
        cols = [d[0] for d in cur.description or []]
    finally:
        con.close()
    if row is None:
        raise InputError("point", f"point '{key}' is not in this sweep store.")
    p = dict(zip(cols, row, strict=True))
    if p.get("hw_overrides"):
        raise InputError("point", f"this point overrides fields of '{p['hw']}' ({p['hw_overrides']}); the Design "
                                  "point page opens presets only.")
    if p.get("hw") not in hardware_ids():
        raise InputError("point", f"this point's hardware '{p.get('hw')}' is a variant defined in the sweep spec, "
                                  "not a preset; the Design point page opens presets only.")
    if p.get("model") not in preset_ids():
        raise InputError("point", f"this point's model '{p.get('model')}' is not a preset; upload its config.json "
                                  "on the Design point page instead.")
    values = {k: p.get(k) for k in POINT_FIELDS}
    values["sparsity"] = p.get("sparsity") or ""
    values["mapper"] = p.get("mapper") or ""
    values["engine"] = p.get("engine") or "analytic"
    return to_query(values, POINT_FIELDS)


# --- simulation ----------------------------------------------------------------------------------------------

def simulate(point: Point, progress: Callable[[int, int, str], None] | None = None) -> dict[str, Any]:
    """``archsim run --engine sim --trace`` for a validated point, and the analytic result beside it.

    ``progress(step, steps, text)`` is called between the stages (the engines report no finer progress).
    Returns ``{"result", "analytic", "events"}``; a family without a simulator is an ``InputError``.
    """
    step = progress or (lambda *_: None)
    step(1, 3, "simulating")
    trace = Trace()
    result = evaluate_point(point, trace=trace, engine="sim")
    step(2, 3, "analytic model for comparison")
    analytic = evaluate_point(point, engine="analytic")
    step(3, 3, "drawing the timeline")
    return {"result": result, "analytic": analytic, "events": trace.events}


# --- RTL -----------------------------------------------------------------------------------------------------

def rtl_verify_summary(path: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """The last ``archsim rtl verify`` summary (``out/rtl_verify.json``), or None when there is none."""
    p = Path(path or os.environ.get("ARCHSIM_RTL_VERIFY_JSON") or RTL_VERIFY_JSON)
    if not p.is_file():
        return None
    try:
        data = json.loads(p.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError("rtl", f"'{p}' is not a readable rtl verify summary ({exc}).") from None
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        raise InputError("rtl", f"'{p}' is not an rtl verify summary (no 'rows' list).")
    return {**data, "path": str(p)}


def rtl_synth_counts(root: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """Cached ``archsim rtl synth`` results (yosys cell counts), one row per unit x target x parameters."""
    d = Path(root or os.environ.get("ARCHSIM_RTL_SYNTH_DIR") or RTL_SYNTH_DIR)
    rows = []
    for f in sorted(d.glob("*/*.json")) if d.is_dir() else []:
        try:
            res = json.loads(f.read_text()).get("result") or {}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            continue  # a half-written or foreign file: the table shows what is readable
        if not isinstance(res, dict) or not isinstance(res.get("summary"), dict):
            continue
        rows.append({"unit": res.get("unit", f.parent.name), "top": res.get("top", ""), "target": res.get("target", ""),
                     "params": ", ".join(f"{k}={v}" for k, v in (res.get("params") or {}).items()),
                     "summary": res["summary"], "yosys_s": res.get("wall_s"), "yosys": res.get("yosys", "")})
    return rows
