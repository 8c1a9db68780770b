"""``roofline``: every operator runs at the roofline of its chosen peak and the DRAM bandwidth.

The default GPU mapping of the Foundation: no tiling or kernel choice, so the time is the ideal
``max(OPs / peak, bytes / BW)`` (optionally derated and with a launch cost). The GPU kernel-selection
mappers (GEMV / flat GEMM / GEMM) refine it in their own modules.
"""

from __future__ import annotations

from archsim.analytic.energy import energy_j
from archsim.analytic.roofline import RooflineOptions, bound_of, select_peak
from archsim.hardware.schema import HardwareSpec
from archsim.result import OpCost
from mappers import register
from mappers.base import MapContext, Mapper, Plan
from models.workload import Op


@register(default_for=("gpu",))
class RooflineMapper(Mapper):
    name = "roofline"
    families = ("gpu",)
    description = "ideal per-operator roofline (LLM-Viewer style)"

    def plan(self, op: Op, hw: HardwareSpec, ctx: MapContext) -> Plan:
        opts: RooflineOptions = ctx.options
        dtype, peak = select_peak(op, hw, opts.peak_rule)
        return Plan(self.name, op.name, {"peak_dtype": dtype, "peak_ops": peak})

    def cost(self, ops: list[Op], hw: HardwareSpec, ctx: MapContext) -> list[OpCost]:
        opts: RooflineOptions = ctx.options
        bw = hw.memory.bandwidth_Bps.value * opts.eta_memory
        eta_c, launch, rule = opts.eta_compute, opts.t_launch_s, opts.peak_rule
        tdp = hw.power.tdp_w.value if hw.energy is None else None
        out: list[OpCost] = []
        for op in ops:
            dtype, peak = select_peak(op, hw, rule)
            peak *= eta_c
            flops = op.flops
            nbytes = op.load_weight + op.load_act + op.store_act + op.load_kv + op.store_kv
            tc, tm = flops / peak, nbytes / bw
            t = (tc if tc > tm else tm) + launch
            e = tdp * t if tdp is not None else energy_j(flops, nbytes, t, hw)
            out.append(OpCost(op, t, e, bound_of(flops, nbytes, peak, bw), dtype, peak))
        return out
