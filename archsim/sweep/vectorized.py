"""Vectorized analytic evaluation of the roofline mapper for many design points at once (issue 8, item 2).

``roofline_block`` returns, for n design points of one model and phase, the metrics that
``evaluate(model, hw, phase, batch, seq, ..., mapper="roofline")`` reports, as numpy arrays, equal
to the per-point path to rounding (the tests compare them at rel 1e-9 over random points).

Method. For a fixed (model, phase, bit widths, sparsity, counting mode) every operator's OPs and
bytes, the step's totals and the memory footprint are polynomials in (batch, seq) on the basis
{1, s, s^2, b, b*s, b*s^2}. Their coefficients are recovered by finite differences over six
``Workload.ops()`` evaluations (exact for the dyadic counts of whole-bit widths) and then verified
against the real op list at four further points far from the fit points; where they do not verify
(a ceil/min term, e.g. FlashAttention's per-block K/V reads) each distinct (batch, seq) is counted
once with ``Workload.ops()`` instead. Per design point the roofline time is
``sum_op repeat * max(OPs / peak_op, bytes / BW) + launches`` with each op's peak from
``select_peak`` on the point's device (per-device arrays gathered through ``hw_index``), written as
``(sum_op max(repeat * OPs * BW / peak_op, repeat * bytes)) / BW`` so an op row costs a few
element-wise passes; energy, tokens/s and tokens per dollar follow element-wise. Operators with
identical counts (gate/up, k/v, the two norms and adds) share a row, and operators without OPs
(the embedding gather) fold into one memory-only term. Points are processed in chunks so memory
stays bounded, with element-wise numpy only, so a point's values do not depend on the chunking.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from archsim.analytic.energy import USD_PER_JOULE, capital_usd_per_s
from archsim.analytic.roofline import RooflineOptions, select_peak
from archsim.errors import InputError
from archsim.evaluate import Mode, _compat_fa_block, resolve_mode
from archsim.hardware import HardwareSpec, load_hardware
from models.accounting import Accounting
from models.config import ModelConfig, load_model
from models.errors import ModelInputError
from models.workload import PHASES, Op, Workload, parse_sparsity

# The Result metrics returned, in a stable order (fits_memory is bool, the rest float64).
METRICS = ("latency_s", "tokens_per_s", "energy_j", "energy_per_token_j", "tokens_per_usd", "memory_bytes",
           "weight_bytes", "kv_bytes", "activation_bytes", "fits_memory", "flops", "bytes_moved")
# Points per chunk: the per-op rows of a chunk (about 15 x CHUNK floats) stay in the CPU caches.
CHUNK = 8192
# Largest batch or seq: b * s^2 stays exact in float64 for realistic sizes, and (b, s) packs in an int64.
_MAX_DIM = 2**31 - 1
# Fit points (b in {1, 2} x s in {1, 2, 3}) and verification points far from them.
_FIT = tuple((b, s) for b in (1, 2) for s in (1, 2, 3))
_CHECK = ((5, 1), (7, 1000), (1000, 77), (4096, 131071))
_VERIFY_RTOL = 1e-12
_FIT_BASIS_MAX = np.array([1.0, 3.0, 9.0, 2.0, 6.0, 18.0])  # largest basis values at the fit points
# Totals rows: step flops, step bytes, weight / KV / activation footprint, memory-only op time term.
_N_TOTALS = 6
_MEMLIN = 5


# A linear form over the basis: ((column, coefficient), ...) and a constant; columns 1..5 of
# [1, s, s^2, b, b*s, b*s^2] (column 0, the constant, only in OPs forms, which get multiplied by a ridge).
_Form = tuple[tuple[tuple[int, float], ...], float]


@dataclass(slots=True)
class _Structure:
    """One (model, phase, bits, sparsity, accounting) combination: the op rows and how to count them.

    Polynomial structures hold a small program: per peak class, rows of (repeat x OPs form,
    repeat x bytes form), plus the totals forms. Fallback structures count each (b, s) exactly.
    """

    workload: Workload  # template; batch and seq are replaced per evaluated point
    classes: list[Op]  # one representative op per peak class (kind, precision)
    launches: float  # op instances per step (times t_launch_s)
    poly: bool
    # poly: [(class, OPs columns, [(OPs form, bytes form), ...]), ...], the totals forms, basis columns needed
    program: list[tuple[int, tuple[int, ...], list[tuple[_Form, _Form]]]] = field(default_factory=list)
    totals: list[_Form] = field(default_factory=list)
    need: frozenset[int] = frozenset()
    # fallback: op index of each row (sorted by class), (class, first row, end row), repeats, (b, s) -> counts
    order: list[int] = field(default_factory=list)
    slices: list[tuple[int, int, int]] = field(default_factory=list)
    repeats: np.ndarray | None = None
    table: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)
    ridges: dict[tuple, tuple[list[HardwareSpec], np.ndarray]] = field(default_factory=dict)  # see _ridge_table


_STRUCTURES: dict[tuple, tuple[ModelConfig, _Structure]] = {}


def roofline_block(model: ModelConfig | str | Path | dict[str, Any], phase: str, batch: np.ndarray,
                   seq: np.ndarray, hw: Sequence[HardwareSpec] | HardwareSpec, hw_index: np.ndarray, *,
                   w_bits: np.ndarray | int = 16, a_bits: np.ndarray | int = 16, kv_bits: np.ndarray | int = 16,
                   sparsity: str | tuple[int, int] | None = None, compat: str | None = None,
                   flash_attention: bool = False, accounting: Accounting | None = None,
                   roofline: RooflineOptions | None = None, chunk: int = CHUNK) -> dict[str, np.ndarray]:
    """Roofline metrics of n design points of ``model`` in ``phase``, one entry per point.

    ``batch``, ``seq`` and ``hw_index`` are integer arrays of length n (``hw_index[i]`` picks
    ``hw[hw_index[i]]``); the bit widths are integers or length-n arrays. Returns float64 arrays
    keyed by ``METRICS`` (``fits_memory`` bool), equal to ``evaluate(model, hw[hw_index[i]], phase,
    batch[i], seq[i], w_bits=..., a_bits=..., kv_bits=..., sparsity=sparsity, flash_attention=...,
    mapper="roofline", compat=compat, accounting=accounting, roofline=roofline)``. Points are
    evaluated in chunks of about ``chunk`` (at most 1.5x) to bound memory; a point's values do not
    depend on the chunking. Raises ``InputError`` (one sentence naming the field) for bad input or
    a device outside the roofline mapper's families.
    """
    cfg = _model(model)
    if phase not in PHASES:
        raise InputError("phase", f"phase must be one of {', '.join(PHASES)}, got {phase!r}.")
    try:
        sp = parse_sparsity(sparsity)
    except ModelInputError as err:
        raise InputError(err.field, str(err)) from None
    mode = resolve_mode(compat, accounting, roofline)
    devices = _devices(hw)
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise InputError("chunk", f"chunk must be a positive integer, got {chunk!r}.")
    if not isinstance(flash_attention, bool | np.bool_):
        raise InputError("flash_attention", f"flash_attention must be true or false, got {flash_attention!r}.")
    flash_attention = bool(flash_attention)
    b = _int_array("batch", batch, None, 1, _MAX_DIM)
    n = b.shape[0]
    s = _int_array("seq", seq, n, 1, _MAX_DIM)
    hwi = _int_array("hw_index", hw_index, n, 0, len(devices) - 1)
    bits = {name: _int_array(name, value, n, 1, 32, scalar_ok=True)
            for name, value in (("w_bits", w_bits), ("a_bits", a_bits), ("kv_bits", kv_bits))}
    out: dict[str, np.ndarray] = {name: np.empty(n, dtype=bool if name == "fits_memory" else np.float64)
                                  for name in METRICS}
    if n == 0:
        return out
    dev = _device_arrays(devices, mode)
    for (wb, ab, kb, block), idx in _groups(cfg, devices, mode, flash_attention, bits, hwi):
        st = _structure(cfg, phase, wb, ab, kb, sp, mode, flash_attention, block)
        q_tab = _ridge_table(st, devices, mode)
        total = n if idx is None else idx.shape[0]
        parts = max(1, round(total / chunk))  # even parts of at most 1.5 x chunk points
        bounds = [total * k // parts for k in range(parts + 1)]
        for lo, hi in itertools.pairwise(bounds):
            dest: slice | np.ndarray = slice(lo, hi) if idx is None else idx[lo:hi]
            _evaluate_chunk(st, phase, q_tab, dev, mode, b[dest], s[dest], hwi[dest], out, dest)
    return out


# ---------------------------------------------------------------------------------------------- inputs


def _model(model: ModelConfig | str | Path | dict[str, Any]) -> ModelConfig:
    if isinstance(model, ModelConfig):
        return model
    try:
        return load_model(model)
    except ModelInputError as err:
        raise InputError(err.field, str(err)) from None


def _devices(hw: Sequence[HardwareSpec] | HardwareSpec) -> list[HardwareSpec]:
    from mappers import get_mapper

    items = [hw] if isinstance(hw, HardwareSpec | str | Path) else list(hw)
    if not items:
        raise InputError("hw", "hw must list at least one device.")
    families = get_mapper("roofline", "gpu").families
    devices = []
    for item in items:
        spec = load_hardware(item)
        if spec.family not in families:
            raise InputError("hw", f"hardware '{spec.id}' is of the {spec.family} family; the vectorized roofline "
                                   f"evaluates {', '.join(families)} hardware only.")
        devices.append(spec)
    return devices


def _int_array(name: str, value: Any, n: int | None, low: int, high: int, scalar_ok: bool = False) -> np.ndarray:
    """``value`` as a 1-D int64 array of length ``n`` (None: any length) with entries in [low, high]."""
    arr = np.asarray(value)
    if arr.dtype == bool or arr.dtype.kind not in "iuf":
        raise InputError(name, f"{name} must hold integers, got {arr.dtype} values.")
    if arr.ndim == 0 and scalar_ok:
        arr = np.full(n, arr)
    if arr.ndim != 1:
        raise InputError(name, f"{name} must be a one-dimensional array (one entry per design point), "
                               f"got shape {arr.shape}.")
    if n is not None and arr.shape[0] != n:
        raise InputError(name, f"{name} has {arr.shape[0]} entries but batch has {n}; every array needs one "
                               "entry per design point.")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.floor(arr)):
            raise InputError(name, f"{name} must hold integers, got a fractional or non-finite value.")
    if arr.size and (arr.min() < low or arr.max() > high):
        bad = arr[(arr < low) | (arr > high)][0]
        raise InputError(name, f"{name} must be in [{low}, {high}], got {bad!r}.")
    return arr.astype(np.int64, copy=False)


def _device_arrays(devices: list[HardwareSpec], mode: Mode) -> dict[str, np.ndarray]:
    """Per-device arrays: derated bandwidth, energy terms (power x time + per-OP + per-byte), capital cost."""
    power, per_op, per_byte = [], [], []
    for hw in devices:
        if hw.energy is None:
            power.append(hw.power.tdp_w.value)
            per_op.append(0.0)
            per_byte.append(0.0)
        else:
            power.append(hw.energy.static_w.value)
            per_op.append(hw.energy.pj_per_flop.value * 1e-12)
            per_byte.append(hw.energy.pj_per_byte_dram.value * 1e-12)
    arr = {
        "bw": [hw.memory.bandwidth_Bps.value * mode.roofline.eta_memory for hw in devices],
        "power": power, "per_op": per_op, "per_byte": per_byte,
        "usd_per_s": [capital_usd_per_s(hw) for hw in devices],
        "capacity": [hw.memory.capacity_bytes.value for hw in devices],
    }
    return {k: np.asarray(v, dtype=np.float64) for k, v in arr.items()}


def _groups(cfg: ModelConfig, devices: list[HardwareSpec], mode: Mode, flash_attention: bool,
            bits: dict[str, np.ndarray], hwi: np.ndarray) -> Iterator[tuple[tuple, np.ndarray | None]]:
    """Yield ((w, a, kv, fa block), point indices or None for all) for each distinct op structure."""
    w, a, kv = bits["w_bits"], bits["a_bits"], bits["kv_bits"]
    key = (w * 33 + a) * 33 + kv
    blocks: list[int | None] = [None]
    if mode.name == "llm-viewer" and flash_attention:
        # LLM-Viewer's FlashAttention block depends on the device's buffer and the KV width (Q5).
        kv_values = np.unique(kv)
        table = np.zeros((33, len(devices)), dtype=np.int64)
        ids: dict[int, int] = {}
        for k in kv_values.tolist():
            for j, hw in enumerate(devices):
                blk = _compat_fa_block(mode.accounting, hw, cfg, k).fa_block_q
                table[k, j] = ids.setdefault(blk, len(ids))
        blocks = [None] * len(ids)
        for blk, i in ids.items():
            blocks[i] = blk
        key = key * len(blocks) + table[kv, hwi]
    first = int(key[0])
    if np.all(key == first):
        groups: list[tuple[int, np.ndarray | None]] = [(first, None)]
    else:  # dense group ids, then one stable sort of small integers (a radix sort in numpy)
        counts = np.bincount(key)
        present = np.flatnonzero(counts)
        dense = np.zeros(counts.shape[0], dtype=np.uint8 if len(present) <= 256 else np.int32)
        dense[present] = np.arange(len(present))
        order = np.argsort(dense[key], kind="stable")
        ends = np.cumsum(counts[present]).tolist()
        groups = [(k, order[e - int(counts[k]):e]) for k, e in zip(present.tolist(), ends, strict=True)]
    for k, idx in groups:
        block = blocks[k % len(blocks)]
        bk = k // len(blocks)
        yield (bk // (33 * 33), bk // 33 % 33, bk % 33, block), idx


# ------------------------------------------------------------------------------------------- structure


def _measure(wl: Workload) -> tuple[tuple, np.ndarray, np.ndarray]:
    """The op list's signature, its terms and its counts at one (batch, seq).

    Terms (what is fitted, each a pure count): per-op OPs and the five byte terms, then the
    weight, KV and activation footprint. Counts (what is evaluated): per-op OPs, per-op bytes,
    then the totals rows, each summed in the order the roofline mapper and ``Workload.memory`` use.
    """
    ops = wl.ops()
    sig = tuple((op.name, op.kind, op.precision, op.repeat) for op in ops)
    mem = wl.memory(ops)
    flops = [op.flops for op in ops]
    nbytes = [op.load_weight + op.load_act + op.store_act + op.load_kv + op.store_kv for op in ops]
    tf = tb = 0.0
    for f, nb, op in zip(flops, nbytes, ops, strict=True):
        tf += f * op.repeat
        tb += nb * op.repeat
    footprint = [mem.weight_bytes, mem.kv_bytes, mem.activation_bytes]
    terms = (flops + [op.load_weight for op in ops] + [op.load_act for op in ops] + [op.store_act for op in ops]
             + [op.load_kv for op in ops] + [op.store_kv for op in ops] + footprint)
    counts = flops + nbytes + [tf, tb, *footprint, 0.0]
    return sig, np.asarray(terms, dtype=np.float64), np.asarray(counts, dtype=np.float64)


def _fit(values: dict[tuple[int, int], np.ndarray]) -> np.ndarray:
    """Coefficients on the basis [1, s, s^2, b, b*s, b*s^2] of each count, from the six fit points
    (finite differences; exact for the dyadic counts of byte-aligned widths, and verified after)."""
    g = {key: np.asarray(v, dtype=np.float64) for key, v in values.items()}

    def quad(v1: np.ndarray, v2: np.ndarray, v3: np.ndarray) -> list[np.ndarray]:  # values at s = 1, 2, 3
        c2 = (v3 - 2 * v2 + v1) / 2
        c1 = v2 - v1 - 3 * c2
        return [v1 - c1 - c2, c1, c2]

    slope = [g[(2, s)] - g[(1, s)] for s in (1, 2, 3)]
    const = [g[(1, s)] - slope[j] for j, s in enumerate((1, 2, 3))]
    coefs = np.stack(quad(*const) + quad(*slope), axis=1)
    # Guard: a varying count with a non-dyadic factor would be rounded at every point and leave
    # rounding noise in the higher coefficients; drop terms whose share at the fit points is below
    # 1e-12 of the count (a real term that small would fail verification and take the fallback).
    scale = np.max(np.abs(np.stack(list(g.values()))), axis=0)
    noise = np.abs(coefs) * _FIT_BASIS_MAX <= 1e-12 * scale[:, None]
    coefs[noise] = 0.0
    return coefs


def _basis(b: np.ndarray, s: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """The basis columns ``cols`` of [1, s, s^2, b, b*s, b*s^2] at the points, shape (len(cols), n)."""
    bf = b.astype(np.float64)
    sf = s.astype(np.float64)
    ss = sf * sf if (cols[2] or cols[5]) else None
    rows = []
    for j, use in enumerate(cols):
        if not use:
            continue
        if j == 0:
            rows.append(np.ones_like(sf))
        elif j == 1:
            rows.append(sf)
        elif j == 2:
            rows.append(ss)
        elif j == 3:
            rows.append(bf)
        elif j == 4:
            rows.append(bf * sf)
        else:
            rows.append(bf * ss)
    return np.stack(rows) if rows else np.zeros((0, b.shape[0]))


def _structure(cfg: ModelConfig, phase: str, wb: int, ab: int, kb: int, sp: tuple[int, int] | None, mode: Mode,
               flash_attention: bool, block: int | None) -> _Structure:
    acc = mode.accounting
    if block is not None:
        acc = replace(acc, fa_block_q=block)
    key = (id(cfg), phase, wb, ab, kb, sp, acc, flash_attention)
    hit = _STRUCTURES.get(key)
    if hit is not None and hit[0] is cfg:
        return hit[1]
    try:
        template = Workload(cfg, phase, 1, 1, wb, ab, kb, sp, flash_attention, acc)
    except ModelInputError as err:
        raise InputError(err.field, str(err)) from None
    st = _build(template)
    if len(_STRUCTURES) > 512:
        _STRUCTURES.clear()
    _STRUCTURES[key] = (cfg, st)
    return st


def _at(template: Workload, b: int, s: int) -> Workload:
    wl = Workload.__new__(Workload)  # skip re-validation: only batch and seq change
    for name in Workload.__slots__:
        setattr(wl, name, getattr(template, name))
    wl.batch, wl.seq = b, s
    return wl


def _build(template: Workload) -> _Structure:
    ops = template.ops()
    n_ops = len(ops)
    sig0 = tuple((op.name, op.kind, op.precision, op.repeat) for op in ops)
    class_of: dict[tuple, int] = {}
    classes: list[Op] = []
    for op in ops:
        if (op.kind, op.precision) not in class_of:
            class_of[(op.kind, op.precision)] = len(classes)
            classes.append(op)
    op_class = [class_of[(op.kind, op.precision)] for op in ops]
    launches = float(sum(op.repeat for op in ops))

    # Fit each pure term (a large non-dyadic weight term would leave rounding noise in the
    # coefficients of a sum), then add them up as the counts are.
    values: dict[tuple[int, int], np.ndarray] = {}
    same = True
    for b, s in _FIT:
        sig, values[(b, s)], _ = _measure(_at(template, b, s))
        same = same and sig == sig0
    coefs = None
    if same:
        terms = _fit(values)
        cf_all = terms[:n_ops]
        cb_all = terms[n_ops:2 * n_ops].copy()
        for k in range(2, 6):
            cb_all += terms[k * n_ops:(k + 1) * n_ops]
        rep = np.array([float(op.repeat) for op in ops])
        totals = np.stack([rep @ cf_all, rep @ cb_all, *terms[6 * n_ops:], np.zeros(6)])
        coefs = np.concatenate([cf_all, cb_all, totals])
        checks = [_measure(_at(template, b, s)) for b, s in _CHECK]
        exact = np.stack([c[2] for c in checks], axis=1)
        approx = coefs @ _basis(np.array([b for b, _ in _CHECK]), np.array([s for _, s in _CHECK]),
                                np.ones(6, dtype=bool))
        if any(c[0] != sig0 for c in checks) or not np.allclose(approx, exact, rtol=_VERIFY_RTOL, atol=0.0):
            coefs = None
    if coefs is None:  # not polynomial in (b, s): count each distinct (b, s) with Workload.ops()
        order = sorted(range(n_ops), key=lambda i: op_class[i])
        return _Structure(template, classes, launches, poly=False, order=order,
                          slices=_slices([op_class[i] for i in order]),
                          repeats=np.asarray([float(ops[i].repeat) for i in order]))

    cf_all, cb_all, ct = coefs[:n_ops], coefs[n_ops:2 * n_ops], coefs[2 * n_ops:].copy()
    # Rows: ops without OPs are memory-bound whatever the device, so their bytes fold into one
    # time term (bytes / BW); ops with identical class and counts share a row with summed repeats.
    rows: dict[tuple, list] = {}
    for i, op in enumerate(ops):
        if not cf_all[i].any():
            ct[_MEMLIN] += op.repeat * cb_all[i]
            continue
        rkey = (op_class[i], cf_all[i].tobytes(), cb_all[i].tobytes())
        if rkey in rows:
            rows[rkey][3] += op.repeat
        else:
            rows[rkey] = [op_class[i], cf_all[i], cb_all[i], float(op.repeat)]
    program: list[tuple[int, tuple[int, ...], list[tuple[_Form, _Form]]]] = []
    need: set[int] = set()
    for c in sorted({r[0] for r in rows.values()}):
        # repeat * max(OPs * q, bytes) = max(repeat * OPs * q, repeat * bytes): fold the repeats in.
        forms = [(_form(r[1] * r[3], True), _form(r[2] * r[3], False)) for r in rows.values() if r[0] == c]
        fcols = tuple(sorted({j for f, _ in forms for j, _ in f[0]}))
        need.update(j for f, bf in forms for j, _ in f[0] + bf[0])
        program.append((c, fcols, forms))
    totals = [_form(row, False) for row in ct]
    need.update(j for f in totals for j, _ in f[0])
    need.discard(0)
    return _Structure(template, classes, launches, poly=True, program=program, totals=totals,
                      need=frozenset(need))


def _form(coefs: np.ndarray, keep_constant_column: bool) -> _Form:
    """Coefficients on [1, s, s^2, b, b*s, b*s^2] as a linear form (the constant apart unless kept)."""
    first = 0 if keep_constant_column else 1
    terms = tuple((j, float(coefs[j])) for j in range(first, 6) if coefs[j] != 0)
    return terms, (0.0 if keep_constant_column else float(coefs[0]))


def _slices(row_class: list[int]) -> list[tuple[int, int, int]]:
    out: list[tuple[int, int, int]] = []
    for r, c in enumerate(row_class):
        if out and out[-1][0] == c:
            out[-1] = (c, out[-1][1], r + 1)
        else:
            out.append((c, r, r + 1))
    return out


def _ridge_table(st: _Structure, devices: list[HardwareSpec], mode: Mode) -> np.ndarray:
    """(classes, devices): derated bandwidth over the derated peak of each op class on each device,
    memoized per device list (the sweep runner passes the same list for every chunk)."""
    opts = mode.roofline
    key = (tuple(map(id, devices)), opts)
    hit = st.ridges.get(key)
    if hit is not None and all(a is b for a, b in zip(hit[0], devices, strict=True)):
        return hit[1]
    q = np.empty((len(st.classes), len(devices)))
    for j, hw in enumerate(devices):
        bw = hw.memory.bandwidth_Bps.value * opts.eta_memory
        for c, op in enumerate(st.classes):
            q[c, j] = bw / (select_peak(op, hw, opts.peak_rule)[1] * opts.eta_compute)
    if len(st.ridges) > 16:
        st.ridges.clear()
    st.ridges[key] = (list(devices), q)
    return q


# ------------------------------------------------------------------------------------------ evaluation


def _fallback_counts(st: _Structure, b: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-row OPs and bytes and the totals at each point, counting each distinct (b, s) once."""
    packed = (b << 32) | s
    uniq, inv = np.unique(packed, return_inverse=True)
    n_ops = len(st.order)
    cols = np.empty((2 * n_ops + _N_TOTALS, uniq.shape[0]))
    table = st.table
    if len(table) > 100_000:
        table.clear()
    for u, p in enumerate(uniq.tolist()):
        key = (p >> 32, p & 0xFFFFFFFF)
        vals = table.get(key)
        if vals is None:
            vals = table[key] = _measure(_at(st.workload, *key))[2]
        cols[:, u] = vals
    order = np.asarray(st.order)
    counts = cols[:, inv.reshape(-1)]
    return counts[order], counts[n_ops + order], counts[2 * n_ops:]


def _phi(b: np.ndarray, s: np.ndarray, need: frozenset[int]) -> dict[int, np.ndarray]:
    """The basis columns ``need`` (1..5 of [1, s, s^2, b, b*s, b*s^2]) at the points."""
    sf = s.astype(np.float64)
    bf = b.astype(np.float64)
    phi = {1: sf, 3: bf}
    if 2 in need:
        phi[2] = sf * sf
    if 4 in need or 5 in need:
        phi[4] = bf * sf
    if 5 in need:
        phi[5] = phi[4] * sf
    return phi


def _apply(form: _Form, base: dict[int, np.ndarray], out: np.ndarray, tmp: np.ndarray) -> np.ndarray:
    """``out`` = the linear form over the ``base`` columns (element-wise, in a fixed order)."""
    terms, const = form
    if not terms:
        out.fill(const)
        return out
    j, c = terms[0]
    np.multiply(base[j], c, out=out)
    for j, c in terms[1:]:
        np.multiply(base[j], c, out=tmp)
        out += tmp
    if const:
        out += const
    return out


def _evaluate_chunk(st: _Structure, phase: str, q_tab: np.ndarray, dev: dict[str, np.ndarray], mode: Mode,
                    b: np.ndarray, s: np.ndarray, hwi: np.ndarray, out: dict[str, np.ndarray],
                    dest: slice | np.ndarray) -> None:
    # Element-wise numpy only, in a fixed order (no BLAS reductions): a point's value does not
    # depend on its chunk or its position in it.
    # time = (sum_op max(repeat * OPs * BW / peak, repeat * bytes) + memory-only bytes) / BW + launches
    m = b.shape[0]
    if st.poly:
        phi = _phi(b, s, st.need)
        tmp = np.empty(m)
        tot = [_apply(form, phi, np.empty(m), tmp) for form in st.totals]
        t = tot[_MEMLIN]
        fq, nb = np.empty(m), np.empty(m)
        for c, fcols, rows in st.program:
            q = q_tab[c].take(hwi)
            qphi = {j: q if j == 0 else phi[j] * q for j in fcols}
            for f_form, b_form in rows:
                _apply(f_form, qphi, fq, tmp)
                np.maximum(fq, _apply(b_form, phi, nb, tmp), out=fq)
                t += fq
    else:
        f, nbytes, tot = _fallback_counts(st, b, s)
        f *= st.repeats[:, None]
        nbytes *= st.repeats[:, None]
        for c, lo, hi in st.slices:
            f[lo:hi] *= q_tab[c].take(hwi)
        np.maximum(f, nbytes, out=f)
        t = tot[_MEMLIN].copy()
        for row in f:
            t += row
    t /= dev["bw"].take(hwi)
    launch = mode.roofline.t_launch_s
    if launch:
        t += launch * st.launches
    flops, moved = tot[0], tot[1]
    energy = dev["power"].take(hwi) * t
    if dev["per_op"].any() or dev["per_byte"].any():
        energy += dev["per_op"].take(hwi) * flops
        energy += dev["per_byte"].take(hwi) * moved
    tokens = b.astype(np.float64)
    if phase == "prefill":
        tokens *= s
    usd = t * dev["usd_per_s"].take(hwi)
    usd += energy * USD_PER_JOULE
    weights, kv, act = tot[2], tot[3], tot[4]
    memory = weights + kv
    memory += act
    o = out
    with np.errstate(divide="ignore"):  # a zero time or cost gives inf, as Result does
        o["tokens_per_s"][dest] = tokens / t
        o["tokens_per_usd"][dest] = tokens / usd
    o["latency_s"][dest] = t
    o["energy_j"][dest] = energy
    o["energy_per_token_j"][dest] = energy / tokens
    o["memory_bytes"][dest] = memory
    o["weight_bytes"][dest] = weights
    o["kv_bytes"][dest] = kv
    o["activation_bytes"][dest] = act
    o["fits_memory"][dest] = memory <= dev["capacity"].take(hwi)
    o["flops"][dest] = flops
    o["bytes_moved"][dest] = moved
