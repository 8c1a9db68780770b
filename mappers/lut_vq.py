"""``lut-vq``: LUT-LLM on an FPGA (spec lut_pim.md sec. 6; arXiv 2511.06174 on the AMD V80).

Weights and activations are vector-quantized (v = 2; 16 weight and 64 activation centroids; a codebook per 512
weight vectors, 2.5 bits per weight off chip), and every linear layer is a *round* of one time-shared LUTLinear
engine: centroid search, 2D-table lookups with integer accumulation, dequantization
(``archsim.analytic.lutllm``). Per decoder layer the engine runs 4 rounds (fused QKV, O, fused gate/up, down:
temporal); attention (RoPE, QK^T, AV in FP32 on DSPs), softmax, RMSNorm, SiLU and the residual adds are a
spatial dataflow beside it. At batch 1 every stage waits on the one before, so
``T_layer = sum of the 4 rounds + T_attn + T_misc`` and ``T_token = n_layers * T_layer + T_lmhead``.

Tokens that share a pass (decode batch B, prefill B x T) share its tables and weight bytes; lookups, search and
dequantization scale with them. The workload's ``--w-bits`` is not used by the linear layers (the VQ format fixes
the storage); ``--kv-bits`` sets the KV-cache bytes the attention streams.

The lm_head is not fixed by LUT-LLM's published material (its end-to-end latency counts the 28 decoder blocks
only). Assumption: it runs as a 5th LUTLinear round (``lm_head=lut``, default: an FP16 output layer of
Qwen3-1.7B's 151,936 x 2,048 would alone stream more bytes than all its VQ linears); ``lm_head=fp16`` streams it
in FP16 from HBM through the attention DSPs instead.

Options (``--mapper lut-vq:key=value``): ``table_policy=build_full|build_row|stream`` (default build_row),
``lm_head=lut|fp16``. Why build_row and not the spec's build_full (spec 6.1 leaves the schedule open): a token's
sub-vector at position s picks one activation centroid, so a table needs only that row, c_w * v MACs, and the
2D-PSum stage holds exactly one "row buffer picked by the activation index"; building all 64 rows per decode
token would cost 2 FP32 MACs per weight, twice a dense GEMV, which no LUT design would do; streaming
precomputed tables (``stream``) adds 1 byte per weight, which LUT-LLM's own T_mem formula does not contain.
"""

from __future__ import annotations

from dataclasses import dataclass

from archsim.analytic.energy import energy_j
from archsim.analytic.lutllm import (
    TABLE_POLICIES,
    LutVqParams,
    RoundTime,
    bits_per_weight,
    dsp_time,
    lut_round,
    lutvq_params,
    misc_time,
    table_count,
)
from archsim.errors import InputError
from archsim.hardware.schema import HardwareSpec
from archsim.result import OpCost, OpCosts
from mappers import register
from mappers.base import Check, MapContext, Mapper, Plan, fuse_ops
from models.workload import Op

LM_HEAD_MODES = ("lut", "fp16")
# LUT-LLM's rounds: QKV share the input and run as one round, as do gate and up (spec 6.2).
ROUNDS = (("q_proj", "k_proj", "v_proj"), ("gate_proj", "up_proj"))
ROUND_NAMES = {"q_proj": "qkv", "gate_proj": "gate/up"}
DSP_ELEMENTWISE = frozenset({"rope"})  # RoPE runs in FP32 on the attention DSPs
FP16_BYTES = 2
# The reference design's limits (spec 6.4): prompts up to 128 tokens, KV cache up to 256 entries.
PREFILL_LIMIT, KV_LIMIT = 128, 256
ASSUMPTIONS = (
    "HBM sustains fpga.channel_efficiency of its peak (C = bandwidth x efficiency / clock)",
    "table builds run on the attention dataflow's FP32 DSP MACs (lut_vq.attention_macs_per_cycle)",
    "lm_head is not published: a 5th LUTLinear round (lm_head=lut) or FP16 streamed through the DSPs (fp16)",
    "stages run one after another (batch-1 dependencies): T_layer = sum of rounds + T_attn + T_misc",
    "activations stay on chip; HBM carries VQ weights, streamed tables, the KV cache and an fp16 lm_head",
    "lut_vq.stage_width, search_depth_cycles, dequant_lanes, attention_macs_per_cycle are not published",
)


def _is_linear(op: Op) -> bool:
    return op.kind == "matmul"


@dataclass(slots=True)
class _Tally:
    """Per-step sums of the round terms (seconds over repeats) and HBM bytes."""

    t_mem: float = 0.0
    t_lookup: float = 0.0
    t_search: float = 0.0
    t_build: float = 0.0
    t_dequant: float = 0.0
    t_linear: float = 0.0
    t_attn: float = 0.0
    t_misc: float = 0.0
    hbm_bytes: float = 0.0

    def add_round(self, r: RoundTime, repeat: int) -> None:
        self.t_mem += r.t_mem * repeat
        self.t_lookup += r.t_lookup * repeat
        self.t_search += r.t_search * repeat
        self.t_build += r.t_build * repeat
        self.t_dequant += r.t_dequant * repeat
        self.t_linear += r.total * repeat
        self.hbm_bytes += r.hbm_bytes * repeat


@register()
class LutVqMapper(Mapper):
    name = "lut-vq"
    families = ("fpga",)
    description = "LUT-LLM: vector-quantized 2D table lookups, one time-shared LUTLinear engine (AMD V80)"

    def __init__(self, table_policy: str = "build_row", lm_head: str = "lut") -> None:
        self.table_policy = table_policy
        self.lm_head = lm_head

    def configure(self, **options: str) -> Mapper:
        policy, lm_head = self.table_policy, self.lm_head
        for key, value in options.items():
            if key == "table_policy":
                if value not in TABLE_POLICIES:
                    raise InputError("mapper", f"lut-vq table_policy must be one of {', '.join(TABLE_POLICIES)}, "
                                               f"got '{value}'.")
                policy = value
            elif key == "lm_head":
                if value not in LM_HEAD_MODES:
                    raise InputError("mapper", f"lut-vq lm_head must be one of {', '.join(LM_HEAD_MODES)}, "
                                               f"got '{value}'.")
                lm_head = value
            else:
                raise InputError("mapper", f"unknown lut-vq option '{key}'; options: table_policy, lm_head.")
        return LutVqMapper(policy, lm_head)

    def _on_engine(self, op: Op) -> bool:
        """Whether the LUTLinear engine runs ``op``."""
        return _is_linear(op) or (op.kind == "lm_head" and self.lm_head == "lut")

    @staticmethod
    def _check(op: Op, p: LutVqParams) -> None:
        if op.sparsity is not None and op.kind == "matmul":
            n, m = op.sparsity
            raise InputError("sparsity", f"LUT-LLM's vector-quantized weights have no N:M sparsity, got {n}:{m} "
                                         f"for {op.name}.")
        if op.kind in ("matmul", "lm_head") and op.k % p.v:
            raise InputError("model", f"LUT-LLM cuts inputs into sub-vectors of {p.v}; {op.name} has "
                                      f"{op.k} inputs.")

    def plan(self, op: Op, hw: HardwareSpec, ctx: MapContext) -> Plan:
        p = lutvq_params(hw)
        self._check(op, p)
        if self._on_engine(op):
            choices = {
                "unit": "LUTLinear", "table_policy": self.table_policy, "D": op.k, "M": op.n, "tokens": op.m,
                "tables": table_count(op.k, op.n, p.v, p.group), "lookups_per_cycle": p.lookups_per_cycle,
                "bits_per_weight": bits_per_weight(p.v, p.c_w, p.group),
            }
            whole = (op.k // p.v * op.n) % p.group == 0
            checks = (Check("codebook_groups", whole, f"{op.k // p.v} x {op.n} weight vectors in groups of "
                                                      f"{p.group}"),)
            return Plan(self.name, op.name, choices, checks)
        unit = ("attention DSP" if op.kind == "attention" or op.name in DSP_ELEMENTWISE or op.kind == "lm_head"
                else "HBM" if op.kind == "embedding" else "misc lanes")
        return Plan(self.name, op.name, {"unit": unit, "macs_per_cycle": p.attn_macs, "misc_lanes": p.misc_lanes})

    def cost(self, ops: list[Op], hw: HardwareSpec, ctx: MapContext) -> OpCosts:
        p = lutvq_params(hw)
        for op in ops:
            self._check(op, p)
        policy = self.table_policy
        tally = _Tally()
        times: dict[int, tuple[float, float, str, str]] = {}  # id(op) -> (seconds, HBM bytes, bound, kernel)
        rounds_per_layer = 0
        for group in fuse_ops(ops, ROUNDS, eligible=_is_linear):
            op0 = group[0]
            if self._on_engine(op0):
                M = sum(op.n for op in group)
                kv_out = sum(op.store_kv for op in group)
                r = lut_round(p, op0.k, M, op0.m, policy, kv_out)
                tally.add_round(r, op0.repeat)
                rounds_per_layer += op0.repeat > 1
                label = f"LUTLinear {ROUND_NAMES.get(op0.name, op0.name)} {policy} ({r.bound})"
                bound = "memory" if r.bound == "memory" else "compute"
                for op in group:  # a fused round's time and bytes split by output columns
                    share = op.n / M
                    times[id(op)] = (r.total * share, r.hbm_bytes * share, bound, label)
                continue
            for op in group:
                times[id(op)] = self._other(op, p, tally)
        rows = []
        for op in ops:
            t, nbytes, bound, label = times[id(op)]
            rows.append(OpCost(op, t, energy_j(op.flops, nbytes, t, hw), bound,
                               "int8" if self._on_engine(op) else "fp32", 0.0, label))
        out = OpCosts.of(rows)
        out.info = self._info(ops, p, tally, rounds_per_layer)
        return out

    def _other(self, op: Op, p: LutVqParams, tally: _Tally) -> tuple[float, float, str, str]:
        """Time, HBM bytes, bound and label of an op off the LUTLinear engine; adds it to ``tally``."""
        n = op.repeat
        if op.kind == "lm_head":  # lm_head=fp16: the FP16 matrix streams through the attention DSPs
            nbytes = op.k * op.n * FP16_BYTES
            macs = op.m * op.n * op.k
            t = dsp_time(p, macs, nbytes)
            tally.t_linear += t * n
            tally.hbm_bytes += nbytes * n
            return t, nbytes, "memory" if nbytes / p.bw >= t else "compute", "fp16 on attention DSPs"
        if op.kind == "attention" or op.name in DSP_ELEMENTWISE:
            nbytes = op.load_kv + op.store_kv
            t = dsp_time(p, op.flops / 2, nbytes)
            tally.t_attn += t * n
            tally.hbm_bytes += nbytes * n
            bound = "memory" if nbytes and nbytes / p.bw >= t else "compute"
            return t, nbytes, bound, "attention DSP fp32"
        if op.kind == "embedding":  # gather the token rows from HBM
            nbytes = op.load_weight
            t = nbytes / p.bw
            tally.t_misc += t * n
            tally.hbm_bytes += nbytes * n
            return t, nbytes, "memory", "HBM row gather"
        t = misc_time(p, op.m * op.n * op.heads)  # norms, softmax, SiLU, residual adds
        tally.t_misc += t * n
        return t, 0.0, "compute", f"misc x{p.misc_lanes}"

    def _info(self, ops: list[Op], p: LutVqParams, tally: _Tally, rounds_per_layer: int) -> dict:
        warnings = []
        attn = next((op for op in ops if op.kind == "attention"), None)
        if attn is not None:
            prefill = attn.m > 1
            if prefill and attn.m > PREFILL_LIMIT:
                warnings.append(f"prompt of {attn.m} tokens exceeds LUT-LLM's reference design limit "
                                f"({PREFILL_LIMIT}); the model extrapolates.")
            if attn.n > KV_LIMIT + (0 if prefill else 1):
                warnings.append(f"KV length {attn.n} exceeds LUT-LLM's reference design limit ({KV_LIMIT}); "
                                "the model extrapolates.")
        terms = {"memory": tally.t_mem, "lookup": tally.t_lookup, "search": tally.t_search, "build": tally.t_build,
                 "dequant": tally.t_dequant}
        linear_bound = max(terms, key=terms.__getitem__)  # the largest summed term of the rounds
        return {
            "table_policy": self.table_policy,
            "lm_head_mode": self.lm_head,
            "bits_per_weight": bits_per_weight(p.v, p.c_w, p.group),
            "linear_weight_bytes": sum(
                op.n * op.k * op.repeat * (bits_per_weight(p.v, p.c_w, p.group) / 8
                                           if op.kind == "matmul" or self.lm_head == "lut" else 2.0)
                for op in ops if op.kind in ("matmul", "lm_head")),
            "lookups_per_cycle": p.lookups_per_cycle,
            "hbm_bytes": tally.hbm_bytes,
            "hbm_bandwidth_Bps": p.bw,
            "channel_efficiency": p.channel_efficiency,
            "t_mem_s": tally.t_mem,
            "t_lookup_s": tally.t_lookup,
            "t_search_s": tally.t_search,
            "t_build_s": tally.t_build,
            "t_dequant_s": tally.t_dequant,
            "t_linear_s": tally.t_linear,
            "t_attn_s": tally.t_attn,
            "t_misc_s": tally.t_misc,
            "linear_bound": linear_bound,
            "lutllm_rounds_per_layer": rounds_per_layer,
            "table_build_macs_per_cycle": p.attn_macs,
            "assumptions": list(ASSUMPTIONS),
            "warnings": warnings,
        }


__all__ = ["LutVqMapper"]
