"""Kernel-level GPU timing: thread-block tiles on SMs sharing HBM, the L2 path and the SM datapaths.

A ``Kernel`` is a set of ``TileClass``es (identical tiles: bytes from HBM, bytes through L2, OPs,
K-slices). Tiles run in waves of ``slots = SMs x resident blocks``. Inside a wave every resource
is shared max-min fairly among its active tiles (the same fluid model the SimPy engine simulates,
``archsim/sim/gpu.py``):

- HBM: ``hbm_efficiency x peak`` shared; one tile draws at most ``bytes in flight / DRAM latency``
  (Little's law) and at most its SM's share of the L2 path;
- L2 -> SM: ``l2_bandwidth`` shared, at most ``l2_bandwidth / SMs`` per tile;
- compute: ``SMs x per-SM peak`` shared, at most one SM's peak per tile.

A tile of ``n`` K-slices with per-slice load ``l`` and compute ``m`` takes ``l + (n-1) max(l, m) + m``
with double buffering and ``n (l + m)`` without (FlashDecoding++ sec. 3.3, spec 7.3). A kernel takes
``launch + DRAM latency + sum over waves of the slowest tile``. This is the wave-quantized roofline:
with one wave of perfectly parallel tiles it reduces to ``max(bytes / BW, OPs / peak)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from archsim.errors import InputError
from archsim.hardware.schema import HardwareSpec


@dataclass(frozen=True, slots=True)
class GpuParams:
    """The numbers of a GPU preset the kernel model uses, resolved once per device."""

    id: str
    n_sm: int
    hbm_Bps: float  # achievable: peak x hbm_efficiency
    l2_Bps: float
    tensor_ops: tuple[tuple[str, float], ...]  # achievable per dtype: peak x tensor_efficiency
    cuda_fp32_ops: float  # CUDA-core FMA rate (GEMV accumulates in fp32)
    vector_ops: float  # CUDA-core element-wise rate (fp16)
    smem_per_sm: float
    regs_per_sm: int
    max_threads_per_sm: int
    max_blocks_per_sm: int
    dram_latency_s: float
    launch_s: float

    def tensor_peak(self, bits: int) -> tuple[str, float]:
        """The tensor rate for operands of ``bits`` (int8/int4 where the device has them)."""
        ops = dict(self.tensor_ops)
        fp16 = ops["fp16"]
        for dtype, limit in (("int4", 4), ("int8", 8)):
            if bits <= limit and ops.get(dtype, 0.0) > fp16:
                return dtype, ops[dtype]
        return "fp16", fp16


_PARAMS: dict[int, tuple[HardwareSpec, GpuParams]] = {}


def gpu_params(hw: HardwareSpec) -> GpuParams:
    """Extract the kernel-model parameters; raise ``InputError`` naming a missing preset field."""
    cached = _PARAMS.get(id(hw))
    if cached is not None and cached[0] is hw:
        return cached[1]
    g = hw.gpu
    if g is None:
        raise InputError("hw", f"'{hw.id}' is a {hw.family}, not a GPU; the GPU kernel mappers need a gpu block.")
    needed = ("smem_per_sm_bytes", "regs_per_sm", "max_threads_per_sm", "max_blocks_per_sm", "l2_bandwidth_Bps",
              "hbm_efficiency", "tensor_efficiency", "dram_latency_s", "kernel_launch_s")
    for name in needed:
        if getattr(g, name) is None:
            raise InputError("hw", f"hardware '{hw.id}' needs gpu.{name} for the GPU kernel model.")
    eta_tc = g.tensor_efficiency.value  # type: ignore[union-attr]
    tensor = tuple((d, hw.peaks_ops[d].value * eta_tc) for d in ("fp16", "bf16", "int8", "int4", "fp8")
                   if d in hw.peaks_ops)
    fp32 = hw.peaks_ops["fp32"].value if "fp32" in hw.peaks_ops else hw.peaks_ops["fp16"].value / 16
    vector = g.vector_fp16_ops.value if g.vector_fp16_ops is not None else 2 * fp32
    params = GpuParams(
        id=hw.id, n_sm=int(g.sm_count.value),
        hbm_Bps=hw.memory.bandwidth_Bps.value * g.hbm_efficiency.value,  # type: ignore[union-attr]
        l2_Bps=g.l2_bandwidth_Bps.value, tensor_ops=tensor, cuda_fp32_ops=fp32, vector_ops=vector,  # type: ignore[union-attr]
        smem_per_sm=g.smem_per_sm_bytes.value, regs_per_sm=int(g.regs_per_sm.value),  # type: ignore[union-attr]
        max_threads_per_sm=int(g.max_threads_per_sm.value),  # type: ignore[union-attr]
        max_blocks_per_sm=int(g.max_blocks_per_sm.value),  # type: ignore[union-attr]
        dram_latency_s=g.dram_latency_s.value, launch_s=g.kernel_launch_s.value,  # type: ignore[union-attr]
    )
    _PARAMS[id(hw)] = (hw, params)
    return params


@dataclass(frozen=True, slots=True)
class TileClass:
    """``count`` identical thread-block tiles. Bytes and OPs are per tile; ``unit`` is the datapath
    (``tensor`` or ``cuda``); ``inflight_bytes`` is what one tile keeps in flight from DRAM."""

    count: int
    steps: int
    hbm_bytes: float
    l2_bytes: float
    flops: float
    unit: str
    inflight_bytes: float
    double_buffer: bool = True


@dataclass(frozen=True, slots=True)
class Kernel:
    """One kernel launch: its tiles, occupancy and the compute rate of its datapath (OP/s, all SMs)."""

    name: str
    impl: str
    classes: tuple[TileClass, ...]
    blocks_per_sm: int
    peak_ops: float
    info: tuple[tuple[str, object], ...] = ()  # description for plans and traces (tile shape ...)

    @property
    def tiles(self) -> int:
        return sum(c.count for c in self.classes)

    @property
    def hbm_bytes(self) -> float:
        return sum(c.count * c.hbm_bytes for c in self.classes)

    @property
    def flops(self) -> float:
        return sum(c.count * c.flops for c in self.classes)


@dataclass(frozen=True, slots=True)
class KernelTime:
    """Analytic timing of one kernel: total (launch and latency included), waves, dominant limit."""

    time_s: float
    waves: int
    bound: str


def occupancy(gpu: GpuParams, threads: int, smem_bytes: float, regs_per_thread: int = 64) -> int:
    """Resident blocks per SM allowed by threads, shared memory, registers and the block limit."""
    limits = [gpu.max_blocks_per_sm, gpu.max_threads_per_sm // threads,
              gpu.regs_per_sm // (threads * regs_per_thread)]
    if smem_bytes > 0:
        limits.append(int(gpu.smem_per_sm // smem_bytes))
    blocks = min(limits)
    if blocks < 1:
        raise InputError("mapper", f"a {threads}-thread block with {smem_bytes / 1024:.0f} KB of shared memory "
                                   f"does not fit one SM of {gpu.id}.")
    return blocks


def tile_rates(gpu: GpuParams, tc: TileClass, active: int, peak_ops: float) -> tuple[float, float, float]:
    """Per-tile HBM, L2 and compute rates when ``active`` tiles share the GPU (max-min fair)."""
    per_tile_hbm_cap = min(tc.inflight_bytes / gpu.dram_latency_s, gpu.l2_Bps / gpu.n_sm)
    hbm = min(per_tile_hbm_cap, gpu.hbm_Bps / active)
    l2 = min(gpu.l2_Bps / gpu.n_sm, gpu.l2_Bps / active)
    comp = min(peak_ops / gpu.n_sm, peak_ops / active)
    return hbm, l2, comp


def tile_time(tc: TileClass, hbm: float, l2: float, comp: float) -> tuple[float, float, float]:
    """Time of one tile and its per-slice load and compute times at the given per-tile rates."""
    n = max(tc.steps, 1)
    load = max(tc.hbm_bytes / hbm if tc.hbm_bytes else 0.0, tc.l2_bytes / l2 if tc.l2_bytes else 0.0) / n
    mma = tc.flops / comp / n if tc.flops else 0.0
    if tc.double_buffer:
        return load + (n - 1) * max(load, mma) + mma, load, mma
    return n * (load + mma), load, mma


def kernel_time(kernel: Kernel, gpu: GpuParams) -> KernelTime:
    """Wave-quantized roofline of ``kernel`` (launch and one DRAM latency included)."""
    slots = gpu.n_sm * kernel.blocks_per_sm
    total = 0.0
    waves = 0
    load_sum = mma_sum = 0.0
    # Tiles issue in class order; a wave holds up to ``slots`` tiles, possibly of several classes.
    queue = [[tc, tc.count] for tc in kernel.classes if tc.count > 0]
    while queue:
        active = min(slots, sum(left for _, left in queue))
        wave_time = 0.0
        room = active
        for entry in queue:
            if room == 0:
                break
            take = min(room, entry[1])
            room -= take
            hbm, l2, comp = tile_rates(gpu, entry[0], active, kernel.peak_ops)
            t, load, mma = tile_time(entry[0], hbm, l2, comp)
            wave_time = max(wave_time, t)
            load_sum += load
            mma_sum += mma
            entry[1] -= take
        queue = [e for e in queue if e[1] > 0]
        total += wave_time
        waves += 1
    bound = "memory" if load_sum >= mma_sum else "compute"
    return KernelTime(gpu.launch_s + gpu.dram_latency_s + total, waves, bound)


def waves_of(kernel: Kernel, gpu: GpuParams) -> int:
    """Number of waves: ceil(tiles / (SMs x resident blocks))."""
    return math.ceil(kernel.tiles / (gpu.n_sm * kernel.blocks_per_sm))
