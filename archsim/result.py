"""Costs of operators and the result of evaluating a workload (the CLI's JSON contract)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from models.workload import Memory, Op


@dataclass(slots=True)
class OpCost:
    """The cost of one operator: per-instance time, energy and bound; ``op`` holds counts.

    ``total_*`` multiply by the op's ``repeat`` (layers). ``peak_dtype`` names the peak it ran at.
    """

    op: Op
    time_s: float
    energy_j: float
    bound: str
    peak_dtype: str
    peak_ops: float
    kernel: str = ""  # the kernel that ran it, for kernel-level mappers (e.g. "flat-gemm BN=128")

    @property
    def total_time_s(self) -> float:
        return self.time_s * self.op.repeat

    @property
    def total_flops(self) -> float:
        return self.op.flops * self.op.repeat

    @property
    def total_bytes(self) -> float:
        return self.op.bytes * self.op.repeat

    def as_dict(self) -> dict[str, Any]:
        """Row of the ``ops`` list in ``--format json`` (totals over repeats, plus per-instance time)."""
        op = self.op
        n = op.repeat
        return {
            "name": op.name,
            "kind": op.kind,
            "repeat": n,
            "m": op.m,
            "n": op.n,
            "k": op.k,
            "heads": op.heads,
            "flops": op.flops * n,
            "bytes": op.bytes * n,
            "load_weight": op.load_weight * n,
            "load_act": op.load_act * n,
            "store_act": op.store_act * n,
            "load_kv": op.load_kv * n,
            "store_kv": op.store_kv * n,
            "intensity": _finite(op.intensity),
            "bound": self.bound,
            "peak_dtype": self.peak_dtype,
            "kernel": self.kernel,
            "time_s": self.time_s * n,
            "time_per_instance_s": self.time_s,
            "energy_j": self.energy_j * n,
        }


class OpCosts(list[OpCost]):
    """Per-op costs (in op order) with their totals over repeats: ``time_s``, ``energy_j``,
    ``flops`` and ``bytes``. Mappers that accumulate totals while costing set them directly;
    ``OpCosts.of`` sums them for those that do not."""

    time_s: float = 0.0
    energy_j: float = 0.0
    flops: float = 0.0
    bytes: float = 0.0
    info: dict | None = None  # mapper-level facts for the result (grid, pipeline stages, warnings)

    @classmethod
    def of(cls, costs: list[OpCost]) -> OpCosts:
        out = cls(costs)
        for c in costs:
            op = c.op
            n = op.repeat
            out.time_s += c.time_s * n
            out.energy_j += c.energy_j * n
            out.flops += op.flops * n
            out.bytes += op.bytes * n
        return out


def _finite(x: float) -> float | None:
    return None if math.isinf(x) or math.isnan(x) else x


@dataclass(slots=True)
class Result:
    """Evaluation of one design point (a step, or prefill + G decode steps with ``gen``).

    ``latency_s``: prefill = time to first token; decode = one step; generation = end to end.
    ``tokens_per_s``: tokens this evaluation processes (prefill b*s, decode b, generation b*G)
    divided by ``latency_s``.
    """

    model: str
    hardware: str
    family: str
    phase: str
    engine: str
    mapper: str
    compat: str
    batch: int
    seq: int
    w_bits: int
    a_bits: int
    kv_bits: int
    sparsity: str | None
    latency_s: float
    tokens: float
    energy_j: float
    tokens_per_usd: float
    memory: Memory
    capacity_bytes: float
    flops: float
    bytes_moved: float
    ops: list[OpCost]
    gen: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.latency_s if self.latency_s > 0 else math.inf

    @property
    def energy_per_token_j(self) -> float:
        return self.energy_j / self.tokens

    @property
    def fits_memory(self) -> bool:
        return self.memory.total_bytes <= self.capacity_bytes

    def as_dict(self) -> dict[str, Any]:
        """The JSON object of DESIGN.md's CLI contract (plus breakdowns)."""
        mem = self.memory
        out: dict[str, Any] = {
            "model": self.model,
            "hardware": self.hardware,
            "family": self.family,
            "phase": self.phase,
            "engine": self.engine,
            "mapper": self.mapper,
            "compat": self.compat,
            "batch": self.batch,
            "seq": self.seq,
            "gen": self.gen,
            "w_bits": self.w_bits,
            "a_bits": self.a_bits,
            "kv_bits": self.kv_bits,
            "sparsity": self.sparsity,
            "latency_s": self.latency_s,
            "tokens_per_s": self.tokens_per_s,
            "energy_j": self.energy_j,
            "energy_per_token_j": self.energy_per_token_j,
            "tokens_per_usd": self.tokens_per_usd,
            "memory_bytes": mem.total_bytes,
            "weight_bytes": mem.weight_bytes,
            "kv_bytes": mem.kv_bytes,
            "activation_bytes": mem.activation_bytes,
            "capacity_bytes": self.capacity_bytes,
            "fits_memory": self.fits_memory,
            "flops": self.flops,
            "bytes_moved": self.bytes_moved,
        }
        out.update(self.extra)
        out["warnings"] = list(self.warnings)
        out["ops"] = [c.as_dict() for c in self.ops]
        return out
