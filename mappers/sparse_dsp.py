"""``sparse-dsp``: FlightLLM on an FPGA (spec fpga_sparse_dsp.md): configurable sparse DSP chains in MV
(decode) and MM (prefill) modes, N:M sparse and mixed-precision weights expanded to INT8, always-on-chip
decode, length-adaptive buckets (decode lengths padded to 16, prefill to 128).

The step is lowered to an instruction stream (``archsim.analytic.fpga``) and list-scheduled (analytic) or
simulated with SimPy (``--engine sim``, ``archsim.sim.fpga``). Options (``--mapper sparse-dsp:key=value``):

- ``onchip=on|off`` always-on-chip decode (default on): off, each operator writes its output to HBM
  and the next one reads it back;
- ``precision=auto|artifact|paper|int8|workload``: the weight map. ``auto`` takes the workload's
  ``--w-bits``/``--sparsity`` when given, else ``artifact`` (every linear INT4, q/k at 0.7 density as the
  released LLaMA2-7B); ``paper`` is the mixed 2/3/4/8-bit map (~3.5 bits);
- ``buckets=on|off`` length-adaptive compilation (default on);
- ``meta=on|off`` count the 4-bit index of each kept weight in sparse blocks (default on);
- ``unit_dsp=D,unit_lut=L,unit_ff=F``: the cost of one sparse DSP chain (e.g. from ``archsim rtl synth
  sparse_dsp_chain --target xilinx``) instead of the preset's ``fpga.chain_dsps`` DSPs; the chains that fit
  the device are then the scarcer of its DSP and LUT budgets over that cost (``archsim run
  --unit-cost-from-rtl`` sets these from a yosys synthesis). Omitted parts cost 0.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from archsim.analytic.energy import energy_j
from archsim.analytic.fpga import (
    DECODE_BUCKET,
    MAX_LENGTH,
    MM,
    MV,
    PREFILL_BUCKET,
    FpgaParams,
    Lowering,
    UnitCost,
    dsp_utilization,
    fpga_params,
    pad,
    schedule_step,
)
from archsim.errors import InputError
from archsim.hardware.schema import HardwareSpec
from archsim.result import OpCost, OpCosts
from mappers import register
from mappers.base import Check, MapContext, Mapper, Plan
from models.workload import Op

_SWITCHES = {"on": True, "off": False, "true": True, "false": False, "1": True, "0": False}
_PRECISIONS = ("auto", "artifact", "paper", "int8", "workload")
_UNIT_OPTIONS = {"unit_dsp": "dsp", "unit_lut": "lut", "unit_ff": "ff"}


def _switch(key: str, value: str) -> bool:
    if value.lower() not in _SWITCHES:
        raise InputError("mapper", f"sparse-dsp option '{key}' must be on or off, got '{value}'.")
    return _SWITCHES[value.lower()]


def _cost(key: str, value: str) -> float:
    try:
        x = float(value)
    except ValueError:
        x = -1.0
    if not x >= 0 or x == float("inf"):
        raise InputError("mapper", f"sparse-dsp option '{key}' must be a non-negative number, got '{value}'.")
    return x


def bucketed(ops: list[Op], decode: bool) -> tuple[list[Op], int, int]:
    """Ops with the sequence length padded to its compiled bucket (spec 9): decode KV length to a multiple
    of 16, prefill length to a multiple of 128. Returns (ops, actual length, padded length)."""
    attn = next((op for op in ops if op.kind == "attention"), None)
    if attn is None:
        return ops, 0, 0
    length = attn.n
    padded = pad(length, DECODE_BUCKET if decode else PREFILL_BUCKET)
    if padded == length:
        return ops, length, padded
    out = []
    for op in ops:
        if op.kind in ("attention", "softmax"):
            n, k = op.n, op.k
            if op.name.startswith("qk") or op.kind == "softmax":
                n = padded
            else:
                k = padded
            m = op.m if decode else pad(op.m, PREFILL_BUCKET)
            op = replace(op, n=n, k=k, m=m)
        elif not decode and op.kind != "lm_head":
            op = replace(op, m=pad(op.m, PREFILL_BUCKET))
        out.append(op)
    return out, length, padded


@register(default_for=("fpga",))
class SparseDspMapper(Mapper):
    name = "sparse-dsp"
    families = ("fpga",)
    engines = ("analytic", "sim")
    description = "FlightLLM: sparse DSP chains (MV/MM), always-on-chip decode, mixed precision, length buckets"

    def __init__(self, lowering: Lowering | None = None, buckets: bool = True, unit: UnitCost | None = None) -> None:
        self.lowering = lowering or Lowering()
        self.buckets = buckets
        self.unit = unit  # None: the preset's chain of fpga.chain_dsps DSPs

    def configure(self, **options: str) -> Mapper:
        low, buckets = self.lowering, self.buckets
        unit_parts: dict[str, float] = {}
        for key, value in options.items():
            if key == "onchip":
                low = replace(low, onchip=_switch(key, value))
            elif key == "meta":
                low = replace(low, meta=_switch(key, value))
            elif key == "buckets":
                buckets = _switch(key, value)
            elif key == "precision":
                if value not in _PRECISIONS:
                    raise InputError("mapper", f"sparse-dsp precision must be one of {', '.join(_PRECISIONS)}, "
                                               f"got '{value}'.")
                low = replace(low, precision=value)
            elif key in _UNIT_OPTIONS:
                unit_parts[_UNIT_OPTIONS[key]] = _cost(key, value)
            else:
                raise InputError("mapper", f"unknown sparse-dsp option '{key}'; options: onchip, precision, "
                                           "buckets, meta, unit_dsp, unit_lut, unit_ff.")
        unit = self.unit
        if unit_parts:
            if not (unit_parts.get("dsp", 0) > 0 or unit_parts.get("lut", 0) > 0):
                raise InputError("mapper", "a sparse-dsp unit cost needs unit_dsp or unit_lut above 0 to say how "
                                           "many chains fit.")
            unit = UnitCost(dsp=unit_parts.get("dsp", 0.0), lut=unit_parts.get("lut", 0.0),
                            ff=unit_parts.get("ff", 0.0))
        return SparseDspMapper(low, buckets, unit)

    def emulate(self, m: int, k: int, n: int, grid: int, seed: int = 0, pattern: int = 4) -> tuple[Any, Any]:
        """Run ``pattern``:16-pruned INT8 weights through the cycle model of one sparse DSP chain of ``grid``
        DSPs (two tokens per pass, ``kernels_ref.sparse``); returns (chain output, JAX dense product of the
        pruned weights), both int32 ``[2, n]``. ``m`` must be 1 or 2 (the chain's two packed lanes)."""
        import jax.numpy as jnp

        from kernels_ref import sparse as ref

        if m not in (1, 2):
            raise InputError("m", f"one sparse DSP chain computes two tokens at a time, got m = {m}.")
        rng = np.random.default_rng(seed)
        x = rng.integers(-127, 128, size=(2, k)).astype(np.int8)
        w = ref.prune_nm(rng.integers(-127, 128, size=(n, k)).astype(np.int8), pattern, 16)
        out, _ = ref.simulate_chain(x, ref.encode_fsb(w, pattern), chain_len=grid)
        expect = jnp.dot(jnp.asarray(x, jnp.int32), jnp.asarray(w, jnp.int32).T)
        return out[:m], expect[:m]

    def _check_sparsity(self, op: Op, p: FpgaParams) -> None:
        sp = op.sparsity
        if sp is None or op.kind != "matmul":
            return
        n, m = sp
        if m > 16 or m & (m - 1):
            raise InputError("sparsity", f"the sparse MUX selects among 16 activations, so M must be a power of two "
                                         f"up to 16, got {n}:{m}.")
        if n < m and n % p.dsp_group:
            raise InputError("sparsity", f"N:M needs N to be a multiple of the DSP group ({p.dsp_group}) so "
                                         f"reduction nodes can cut the chain, got {n}:{m}.")

    def plan(self, op: Op, hw: HardwareSpec, ctx: MapContext) -> Plan:
        p = fpga_params(hw, self.unit)
        self._check_sparsity(op, p)
        bits, rho = self.lowering.resolve(op) if op.kind in ("matmul", "lm_head") else (op.w_bits, 1.0)
        sp = op.sparsity
        util = dsp_utilization(sp[0], sp[1], p.chain_dsps, p.dsp_group) if sp else 1.0
        mode = "MV" if op.m * op.heads <= 8 else "MM"
        choices = {
            "mode": mode, "w_bits_used": bits, "density": rho, "dsp_utilization": util, "oau": p.chain_dsps > 8,
        }
        checks = (Check("w_bits", bits in (2, 3, 4, 8), f"{bits}-bit weights expand to INT8 (2/3/4/8 supported)"),)
        return Plan(self.name, op.name, choices, checks)

    def cost(self, ops: list[Op], hw: HardwareSpec, ctx: MapContext) -> OpCosts:
        p = fpga_params(hw, self.unit)
        for op in ops:
            self._check_sparsity(op, p)
            if op.kind in ("matmul", "lm_head"):
                bits, _ = self.lowering.resolve(op)
                if bits not in (2, 3, 4, 8):
                    raise InputError("w_bits", f"the sparse DSP chain runs 2, 3, 4 or 8-bit weights (expanded to "
                                               f"INT8), got {bits}-bit for {op.name}.")
        decode = all(op.m * op.heads <= 8 for op in ops if op.kind == "matmul")
        run_ops, length, padded = bucketed(ops, decode) if self.buckets else (ops, 0, 0)
        warnings = []
        if length > MAX_LENGTH:  # still modelled: the templates extend, but no published design compiled them
            warnings.append(f"FlightLLM compiles instruction streams for lengths up to {MAX_LENGTH}; {length} is "
                            "beyond the published design (modelled by extending its templates).")
        if ctx.engine == "sim":
            from archsim.sim.fpga import simulate_step

            timing = simulate_step(run_ops, p, self.lowering, decode, trace=ctx.trace)
        else:
            timing = schedule_step(run_ops, p, self.lowering, decode)
        total, per_op, busy = timing.total, timing.per_op, timing.busy
        compute_bound = busy.get("MV", 0.0) + busy.get("MM", 0.0) >= busy.get("LD", 0.0)  # step-level bound
        rows = []
        for i, op in enumerate(ops):
            t = per_op[i] / op.repeat if op.repeat else 0.0
            bound = "compute" if op.kind not in ("matmul", "lm_head", "attention") or compute_bound else "memory"
            label = ""
            if op.kind in ("matmul", "lm_head"):
                bits, rho = self.lowering.resolve(op)
                label = f"{'MV' if decode else 'MM'} INT{bits}" + (f" rho={rho:g}" if rho < 1 else "")
            elif op.kind == "attention":
                label = "MV per head" if decode else "MM block-sparse"
            elif op.kind == "embedding":
                label = "host (outside the IR)"
            else:
                label = "MISC"
            rows.append(OpCost(op, t, energy_j(op.flops, op.bytes, t, hw), bound, "int8", 0.0, label))
        out = OpCosts.of(rows)
        out.time_s = total  # the schedule's total (the per-op shares sum to it)
        out.energy_j = energy_j(out.flops, out.bytes, total, hw)
        mac_rate = p.mv_rate if decode else p.mm_rate
        compute_busy = busy.get("MV" if decode else "MM", 0.0)
        out.info = {
            "fpga_chains": p.chains, "fpga_mac_per_cycle": mac_rate,
            "fpga_busy_s": busy, "fpga_instructions": timing.counts, "hbm_bytes": timing.hbm_bytes,
            "hbm_utilization": timing.hbm_bytes / (total * p.bw_peak) if total else 0.0,
            "mac_utilization": timing.macs / (total * mac_rate * p.f * p.divisor) if total else 0.0,
            "compute_busy_s": compute_busy, "onchip_decode": self.lowering.onchip,
            "precision_map": self.lowering.precision, "avg_weight_bits": _avg_bits(ops, self.lowering),
            "linear_weight_bytes": _linear_bytes(ops, self.lowering),
            "warnings": warnings,
        }
        if self.unit is not None:
            u = self.unit
            out.info["fpga_unit_cost"] = {"dsp": u.dsp, "lut": u.lut, "ff": u.ff}
        if padded:
            out.info["bucket_length"] = padded
            out.info["compiled_streams"] = MAX_LENGTH // DECODE_BUCKET + MAX_LENGTH // PREFILL_BUCKET
        return out


def _linear_bytes(ops: list[Op], low: Lowering) -> float:
    """Bytes the linear layers occupy in HBM: kept weights at their width plus a 4-bit index per kept weight
    of a sparse block (spec 4)."""
    total = 0.0
    for op in ops:
        if op.kind in ("matmul", "lm_head"):
            bits, rho = low.resolve(op)
            per = rho * (bits + (4 if low.meta and rho < 1 else 0)) / 8
            total += op.n * op.k * per * op.repeat
    return total


def _avg_bits(ops: list[Op], low: Lowering) -> float:
    """Weight bits averaged over the linear layers' parameters."""
    total = bits = 0.0
    for op in ops:
        if op.kind in ("matmul", "lm_head"):
            b, _ = low.resolve(op)
            params = op.n * op.k * op.repeat
            total += params
            bits += params * b
    return bits / total if total else 0.0


__all__ = ["MM", "MV", "SparseDspMapper", "bucketed"]
