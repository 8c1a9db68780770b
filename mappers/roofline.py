"""``roofline``: every operator runs at the roofline of its chosen peak and the DRAM bandwidth.

No tiling or kernel choice, so the time is the ideal ``max(OPs / peak, bytes / BW)`` (optionally
derated and with a launch cost): the upper bound LLM-Viewer computes, and the mapper of
``--compat llm-viewer``. The kernel-level GPU mappers (``mappers/gpu.py``) refine it.
"""

from __future__ import annotations

from archsim.analytic.energy import energy_j
from archsim.analytic.roofline import RooflineOptions, bound_of, select_peak
from archsim.hardware.schema import HardwareSpec
from archsim.result import OpCost, OpCosts
from mappers import register
from mappers.base import MapContext, Mapper, Plan
from models.workload import Op


@register()
class RooflineMapper(Mapper):
    name = "roofline"
    families = ("gpu",)
    description = "ideal per-operator roofline (LLM-Viewer style)"

    def __init__(self) -> None:
        # Peak choices depend only on (device, rule, op kind, widths, sparsity): memoize them per
        # device object, keeping a reference so an id is never reused for another device.
        # Values: (dtype, derated peak).
        self._peaks: dict[tuple[int, RooflineOptions], tuple[HardwareSpec, dict[tuple, tuple[str, float]]]] = {}

    def _peak_table(self, hw: HardwareSpec, opts: RooflineOptions) -> dict[tuple, tuple[str, float]]:
        entry = self._peaks.get((id(hw), opts))
        if entry is None or entry[0] is not hw:
            if len(self._peaks) > 256:
                self._peaks.clear()
            entry = self._peaks[(id(hw), opts)] = (hw, {})
        return entry[1]

    def plan(self, op: Op, hw: HardwareSpec, ctx: MapContext) -> Plan:
        opts: RooflineOptions = ctx.options
        dtype, peak = select_peak(op, hw, opts.peak_rule)
        return Plan(self.name, op.name, {"peak_dtype": dtype, "peak_ops": peak})

    def cost(self, ops: list[Op], hw: HardwareSpec, ctx: MapContext) -> OpCosts:
        opts: RooflineOptions = ctx.options
        bw = hw.memory.bandwidth_Bps.value * opts.eta_memory
        eta_c, launch, rule = opts.eta_compute, opts.t_launch_s, opts.peak_rule
        tdp = hw.power.tdp_w.value if hw.energy is None else None
        out = OpCosts()
        append = out.append
        total_t = total_e = total_f = total_b = 0.0
        peaks = self._peak_table(hw, opts)
        for op in ops:
            key = (op.kind, op.precision)
            choice = peaks.get(key)
            if choice is None:
                dtype, peak = select_peak(op, hw, rule)
                choice = peaks[key] = (dtype, peak * eta_c)
            dtype, peak = choice
            flops = op.flops
            nbytes = op.load_weight + op.load_act + op.store_act + op.load_kv + op.store_kv
            tc, tm = flops / peak, nbytes / bw
            t = (tc if tc > tm else tm) + launch
            e = tdp * t if tdp is not None else energy_j(flops, nbytes, t, hw)
            append(OpCost(op, t, e, bound_of(flops, nbytes, peak, bw), dtype, peak))
            n = op.repeat
            total_t += t * n
            total_e += e * n
            total_f += flops * n
            total_b += nbytes * n
        out.time_s, out.energy_j, out.flops, out.bytes = total_t, total_e, total_f, total_b
        return out
