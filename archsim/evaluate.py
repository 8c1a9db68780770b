"""``evaluate()``: workload x hardware x mapper x engine -> Result. The CLI, sweeps and the web app
are thin shells over these functions.

Modes (``compat``): ``"corrected"`` (default) counts operators with LLM-Viewer's formula bugs fixed;
``"llm-viewer"`` reproduces LLM-Viewer ``main`` exactly (spec ``gpu_roofline.md`` sec. 4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from archsim.analytic.energy import energy_j as energy_of
from archsim.analytic.energy import tokens_per_usd
from archsim.analytic.roofline import RooflineOptions
from archsim.errors import InputError, NotSupportedError
from archsim.hardware import HardwareSpec, load_hardware
from archsim.result import OpCost, OpCosts, Result
from archsim.sim.core import Trace
from mappers import MapContext, Mapper, get_mapper, mapper_names
from models.accounting import Accounting
from models.config import ModelConfig, load_model
from models.workload import Op, Precision, Workload, parse_sparsity, stored_weight_bytes

COMPAT_MODES = ("corrected", "llm-viewer")
_COUNT_FIELDS = ("flops", "load_weight", "load_act", "store_act", "load_kv", "store_kv")
ENGINES = ("analytic", "sim")


@dataclass(frozen=True, slots=True)
class Mode:
    """A counting mode: the model-side accounting and the hardware-side roofline options."""

    name: str
    accounting: Accounting
    roofline: RooflineOptions


def resolve_mode(compat: str | None = None, accounting: Accounting | None = None,
                 roofline: RooflineOptions | None = None) -> Mode:
    """The mode for ``compat`` (None = corrected); explicit ``accounting``/``roofline`` override it."""
    name = compat or "corrected"
    if accounting is None and roofline is None and name in _DEFAULT_MODES:
        return _DEFAULT_MODES[name]
    if name not in COMPAT_MODES:
        raise InputError("compat", f"compat must be one of {', '.join(COMPAT_MODES)}, got '{name}'.")
    if name == "llm-viewer":
        acc, roof = Accounting.llm_viewer(), RooflineOptions(peak_rule="llm-viewer")
    else:
        acc, roof = Accounting(), RooflineOptions()
    return Mode(name, accounting or acc, roofline or roof)


_DEFAULT_MODES: dict[str, Mode] = {}
_DEFAULT_MODES.update({name: resolve_mode(name, *defaults) for name, defaults in (
    ("corrected", (Accounting(), RooflineOptions())),
    ("llm-viewer", (Accounting.llm_viewer(), RooflineOptions(peak_rule="llm-viewer"))),
)})


def _compat_fa_block(acc: Accounting, hw: HardwareSpec, model: ModelConfig, kv_bits: int) -> Accounting:
    """LLM-Viewer's FlashAttention query block (Q5): ``min(ceil(buffer / (kv * d)), d)``."""
    if acc.fa_block_q is not None:
        return acc
    block = min(math.ceil(hw.onchip_buffer_bytes.value / (kv_bits / 8 * model.head_dim)), model.head_dim)
    return replace(acc, fa_block_q=block)


def _resolve_engine(mapper: Mapper, engine: str, family: str) -> None:
    if engine not in ENGINES:
        raise InputError("engine", f"engine must be one of {', '.join(ENGINES)}, got '{engine}'.")
    if engine not in mapper.engines:
        raise NotSupportedError(
            "engine", f"engine '{engine}' is not available for the '{mapper.name}' mapper on {family} hardware "
            f"yet; use --engine {mapper.engines[0]}."
        )


def _mapper_context(mapper: str | None, hw: HardwareSpec, engine: str, mode: Mode, trace: Trace | None = None,
                    grid: str | None = None, threads: int | None = None) -> tuple[Mapper, MapContext]:
    """The mapper (LLM-Viewer compat defaults to ``roofline``, else the family default) and context."""
    if mapper is None and mode.name == "llm-viewer" and hw.family == "gpu":
        mapper = "roofline"  # LLM-Viewer has no kernel model: compat means the ideal roofline
    m = get_mapper(mapper, hw.family)
    _resolve_engine(m, engine, hw.family)
    return m, MapContext(mode.roofline, engine, trace, grid, threads)


def evaluate_workload(workload: Workload, hw: HardwareSpec, *, mapper: str | None = None,
                      engine: str = "analytic", mode: Mode | None = None, gen: int | None = None,
                      trace: Trace | None = None, grid: str | None = None, threads: int | None = None) -> Result:
    """Evaluate a prepared ``Workload`` on ``hw``; see ``evaluate`` for the meaning of the result."""
    mode = mode or resolve_mode()
    m, ctx = _mapper_context(mapper, hw, engine, mode, trace, grid, threads)
    if gen is not None:
        return _evaluate_generation(workload, hw, m, engine, mode, ctx, gen)
    return _evaluate_step(workload, hw, m, engine, mode, ctx)


def _roofline_beside(m: Mapper, hw: HardwareSpec) -> Mapper | None:
    """The roofline mapper when ``m`` is another mapper of a family the roofline covers."""
    if m.name == "roofline" or "roofline" not in mapper_names():
        return None
    roof = get_mapper("roofline", "gpu")
    return roof if hw.family in roof.families else None


def _evaluate_step(workload: Workload, hw: HardwareSpec, m: Mapper, engine: str, mode: Mode,
                   ctx: MapContext) -> Result:
    ops = workload.ops()
    costs = m.cost(ops, hw, ctx)
    res = _result(workload, hw, m, engine, mode, costs, costs.time_s, costs.energy_j, costs.flops, costs.bytes,
                  workload.batch * workload.tokens, _stored_memory(workload, ops, costs))
    _merge_info(res, costs)
    roof = _roofline_beside(m, hw)
    if roof is not None:
        # Show the ideal bound beside every kernel-level prediction, so users see both.
        res.extra["roofline_latency_s"] = roof.cost(ops, hw, MapContext(mode.roofline)).time_s
    return res


def _stored_memory(workload: Workload, ops: list[Op], costs: OpCosts) -> Any:
    """The workload's footprint, with the linear layers' weights as the mapper stores them when it
    re-encodes them (an FPGA's INT4 / N:M / vector-quantized formats: ``linear_weight_bytes`` in its info)."""
    mem = workload.memory(ops)
    stored = (costs.info or {}).get("linear_weight_bytes")
    if stored is None:
        return mem
    given = sum(op.load_weight * op.repeat for op in ops if op.kind in ("matmul", "lm_head"))
    return replace(mem, weight_bytes=mem.weight_bytes - given + stored)


def _merge_info(res: Result, costs: OpCosts, prefix: str = "") -> None:
    """Copy a mapper's facts (grid, stages ...) into ``res.extra`` and its warnings into ``res.warnings``."""
    if costs.info:
        info = dict(costs.info)
        res.warnings.extend(w for w in info.pop("warnings", []) if w not in res.warnings)
        res.extra.update({f"{prefix}{k}": v for k, v in info.items()})


def _result(workload: Workload, hw: HardwareSpec, m: Mapper, engine: str, mode: Mode, costs: list[OpCost],
            t: float, e: float, f: float, b: float, tokens: float, memory: Any, phase: str | None = None,
            gen: int | None = None, extra: dict[str, Any] | None = None) -> Result:
    sp = workload.sparsity
    res = Result(
        model=workload.model.name, hardware=hw.id, family=hw.family, phase=phase or workload.phase,
        engine=engine, mapper=m.name, compat=mode.name, batch=workload.batch, seq=workload.seq,
        w_bits=workload.w_bits, a_bits=workload.a_bits, kv_bits=workload.kv_bits,
        sparsity=f"{sp[0]}:{sp[1]}" if sp else None, latency_s=t, tokens=tokens, energy_j=e,
        tokens_per_usd=tokens_per_usd(tokens, t, e, hw), memory=memory,
        capacity_bytes=hw.memory.capacity_bytes.value, flops=f, bytes_moved=b, ops=costs, gen=gen,
        extra=extra or {},
    )
    if not res.fits_memory:
        res.warnings.append(
            f"needs {memory.total_bytes / 1e9:.1f} GB (weights {memory.weight_bytes / 1e9:.1f} GB, KV "
            f"{memory.kv_bytes / 1e9:.1f} GB) but {hw.id} has {hw.memory.capacity_bytes.value / 1e9:.0f} GB."
        )
    return res


def _decode_step_sums(first: Workload, ops0: list[Op], ops1: list[Op], base_costs: list[OpCost],
                      hw: HardwareSpec, m: Mapper, mode: Mode, ctx: MapContext,
                      gen: int) -> tuple[list[float], list[float]]:
    """Per-op time and energy summed over ``gen`` decode steps at KV lengths seq, seq+1, ...

    Roofline: op counts are affine in the KV length, so the exact sum is a numpy expression over
    the step index. Kernel-level mappers: each step is costed (repeated shapes hit their caches).
    """
    if m.name != "roofline":
        # Rows beyond the ops are the mapper's own (e.g. pipeline hand-offs); they are summed too.
        t_sums = [0.0] * len(base_costs)
        e_sums = [0.0] * len(base_costs)
        quiet = MapContext(ctx.options, ctx.engine, None, ctx.grid, ctx.threads)  # timeline: first step only
        for i in range(gen):
            costs = base_costs if i == 0 else m.cost(replace(first, seq=first.seq + i).ops(), hw, quiet)
            for j, c in enumerate(costs[:len(base_costs)]):
                t_sums[j] += c.time_s
                e_sums[j] += c.energy_j
        return t_sums, e_sums
    steps = np.arange(gen, dtype=np.float64)
    bw = hw.memory.bandwidth_Bps.value * mode.roofline.eta_memory
    t_sums, e_sums = [], []
    for c0, o1 in zip(base_costs, ops1, strict=True):
        o0 = c0.op
        if o1.flops == o0.flops and o1.bytes == o0.bytes:
            t_sums.append(c0.time_s * gen)
            e_sums.append(c0.energy_j * gen)
            continue
        flops = o0.flops + (o1.flops - o0.flops) * steps
        nbytes = o0.bytes + (o1.bytes - o0.bytes) * steps
        times = np.maximum(flops / c0.peak_ops, nbytes / bw) + mode.roofline.t_launch_s
        t_sum = float(times.sum())
        t_sums.append(t_sum)
        e_sums.append(energy_of(float(flops.sum()), float(nbytes.sum()), t_sum, hw))
    return t_sums, e_sums


def _evaluate_generation(prefill: Workload, hw: HardwareSpec, m: Mapper, engine: str, mode: Mode,
                         ctx: MapContext, gen: int) -> Result:
    """Prefill of ``seq`` tokens plus ``gen`` decode steps at KV lengths seq .. seq+gen-1 (spec 3.5)."""
    if isinstance(gen, bool) or not isinstance(gen, int) or gen < 1:
        raise InputError("gen", f"gen must be a positive integer, got {gen!r}.")
    if prefill.phase != "prefill":
        prefill = replace(prefill, phase="prefill")
    p_ops = prefill.ops()
    p_costs = m.cost(p_ops, hw, ctx)
    p_t, p_e, p_f, p_b = p_costs.time_s, p_costs.energy_j, p_costs.flops, p_costs.bytes
    first = replace(prefill, phase="decode")
    ops0 = first.ops()
    ops1 = replace(first, seq=first.seq + 1).ops()
    base_costs = m.cost(ops0, hw, ctx)
    t_sums, e_sums = _decode_step_sums(first, ops0, ops1, base_costs, hw, m, mode, ctx, gen)
    d_costs: list[OpCost] = []
    d_t = d_e = d_f = d_b = 0.0
    tri = gen * (gen - 1) / 2  # sum of step indices 0..gen-1
    extra_rows = list(zip(base_costs[len(ops0):], t_sums[len(ops0):], e_sums[len(ops0):], strict=True))
    for c0, o1, t_sum, e_sum in zip(base_costs[:len(ops0)], ops1, t_sums, e_sums, strict=False):
        o0 = c0.op
        # Exact sums of affine counts: sum_i (x0 + (x1 - x0) * i) = gen * x0 + (x1 - x0) * tri.
        sums = {name: getattr(o0, name) * gen + (getattr(o1, name) - getattr(o0, name)) * tri
                for name in _COUNT_FIELDS}
        agg = replace(o0, name=f"decode/{o0.name}", **sums)
        d_costs.append(OpCost(agg, t_sum, e_sum, c0.bound, c0.peak_dtype, c0.peak_ops, c0.kernel))
        n = o0.repeat
        d_t += t_sum * n
        d_e += e_sum * n
        d_f += agg.flops * n
        d_b += agg.bytes * n
    for c0, t_sum, e_sum in extra_rows:  # mapper rows (hand-offs): counts unchanged, times summed
        d_costs.append(OpCost(replace(c0.op, name=f"decode/{c0.op.name}"), t_sum, e_sum, c0.bound, c0.peak_dtype,
                              c0.peak_ops, c0.kernel))
        d_t += t_sum * c0.op.repeat
        d_e += e_sum * c0.op.repeat
    for c in p_costs:
        c.op = replace(c.op, name=f"prefill/{c.op.name}")
    # Footprint at the end of generation (largest KV cache); live activations peak in prefill.
    memory = replace(first, seq=first.seq + gen - 1).memory()
    memory.activation_bytes = max(memory.activation_bytes, prefill.memory(p_ops).activation_bytes)
    # Some devices re-lay data out between the phases (a wafer moves weights and KV to the decode grid).
    transition = m.transition(p_ops, ops0, hw, ctx)
    rows = p_costs + ([transition] if transition is not None else []) + d_costs
    t_x = transition.time_s if transition is not None else 0.0
    e_x = transition.energy_j if transition is not None else 0.0
    total_t = p_t + t_x + d_t
    extra = {"ttft_s": p_t + t_x, "decode_s": d_t, "tpot_s": d_t / gen,
             "decode_tokens_per_s": prefill.batch * gen / d_t}
    res = _result(prefill, hw, m, engine, mode, rows, total_t, p_e + e_x + d_e, p_f + d_f, p_b + d_b,
                  prefill.batch * gen, memory, phase="generate", gen=gen, extra=extra)
    _merge_info(res, p_costs, "prefill_")
    _merge_info(res, base_costs, "decode_")
    return res


def _resolve(model: str | Path | dict[str, Any] | ModelConfig, hw: str | Path | HardwareSpec,
             compat: str | None, accounting: Accounting | None, roofline: RooflineOptions | None,
             flash_attention: bool, kv_bits: int) -> tuple[ModelConfig, HardwareSpec, Mode, Accounting]:
    """Resolve model, device and mode; in compat mode apply LLM-Viewer's FA block rule (Q5)."""
    cfg = model if isinstance(model, ModelConfig) else load_model(model)
    spec = load_hardware(hw)
    mode = resolve_mode(compat, accounting, roofline)
    acc = mode.accounting
    if mode.name == "llm-viewer" and flash_attention:
        acc = _compat_fa_block(acc, spec, cfg, kv_bits)
    return cfg, spec, mode, acc


def evaluate(model: str | Path | dict[str, Any] | ModelConfig, hw: str | Path | HardwareSpec,
             phase: str = "decode", batch: int = 1, seq: int = 1024, *, w_bits: int = 16, a_bits: int = 16,
             kv_bits: int = 16, sparsity: str | tuple[int, int] | None = None, flash_attention: bool = False,
             mapper: str | None = None, engine: str = "analytic", compat: str | None = None,
             gen: int | None = None, accounting: Accounting | None = None,
             roofline: RooflineOptions | None = None, trace: Trace | None = None, grid: str | None = None,
             threads: int | None = None) -> Result:
    """Evaluate one design point.

    ``model``: preset id, path to an HF ``config.json`` (or its folder), a parsed dict or a
    ``ModelConfig``. ``hw``: preset id/alias, path to a YAML file, or a ``HardwareSpec``. ``seq``:
    prompt length (prefill) or KV length before the step (decode). With ``gen=G`` the result is the
    end-to-end generation: prefill of ``seq`` then G decode steps (``phase`` is ignored). ``mapper``
    None picks the family default (GPUs: ``gemm``; ``roofline`` under ``compat="llm-viewer"``).
    ``trace`` collects the simulated timeline (``engine="sim"``). Raises ``InputError`` (one sentence
    naming the field) on bad input.
    """
    cfg, spec, mode, acc = _resolve(model, hw, compat, accounting, roofline, flash_attention, kv_bits)
    workload = Workload(cfg, "prefill" if gen is not None else phase, batch, seq, w_bits, a_bits, kv_bits,
                        sparsity, flash_attention, acc)
    return evaluate_workload(workload, spec, mapper=mapper, engine=engine, mode=mode, gen=gen, trace=trace,
                             grid=grid, threads=threads)


def evaluate_point(model: str | Path | dict[str, Any] | ModelConfig, hw: str | Path | HardwareSpec,
                   batch: int = 1, seq: int = 1024, *, phases: tuple[str, ...] = ("prefill", "decode"),
                   w_bits: int = 16, a_bits: int = 16, kv_bits: int = 16,
                   sparsity: str | tuple[int, int] | None = None, flash_attention: bool = False,
                   mapper: str | None = None, engine: str = "analytic", compat: str | None = None,
                   accounting: Accounting | None = None, roofline: RooflineOptions | None = None,
                   grid: str | None = None, threads: int | None = None) -> dict[str, Result]:
    """One design point in several phases (default prefill and decode at the same ``seq``).

    Same arguments and results as ``evaluate``, keyed by phase; model, hardware, mode and mapper
    are resolved once, which is what sweeps over many points want.
    """
    cfg, spec, mode, acc = _resolve(model, hw, compat, accounting, roofline, flash_attention, kv_bits)
    m, ctx = _mapper_context(mapper, spec, engine, mode, None, grid, threads)
    return {phase: _evaluate_step(Workload(cfg, phase, batch, seq, w_bits, a_bits, kv_bits, sparsity,
                                           flash_attention, acc), spec, m, engine, mode, ctx)
            for phase in phases}


def evaluate_kernel(op: str, hw: str | Path | HardwareSpec, m: int, n: int, k: int, *, w_bits: int = 16,
                    a_bits: int = 16, sparsity: str | tuple[int, int] | None = None, mapper: str | None = None,
                    engine: str = "analytic", compat: str | None = None, grid: str | None = None,
                    threads: int | None = None, trace: Trace | None = None) -> dict[str, Any]:
    """One matrix kernel ``(m x k) @ (k x n)`` (``gemv`` with m = 1 or ``gemm``) on ``hw``.

    Returns the ``archsim kernel --format json`` object: ``latency_s``, ``flops``, ``bytes_moved``,
    ``bound``, ``mapper`` (plus ``energy_j``, ``intensity``, ``peak_dtype``).
    """
    if op not in ("gemv", "gemm"):
        raise InputError("op", f"kernel must be 'gemv' or 'gemm', got '{op}'.")
    for name, value in (("m", m), ("n", n), ("k", k), ("w_bits", w_bits), ("a_bits", a_bits)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(name, f"{name} must be a positive integer, got {value!r}.")
    for name, value in (("w_bits", w_bits), ("a_bits", a_bits)):
        if value > 32:
            raise InputError(name, f"{name} must be an integer from 1 to 32, got {value}.")
    if op == "gemv" and m != 1:
        raise InputError("m", f"a gemv has m = 1 (one vector), got m = {m}; use 'gemm' for m > 1.")
    spec = load_hardware(hw)
    mode = resolve_mode(compat)
    mp, ctx = _mapper_context(mapper, spec, engine, mode, trace, grid, threads)
    sp = parse_sparsity(sparsity)
    w, a = stored_weight_bytes(w_bits, sp), a_bits / 8
    matmul = Op(op, "matmul", m, n, k, 1, 1, 2.0 * m * n * k, k * n * w, m * k * a, m * n * a, 0.0, 0.0,
                Precision(w_bits, a_bits, a_bits, sp))
    costs = mp.cost([matmul], spec, ctx)
    (cost,) = costs
    out = {
        "op": op, "hardware": spec.id, "mapper": mp.name, "engine": engine, "m": m, "n": n, "k": k,
        "w_bits": w_bits, "a_bits": a_bits, "sparsity": f"{sp[0]}:{sp[1]}" if sp else None,
        "latency_s": cost.time_s, "flops": matmul.flops,
        "bytes_moved": matmul.bytes, "intensity": matmul.intensity, "bound": cost.bound,
        "peak_dtype": cost.peak_dtype, "energy_j": cost.energy_j,
    }
    if cost.kernel:
        out["kernel"] = cost.kernel
        out.update({k: v for k, v in mp.plan(matmul, spec, ctx).choices.items() if k not in ("kernel", "cycles")})
    if costs.info:  # mapper facts (e.g. an FPGA's compute busy time and DSP chains)
        out.update({k: v for k, v in costs.info.items() if k != "warnings" and k not in out})
    roof = _roofline_beside(mp, spec)
    if roof is not None:
        (bound,) = roof.cost([matmul], spec, MapContext(mode.roofline))
        out["roofline_latency_s"] = bound.time_s
    return out
