"""LUT-LLM on an FPGA (spec lut_pim.md sec. 6): vector-quantized weights and activations, 2D table lookups.

A linear layer of ``D`` inputs x ``M`` outputs is one *round* of the time-shared LUTLinear engine (spec 6.3)::

    T_mem   = ( 4*M*D*c_w/(G*v) + M*D*log2(c_w)/(8*v) ) / C          paper formula, C = HBM bytes per cycle
    T_round = max(T_mem, (D/v)*M / R, T_search) + T_build(policy) + T_dequant
    R = psum_stages * stage_width lookups/cycle,  T_search = ceil((D/v)/search_units) + search_depth_cycles,
    T_dequant = ceil(M / dequant_lanes)

with ``N_tok`` tokens sharing one pass (batch B in decode, B*T in prefill): lookups, search and dequant scale by
``N_tok``; weight and table bytes do not (the tables of a pass serve every token of it). Table policies (spec 6.1,
[assumption]): ``build_full`` builds all ``c_a*c_w`` entries of each of the ``N_tab = D*M/(v*G)`` tables once per
pass (``c_a*c_w*v`` FP32 MACs per table); ``build_row`` builds only the rows the tokens select (``c_w*v`` MACs per
table per distinct row, at most ``c_a`` rows, so never more than ``build_full``); ``stream`` reads precomputed
int8 tables (``c_a*c_w`` bytes per table per pass, added to ``T_mem``).

Modelling choices (stated, not published):

* ``C`` is the preset's HBM bandwidth x ``fpga.channel_efficiency`` (0.7 on the V80, FlightLLM's same-channel
  efficiency) over the design clock. The spec 6.3 worked example (>= 0.54 ms/token) is the peak-bandwidth bound.
* Table builds run on the FP32 DSP MACs of the attention dataflow (``lut_vq.attention_macs_per_cycle``): in a
  LUTLinear round the attention stage waits on its input, so its DSPs are free; the reference design places
  only 2,290 DSPFP32 in total (utilisation report), so the whole DSP58 array is not available to them.
* Attention (RoPE, QK^T, AV) runs in FP32 on the same MACs, overlapped with the KV-cache stream from HBM
  (``max(MACs / rate, bytes / bandwidth)``); softmax, RMSNorm, SiLU and residual adds take one element per lane
  per cycle on ``lut_vq.misc_lanes``. Activations stay on chip.

Every function returns seconds unless its name says cycles or bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from archsim.errors import InputError
from archsim.hardware.schema import HardwareSpec

TABLE_POLICIES = ("build_full", "build_row", "stream")
TABLE_ENTRY_BYTES = 1  # int8 table entries (spec 6.1)
CODEBOOK_ENTRY_BYTES = 4  # fp32 weight centroids (the paper's 4 in T_mem)


@dataclass(frozen=True, slots=True)
class LutVqParams:
    """The numbers of a preset's ``fpga.lut_vq`` block and HBM that the LUT-LLM model uses."""

    id: str
    f: float  # design clock, Hz
    v: int  # sub-vector length
    c_a: int  # activation centroids
    c_w: int  # weight centroids
    group: int  # G: weight vectors sharing a codebook
    search_units: int
    search_depth: float  # cycles
    psum_stages: int
    stage_width: int
    dequant_lanes: int
    attn_macs: float  # FP32 MACs per cycle (attention dataflow; table builds too)
    misc_lanes: int
    bw_peak: float  # B/s, the preset's HBM bandwidth
    channel_efficiency: float
    bw: float  # B/s sustained = bw_peak * channel_efficiency

    @property
    def lookups_per_cycle(self) -> int:
        """R = psum_stages x stage_width."""
        return self.psum_stages * self.stage_width

    @property
    def bytes_per_cycle(self) -> float:
        """C: sustained off-chip bytes per cycle."""
        return self.bw / self.f

    def seconds(self, cycles: float) -> float:
        return cycles / self.f


def lutvq_params(hw: HardwareSpec) -> LutVqParams:
    """Resolve a preset's LUT-LLM engine; ``InputError`` naming ``fpga.lut_vq`` when it has none."""
    fp = hw.fpga
    if fp is None or fp.lut_vq is None or hw.clock_hz is None:
        raise InputError("fpga.lut_vq", f"hw '{hw.id}' has no fpga.lut_vq block (LUT-LLM engine).")
    q = fp.lut_vq
    eff = fp.channel_efficiency.value
    bw_peak = hw.memory.bandwidth_Bps.value
    return LutVqParams(
        id=hw.id, f=hw.clock_hz.value, v=int(q.subvector.value), c_a=int(q.act_centroids.value),
        c_w=int(q.weight_centroids.value), group=int(q.codebook_group.value), search_units=int(q.search_units.value),
        search_depth=float(q.search_depth_cycles.value), psum_stages=int(q.psum_stages.value),
        stage_width=int(q.stage_width.value), dequant_lanes=int(q.dequant_lanes.value),
        attn_macs=float(q.attention_macs_per_cycle.value), misc_lanes=int(q.misc_lanes.value), bw_peak=bw_peak,
        channel_efficiency=eff, bw=bw_peak * eff,
    )


# --- storage (spec 6.3) ---------------------------------------------------------------------------------------


def bits_per_weight(v: int = 2, c_w: int = 16, group: int = 512) -> float:
    """Off-chip bits per weight, paper form: ``32*c_w/(G*v)`` codebook + ``log2(c_w)/v`` index (2.5 at defaults)."""
    return 8.0 * CODEBOOK_ENTRY_BYTES * c_w / (group * v) + math.log2(c_w) / v


def weight_bytes(D: float, M: float, v: int = 2, c_w: int = 16, group: int = 512) -> float:
    """Bytes of one D x M layer in HBM: ``4*M*D*c_w/(G*v) + M*D*log2(c_w)/(8*v)`` (spec 6.3)."""
    return CODEBOOK_ENTRY_BYTES * M * D * c_w / (group * v) + M * D * math.log2(c_w) / (8 * v)


def table_count(D: float, M: float, v: int = 2, group: int = 512) -> float:
    """N_tab = D*M/(v*G): one table per (activation codebook, weight codebook) pair of the layer."""
    return D * M / (v * group)


def t_mem_bytes(D: float, M: float, p: LutVqParams, table_policy: str = "build_full") -> float:
    """HBM bytes of one layer pass: weights (codebooks + indices), plus the int8 tables under ``stream``."""
    nbytes = weight_bytes(D, M, p.v, p.c_w, p.group)
    if table_policy == "stream":
        nbytes += table_count(D, M, p.v, p.group) * p.c_a * p.c_w * TABLE_ENTRY_BYTES
    return nbytes


def build_macs(D: float, M: float, p: LutVqParams, table_policy: str, tokens: int = 1) -> float:
    """FP32 MACs building the tables of one pass shared by ``tokens`` tokens (spec 6.1 ``table_policy``)."""
    if table_policy not in TABLE_POLICIES:
        raise InputError("table_policy", f"table_policy must be one of {', '.join(TABLE_POLICIES)}, "
                                         f"got '{table_policy}'.")
    n_tab = table_count(D, M, p.v, p.group)
    if table_policy == "build_full":
        return n_tab * p.c_a * p.c_w * p.v
    if table_policy == "build_row":  # one activation row per distinct index a table sees, at most c_a
        return n_tab * p.c_w * p.v * min(tokens, p.c_a)
    return 0.0


# --- one LUTLinear round (spec 6.3) --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoundTime:
    """The terms of ``T_round`` in seconds, and the HBM bytes the round reads or writes."""

    t_mem: float
    t_lookup: float
    t_search: float
    t_build: float
    t_dequant: float
    hbm_bytes: float

    @property
    def total(self) -> float:
        return max(self.t_mem, self.t_lookup, self.t_search) + self.t_build + self.t_dequant

    @property
    def bound(self) -> str:
        """The largest term: ``memory``, ``lookup``, ``search``, ``build`` or ``dequant``."""
        terms = {"memory": self.t_mem, "lookup": self.t_lookup, "search": self.t_search, "build": self.t_build,
                 "dequant": self.t_dequant}
        return max(terms, key=terms.__getitem__)  # ties: the first listed


def lut_round(p: LutVqParams, D: int, M: int, tokens: int = 1, table_policy: str = "build_full",
              extra_bytes: float = 0.0) -> RoundTime:
    """``T_round`` of a D x M layer for ``tokens`` tokens sharing one pass; ``extra_bytes`` are other HBM
    traffic of the round (the K/V the round writes to the cache)."""
    if D % p.v:
        raise InputError("model", f"LUT-LLM cuts inputs into sub-vectors of {p.v}; D = {D} is not a multiple.")
    nbytes = t_mem_bytes(D, M, p, table_policy) + extra_bytes
    subvectors = tokens * D // p.v
    return RoundTime(
        t_mem=nbytes / p.bw,
        t_lookup=p.seconds(subvectors * M / p.lookups_per_cycle),
        t_search=p.seconds(math.ceil(subvectors / p.search_units) + p.search_depth),
        t_build=p.seconds(build_macs(D, M, p, table_policy, tokens) / p.attn_macs),
        t_dequant=p.seconds(math.ceil(tokens * M / p.dequant_lanes)),
        hbm_bytes=nbytes,
    )


# --- spatial dataflow: attention and element-wise units -----------------------------------------------------


def dsp_time(p: LutVqParams, macs: float, hbm_bytes: float = 0.0) -> float:
    """FP32 work on the attention DSPs overlapped with its HBM stream (KV cache, FP16 weights)."""
    return max(p.seconds(math.ceil(macs / p.attn_macs)), hbm_bytes / p.bw)


def misc_time(p: LutVqParams, elements: float) -> float:
    """Element-wise units (RMSNorm, SiLU, softmax, residual add): one element per lane per cycle."""
    return p.seconds(math.ceil(elements / p.misc_lanes))


__all__ = [
    "TABLE_POLICIES", "LutVqParams", "RoundTime", "bits_per_weight", "build_macs", "dsp_time", "lut_round",
    "lutvq_params", "misc_time", "t_mem_bytes", "table_count", "weight_bytes",
]
