"""Wafer-scale mesh mappers (WaferLLM): MeshGEMM / MeshGEMV and their baselines, and the LLM mapping.

Every operator of a workload is priced on a square ``P x P`` core grid with the PLMR closed forms of
``archsim.analytic.plmr`` (``--engine analytic``) or the SimPy mesh simulator (``--engine sim``):

- prefill (2-D partition of activations and weights on both axes, WaferLLM sec. 6.1): linear layers
  are GEMMs (``meshgemm`` by default; ``cannon``, ``summa``, ``allgather-gemm`` as baselines),
  ``Q x K^T`` is GEMM-T, ``scores x V`` a MeshGEMM, norms and softmax reuse the K-tree allreduce;
- decode (embedding split on one axis, token replicated on the other, sec. 6.2): linear layers and
  attention are GEMVs (``meshgemv`` K-tree by default; ``pipeline-gemv``, ``ring-gemv`` as
  baselines); Q/K/V and gate/up share one allreduce each; weights are pre-placed so consecutive
  GEMVs alternate their reduction axis (no transposes); the shift-based KV cache adds one
  neighbour shift per layer and token.

The grid is ``--grid PxP`` or ``--grid auto`` (the fastest P whose plan fits, as WaferLLM autotunes
offline). A whole model is evaluated like the released kernels: one layer's kernels x layers
("artifact mode"); when the layers do not fit the regions the fabric holds (pipeline stages, sec.
6.3) the result says so in a warning instead of silently pretending.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from archsim.analytic import plmr
from archsim.analytic.energy import energy_j
from archsim.analytic.plmr import KernelCycles, MeshParams
from archsim.errors import InputError
from archsim.hardware.schema import HardwareSpec
from archsim.result import OpCost, OpCosts
from mappers import register
from mappers.base import MapContext, Mapper, Plan, fuse_ops
from models.workload import Op

GEMM_ALGOS = ("meshgemm", "cannon", "summa", "allgather-gemm", "gemm-t")
GEMV_ALGOS = ("meshgemv", "pipeline-gemv", "ring-gemv")
FUSED = (("q_proj", "k_proj", "v_proj"), ("gate_proj", "up_proj"))
HEATMAP_BLOCKS = 48  # the per-core busy map in results is averaged over at most 48 x 48 blocks


def parse_grid(grid: str | None) -> int | None:
    """``"660x660"`` -> 660, ``"auto"``/None -> None. Mesh kernels run on square grids (spec 8)."""
    if grid is None or grid == "auto":
        return None
    parts = grid.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise InputError("grid", f"grid must look like 660x660 or be 'auto', got '{grid}'.")
    rows, cols = int(parts[0]), int(parts[1])
    if rows != cols:
        raise InputError("grid", f"grid {grid} is not square; WaferLLM's kernels run on P x P rectangles.")
    return rows


def gemm_cycles(mp: MeshParams, algo: str, p: int, m: int, k: int, n: int, e: float) -> KernelCycles:
    """Cycles of one GEMM ``[m,k] x [k,n]`` on a P x P grid with ``algo``."""
    fn = {"meshgemm": plmr.meshgemm, "cannon": plmr.cannon, "summa": plmr.summa,
          "allgather-gemm": plmr.allgather_gemm, "gemm-t": plmr.gemm_t}[algo]
    return fn(mp, p, m, k, n, e)


def gemv_cycles(mp: MeshParams, algo: str, p: int, k: int, n: int, e: float,
                groups: int | None = None, rows: int = 1, phases: int = 2) -> KernelCycles:
    """Cycles of ``rows`` GEMVs ``[rows,k] x [k,n]`` sharing the weights on a P x P grid with ``algo``."""
    if algo == "meshgemv":
        return plmr.meshgemv(mp, p, k, n, groups, e, rows, phases)
    if algo == "pipeline-gemv":
        return plmr.pipeline_gemv(mp, p, k, n, e, rows)
    return plmr.ring_gemv(mp, p, k, n, e, rows)


@dataclass(frozen=True, slots=True)
class OpPlan:
    """How one fused group of ops runs on the mesh: cycles, bytes per core, routes, description."""

    cycles: float
    bytes_per_core: float
    routes: int
    kernel: str
    bound: str


class MeshMapper(Mapper):
    """Shared machinery; subclasses pick the GEMM and GEMV algorithms."""

    families = ("mesh",)
    engines = ("analytic", "sim")
    gemm_algo = "meshgemm"
    gemv_algo = "meshgemv"
    ktree_phases = 2  # K of the K-tree allreduce (``--mapper meshgemv:k=3``)
    ktree_groups: int | None = None  # group count G (``--mapper meshgemv:groups=20``); None = near sqrt(P)

    def configure(self, **options: str) -> MeshMapper:
        """A copy with the K-tree's ``k`` (phases) and/or ``groups`` set."""
        import copy

        unknown = sorted(set(options) - {"k", "groups"})
        if unknown:
            raise InputError("mapper", f"mapper '{self.name}' takes options k and groups, got '{unknown[0]}'.")
        out = copy.copy(self)
        for key, attr in (("k", "ktree_phases"), ("groups", "ktree_groups")):
            if key in options:
                value = options[key]
                if not value.isdigit() or int(value) < 1:
                    raise InputError("mapper", f"mapper option {key} must be a positive integer, got '{value}'.")
                setattr(out, attr, int(value))
        return out

    def _groups_for(self, mp: MeshParams, p: int) -> int:
        g = self.ktree_groups or plmr.default_groups(p)
        if p % g:
            raise InputError("mapper", f"K-tree groups={g} must divide the grid side P={p}.")
        return g

    # ---------------------------------------------------------------- per-op plans
    def _allreduce(self, mp: MeshParams, p: int, w: float) -> float:
        if self.gemv_algo == "meshgemv":
            if self.ktree_phases != 2:
                return plmr.ktree_general(mp, w, p, self.ktree_phases)
            return plmr.ktree_allreduce(mp, w, p, self._groups_for(mp, p))
        if self.gemv_algo == "pipeline-gemv":
            return plmr.pipeline_allreduce(mp, w, p)
        return plmr.ring_allreduce(mp, w, p)

    def plan_group(self, group: list[Op], mp: MeshParams, p: int, decode: bool | None = None) -> OpPlan:
        """Plan one fused group of ops on a P x P grid (closed forms, spec 4-6). ``decode``: the step
        is a decode step (tokens replicated, one partial sum per token in reductions)."""
        if decode is None:
            decode = group[0].m == 1
        op = group[0]
        e = op.a_bits / 8
        cores = p * p
        if op.kind in ("matmul", "lm_head"):
            n = sum(o.n for o in group)
            we = op.w_bits / 8
            if op.m == 1:  # decode: token replicated, one allreduce for the fused outputs
                kc = gemv_cycles(mp, self.gemv_algo, p, op.k, n, we, self._groups_for(mp, p), 1, self.ktree_phases)
                return OpPlan(kc.cycles, kc.bytes_per_core, kc.routes, f"{self.gemv_algo} P={p}", _bound(kc))
            kc = gemm_cycles(mp, self.gemm_algo, p, op.m, op.k, n, e)
            # Decode with batch > 1 keeps the decode layout (tokens replicated, sec. 6.2): the tokens
            # share each weight tile as batched GEMVs with one allreduce of all their outputs, unless
            # MeshGEMM's P steps are cheaper. Prefill always partitions the tokens (sec. 6.1).
            kv = (gemv_cycles(mp, self.gemv_algo, p, op.k, n, we, self._groups_for(mp, p), op.m, self.ktree_phases)
                  if decode else None)
            if kv is not None and kv.cycles < kc.cycles:
                return OpPlan(kv.cycles, kv.bytes_per_core, kv.routes, f"{self.gemv_algo} x{op.m} P={p}", _bound(kv))
            return OpPlan(kc.cycles, kc.bytes_per_core, kc.routes, f"{self.gemm_algo} P={p}", _bound(kc))
        if op.kind == "attention":
            return self._attention(group, mp, p, e)
        if op.kind == "softmax":
            # max and sum reductions: over the sequence (decode) or per query row (prefill)
            w = op.m * plmr.tile(op.n, p) if decode else plmr.tile(op.m, p)
            red = 2 * self._allreduce(mp, p, w)
            local = op.flops / cores * mp.elementwise_cpe
            return OpPlan(red + local, 0.0, 10, "2 x allreduce", "network")
        if op.kind == "norm":
            w = op.m if decode else plmr.tile(op.m, p)  # one partial sum per token row
            red = self._allreduce(mp, p, w)
            local = op.flops / cores / mp.c_gemv
            return OpPlan(red + local, 0.0, 10, "allreduce", "network")
        # element-wise (residual, activation, RoPE, embedding gather): local work only (spec 1)
        elems = sum(o.store_act for o in group) / e
        return OpPlan(elems / cores * mp.elementwise_cpe + 1.0, 0.0, 0, "local", "compute")

    def _attention(self, group: list[Op], mp: MeshParams, p: int, e: float) -> OpPlan:
        op = group[0]
        t, length, d = op.m, op.n, op.k
        if op.name == "sv_matmul":  # (T x L) x (L x d): reduction over L
            t, d, length = op.m, op.n, op.k
        dim = d * op.heads  # batch x heads x head_dim (single-head artifact layout uses the full dim)
        if t == 1:  # decode: GEMV-shaped; scores reduce along X over dim, outputs along Y over the sequence
            local = dim * length / (p * p) / mp.c_gemv
            if op.name == "sv_matmul":
                red = self._allreduce(mp, p, plmr.tile(dim, p))
            else:
                red = self._allreduce(mp, p, plmr.tile(length, p))
            # shift-based KV cache (sec. 6.4): every row passes its oldest entry up one hop per token
            shift = plmr.neighbour_shift(mp, plmr.tile(d * max(op.kv_heads, 1), p)) if op.name == "qk_matmul" else 0.0
            return OpPlan(local + red + shift, e * 2 * plmr.tile(dim, p) * plmr.tile(length, p), 11,
                          f"{self.gemv_algo} P={p}", "network")
        algo = self.sv_algo if op.name == "sv_matmul" else "gemm-t"
        kc = gemm_cycles(mp, algo, p, t, length, dim, e) if algo != "gemm-t" else plmr.gemm_t(mp, p, t, dim, length, e)
        return OpPlan(kc.cycles, kc.bytes_per_core, kc.routes, f"{algo} P={p}", _bound(kc))

    @property
    def sv_algo(self) -> str:
        """``scores x V`` in prefill: the mapper's GEMM algorithm (GEMM-T is for Q x K^T only)."""
        return self.gemm_algo if self.gemm_algo != "gemm-t" else "meshgemm"

    # ---------------------------------------------------------------- whole workloads
    def _groups(self, ops: list[Op]) -> list[list[Op]]:
        """Decode fuses Q/K/V and up/gate into one GEMV each (one allreduce, spec 6.2); prefill runs
        them as separate MeshGEMMs, as the released kernels do (spec 6.1)."""
        decode = any(o.kind == "attention" and o.m == 1 for o in ops)
        return fuse_ops(ops, FUSED, eligible=lambda o: o.m == 1 or decode)

    def step_cycles(self, ops: list[Op], mp: MeshParams, p: int) -> tuple[list[tuple[list[Op], OpPlan]], float]:
        """Plans of every fused group and the cycles of one step (layer groups x repeat)."""
        decode = any(o.kind == "attention" and o.m == 1 for o in ops)
        plans = [(g, self.plan_group(g, mp, p, decode or None)) for g in self._groups(ops)]
        return plans, sum(pl.cycles * g[0].repeat for g, pl in plans)

    def choose_grid(self, ops: list[Op], mp: MeshParams, requested: int | None) -> int:
        """The requested P, or the fastest P in [16, max_square] (``--grid auto``)."""
        if requested is not None:
            plmr.check_grid(mp, requested)
            return requested
        return _autotune(self, tuple(_op_key(o) for o in ops), ops, mp)

    def emulate(self, m: int, k: int, n: int, grid: int, seed: int = 0) -> tuple[Any, Any]:
        """This mapper's GEMM (m > 1) or GEMV (m == 1) algorithm on a ``grid x grid`` tile array."""
        import jax.numpy as jnp
        import numpy as np

        from kernels_ref import mesh as ref

        rng = np.random.default_rng(seed)
        a = jnp.asarray(rng.standard_normal((m, k)), dtype=jnp.float32)
        b = jnp.asarray(rng.standard_normal((k, n)), dtype=jnp.float32)
        if m == 1:
            fn = {"meshgemv": ref.meshgemv, "pipeline-gemv": ref.pipeline_gemv, "ring-gemv": ref.ring_gemv}
            return fn[self.gemv_algo](a[0], b, grid), jnp.dot(a[0], b)
        if self.gemm_algo == "gemm-t":  # C = A x B^T with B given as [N, K]
            return ref.gemm_t(a, b.T, grid), jnp.dot(a, b)
        fn2 = {"meshgemm": ref.meshgemm, "cannon": ref.cannon, "summa": ref.summa,
               "allgather-gemm": ref.allgather_gemm}
        return fn2[self.gemm_algo](a, b, grid), jnp.dot(a, b)

    def transition(self, prefill_ops: list[Op], decode_ops: list[Op], hw: HardwareSpec,
                   ctx: MapContext) -> OpCost | None:
        """Prefill-to-decode re-layout (sec. 6.3): weights and the prompt's KV cache move over the
        NoC from the prefill grid's 2-D partition to the decode grid's placement; no off-chip traffic."""
        mp = plmr.mesh_params(hw)
        p = self.choose_grid(decode_ops, mp, parse_grid(ctx.grid))
        moved = sum((o.load_weight + o.store_kv) * o.repeat for o in prefill_ops if o.kind == "matmul")
        t = plmr.relayout_cycles(mp, moved, p) / mp.f
        op = Op("prefill_to_decode_relayout", "network", 1, 0, 0, 1, 1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
                prefill_ops[0].precision)
        return OpCost(op, t, energy_j(0.0, 0.0, t, hw), "network", "fp16", 0.0, f"NoC re-layout P={p}")

    def plan(self, op: Op, hw: HardwareSpec, ctx: MapContext) -> Plan:
        mp = plmr.mesh_params(hw)
        p = self.choose_grid([op], mp, parse_grid(getattr(ctx, "grid", None)))
        pl = self.plan_group([op], mp, p)
        return Plan(self.name, op.name, {"grid": f"{p}x{p}", "kernel": pl.kernel, "cycles": pl.cycles,
                                         "bytes_per_core": pl.bytes_per_core, "routes_per_core": pl.routes})

    def cost(self, ops: list[Op], hw: HardwareSpec, ctx: MapContext) -> OpCosts:
        mp = plmr.mesh_params(hw)
        p = self.choose_grid(ops, mp, parse_grid(getattr(ctx, "grid", None)))
        plans, _ = self.step_cycles(ops, mp, p)
        for group, pl in plans:
            plmr.check_routes(mp, pl.routes, pl.kernel)
            plmr.check_fits(mp, pl.bytes_per_core, f"{pl.kernel} for {group[0].name}")
        busy = None
        if ctx.engine == "sim":
            simulated, offset = [], 0.0
            for g, pl in plans:  # kernels run one after another; the trace lays them out in order
                new, core_busy = _simulated(self, g, pl, mp, p, ctx, offset)
                simulated.append((g, new, core_busy))
                offset += new.cycles
            plans = [(g, pl) for g, pl, _ in simulated]
            for g, _, core_busy in simulated:
                if core_busy is not None:
                    busy = core_busy * g[0].repeat if busy is None else busy + core_busy * g[0].repeat
        costs: dict[int, OpCost] = {}
        for group, pl in plans:
            t = pl.cycles / mp.f
            weights = [max(o.flops, o.bytes, 1.0) for o in group]
            total_w = sum(weights)
            for o, wgt in zip(group, weights, strict=True):
                share = t * wgt / total_w
                costs[id(o)] = OpCost(o, share, energy_j(o.flops, o.bytes, share, hw), pl.bound, "fp16",
                                      hw.peaks_ops["fp16"].value, pl.kernel)
        rows = [costs[id(o)] for o in ops]
        fit = _pipeline_fit(ops, mp, p)
        handoff = _handoff_cycles(ops, mp, p, fit)
        if handoff:
            # Pipeline mode (the layers fit in S regions): activations cross S - 1 region boundaries.
            hop = Op("pipeline_handoff", "network", 1, 0, 0, 1, fit["pipeline_stages"] - 1, 0.0, 0.0, 0.0, 0.0,
                     0.0, 0.0, ops[0].precision)
            t = handoff / (fit["pipeline_stages"] - 1) / mp.f
            rows.append(OpCost(hop, t, energy_j(0.0, 0.0, t, hw), "network", "fp16", 0.0, f"region hand-off P={p}"))
        out = OpCosts.of(rows)
        out.info = {"grid": f"{p}x{p}", "cycles": sum(pl.cycles * g[0].repeat for g, pl in plans) + handoff}
        out.info.update(fit)
        if busy is not None:
            out.info["core_busy"] = _block_average(busy / out.info["cycles"], HEATMAP_BLOCKS)
        return out


def _pipeline_fit(ops: list[Op], mp: MeshParams, p: int) -> dict[str, Any]:
    """Pipeline stages over layers (sec. 6.3): how many layers one P x P region holds, the stages S
    the model needs and the regions the fabric holds; a warning when S exceeds them."""
    cores = p * p
    layers = max((o.repeat for o in ops), default=1)
    layer_bytes = sum(o.load_weight + o.load_kv for o in ops if o.repeat == layers and layers > 1) / cores
    info: dict[str, Any] = {}
    if layer_bytes <= 0:
        return info
    per_stage = max(0, int(mp.usable_bytes // layer_bytes))
    regions = (mp.max_square // p) * (mp.fabric_rows // p)
    info["layers_per_region"] = per_stage
    info["regions_on_fabric"] = regions
    if per_stage == 0:
        info["warnings"] = [f"one layer needs {layer_bytes / 1024:.0f} KB per core on {p}x{p}; {mp.id} has "
                            f"{mp.usable_bytes / 1024:.0f} KB usable: reported per layer x layers (artifact mode)."]
        return info
    stages = math.ceil(layers / per_stage)
    info["pipeline_stages"] = stages
    if stages > regions:
        info["warnings"] = [f"{layers} layers need {stages} pipeline stages of {p}x{p} ({per_stage} layers each) "
                            f"but the fabric holds {regions}: reported per layer x layers (artifact mode, as "
                            "WaferLLM's Table 4)."]
    return info


def _handoff_cycles(ops: list[Op], mp: MeshParams, p: int, fit: dict[str, Any]) -> float:
    """Single-request pipeline over S regions: S - 1 hand-offs of the activations, each ~P hops plus
    the per-core slice (spec 6.3: ``(S-1) * (alpha*P + dim/lambda)``). Zero in artifact mode."""
    stages = fit.get("pipeline_stages", 1)
    if stages <= 1 or "warnings" in fit:
        return 0.0
    width = max((o.store_act / (o.a_bits / 8) for o in ops if o.name == "out_proj"), default=0.0)
    return (stages - 1) * (mp.alpha * p + width / p / mp.lam)


def _bound(kc: KernelCycles) -> str:
    return "compute" if kc.compute >= kc.comm else "network"


def _op_key(op: Op) -> tuple:
    return (op.name, op.kind, op.m, op.n, op.k, op.heads, op.kv_heads, op.repeat, op.w_bits, op.a_bits)


_AUTOTUNE: dict[tuple, int] = {}


def _autotune(mapper: MeshMapper, key: tuple, ops: list[Op], mp: MeshParams) -> int:
    """Offline autotuning (WaferLLM sec. 6.3): the P with the fewest cycles (pipeline hand-offs included)
    whose kernels fit a core, preferring grids on which all layers fit the fabric's regions."""
    cache_key = (mapper.name, mp, key)
    if cache_key in _AUTOTUNE:
        return _AUTOTUNE[cache_key]
    best: tuple[bool, float, int] | None = None
    for p in range(16, mp.max_square + 1):
        plans, cycles = mapper.step_cycles(ops, mp, p)
        if any(pl.bytes_per_core > mp.usable_bytes or pl.routes > mp.route_budget for _, pl in plans):
            continue
        fit = _pipeline_fit(ops, mp, p)
        cycles += _handoff_cycles(ops, mp, p, fit)
        # Grids whose layers fit the fabric's regions come first; artifact mode only if none does.
        key = ("warnings" in fit, cycles, p)
        if best is None or key < best:
            best = key
    if best is None:
        raise InputError("grid", f"no square grid up to {mp.max_square}x{mp.max_square} fits this plan on {mp.id}.")
    _AUTOTUNE[cache_key] = best[2]
    return best[2]


def _block_average(grid: Any, blocks: int) -> list[list[float]]:
    """Average a P x P array over at most ``blocks x blocks`` blocks (a readable heat-map, small JSON)."""
    import numpy as np

    arr = np.asarray(grid, dtype=float)
    p = arr.shape[0]
    b = min(blocks, p)
    edges = np.linspace(0, p, b + 1).astype(int)
    return [[round(float(arr[edges[i]:edges[i + 1], edges[j]:edges[j + 1]].mean()), 4) for j in range(b)]
            for i in range(b)]


def _simulated(mapper: MeshMapper, group: list[Op], pl: OpPlan, mp: MeshParams, p: int,
               ctx: MapContext, offset: float = 0.0) -> tuple[OpPlan, Any]:
    """Re-time a planned group with the SimPy mesh simulator (GEMMs, GEMVs and allreduces); also
    return the per-core busy cycles (P x P) where the simulator reports them."""
    from archsim.sim import mesh as sim

    op = group[0]
    e = op.a_bits / 8
    trace = ctx.trace
    if op.kind in ("matmul", "lm_head"):
        n = sum(o.n for o in group)
        if op.m == 1 or pl.kernel.startswith(mapper.gemv_algo):  # batched GEMVs: rows x n outputs reduced
            if mapper.ktree_phases != 2:  # the simulator implements WaferLLM's K = 2 tree only
                return pl, None
            res = sim.simulate_gemv(mp, p, op.k, n * op.m, algorithm=mapper.gemv_algo, trace=trace,
                                    groups=mapper.ktree_groups, offset_cycles=offset)
        else:
            res = sim.simulate_gemm(mp, p, op.m, op.k, n, algorithm=mapper.gemm_algo, trace=trace,
                                    offset_cycles=offset)
        return OpPlan(res.cycles, pl.bytes_per_core, pl.routes, pl.kernel, pl.bound), res.busy
    if op.kind == "attention" and op.m > 1:
        dim = op.k * op.heads if op.name != "sv_matmul" else op.n * op.heads
        if op.name == "sv_matmul":
            res = sim.simulate_gemm(mp, p, op.m, op.k, dim, algorithm=mapper.sv_algo, trace=trace,
                                    offset_cycles=offset)
        else:
            res = sim.simulate_gemm(mp, p, op.m, dim, op.n, algorithm="gemm-t", trace=trace, offset_cycles=offset)
        return OpPlan(res.cycles, pl.bytes_per_core, pl.routes, pl.kernel, pl.bound), res.busy
    del e
    return pl, None  # element-wise work and small reductions: the closed form is exact (no contention)


@register(default_for=("mesh",))
class WaferLLMMapper(MeshMapper):
    name = "meshgemm"
    description = "WaferLLM: MeshGEMM (prefill) and MeshGEMV with the K-tree allreduce (decode)"


@register()
class CannonMapper(MeshMapper):
    name = "cannon"
    gemm_algo = "cannon"
    description = "Cannon's algorithm for prefill GEMMs (wrap-around shifts), MeshGEMV for decode"


@register()
class SummaMapper(MeshMapper):
    name = "summa"
    gemm_algo = "summa"
    description = "SUMMA broadcasts for prefill GEMMs (Cerebras' default), MeshGEMV for decode"


@register()
class AllgatherMapper(MeshMapper):
    name = "allgather-gemm"
    gemm_algo = "allgather-gemm"
    description = "allgather GEMM for prefill (GPU/TPU-pod style), MeshGEMV for decode"


@register()
class GemmTMapper(MeshMapper):
    name = "gemm-t"
    gemm_algo = "gemm-t"
    description = "GEMM-T (C = A x B^T without a transpose) as a kernel; MeshGEMM/MeshGEMV in models"


@register()
class MeshGemvMapper(MeshMapper):
    name = "meshgemv"
    description = "MeshGEMV with WaferLLM's K-tree allreduce (K = 2, groups ~ sqrt(P))"


@register()
class PipelineGemvMapper(MeshMapper):
    name = "pipeline-gemv"
    gemv_algo = "pipeline-gemv"
    description = "GEMV with a pipeline (chain) allreduce, Cerebras' demo default"


@register()
class RingGemvMapper(MeshMapper):
    name = "ring-gemv"
    gemv_algo = "ring-gemv"
    description = "GEMV with a ring allreduce, the GPU-style baseline"
