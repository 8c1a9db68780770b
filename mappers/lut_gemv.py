"""Low-bit GEMV on CPUs and SRAM-PIM caches: ``lut-gemv`` (T-MAC on cores, SAIL on PIM arrays) and the
``dequant-gemv`` baseline (llama.cpp's dequantize-then-FMA), spec lut_pim.md sec. 4-5.

CPU (``cpu`` family): every linear layer is priced on one core (``archsim.analytic.lut``), the step
is threaded with Amdahl's law (non-parallel fraction from the preset) and floored by the system
bandwidth. The output layer stays fp16 as T-MAC and llama.cpp keep it (spec 4.3). Attention, norms
and element-wise ops run on the cores, streaming their bytes.

PIM (``pim`` family, ``lut-gemv``): linear layers run as Mapping-B batched lookups in the cache arrays
(``archsim.analytic.pim``) overlapped with the DRAM stream of the weights, ``max(W/BW, sum T_pim)``;
the rest stays on the cores and adds (spec 5.6 ``T_step``). ``--batch`` is SAIL's token batch.
"""

from __future__ import annotations

from archsim.analytic.energy import energy_j
from archsim.analytic.lut import (
    CpuParams,
    cpu_params,
    dense_time,
    threaded,
    threads_or_default,
    tmac_time,
)
from archsim.analytic.pim import pim_energy_j, pim_linear, pim_params
from archsim.errors import NotSupportedError
from archsim.hardware.schema import HardwareSpec
from archsim.result import OpCost, OpCosts
from mappers import register
from mappers.base import MapContext, Mapper, Plan
from models.workload import Op

LINEAR_KINDS = frozenset({"matmul", "lm_head"})


def _core_time(cp: CpuParams, op: Op) -> float:
    """One core streaming a non-linear op's bytes (attention, norms, element-wise)."""
    return op.bytes / cp.bw_core


def _linear_one_core(cp: CpuParams, op: Op, lut: bool) -> tuple[float, str, str]:
    """One-core time of a linear op, its bound and kernel label."""
    bits = op.w_bits
    if op.kind == "lm_head" or bits > 4:  # the output layer stays fp16 (spec 4.3); wider floats as they are
        width = max(bits, 16)
        t, bound = dense_time(cp, op.n, op.k, width, op.m)
        return t, bound, f"dense fp{width}"
    if lut:
        t, bound = tmac_time(cp, op.n, op.k, bits, op.m)
        return t, bound, f"T-MAC LUT {bits}-bit"
    t, bound = dense_time(cp, op.n, op.k, bits, op.m)
    return t, bound, f"dequant {bits}-bit"


class _LowBitMapper(Mapper):
    families = ("cpu", "pim")
    lut = True

    def plan(self, op: Op, hw: HardwareSpec, ctx: MapContext) -> Plan:
        cp = cpu_params(hw)
        threads = threads_or_default(cp, ctx.threads)
        return Plan(self.name, op.name, {"threads": threads, "r_lut": cp.r_lut, "kernel": self.name})

    def cost(self, ops: list[Op], hw: HardwareSpec, ctx: MapContext) -> OpCosts:
        cp = cpu_params(hw)
        threads = threads_or_default(cp, ctx.threads)
        if self.lut and hw.family == "pim":
            return self._cost_pim(ops, hw, cp, threads, ctx.engine, ctx.trace)
        if ctx.engine == "sim":
            raise NotSupportedError("engine", f"engine 'sim' is not available for the '{self.name}' mapper on "
                                              f"{hw.family} hardware yet; use --engine analytic.")
        one = []
        for op in ops:
            if op.kind in LINEAR_KINDS:
                one.append(_linear_one_core(cp, op, self.lut))
            else:
                one.append((_core_time(cp, op), "memory", "cores"))
        t_one = sum(t * op.repeat for (t, _, _), op in zip(one, ops, strict=True))
        nbytes = sum(op.bytes * op.repeat for op in ops)
        phi = cp.phi_lut if self.lut else cp.phi_dense
        t_step = threaded(cp, t_one, nbytes, threads, phi)
        scale = t_step / t_one if t_one else 0.0
        rows = [OpCost(op, t * scale, energy_j(op.flops, op.bytes, t * scale, hw), bound, "int", 0.0,
                       f"{label} x{threads}t")
                for (t, bound, label), op in zip(one, ops, strict=True)]
        out = OpCosts.of(rows)
        out.info = {"threads": threads}
        return out

    def _cost_pim(self, ops: list[Op], hw: HardwareSpec, cp: CpuParams, threads: int, engine: str = "analytic",
                  trace: object = None) -> OpCosts:
        pp = pim_params(hw)
        pim_t: dict[int, float] = {}
        pim_e: dict[int, float] = {}
        w_bytes = 0.0
        for op in ops:
            if op.kind == "matmul" and op.w_bits <= 4:
                lin = pim_linear(pp, op.n, op.k, op.w_bits, op.m)
                pim_t[id(op)] = lin.time_s(pp)
                pim_e[id(op)] = pim_energy_j(pp, lin)
                w_bytes += lin.weight_bytes * op.repeat
        t_arrays = sum(pim_t[id(op)] * op.repeat for op in ops if id(op) in pim_t)
        # Arrays compute while the next weight tiles stream in: the slower of the two sets the pace.
        stretch = max(1.0, (w_bytes / pp.bw_dram) / t_arrays) if t_arrays else 1.0
        if engine == "sim" and t_arrays:
            from archsim.sim.pim import simulate_linears

            linears = [op for op in ops if id(op) in pim_t]
            simulated = simulate_linears(pp, [(op.n, op.k, op.repeat) for op in linears], linears[0].w_bits,
                                         linears[0].m, trace=trace)
            stretch = simulated.cycles / pp.f_pim / t_arrays
        core_ops = [op for op in ops if id(op) not in pim_t]
        one = {id(op): (_linear_one_core(cp, op, True)[0] if op.kind in LINEAR_KINDS else _core_time(cp, op))
               for op in core_ops}
        t_one = sum(one[id(op)] * op.repeat for op in core_ops)
        core_bytes = sum(op.bytes * op.repeat for op in core_ops)
        t_core = threaded(cp, t_one, core_bytes, threads, cp.phi_dense) if t_one else 0.0
        core_scale = t_core / t_one if t_one else 0.0
        rows = []
        for op in ops:
            if id(op) in pim_t:
                t = pim_t[id(op)] * stretch
                e = pim_e[id(op)] + hw.power.tdp_w.value * hw.pim.area_overhead.value * t  # type: ignore[union-attr]
                rows.append(OpCost(op, t, e, "memory" if stretch > 1 else "compute", "int", 0.0, "PIM LUT (Mapping B)"))
            else:
                t = one[id(op)] * core_scale
                rows.append(OpCost(op, t, energy_j(op.flops, op.bytes, t, hw), "memory", "fp16", 0.0,
                                   f"cores x{threads}t"))
        out = OpCosts.of(rows)
        out.info = {"threads": threads, "pim_arrays": pp.arrays, "pim_bound": "dram" if stretch > 1 else "arrays"}
        return out


@register(default_for=("pim",))
class LutGemvMapper(_LowBitMapper):
    name = "lut-gemv"
    lut = True
    engines = ("analytic", "sim")  # the SimPy model covers the PIM arrays (pim family)
    description = "T-MAC table-lookup GEMV on CPU cores; SAIL batched lookups in SRAM-PIM arrays"


@register(default_for=("cpu",))
class DequantGemvMapper(_LowBitMapper):
    name = "dequant-gemv"
    lut = False
    description = "llama.cpp-style dequantize-then-FMA GEMV on CPU cores (the baseline)"
