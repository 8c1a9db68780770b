"""How operators are counted: LLM-Viewer's quirks as independent flags, and their corrections.

Each flag reproduces one known formula quirk of LLM-Viewer (hahnyuan/LLM-Viewer ``main`` at
472f71f); ids Q1..Q12 follow ``shared/specs/gpu_roofline.md`` sec. 4, X1..X4 are corrections archsim
adds beyond the spec's register. ``Accounting.llm_viewer()`` turns every quirk on, which must
reproduce LLM-Viewer exactly; ``Accounting()`` (the default) is the corrected model. Quirks that
concern the hardware side (Q7 peak choice, Q10 efficiency and launch cost) live in
``archsim.analytic.roofline.RooflineOptions``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Literal

from models.errors import ModelInputError


@dataclass(frozen=True, slots=True)
class Accounting:
    """Operator-counting choices. Every boolean is ``True`` = behave like LLM-Viewer."""

    # Q1: lm_head counts b*h*V OPs (1 per MAC), activation bytes without batch, one position.
    lm_head_one_op_per_mac: bool = False
    # Q2: the MLP activation is sized by hidden (not intermediate) with 2 OPs per element.
    mlp_act_on_hidden: bool = False
    # Q3: prefill qk reads Q with the KV-head count (GQA undercount).
    prefill_q_read_with_kv_heads: bool = False
    # Q4a: fused attention stores a score-matrix-sized output (2*T*L*b*H*a) instead of O.
    fa_store_scores: bool = False
    # Q4b: fused attention reads K and V with all query heads instead of the KV heads.
    fa_kv_with_query_heads: bool = False
    # Q6: decode attends to s KV entries, excluding the new token's own K/V.
    decode_excludes_new_token: bool = False
    # Q8: every norm counts 7 OPs/element and loads no weight (RMSNorm is 4 OPs/element).
    norm_seven_ops_no_weight: bool = False
    # Q11: the weight footprint omits the (untied) embedding table and the norm weights.
    weights_exclude_embedding: bool = False
    # X1: a residual add reads one operand instead of two.
    add_reads_one_operand: bool = False
    # X2: no final norm before lm_head.
    no_final_norm: bool = False
    # X3: no embedding-gather operator.
    no_embedding_op: bool = False
    # X4: no rotary position embedding (RoPE) on Q and K.
    no_rope_op: bool = False

    # Options (not quirks; the same default in both modes).
    # Q5: FlashAttention query block size (None = head_dim; compat passes the register-file rule)
    # and whether K/V are re-read once per query block ("per_block") or once overall.
    fa_block_q: int | None = None
    fa_kv_reads: Literal["per_block", "once"] = "per_block"
    # Q12: prefill attention counts the full s x s score matrix instead of the s(s+1)/2 unmasked
    # pairs of causal attention (what FlashAttention-style kernels compute).
    full_causal_scores: bool = False
    # lm_head positions in prefill: "last" (next-token logits only) or "all".
    lm_head_positions: Literal["last", "all"] = "last"

    @classmethod
    def llm_viewer(cls, **options: object) -> Accounting:
        """All LLM-Viewer quirks on (compat mode); ``options`` may set the non-quirk options."""
        quirks = {name: True for name in cls.quirk_names()}
        return replace(cls(**quirks), **options)  # type: ignore[arg-type]

    def __post_init__(self) -> None:
        if self.fa_block_q is not None and self.fa_block_q < 1:
            raise ModelInputError("fa_block_q", f"fa_block_q must be a positive integer, got {self.fa_block_q}.")
        if self.fa_kv_reads not in ("per_block", "once"):
            raise ModelInputError(
                "fa_kv_reads", f"fa_kv_reads must be 'per_block' or 'once', got {self.fa_kv_reads!r}."
            )
        if self.lm_head_positions not in ("last", "all"):
            raise ModelInputError(
                "lm_head_positions", f"lm_head_positions must be 'last' or 'all', got {self.lm_head_positions!r}."
            )

    @classmethod
    def quirk_names(cls) -> list[str]:
        """Names of the boolean quirk flags (the ones ``llm_viewer()`` turns on)."""
        return [f.name for f in fields(cls) if f.type in ("bool", bool)]
