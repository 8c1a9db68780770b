"""PLMR model of a wafer-scale mesh: communication primitives, kernel cycle counts, feasibility checks.

Source: C. He et al., "WaferLLM", OSDI 2025 (PLMR sec. 3, MeshGEMM sec. 4, MeshGEMV sec. 5); closed
forms as written down in ``shared/specs/wafer_mesh.md`` sec. 3-6. A pipelined wormhole transfer of
``w`` elements over ``h`` hops with ``r`` software relays costs ``h*alpha + r*beta + w/lambda``
cycles. Everything here is in core cycles; ``MeshParams.f`` converts to seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from archsim.errors import InputError
from archsim.hardware.schema import HardwareSpec


@dataclass(frozen=True, slots=True)
class MeshParams:
    """The numbers of a mesh preset the PLMR model uses (see ``archsim/hardware/presets/wse2.yaml``)."""

    id: str
    f: float  # clock, Hz
    alpha: float  # cycles per hop
    beta: float  # cycles per relay stage
    lam: float  # elements per cycle per link
    c_gemv: float  # MAC/cycle/core in GEMV loops
    c_gemm: float  # MAC/cycle/core in MeshGEMM loops
    t_step: float  # cycles of per-step overhead
    sram_bytes: int
    reserve_bytes: int
    route_budget: int
    fabric_cols: int
    fabric_rows: int
    max_square: int
    elementwise_cpe: float  # cycles per element for element-wise ops

    @property
    def usable_bytes(self) -> int:
        return self.sram_bytes - self.reserve_bytes


def mesh_params(hw: HardwareSpec) -> MeshParams:
    """Resolve the PLMR parameters of a mesh preset; ``InputError`` if it is not a mesh."""
    m = hw.mesh
    if m is None or hw.clock_hz is None:
        raise InputError("hw", f"'{hw.id}' is a {hw.family}, not a wafer-scale mesh (needs a mesh block and clock).")
    ew = m.elementwise_cycles_per_elem.value if m.elementwise_cycles_per_elem is not None else 1.0
    return MeshParams(
        id=hw.id, f=hw.clock_hz.value, alpha=m.hop_latency_cycles.value, beta=m.relay_cycles.value,
        lam=m.link_elems_per_cycle.value, c_gemv=m.macs_per_cycle_gemv.value, c_gemm=m.macs_per_cycle_gemm.value,
        t_step=m.step_overhead_cycles.value, sram_bytes=int(m.sram_per_core_bytes.value),
        reserve_bytes=int(m.sram_reserve_bytes.value), route_budget=int(m.route_budget.value),
        fabric_cols=int(m.fabric_cols.value), fabric_rows=int(m.fabric_rows.value),
        max_square=int(m.max_square.value), elementwise_cpe=ew,
    )


# ---------------------------------------------------------------- communication primitives (spec 3)

def transfer(mp: MeshParams, w: float, hops: float, relays: float = 0.0) -> float:
    """Pipelined wormhole transfer: ``hops*alpha + relays*beta + w/lambda`` cycles."""
    return hops * mp.alpha + relays * mp.beta + w / mp.lam


def neighbour_shift(mp: MeshParams, w: float) -> float:
    """One-hop shift to the neighbour (KV-cache rows)."""
    return transfer(mp, w, 1)


def two_hop_shift(mp: MeshParams, w: float) -> float:
    """MeshGEMM's interleaved-ring shift: every logical neighbour is at most 2 hops away (P-independent)."""
    return transfer(mp, w, 2)


def cannon_shift(mp: MeshParams, w: float, p: int) -> float:
    """Cannon's wrap-around shift: the edge-to-edge transfer (P - 1 hops) is the critical path."""
    return transfer(mp, w, p - 1)


def line_bcast(mp: MeshParams, w: float, p: int, h_seg: int | None = None) -> float:
    """Broadcast along a row/column (SUMMA, allgather): P - 1 hops, a relay every ``h_seg`` hops
    (default P: the route is reconfigured per step, no relays; ``h_seg = 1`` is the paper's worst case)."""
    seg = p if h_seg is None else h_seg
    return transfer(mp, w, p - 1, math.floor((p - 1) / seg) if seg < p else 0)


def ktree_allreduce(mp: MeshParams, w: float, p: int, groups: int) -> float:
    """WaferLLM's K = 2 tree allreduce along one axis (+ broadcast), spec 5.3:
    ``beta*(g + G)/2 + alpha*(P + g/2) + 2*w/lambda`` with ``g = P/G`` cores per group."""
    g = p / groups
    return mp.beta * (g + groups) / 2 + mp.alpha * (p + g / 2) + 2 * w / mp.lam


def ktree_general(mp: MeshParams, w: float, p: int, k: int) -> float:
    """K-phase tree allreduce with groups of P^(1/K): ``beta*K*P^(1/K)/2 + alpha*P + 2*w/lambda``."""
    return mp.beta * k * p ** (1 / k) / 2 + mp.alpha * p + 2 * w / mp.lam


def pipeline_allreduce(mp: MeshParams, w: float, p: int) -> float:
    """Chain reduce to a root then broadcast (Cerebras' GEMV default): P relays, 2P hops."""
    return mp.beta * p + 2 * mp.alpha * p + 2 * w / mp.lam


def ring_allreduce(mp: MeshParams, w: float, p: int) -> float:
    """GPU-style ring allreduce laid on a line: ``(2*alpha + beta)*P + 2*w/lambda``."""
    return (2 * mp.alpha + mp.beta) * p + 2 * w / mp.lam


def default_groups(p: int) -> int:
    """The divisor of P closest to sqrt(P) (K-tree group count, spec 5.3)."""
    divisors = [d for d in range(1, p + 1) if p % d == 0]
    return min(divisors, key=lambda d: (abs(d - math.sqrt(p)), d))


# ---------------------------------------------------------------- kernel cycle counts (spec 4.6, 5.3)

@dataclass(frozen=True, slots=True)
class KernelCycles:
    """Cycle count of a mesh kernel with its parts, routes per core and bytes per core."""

    cycles: float
    compute: float
    comm: float
    steps: int
    routes: int
    bytes_per_core: float

    @property
    def eta_share(self) -> float:
        """Share of step cycles not waiting on the NoC (the paper's 'compute efficiency', spec 4.6)."""
        return self.compute / self.cycles if self.cycles else 0.0


def tile(d: int, p: int) -> int:
    """Per-core extent of a dimension ``d`` split over ``p`` cores (padded up, spec 8)."""
    return math.ceil(d / p)


def meshgemm(mp: MeshParams, p: int, m: int, k: int, n: int, e: float = 2.0, align: bool = True) -> KernelCycles:
    """MeshGEMM: P compute-shift steps over the interleaved ring (two-hop shifts), A aligned at run time."""
    mt, kt, nt = tile(m, p), tile(k, p), tile(n, p)
    t_cmp = mt * kt * nt / mp.c_gemm
    shift = two_hop_shift(mp, max(mt * kt, kt * nt))
    t_align = math.floor(p / 2) * two_hop_shift(mp, mt * kt) if align else 0.0
    step = max(t_cmp, shift) + mp.t_step
    return KernelCycles(t_align + p * step, p * (t_cmp + mp.t_step), t_align + p * max(0.0, shift - t_cmp), p,
                        13, e * (2 * mt * kt + 2 * kt * nt + mt * nt))


def cannon(mp: MeshParams, p: int, m: int, k: int, n: int, e: float = 2.0) -> KernelCycles:
    """Cannon: the same algebra with the wrap-around (P - 1 hop) shift on the critical path."""
    mt, kt, nt = tile(m, p), tile(k, p), tile(n, p)
    t_cmp = mt * kt * nt / mp.c_gemm
    shift = cannon_shift(mp, max(mt * kt, kt * nt), p)
    skew = cannon_shift(mp, mt * kt, p)
    step = max(t_cmp, shift) + mp.t_step
    return KernelCycles(skew + p * step, p * (t_cmp + mp.t_step), skew + p * max(0.0, shift - t_cmp), p, 6,
                        e * (2 * mt * kt + 2 * kt * nt + mt * nt))


def summa(mp: MeshParams, p: int, m: int, k: int, n: int, e: float = 2.0) -> KernelCycles:
    """SUMMA: each step broadcasts a tile along rows and columns (P - 1 hops), little overlap."""
    mt, kt, nt = tile(m, p), tile(k, p), tile(n, p)
    t_cmp = mt * kt * nt / mp.c_gemm
    bcast = line_bcast(mp, max(mt * kt, kt * nt), p)
    # Routes: a broadcast route per row and column would be O(P) colours; WaferLLM's baseline
    # reconfigures one row and one column route per step (r = 0, spec 3 line_bcast default), so a core
    # holds 4 at a time and the reconfiguration is part of t_step.
    return KernelCycles(p * (bcast + t_cmp + mp.t_step), p * (t_cmp + mp.t_step), p * bcast, p, 4,
                        e * (2 * mt * kt + 2 * kt * nt + mt * nt))


def allgather_gemm(mp: MeshParams, p: int, m: int, k: int, n: int, e: float = 2.0) -> KernelCycles:
    """Allgather GEMM: gather P - 1 tiles along each axis, then compute locally."""
    mt, kt, nt = tile(m, p), tile(k, p), tile(n, p)
    t_cmp = mt * kt * nt / mp.c_gemm
    gather = line_bcast(mp, (p - 1) * max(mt * kt, kt * nt), p)
    return KernelCycles(gather + p * t_cmp, p * t_cmp, gather, p, 4,
                        e * (p * mt * kt + p * kt * nt + mt * nt))


def gemm_t(mp: MeshParams, p: int, m: int, k: int, n: int, e: float = 2.0) -> KernelCycles:
    """GEMM-T (``C = A x B^T``, for Q x K^T): B shifts two-hop along Y, partials reduce along X."""
    mt, kt, nt = tile(m, p), tile(k, p), tile(n, p)
    t_cmp = mt * kt * nt / mp.c_gemm
    step = max(t_cmp, two_hop_shift(mp, nt * kt), mt * nt / mp.lam) + mp.t_step
    tail = ktree_allreduce(mp, mt * nt, p, default_groups(p))
    return KernelCycles(p * step + tail, p * (t_cmp + mp.t_step), p * (step - t_cmp - mp.t_step) + tail, p, 13,
                        e * (mt * kt + 2 * nt * kt + 2 * mt * nt))


def meshgemv(mp: MeshParams, p: int, k: int, n: int, groups: int | None = None, e: float = 2.0,
             rows: int = 1, phases: int = 2) -> KernelCycles:
    """MeshGEMV ``[rows,K] x [K,N]``: local partial GEMVs then the K-tree allreduce of the outputs
    (``rows`` decode tokens share each weight tile and one allreduce of ``rows x Nt`` partial sums).
    ``phases`` = K of the K-tree (WaferLLM uses 2); routes per core grow as 4K + 3 (K = 2: 11)."""
    kt, nt = tile(k, p), tile(n, p)
    local = rows * kt * nt / mp.c_gemv
    if phases == 2:
        comm = ktree_allreduce(mp, rows * nt, p, groups or default_groups(p))
    else:
        comm = ktree_general(mp, rows * nt, p, phases)
    return KernelCycles(local + comm, local, comm, 1, 4 * phases + 3, e * (kt * nt + kt + 2 * nt))


def pipeline_gemv(mp: MeshParams, p: int, k: int, n: int, e: float = 2.0, rows: int = 1) -> KernelCycles:
    """Baseline GEMV with a pipeline (chain) allreduce."""
    kt, nt = tile(k, p), tile(n, p)
    local = rows * kt * nt / mp.c_gemv
    comm = pipeline_allreduce(mp, rows * nt, p)
    return KernelCycles(local + comm, local, comm, 1, 4, e * (kt * nt + kt + 2 * nt))


def ring_gemv(mp: MeshParams, p: int, k: int, n: int, e: float = 2.0, rows: int = 1) -> KernelCycles:
    """Baseline GEMV with a ring allreduce."""
    kt, nt = tile(k, p), tile(n, p)
    local = rows * kt * nt / mp.c_gemv
    comm = ring_allreduce(mp, rows * nt, p)
    return KernelCycles(local + comm, local, comm, 1, 4, e * (kt * nt + kt + 2 * nt))


# ---------------------------------------------------------------- KV cache, re-layout, energy (spec 6.3-7)

def kv_capacity(mp: MeshParams, rows: int, p: int, kv_dim: int, layers_in_stage: int, prompt: int,
                free_bytes: float, e: float = 2.0) -> tuple[int, int]:
    """Maximum decode output length with the KV cache appended at the tail row (PagedAttention style)
    vs WaferLLM's shift-based cache that keeps every row equally full (spec 6.4).

    Returns ``(cap_concat, cap_shift)``; ``cap_shift = rows * cap_concat`` by construction.
    """
    u = 2 * layers_in_stage * tile(kv_dim, p) * e  # bytes per token per core (K and V)
    n_core = int(free_bytes // u)
    cap_concat = n_core - math.ceil(prompt / rows)
    return cap_concat, rows * cap_concat


def relayout_cycles(mp: MeshParams, bytes_moved: float, p: int) -> float:
    """Prefill-to-decode re-layout of weights and KV over the NoC: bytes over the bisection links
    (4 B/cycle each) plus the corner-to-corner latency (spec 6.3)."""
    return bytes_moved / (p * 4.0) + mp.alpha * (mp.fabric_cols + mp.fabric_rows)


# ---------------------------------------------------------------- PLMR checks (spec 1)

def check_fits(mp: MeshParams, bytes_per_core: float, what: str) -> None:
    """M: raise ``InputError`` with the exact shortfall when a plan needs more SRAM than a core has."""
    if bytes_per_core > mp.usable_bytes:
        raise InputError(
            "grid", f"{what} needs {bytes_per_core / 1024:.0f} KB per core, {mp.id} has "
                    f"{mp.sram_bytes / 1024:.0f} KB ({mp.usable_bytes / 1024:.0f} KB usable).")


def check_routes(mp: MeshParams, routes: int, what: str) -> None:
    """R: raise ``InputError`` when a kernel needs more routes per core than the routing budget."""
    if routes > mp.route_budget:
        raise InputError(
            "mapper", f"{what} needs {routes} routes per core, {mp.id} has a budget of {mp.route_budget}.")


def check_grid(mp: MeshParams, p: int) -> None:
    """The P x P kernel rectangle must fit the fabric."""
    if p < 3:
        raise InputError("grid", f"grid {p}x{p} is too small; the interleaved ring needs P >= 3.")
    if p > mp.max_square:
        raise InputError("grid", f"grid {p}x{p} does not fit {mp.id}: the largest square kernel rectangle is "
                                 f"{mp.max_square}x{mp.max_square}.")
