"""GPU kernel mappers: ``gemv``, ``flat-gemm``, ``gemm`` and ``auto`` (FlashDecoding++'s heuristic).

Every operator becomes thread-block tiles of a concrete kernel (``archsim.analytic.gpu.Kernel``):

- ``gemv`` (ImplA, CUDA cores): a 128-thread block computes 4 output rows over the whole K
  (one warp per row, FastGEMV style), accumulating in fp32; M vectors share each weight read.
- ``flat-gemm`` (ImplB, tensor cores): M padded to 8 (MMA granularity), tiles of BN columns over
  N, K sequential in BK = 64 slices, double buffered; BN is the best of {32 .. 512} for the shape
  (FlashDecoding++ sec. 3.2-3.3, spec 7.2-7.3).
- ``gemm`` (ImplC, tensor cores): CUTLASS-style BM x BN tiles, M padded to BM, the best of
  (64, 128), (128, 128), (128, 256).
- ``auto``: ``M < M1`` -> gemv, ``M1 <= M < M2`` -> flat-gemm, else gemm, where M1 and M2 are the
  model's own crossovers for each (device, N, K, widths), found by sweeping M (spec 7.4).

``gemm`` is the GPU default because it is what cuBLAS-based serving frameworks run, so it predicts
what users measure with them; ``auto`` predicts what FlashDecoding++'s kernels would achieve.

Attention: decode uses FlashDecoding split-K over the KV length plus a reduction kernel; prefill
uses FlashAttention-2 tiles (128 queries x 64 keys, causal: query block i visits only the key
blocks up to its diagonal, heaviest blocks issued first). Serving engines fuse Q/K/V and
gate/up projections into one GEMM each and the residual add into the next norm; so does this
mapper. Every other op is a streaming kernel. A fused kernel's time is shared among its ops in
proportion to their roofline times.
"""

from __future__ import annotations

import math
from functools import lru_cache, partial

from archsim.analytic.energy import energy_j
from archsim.analytic.gpu import (
    GpuParams,
    Kernel,
    TileClass,
    gpu_params,
    kernel_time,
    occupancy,
    waves_of,
)
from archsim.errors import InputError
from archsim.hardware.schema import HardwareSpec
from archsim.result import OpCost, OpCosts
from mappers import register
from mappers.base import MapContext, Mapper, Plan, fuse_ops
from models.workload import Op

MAX_STEPS = 8  # K-slices modelled per tile (the SimPy engine uses the same cap)
M_MAX = 512  # the threshold sweep stops here (spec 7.4); "never" = no crossover below it
FLAT_BN = (32, 64, 128, 256, 512)
GEMM_TILES = ((64, 128), (128, 128), (128, 256))
FUSED_GROUPS = (
    ("q_proj", "k_proj", "v_proj"),
    ("gate_proj", "up_proj"),
    ("qk_matmul", "softmax", "sv_matmul"),
    ("attn_add", "mlp_norm"),
    ("mlp_add", "attn_norm"),
)


def _steps(n: float) -> int:
    return max(1, min(MAX_STEPS, math.ceil(n)))


def _compulsory(m: int, n: int, k: int, w: float, a: float) -> float:
    return m * k * a + k * n * w + m * n * a


@lru_cache(maxsize=16384)
def gemv_kernel(m: int, n: int, k: int, w: float, a: float, gpu: GpuParams) -> Kernel:
    """ImplA: CUDA-core GEMV, 4 rows per 128-thread block, weights streamed once for all M."""
    rows, threads = 4, 128
    tiles = math.ceil(n / rows)
    tc = TileClass(
        count=tiles, steps=_steps(k / 1024),
        hbm_bytes=rows * k * w + (m * k * a) / tiles + m * rows * a,
        l2_bytes=rows * k * w + m * k * a,
        flops=2.0 * m * rows * k, unit="cuda",
        inflight_bytes=threads * 16 * 4,  # 16-byte vector loads, 4 in flight per thread
    )
    return Kernel("gemv", "gemv", (tc,), occupancy(gpu, threads, 0), gpu.cuda_fp32_ops,
                  (("rows_per_block", rows), ("tiles", tiles)))


@lru_cache(maxsize=16384)
def flat_gemm_kernel(m: int, n: int, k: int, w: float, a: float, bits: int, gpu: GpuParams, bn: int) -> Kernel:
    """ImplB: M padded to 8, tiles of ``bn`` columns, K in 64-wide double-buffered slices."""
    m8, bk, threads = 8 * math.ceil(m / 8), 64, 128
    tiles = math.ceil(n / bn)
    stage = bk * (bn * w + m8 * a)
    tc = TileClass(
        count=tiles, steps=_steps(k / bk),
        hbm_bytes=_compulsory(m, n, k, w, a) / tiles,
        l2_bytes=k * bn * w + m8 * k * a + m8 * bn * a,
        flops=2.0 * m8 * bn * k, unit="tensor", inflight_bytes=stage,
    )
    _, peak = gpu.tensor_peak(bits)
    return Kernel("flat-gemm", f"flat-gemm BN={bn}", (tc,), occupancy(gpu, threads, 2 * stage), peak,
                  (("M_padded", m8), ("BN", bn), ("tiles", tiles)))


@lru_cache(maxsize=16384)
def gemm_kernel(m: int, n: int, k: int, w: float, a: float, bits: int, gpu: GpuParams, bm: int, bn: int) -> Kernel:
    """ImplC: conventional tensor-core GEMM, BM x BN tiles, 3-stage pipeline of BK = 32 slices."""
    bk, threads, stages = 32, 256, 3
    mp = bm * math.ceil(m / bm)
    tiles = (mp // bm) * math.ceil(n / bn)
    stage = bk * (bm * a + bn * w)
    tc = TileClass(
        count=tiles, steps=_steps(k / bk),
        hbm_bytes=_compulsory(m, n, k, w, a) / tiles,
        l2_bytes=k * (bm * a + bn * w) + bm * bn * a,
        flops=2.0 * bm * bn * k, unit="tensor", inflight_bytes=(stages - 1) * stage,
    )
    _, peak = gpu.tensor_peak(bits)
    return Kernel("gemm", f"gemm {bm}x{bn}", (tc,), occupancy(gpu, threads, stages * stage, 96), peak,
                  (("M_padded", mp), ("BM", bm), ("BN", bn), ("tiles", tiles)))


def _best(builders: list, gpu: GpuParams) -> Kernel:
    """The fastest of the candidate tilings that fit an SM (a builder raises if its tile does not)."""
    timed = []
    for i, build in enumerate(builders):
        try:
            kern = build()
        except InputError:
            continue
        timed.append((kernel_time(kern, gpu).time_s, i, kern))
    if not timed:
        raise InputError("mapper", f"no tile size of this kernel fits one SM of {gpu.id}.")
    return min(timed)[2]


@lru_cache(maxsize=16384)
def matmul_kernel(impl: str, m: int, n: int, k: int, w: float, a: float, bits: int, gpu: GpuParams) -> Kernel:
    """The kernel of ``impl`` (gemv | flat-gemm | gemm) for this shape, tile size chosen by the model."""
    if impl == "gemv":
        return gemv_kernel(m, n, k, w, a, gpu)
    if impl == "flat-gemm":
        return _best([partial(flat_gemm_kernel, m, n, k, w, a, bits, gpu, bn) for bn in FLAT_BN], gpu)
    if impl == "gemm":
        return _best([partial(gemm_kernel, m, n, k, w, a, bits, gpu, bm, bn) for bm, bn in GEMM_TILES], gpu)
    raise InputError("mapper", f"unknown GPU matmul implementation '{impl}'.")


@lru_cache(maxsize=4096)
def thresholds(n: int, k: int, w: float, a: float, bits: int, gpu: GpuParams) -> tuple[float, float]:
    """FlashDecoding++'s (M1, M2) for one [N, K] shape: the first M where flat GEMM beats GEMV, and
    the first M >= M1 where conventional GEMM beats flat GEMM (``inf`` = never below M_MAX)."""

    def t(impl: str, m: int) -> float:
        try:
            return kernel_time(matmul_kernel(impl, m, n, k, w, a, bits, gpu), gpu).time_s
        except InputError:  # no tile of this implementation fits an SM at this M
            return math.inf

    m1 = next((m for m in range(1, M_MAX + 1) if t("flat-gemm", m) < t("gemv", m)), math.inf)
    start = 1 if math.isinf(m1) else int(m1)
    m2 = next((m for m in range(start, M_MAX + 1) if t("gemm", m) < t("flat-gemm", m)), math.inf)
    return m1, m2


def select_impl(m: int, n: int, k: int, w: float, a: float, bits: int, gpu: GpuParams) -> str:
    """The heuristic dataflow: GEMV below M1, flat GEMM below M2, conventional GEMM above."""
    m1, m2 = thresholds(n, k, w, a, bits, gpu)
    if m < m1:
        return "gemv"
    if m < m2:
        return "flat-gemm"
    return "gemm"


@lru_cache(maxsize=4096)
def decode_attention_kernels(groups: int, q_per_group: int, kv_len: int, d: int, a: float, kv: float,
                             gpu: GpuParams) -> tuple[Kernel, ...]:
    """FlashDecoding: each (batch, KV head) splits its KV length into chunks, one tile per chunk,
    so even batch 1 fills the GPU; a second kernel reduces the partial softmax results."""
    threads = 128
    blocks = occupancy(gpu, threads, 0)
    splits = max(1, min(math.ceil(kv_len / 128), math.ceil(gpu.n_sm * blocks / groups)))
    chunk = math.ceil(kv_len / splits)
    kv_bytes = chunk * d * kv * 2
    tc = TileClass(
        count=groups * splits, steps=_steps(chunk / 64),
        hbm_bytes=kv_bytes + q_per_group * d * a + q_per_group * (d + 2) * 4,
        l2_bytes=kv_bytes + q_per_group * d * a,
        flops=4.0 * q_per_group * chunk * d + 5.0 * q_per_group * chunk, unit="cuda",
        inflight_bytes=threads * 16 * 4,
    )
    main = Kernel("attention", f"flash-decoding x{splits}", (tc,), blocks, gpu.cuda_fp32_ops,
                  (("splits", splits), ("tiles", tc.count)))
    if splits == 1:
        return (main,)
    partial = groups * q_per_group * splits * (d + 2) * 4
    return (main, stream_kernel(partial + groups * q_per_group * d * a, groups * q_per_group * splits * d * 2.0,
                                gpu, "attention-reduce"))


FA_BLOCKS = ((128, 64), (64, 64), (64, 32), (32, 32))  # (queries, keys) per tile, largest that fits first


@lru_cache(maxsize=4096)
def prefill_attention_kernel(batch_heads: int, kv_groups: int, tokens: int, kv_len: int, d: int, a: float,
                             kv: float, bits: int, gpu: GpuParams) -> Kernel:
    """FlashAttention-2, causal: query block i visits the key blocks up to its diagonal.

    Tiles are 128 queries x 64 keys (FA-2's choice for d = 128 on A100), smaller where shared memory
    is smaller. Softmax runs on CUDA cores; its 5 OPs per score are charged in tensor-equivalent OPs
    so the tile's compute time includes them. K/V come from HBM once per KV head (L2 serves the rest).
    """
    threads = 128
    for br, bc in FA_BLOCKS:
        smem = br * d * a + 2 * bc * d * kv * 2  # Q tile + double-buffered K and V tiles
        if smem <= gpu.smem_per_sm:
            break
    else:
        raise InputError("mapper", f"no FlashAttention tile of head dim {d} fits the shared memory of {gpu.id}.")
    _, peak = gpu.tensor_peak(bits)
    softmax_weight = peak / gpu.vector_ops
    offset = kv_len - tokens  # cached prefix (chunked prefill); 0 for a plain prompt
    n_q = math.ceil(tokens / br)
    kv_hbm_total = kv_groups * kv_len * d * kv * 2
    classes = []
    for i in reversed(range(n_q)):  # heaviest first, as FA-2's causal scheduler does
        rows = min(br, tokens - i * br)
        n_kv = math.ceil(min(kv_len, offset + i * br + rows) / bc)
        classes.append(TileClass(
            count=batch_heads, steps=_steps(n_kv),
            hbm_bytes=2 * rows * d * a + kv_hbm_total / (batch_heads * n_q),
            l2_bytes=n_kv * bc * d * kv * 2 + 2 * rows * d * a,
            flops=n_kv * (4.0 * rows * bc * d + 5.0 * rows * bc * softmax_weight), unit="tensor",
            inflight_bytes=bc * d * kv * 2,
        ))
    return Kernel("attention", f"flash-attention-2 {br}x{bc}", tuple(classes), occupancy(gpu, threads, smem, 128),
                  peak, (("query_blocks", n_q), ("tiles", n_q * batch_heads)))


@lru_cache(maxsize=16384)
def stream_kernel(nbytes: float, flops: float, gpu: GpuParams, name: str = "elementwise") -> Kernel:
    """A memory-streaming kernel (norms, adds, activations, softmax, gathers): 16 KB per tile."""
    threads, per_tile = 256, 16384.0
    tiles = max(1, math.ceil(nbytes / per_tile))
    tc = TileClass(count=tiles, steps=1, hbm_bytes=nbytes / tiles, l2_bytes=nbytes / tiles,
                   flops=flops / tiles, unit="cuda", inflight_bytes=per_tile, double_buffer=False)
    return Kernel(name, "stream", (tc,), occupancy(gpu, threads, 0, 32), gpu.vector_ops, (("tiles", tiles),))


def _group_ops(ops: list[Op], fuse: bool) -> list[list[Op]]:
    """Ops in execution order, grouped into kernels (fusion groups when ``fuse``)."""
    return fuse_ops(ops, FUSED_GROUPS) if fuse else [[op] for op in ops]


def _roofline_share(op: Op, gpu: GpuParams) -> float:
    return max(op.flops / dict(gpu.tensor_ops)["fp16"], op.bytes / gpu.hbm_Bps, 1e-12)


class GpuKernelMapper(Mapper):
    """Shared machinery of the GPU kernel mappers; subclasses fix how matmuls pick a kernel."""

    families = ("gpu",)
    engines = ("analytic", "sim")
    matmul_impl: str = "auto"
    fuse: bool = True

    def impl_for(self, m: int, n: int, k: int, w: float, a: float, bits: int, gpu: GpuParams) -> str:
        if self.matmul_impl == "auto":
            return select_impl(m, n, k, w, a, bits, gpu)
        return self.matmul_impl

    def kernels_for(self, group: list[Op], gpu: GpuParams) -> tuple[Kernel, ...]:
        """The kernel(s) that run one fused group of ops."""
        op = group[0]
        w, a, kv = op.w_bits / 8, op.a_bits / 8, op.kv_bits / 8
        if op.kind in ("matmul", "lm_head"):
            n = sum(o.n for o in group)
            bits = max(op.w_bits, op.a_bits)
            impl = self.impl_for(op.m, n, op.k, w, a, bits, gpu)
            return (matmul_kernel(impl, op.m, n, op.k, w, a, bits, gpu),)
        if op.kind == "attention":
            tokens, kv_len, d = op.m, op.n, op.k
            groups = max(op.kv_heads, 1)
            if tokens == 1:
                return decode_attention_kernels(groups, op.heads // groups, kv_len, d, a, kv, gpu)
            return (prefill_attention_kernel(op.heads, groups, tokens, kv_len, d, a, kv, max(op.a_bits, op.kv_bits),
                                             gpu),)
        return (stream_kernel(sum(o.bytes for o in group), sum(o.flops for o in group), gpu, op.name),)

    def plan(self, op: Op, hw: HardwareSpec, ctx: MapContext) -> Plan:
        gpu = gpu_params(hw)
        kernels = self.kernels_for([op], gpu)
        choices: dict[str, object] = {"kernel": " + ".join(k.impl for k in kernels)}
        for kern in kernels:
            choices.update(dict(kern.info))
            choices["blocks_per_sm"] = kern.blocks_per_sm
            choices["waves"] = waves_of(kern, gpu)
        if op.kind in ("matmul", "lm_head"):
            m1, m2 = thresholds(op.n, op.k, op.w_bits / 8, op.a_bits / 8, max(op.w_bits, op.a_bits), gpu)
            choices["m1"], choices["m2"] = m1, m2
        return Plan(self.name, op.name, choices)

    def cost(self, ops: list[Op], hw: HardwareSpec, ctx: MapContext) -> OpCosts:
        gpu = gpu_params(hw)
        sim = ctx.engine == "sim"
        if sim:
            from archsim.sim.gpu import simulate_sequence
        costs: dict[int, OpCost] = {}
        t_offset = 0.0
        for group in _group_ops(ops, self.fuse):
            kernels = self.kernels_for(group, gpu)
            if sim:
                times = simulate_sequence(list(kernels), gpu, ctx.trace, t_offset)
                bound = kernel_time(kernels[0], gpu).bound
            else:
                timed = [kernel_time(k, gpu) for k in kernels]
                times = [kt.time_s for kt in timed]
                bound = timed[0].bound
            total = sum(times)
            t_offset += total
            label = " + ".join(k.impl for k in kernels)
            shares = [_roofline_share(op, gpu) for op in group]
            weight = sum(shares)
            for op, share in zip(group, shares, strict=True):
                t = total * share / weight
                costs[id(op)] = OpCost(op, t, energy_j(op.flops, op.bytes, t, hw), bound, "fp16", 0.0, label)
        return OpCosts.of([costs[id(op)] for op in ops])


@register()
class AutoMapper(GpuKernelMapper):
    name = "auto"
    matmul_impl = "auto"
    description = "FlashDecoding++ heuristic dataflow: GEMV / flat GEMM / GEMM by the model's M1, M2"


@register()
class GemvMapper(GpuKernelMapper):
    name = "gemv"
    matmul_impl = "gemv"
    description = "every matmul as a CUDA-core GEMV (FastGEMV style)"


@register()
class FlatGemmMapper(GpuKernelMapper):
    name = "flat-gemm"
    matmul_impl = "flat-gemm"
    description = "every matmul as a flat GEMM (M padded to 8, double buffered)"


@register(default_for=("gpu",))
class GemmMapper(GpuKernelMapper):
    """The GPU default: the static cuBLAS-style dataflow that serving frameworks (vLLM, SGLang, HF)
    run for every linear layer, batch 1 included; FlashDecoding++ measures its losses against it."""

    name = "gemm"
    matmul_impl = "gemm"
    description = "every matmul as a conventional tensor-core GEMM (cuBLAS/CUTLASS style; the GPU default)"
