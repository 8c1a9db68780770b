"""CPU GEMV timing: T-MAC LUT-GEMV and the dequantize-then-FMA baseline (llama.cpp), spec lut_pim.md sec. 4.

``T_tmac = T_build + max(T_lut, T_mem)``: tables are built per token (``K * kappa / f``), lookups run at
``R_lut = n_pipe * 16 / o_lut`` per cycle (``b*M*K/g`` lookups, linear in the weight bits), and the
``b``-bit weights stream from DRAM at one core's achievable bandwidth. The dense baseline decodes
``R_dq[format]`` weights per cycle whatever the bit width (llama.cpp's flat curve). Threads follow
Amdahl with a non-parallel fraction ``phi``, floored by the system bandwidth (spec 4.3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from archsim.errors import InputError
from archsim.hardware.schema import HardwareSpec

# llama.cpp format for each weight width (T-MAC compares b-bit against Q2_K / Q3_K / Q4_0; spec 4.2).
DENSE_FORMATS = {1: "q2_k", 2: "q2_k", 3: "q3_k", 4: "q4_0"}
LOOKUP_GROUP = 4  # g: weights per table index (T-MAC)
WEIGHT_GROUP = 128  # gs: weights per scale
SCALE_BYTES = 2  # fp16 scale per group


@dataclass(frozen=True, slots=True)
class CpuParams:
    """The numbers of a CPU preset the LUT/dense kernel models use."""

    id: str
    f: float
    cores: int
    n_pipe: float
    o_lut: float
    kappa_build: float
    bw_core: float
    bw_sys: float
    r_dq: tuple[tuple[str, float], ...]
    phi_lut: float
    phi_dense: float

    @property
    def r_lut(self) -> float:
        """Table lookups per cycle per core: 16 per 128-bit pipe per ``o_lut`` vector ops."""
        return self.n_pipe * 16 / self.o_lut

    def dequant_rate(self, fmt: str) -> float:
        return dict(self.r_dq)[fmt]


def cpu_params(hw: HardwareSpec) -> CpuParams:
    """Resolve the CPU block of a preset; ``InputError`` if the device has none."""
    c = hw.cpu
    if c is None or hw.clock_hz is None:
        raise InputError("hw", f"'{hw.id}' is a {hw.family}, not a CPU (needs a cpu block and clock).")
    return CpuParams(
        id=hw.id, f=hw.clock_hz.value, cores=int(c.cores.value), n_pipe=c.simd_pipes.value,
        o_lut=c.lut_ops_per_16.value, kappa_build=c.build_cycles_per_elem.value,
        bw_core=c.core_bandwidth_Bps.value, bw_sys=hw.memory.bandwidth_Bps.value,
        r_dq=tuple((k, v.value) for k, v in c.dequant_weights_per_cycle.items()),
        phi_lut=c.serial_fraction_lut.value, phi_dense=c.serial_fraction_dense.value,
    )


def weight_bytes(m: int, k: int, bits: int) -> float:
    """Bytes of a b-bit weight matrix with one fp16 scale per group of 128 (spec 4.1 T_mem)."""
    return bits * m * k / 8 + SCALE_BYTES * m * k / WEIGHT_GROUP


def tmac_time(cp: CpuParams, m: int, k: int, bits: int, tokens: int = 1) -> tuple[float, str]:
    """One-core T-MAC LUT-GEMV time (s) of ``[tokens, K] x [K, M]`` at ``bits``, and its bound."""
    if k % LOOKUP_GROUP:
        raise InputError("k", f"k must be a multiple of {LOOKUP_GROUP} for LUT-GEMV, got {k}.")
    build = tokens * k * cp.kappa_build / cp.f
    lut = tokens * bits * m * k / (LOOKUP_GROUP * cp.r_lut * cp.f)
    mem = weight_bytes(m, k, bits) / cp.bw_core
    return build + max(lut, mem), ("compute" if lut >= mem else "memory")


def dense_time(cp: CpuParams, m: int, k: int, bits: int, tokens: int = 1) -> tuple[float, str]:
    """One-core dequantize-then-FMA GEMV time (llama.cpp's k-quants): flat in the bit width."""
    if bits > 4:  # float weights: a preset may list its own rate per width (the host preset has fp32)
        fmt = f"fp{bits}" if f"fp{bits}" in dict(cp.r_dq) else "fp16"
    else:
        fmt = DENSE_FORMATS[bits]
    compute = tokens * m * k / (cp.dequant_rate(fmt) * cp.f)
    mem = (weight_bytes(m, k, bits) if bits <= 4 else m * k * bits / 8) / cp.bw_core
    return max(compute, mem), ("compute" if compute >= mem else "memory")


def threaded(cp: CpuParams, t_one: float, total_bytes: float, threads: int, phi: float) -> float:
    """Amdahl with non-parallel fraction ``phi``, floored by the system bandwidth (spec 4.3)."""
    n = max(1, min(threads, cp.cores))
    return max(t_one * (phi + (1 - phi) / n), total_bytes / cp.bw_sys)


def threads_or_default(cp: CpuParams, threads: int | None) -> int:
    """``--threads`` (1..cores) or all cores; ``InputError`` beyond the core count."""
    if threads is None:
        return cp.cores
    if threads > cp.cores:
        raise InputError("threads", f"threads must be at most {cp.cores} on {cp.id}, got {threads}.")
    return threads


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def log2_ceil(x: int) -> int:
    return math.ceil(math.log2(x)) if x > 1 else 0
