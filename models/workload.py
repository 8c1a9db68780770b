"""A workload (model x phase x batch x sequence x precision) and its operator list.

Formulas follow ``shared/specs/gpu_roofline.md`` sec. 3 (LLM-Viewer's node table) with the
corrections of sec. 4, selected per flag by ``models.accounting.Accounting``. Counting
conventions: a MAC is 2 OPs; bytes are ``elements * bits / 8``; every op of a decoder layer has
``repeat = layers``, the model-level ops (embedding, final norm, lm_head) ``repeat = 1``.

This module knows no hardware: anything hardware-dependent (FlashAttention's query block from a
register file) is passed in through ``Accounting``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

from models.accounting import Accounting
from models.config import ModelConfig
from models.errors import ModelInputError

PHASES = ("prefill", "decode")
# Norm weights stay 16-bit under weight quantization (GPTQ/AWQ/BitNet keep them in fp16).
NORM_WEIGHT_BYTES = 2.0
# OPs per element. RMSNorm: square, mean-accumulate, rsqrt-scale, weight-multiply = 4;
# LayerNorm adds mean subtraction and bias = 7 (spec sec. 4 Q8). SiLU 4 + gate product 1 = 5,
# GELU (tanh form) 6, ReLU 1 (spec sec. 4 Q2, ASSUMPTION c_act).
NORM_OPS = {"rms": 4, "layer": 7}
ACT_OPS = {"silu": 5, "gelu": 6, "relu": 1}
# Ops that run once per step rather than once per decoder layer.
MODEL_LEVEL_OPS = frozenset({"embedding", "final_norm", "lm_head"})


class Precision(NamedTuple):
    """Storage widths of an operator's weights, activations and KV cache, and its N:M sparsity."""

    w_bits: int
    a_bits: int
    kv_bits: int
    sparsity: tuple[int, int] | None = None


@dataclass(slots=True)
class Op:
    """One operator instance, repeated ``repeat`` times (once per layer for layer ops).

    Shape: a matmul is ``(m x k) @ (k x n)`` done ``heads`` times (attention: per batch x head).
    ``flops`` and the five byte terms are per instance. ``kind`` is one of matmul, attention,
    softmax, norm, elementwise, embedding, lm_head. ``precision`` holds the bit widths and sparsity
    (also readable as ``op.w_bits`` ...).
    """

    name: str
    kind: str
    m: int
    n: int
    k: int
    heads: int
    repeat: int
    flops: float
    load_weight: float
    load_act: float
    store_act: float
    load_kv: float
    store_kv: float
    precision: Precision
    kv_heads: int = 0  # attention ops: batch x KV heads (GQA groups); 0 for other ops

    @property
    def w_bits(self) -> int:
        return self.precision.w_bits

    @property
    def a_bits(self) -> int:
        return self.precision.a_bits

    @property
    def kv_bits(self) -> int:
        return self.precision.kv_bits

    @property
    def sparsity(self) -> tuple[int, int] | None:
        return self.precision.sparsity

    @property
    def bytes(self) -> float:
        """Compulsory bytes moved per instance (sum of the five terms)."""
        return self.load_weight + self.load_act + self.store_act + self.load_kv + self.store_kv

    @property
    def intensity(self) -> float:
        """Arithmetic intensity, OPs per byte (infinite when nothing moves)."""
        b = self.bytes
        return self.flops / b if b else math.inf


@dataclass(slots=True)
class Memory:
    """Memory footprint in bytes: weights, KV cache and live activations."""

    weight_bytes: float
    kv_bytes: float
    activation_bytes: float

    @property
    def total_bytes(self) -> float:
        return self.weight_bytes + self.kv_bytes + self.activation_bytes


def parse_sparsity(value: str | tuple[int, int] | None) -> tuple[int, int] | None:
    """Parse ``"N:M"`` (N kept of every M weights, 0 < N <= M) into ``(N, M)``; ``None``/"dense" -> None."""
    if value is None or value in ("", "none", "dense"):
        return None
    if isinstance(value, str):
        parts = value.split(":")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise ModelInputError("sparsity", f"sparsity must look like N:M (e.g. 2:4), got '{value}'.")
        n, m = int(parts[0]), int(parts[1])
    else:
        n, m = value
    if not (0 < n <= m <= 256):
        raise ModelInputError(
            "sparsity", f"sparsity {n}:{m} is invalid; N:M needs 0 < N <= M <= 256 (N kept of every M)."
        )
    return (n, m)


def stored_weight_bytes(w_bits: int, sparsity: tuple[int, int] | None) -> float:
    """Bytes stored per dense weight element. N:M compression keeps N/M of the values plus a
    ceil(log2 M)-bit index per kept value (NVIDIA 2:4 metadata is 2 bits per kept value;
    FlightLLM's 16-blocks use 4 bits)."""
    if sparsity is None:
        return w_bits / 8
    n, m = sparsity
    return (w_bits + math.ceil(math.log2(m))) / 8 * n / m


@dataclass(slots=True)
class Workload:
    """One inference step of ``model``. Treat it as a value: derive variants with
    ``dataclasses.replace`` (it is not frozen only because frozen construction costs ~2 us, a
    tenth of a design point's evaluation).

    ``seq`` is the prompt length for prefill and the KV-cache length before the step for decode.
    Bits are the storage widths of weights, activations and KV cache (1..32). ``sparsity`` is an
    N:M weight-sparsity annotation (weights stored compressed with an index per kept value).
    """

    model: ModelConfig
    phase: str
    batch: int = 1
    seq: int = 1024
    w_bits: int = 16
    a_bits: int = 16
    kv_bits: int = 16
    sparsity: tuple[int, int] | None = None
    flash_attention: bool = False
    accounting: Accounting = field(default_factory=Accounting)

    def __post_init__(self) -> None:
        if self.phase not in PHASES:
            raise ModelInputError("phase", f"phase must be one of {', '.join(PHASES)}, got '{self.phase}'.")
        # Exact type checks (bool is an int subclass and must not pass); this runs once per design
        # point, so it is written for speed rather than as a loop over names.
        b, s = self.batch, self.seq
        if type(b) is not int or b < 1:
            raise ModelInputError("batch", f"batch must be a positive integer, got {b!r}.")
        if type(s) is not int or s < 1:
            raise ModelInputError("seq", f"seq must be a positive integer, got {s!r}.")
        for name, bits in (("w_bits", self.w_bits), ("a_bits", self.a_bits), ("kv_bits", self.kv_bits)):
            if type(bits) is not int or not 1 <= bits <= 32:
                raise ModelInputError(name, f"{name} must be an integer from 1 to 32, got {bits!r}.")
        if self.sparsity is not None:
            self.sparsity = parse_sparsity(self.sparsity)

    @property
    def tokens(self) -> int:
        """Tokens processed by this step per sequence (prompt length in prefill, 1 in decode)."""
        return self.seq if self.phase == "prefill" else 1

    @property
    def kv_length(self) -> int:
        """KV entries attended per query: the prompt in prefill; in decode ``seq + 1`` (the new
        token's own K/V is attended), or ``seq`` under LLM-Viewer quirk Q6."""
        if self.phase == "prefill" or self.accounting.decode_excludes_new_token:
            return self.seq
        return self.seq + 1

    def ops(self) -> list[Op]:
        """The operators of one step, in execution order (layer ops carry ``repeat = layers``)."""
        c, acc = self.model, self.accounting
        b, T, L = self.batch, self.tokens, self.kv_length
        prefill = self.phase == "prefill"
        wb, ab, kb = self.w_bits, self.a_bits, self.kv_bits
        # One shared precision record per step: weight matmuls carry the sparsity, other ops none.
        pr = Precision(wb, ab, kb, None)
        psp = pr if self.sparsity is None else Precision(wb, ab, kb, self.sparsity)
        w, a, kv = wb / 8, ab / 8, kb / 8
        h, H, Hkv, d, I, V, nL = c.hidden, c.heads, c.kv_heads, c.head_dim, c.intermediate, c.vocab, c.layers
        bT = b * T
        sp = self.sparsity
        w_eff = stored_weight_bytes(wb, sp)
        out: list[Op] = []
        add = out.append

        if not acc.no_embedding_op:
            add(Op("embedding", "embedding", bT, h, 1, 1, 1, 0.0, bT * h * w, 0.0, bT * h * a, 0.0, 0.0,
                   pr))

        norm_ops, norm_w = (7, 0.0) if acc.norm_seven_ops_no_weight else (NORM_OPS[c.norm], h * NORM_WEIGHT_BYTES)
        add_load = 1 if acc.add_reads_one_operand else 2

        def norm(name: str) -> None:
            add(Op(name, "norm", bT, h, 1, 1, nL, norm_ops * bT * h, norm_w, bT * h * a, bT * h * a, 0.0, 0.0,
                   pr))

        def linear(name: str, ic: int, oc: int, to_kv: bool = False) -> None:
            store_act, store_kv = (0.0, oc * bT * kv) if to_kv else (oc * bT * a, 0.0)
            add(Op(name, "matmul", bT, oc, ic, 1, nL, 2.0 * ic * oc * bT, ic * oc * w_eff, ic * bT * a,
                   store_act, 0.0, store_kv, psp))

        def residual(name: str) -> None:
            add(Op(name, "elementwise", bT, h, 1, 1, nL, float(bT * h), 0.0, add_load * bT * h * a, bT * h * a,
                   0.0, 0.0, pr))

        norm("attn_norm")
        linear("q_proj", h, c.q_dim)
        linear("k_proj", h, c.kv_dim, to_kv=True)
        linear("v_proj", h, c.kv_dim, to_kv=True)
        if not acc.no_rope_op and c.rotary:
            # Rotary embedding of Q and K: x*cos + rotate_half(x)*sin = 3 OPs per element, reading
            # the cos/sin rows of the T positions (Su et al., RoFormer, eq. 34).
            qk = bT * (H + Hkv) * d
            add(Op("rope", "elementwise", bT, (H + Hkv) * d, 1, 1, nL, 3.0 * qk, 0.0, qk * a + 2 * T * d * a, qk * a,
                   0.0, 0.0, pr))

        # Attention over T queries and L keys per (batch, head). A causal prefill computes the
        # T(T+1)/2 unmasked pairs (plus any cached prefix L - T per query); LLM-Viewer counts T*L (Q12).
        pairs = T * L
        if prefill and not acc.full_causal_scores:
            pairs = T * (T + 1) / 2 + T * (L - T)
        score_ops = 2.0 * pairs * d * H * b
        q_heads = Hkv if (prefill and acc.prefill_q_read_with_kv_heads) else H
        kv_read = L * d * b * Hkv * kv
        if self.flash_attention:
            block_q = acc.fa_block_q or d
            reads = math.ceil(T / block_q) if acc.fa_kv_reads == "per_block" else 1
            fa_heads = H if acc.fa_kv_with_query_heads else Hkv
            store = 2 * pairs * b * H * a if acc.fa_store_scores else T * d * b * H * a
            add(Op("fused_attention", "attention", T, L, d, b * H, nL, 2 * score_ops + 5.0 * b * H * pairs, 0.0,
                   T * d * b * H * a, store, reads * L * d * b * fa_heads * kv * 2, 0.0, pr, b * Hkv))
        else:
            add(Op("qk_matmul", "attention", T, L, d, b * H, nL, score_ops, 0.0, T * d * b * q_heads * a,
                   pairs * b * H * a, kv_read, 0.0, pr, b * Hkv))
            add(Op("softmax", "softmax", T, L, 1, b * H, nL, 5.0 * b * H * pairs, 0.0, b * H * pairs * a,
                   b * H * pairs * a, 0.0, 0.0, pr, b * Hkv))
            add(Op("sv_matmul", "attention", T, d, L, b * H, nL, score_ops, 0.0, pairs * b * H * a,
                   T * d * b * H * a, kv_read, 0.0, pr, b * Hkv))

        linear("out_proj", c.q_dim, h)
        residual("attn_add")
        norm("mlp_norm")
        if c.gated_mlp:
            linear("gate_proj", h, I)
            linear("up_proj", h, I)
        else:
            linear("fc1", h, I)
        if acc.mlp_act_on_hidden:
            act_ops, act_in, act_out = 2.0 * bT * h, 2 * bT * h * a, bT * h * a
        else:
            inputs = 2 if c.gated_mlp else 1
            act_ops, act_in, act_out = float(ACT_OPS[c.activation] * bT * I), inputs * bT * I * a, bT * I * a
        add(Op("mlp_act", "elementwise", bT, I, 1, 1, nL, act_ops, 0.0, act_in, act_out, 0.0, 0.0, pr))
        linear("down_proj" if c.gated_mlp else "fc2", I, h)
        residual("mlp_add")

        # Model-level ops. lm_head: LLM-Viewer (Q1) counts b*h*V OPs with unbatched activations.
        T_lm = T if (prefill and acc.lm_head_positions == "all") else 1
        if not acc.no_final_norm:
            add(Op("final_norm", "norm", b * T_lm, h, 1, 1, 1, norm_ops * b * T_lm * h, norm_w,
                   b * T_lm * h * a, b * T_lm * h * a, 0.0, 0.0, pr))
        if acc.lm_head_one_op_per_mac:
            add(Op("lm_head", "lm_head", b, V, h, 1, 1, float(b * h * V), h * V * w, h * a, V * a, 0.0, 0.0,
                   pr))
        else:
            rows = b * T_lm
            add(Op("lm_head", "lm_head", rows, V, h, 1, 1, 2.0 * rows * h * V, h * V * w, rows * h * a,
                   rows * V * a, 0.0, 0.0, pr))
        return out

    def memory(self, ops: list[Op] | None = None) -> Memory:
        """Footprint: weights, the KV cache after this step, live activations.

        Weights are the weight loads of the step's own operators (LLM-Viewer's definition, spec
        3.4: layers x linears + lm_head, and in corrected mode the 16-bit norm weights) plus the
        embedding table unless it is tied to lm_head (Q11); the embedding op only gathers rows, so
        its load is not the table. Activations follow LLM-Viewer (Q9, kept in both modes): one
        layer's ``store_act`` sum.
        """
        c = self.model
        ops = self.ops() if ops is None else ops
        weights = activations = 0.0
        for op in ops:
            if op.name in MODEL_LEVEL_OPS:
                if op.kind != "embedding":
                    weights += op.load_weight * op.repeat
            else:
                weights += op.load_weight * op.repeat
                activations += op.store_act
        if not self.accounting.weights_exclude_embedding and not c.tie_word_embeddings:
            weights += c.vocab * c.hidden * self.w_bits / 8
        cached = self.seq if self.phase == "prefill" else self.kv_length
        kv_bytes = 2.0 * c.layers * cached * c.kv_dim * self.batch * self.kv_bits / 8
        return Memory(weights, kv_bytes, activations)
