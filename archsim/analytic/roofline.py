"""Per-operator roofline: time = max(OPs / peak, bytes / bandwidth), with bound and intensity.

Source: Williams et al., "Roofline" (CACM 2009); the per-node form and its LLM-Viewer quirks follow
``shared/specs/gpu_roofline.md`` sec. 1 and 4 (Q7 peak choice, Q10 efficiency and launch cost).
Pure functions on floats (or numpy arrays for the vectorized generation sum); no SimPy here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from archsim.errors import InputError
from archsim.hardware.schema import HardwareSpec
from models.workload import Op

MATMUL_KINDS = frozenset({"matmul", "lm_head"})
ATTENTION_KINDS = frozenset({"attention"})


@dataclass(frozen=True, slots=True)
class RooflineOptions:
    """Hardware-side roofline choices.

    ``peak_rule``: ``"llm-viewer"`` uses the INT8 peak for every node when weights, activations and
    KV are all <= 8 bits, else FP16 (quirk Q7); ``"per-op"`` (corrected) picks per node. The named
    efficiency factors derate peak compute and bandwidth (Q10; default 1.0 = the ideal roofline);
    ``t_launch_s`` adds a fixed cost per operator instance (default 0).
    """

    peak_rule: Literal["llm-viewer", "per-op"] = "per-op"
    eta_compute: float = 1.0
    eta_memory: float = 1.0
    t_launch_s: float = 0.0

    def __post_init__(self) -> None:
        for name in ("eta_compute", "eta_memory"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise InputError(name, f"{name} must be in (0, 1], got {value}.")
        if self.t_launch_s < 0:
            raise InputError("t_launch_s", f"t_launch_s must be >= 0, got {self.t_launch_s}.")
        if self.peak_rule not in ("llm-viewer", "per-op"):
            raise InputError("peak_rule", f"peak_rule must be 'llm-viewer' or 'per-op', got {self.peak_rule!r}.")


def select_peak(op: Op, hw: HardwareSpec, rule: str) -> tuple[str, float]:
    """The dtype whose peak an operator runs at, and that peak in OP/s.

    LLM-Viewer (Q7): INT8 for every node iff w, a and kv bits are all <= 8. Per-op (corrected):
    weight matmuls use INT4/INT8 when weights and activations fit, attention matmuls when
    activations and KV fit, element-wise ops the CUDA-core FP16 rate where the preset gives one;
    a matmul never runs below the FP16 tensor peak (V100 lists INT8 DP4A below FP16). A supported
    N:M pattern (e.g. 2:4 on Ampere tensor cores) raises a matmul's peak by M/N.
    """
    fp16 = hw.peaks_ops["fp16"].value
    if rule == "llm-viewer":
        int8 = hw.peak("int8")
        if int8 is not None and op.w_bits <= 8 and op.a_bits <= 8 and op.kv_bits <= 8:
            return "int8", int8
        return "fp16", fp16
    kind = op.kind
    if kind in MATMUL_KINDS:
        dtype, peak = _integer_peak(hw, max(op.w_bits, op.a_bits), fp16)
        sp = op.sparsity
        if sp is not None and hw.gpu is not None and f"{sp[0]}:{sp[1]}" in hw.gpu.sparse_patterns:
            return f"{dtype}-sparse", peak * sp[1] / sp[0]
        return dtype, peak
    if kind in ATTENTION_KINDS:
        return _integer_peak(hw, max(op.a_bits, op.kv_bits), fp16)
    vector = hw.gpu.vector_fp16_ops if hw.gpu is not None else None
    if vector is not None:
        return "vector-fp16", vector.value
    return "fp16", fp16


def _integer_peak(hw: HardwareSpec, bits: int, fp16: float) -> tuple[str, float]:
    for dtype, limit in (("int4", 4), ("int8", 8)):
        peak = hw.peak(dtype)
        if bits <= limit and peak is not None and peak > fp16:
            return dtype, peak
    return "fp16", fp16


def bound_of(flops: float, nbytes: float, peak: float, bandwidth: float) -> str:
    """``"memory"`` if the intensity is below the ridge ``peak / bandwidth``, else ``"compute"``
    (an intensity exactly at the ridge counts as compute, as in LLM-Viewer)."""
    if nbytes == 0:
        return "compute"
    return "memory" if flops / nbytes < peak / bandwidth else "compute"
