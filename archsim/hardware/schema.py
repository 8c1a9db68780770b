"""Pydantic schema of a hardware description (one YAML file per device).

Every number is a ``Sourced`` pair ``{value: ..., source: "..."}`` so a reader can check where it
came from: ``datasheet: ...``, ``paper: ...``, ``derived: ...`` or ``assumption: ...`` (with the
reason). Family-specific blocks (gpu, mesh, cpu, pim, fpga) are typed
sub-models. The schema holds data only, never formulas.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DTYPES = ("fp32", "tf32", "fp16", "bf16", "fp8", "int8", "int4")
FAMILIES = ("gpu", "mesh", "fpga", "pim", "cpu")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Sourced(_Strict):
    """A number with the source it comes from."""

    value: float = Field(ge=0)
    source: str = Field(min_length=3)

    @field_validator("value", mode="before")
    @classmethod
    def _yaml_floats(cls, v: object) -> object:
        # YAML 1.1 reads "312e12" (no dot) as a string; accept it as the number it is.
        if isinstance(v, str):
            try:
                return float(v)
            except ValueError:
                return v
        return v


class PositiveSourced(Sourced):
    value: float = Field(gt=0)


class Memory(_Strict):
    """Off-chip memory: capacity and peak bandwidth."""

    capacity_bytes: PositiveSourced
    bandwidth_Bps: PositiveSourced


class Power(_Strict):
    """Board power. ``tdp_w`` is used for energy where no per-op energy model is given."""

    tdp_w: PositiveSourced
    idle_w: Sourced | None = None


class EnergyModel(_Strict):
    """Per-action energy (Timeloop style: action counts x energy per action) plus static power."""

    pj_per_flop: Sourced
    pj_per_byte_dram: Sourced
    static_w: Sourced


class Fraction(Sourced):
    value: float = Field(gt=0, le=1)


class GpuBlock(_Strict):
    """GPU specifics used by the roofline and the kernel-level GPU model (``mappers/gpu.py``).

    The kernel model needs the SM resources that set occupancy (shared memory, registers, threads,
    blocks), the L2 path that feeds each SM, the achievable fractions of the HBM and tensor-core
    peaks, the DRAM latency (Little's law: a tile's bandwidth is at most its bytes in flight over
    the latency) and the gap between dependent kernel launches.
    """

    sm_count: PositiveSourced
    vector_fp16_ops: PositiveSourced | None = None  # CUDA-core (non-tensor) FP16 rate, OP/s
    smem_per_sm_bytes: PositiveSourced | None = None
    regs_per_sm: PositiveSourced | None = None
    max_threads_per_sm: PositiveSourced | None = None
    max_blocks_per_sm: PositiveSourced | None = None
    l2_bytes: PositiveSourced | None = None
    l2_bandwidth_Bps: PositiveSourced | None = None
    hbm_efficiency: Fraction | None = None
    tensor_efficiency: Fraction | None = None
    dram_latency_s: PositiveSourced | None = None
    kernel_launch_s: Sourced | None = None
    sparse_patterns: list[str] = Field(default_factory=list)  # e.g. ["2:4"] for Ampere+ tensor cores


class MeshBlock(_Strict):
    """Wafer-scale mesh specifics (PLMR: Parallelism, Latency, Memory, Routing; WaferLLM sec. 2-3)."""

    fabric_cols: PositiveSourced  # cores usable by kernels along X
    fabric_rows: PositiveSourced  # along Y
    max_square: PositiveSourced  # largest P x P kernel rectangle
    sram_per_core_bytes: PositiveSourced
    sram_reserve_bytes: Sourced
    macs_per_cycle_gemv: PositiveSourced  # c_gemv: effective fp16 MAC/cycle/core in GEMV loops
    macs_per_cycle_gemm: PositiveSourced  # c_gemm: in MeshGEMM rank-1 update loops
    link_elems_per_cycle: PositiveSourced  # lambda: fp16 elements per cycle per link direction
    hop_latency_cycles: PositiveSourced  # alpha: per hop on a pre-configured route
    relay_cycles: PositiveSourced  # beta: per software relay stage
    route_budget: PositiveSourced  # routable colours per core
    step_overhead_cycles: Sourced  # t_step: barrier, task switch, vector set-up per kernel step
    elementwise_cycles_per_elem: Sourced | None = None


class CpuBlock(_Strict):
    """CPU specifics for LUT-GEMV (T-MAC) and dequantize-then-FMA (llama.cpp) kernels (spec lut_pim.md sec. 4)."""

    cores: PositiveSourced
    simd_pipes: PositiveSourced  # n_pipe: 128-bit SIMD pipes per core
    lut_ops_per_16: PositiveSourced  # o_lut: vector ops per 16 table lookups
    build_cycles_per_elem: Sourced  # kappa_build: table build + quantize per activation element
    core_bandwidth_Bps: PositiveSourced  # one core's achievable DRAM bandwidth
    dequant_weights_per_cycle: dict[str, PositiveSourced]  # R_dq per weight format (q2_k, q3_k, q4_0, fp16)
    serial_fraction_lut: Fraction  # phi: non-parallel share of a T-MAC token (Amdahl)
    serial_fraction_dense: Fraction
    l2_bytes: PositiveSourced | None = None


class PimBlock(_Strict):
    """SRAM processing-in-memory in the last-level cache (SAIL-style, spec lut_pim.md sec. 5).
    SAIL publishes none of these: every value is an assumption with its reason."""

    array_wordlines: PositiveSourced
    array_bitlines: PositiveSourced
    llc_slices: PositiveSourced
    slice_bytes: PositiveSourced
    ways: PositiveSourced
    pim_ways: PositiveSourced
    htree_leaf_bytes_per_cycle: PositiveSourced
    pim_clock_hz: PositiveSourced
    lookup_group: PositiveSourced  # g
    act_bits: PositiveSourced  # b_a
    jit_cycles_per_command: Sourced
    build_cycles_per_entry: Sourced  # kappa_build
    energy_pj_per_bit_read: Sourced
    energy_pj_per_bit_write: Sourced
    energy_pj_per_bit_dram: Sourced
    area_overhead: Fraction


class LutVqBlock(_Strict):
    """LUT-LLM table-lookup engine on an FPGA (spec lut_pim.md sec. 6.2): centroid search units, the 2D-PSum
    chain and the vector-quantization format it serves."""

    subvector: PositiveSourced  # v
    act_centroids: PositiveSourced  # c_a
    weight_centroids: PositiveSourced  # c_w
    codebook_group: PositiveSourced  # G vectors share a codebook
    search_units: PositiveSourced  # BPCSU units, one sub-vector each per cycle
    search_depth_cycles: Sourced  # pipeline depth of one search unit
    psum_stages: PositiveSourced  # 2D-PSum chain stages
    stage_width: PositiveSourced  # W_stage: lookups per stage per cycle
    dequant_lanes: PositiveSourced  # int -> fp32 outputs per cycle
    attention_macs_per_cycle: PositiveSourced  # FP32 DSP MACs for RoPE, QK^T, AV (spatial dataflow)
    misc_lanes: PositiveSourced  # elements per cycle of RMSNorm / SiLU / softmax units


class FpgaBlock(_Strict):
    """FPGA fabric, HBM channels and the FlightLLM-style accelerator built on it (spec fpga_sparse_dsp.md
    sec. 2, 3, 11, 12). The MAC rate is not typed in: it is the number of sparse DSP chains that fit
    ``dsp_budget`` times the chain's MACs (``archsim.analytic.fpga``)."""

    dsp_type: str
    dsp_total: PositiveSourced
    dsp_budget: PositiveSourced  # DSPs the accelerator may use (the design's placed count)
    luts: PositiveSourced
    bram36: Sourced
    uram: Sourced
    cores: PositiveSourced  # one computing core per SLR / die
    chain_dsps: PositiveSourced  # D_c: DSPs per CSD-Chain (one VPU)
    dsp_group: PositiveSourced  # DSPs hard-cascaded per group
    macs_per_dsp: PositiveSourced  # INT8 MACs per DSP (packed, shared weight)
    mv_mac_fraction: Fraction  # share of the chain MACs MV (decode) mode keeps busy
    mm_tile_m: PositiveSourced  # tokens per MM instruction tile
    mv_tile_n: PositiveSourced  # output columns per MV instruction tile
    misc_lanes: PositiveSourced  # SFU elements per cycle
    hbm_channels: PositiveSourced
    channel_bandwidth_Bps: PositiveSourced
    channel_efficiency: Fraction  # a channel's sustained share of its peak, same-channel access
    cross_channel_efficiency: Fraction
    weight_channels: PositiveSourced  # channels one weight load is spread over
    kv_channels: PositiveSourced  # channels one KV / activation load is spread over
    access_overhead_s: Sourced  # t_ovh: fixed cost of one dependent HBM access (request to first data)
    buffer_tiles: PositiveSourced  # weight tiles the weight buffer holds (2 = double buffering)
    time_divisor: PositiveSourced  # the VHK158 artifact divides every duration by 3.2; 1 on real boards
    lut_vq: LutVqBlock | None = None


class HardwareSpec(_Strict):
    """One device. ``peaks_ops`` are dense peaks in OP/s (a MAC = 2 OPs) per dtype."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.\-]*$")
    name: str
    family: Literal["gpu", "mesh", "fpga", "pim", "cpu"]
    aliases: list[str] = Field(default_factory=list)
    clock_hz: PositiveSourced | None = None
    peaks_ops: dict[str, PositiveSourced]
    memory: Memory
    onchip_buffer_bytes: PositiveSourced
    power: Power
    energy: EnergyModel | None = None
    price_usd: PositiveSourced
    amortization_years: PositiveSourced | None = None
    gpu: GpuBlock | None = None
    mesh: MeshBlock | None = None
    cpu: CpuBlock | None = None
    pim: PimBlock | None = None
    fpga: FpgaBlock | None = None
    assumptions: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    @field_validator("peaks_ops")
    @classmethod
    def _known_dtypes(cls, peaks: dict[str, PositiveSourced]) -> dict[str, PositiveSourced]:
        unknown = sorted(set(peaks) - set(DTYPES))
        if unknown:
            raise ValueError(f"unknown dtype {unknown[0]!r}; allowed: {', '.join(DTYPES)}")
        if "fp16" not in peaks:
            raise ValueError("an 'fp16' peak is required (the reference precision)")
        return peaks

    @model_validator(mode="after")
    def _family_block(self) -> HardwareSpec:
        if self.family == "gpu" and self.gpu is None:
            raise ValueError("a gpu-family device needs a 'gpu' block (sm_count at least)")
        if self.family == "mesh" and self.mesh is None:
            raise ValueError("a mesh-family device needs a 'mesh' block")
        if self.family in ("cpu", "pim") and self.cpu is None:
            raise ValueError(f"a {self.family}-family device needs a 'cpu' block")
        if self.family == "fpga" and self.fpga is None:
            raise ValueError("an fpga-family device needs an 'fpga' block")
        if self.family == "pim" and self.pim is None:
            raise ValueError("a pim-family device needs a 'pim' block")
        return self

    def peak(self, dtype: str) -> float | None:
        """Dense peak in OP/s for ``dtype``, or None when the device does not list it."""
        entry = self.peaks_ops.get(dtype)
        return entry.value if entry is not None else None

    @property
    def bandwidth_Bps(self) -> float:
        return self.memory.bandwidth_Bps.value

    @property
    def capacity_bytes(self) -> float:
        return self.memory.capacity_bytes.value
