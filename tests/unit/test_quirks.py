"""The quirk register (spec ``gpu_roofline.md`` sec. 4): one flag at a time, closed-form deltas.

Each test toggles exactly one flag (``dataclasses.replace``) and compares the step totals
(sum over ops of count x repeat) with a delta derived by hand from the spec's formulas, FP16,
batch ``b``, the ``nL`` factor included. Two baselines:

* corrected ``Accounting()`` with the flag switched on: ``quirk - corrected``. archsim's corrected
  graph also has a final norm and an embedding gather (X2, X3), which some deltas include;
* compat ``Accounting.llm_viewer()`` with the flag switched off: this is the spec's last column
  (``corrected - quirk``) literally, because the compat graph has no extra nodes.

Sign convention in the helpers: ``delta = totals(toggled) - totals(baseline)``.
"""

from __future__ import annotations

import math
from dataclasses import FrozenInstanceError, replace
from functools import partial

import pytest

from archsim import evaluate as _ev
from archsim.analytic.roofline import RooflineOptions, select_peak
from archsim.evaluate import resolve_mode
from archsim.hardware import load_hardware
from models.accounting import Accounting
from models.config import load_model
from models.workload import Workload

# These tests check the roofline formulas, so they evaluate with the roofline mapper (the GPU
# default is the kernel-level `auto` mapper, tested in test_gpu_kernels.py).
evaluate = partial(_ev.evaluate, mapper="roofline")
evaluate_workload = partial(_ev.evaluate_workload, mapper="roofline")


B = 3  # batch everywhere below (so batch factors cannot hide)
S_PRE = 512  # prompt length: FlashAttention n_blocks = ceil(512 / 128) = 4
S_DEC = 700  # KV length before the decode step

# Dimensions written out from the model cards (spec sec. 2 and the preset files).
LLAMA2 = {"h": 4096, "H": 32, "Hkv": 32, "d": 128, "I": 11008, "V": 32000, "nL": 32}
LLAMA3 = {"h": 4096, "H": 32, "Hkv": 8, "d": 128, "I": 14336, "V": 128256, "nL": 32}
QWEN3 = {"h": 2048, "H": 16, "Hkv": 8, "d": 128, "I": 6144, "V": 151936, "nL": 28}
OPT = {"h": 4096, "H": 32, "Hkv": 32, "d": 128, "I": 16384, "V": 50272, "nL": 32}
DIMS = {"llama2-7b": LLAMA2, "llama3-8b": LLAMA3, "qwen3-1.7b": QWEN3, "opt-6.7b": OPT}
A = KV = W = 2  # bytes per element, FP16


def totals(model: str, phase: str, acc: Accounting, fa: bool = False, seq: int | None = None,
           **kw: object) -> tuple[float, float]:
    """(OPs, bytes) of one step: sum over ops of per-instance count x repeat."""
    s = seq if seq is not None else (S_PRE if phase == "prefill" else S_DEC)
    ops = Workload(load_model(model), phase, batch=B, seq=s, flash_attention=fa, accounting=acc, **kw).ops()
    return sum(o.flops * o.repeat for o in ops), sum(o.bytes * o.repeat for o in ops)


def delta(model: str, phase: str, base: Accounting, fa: bool = False, **flags: object) -> tuple[float, float]:
    f0, b0 = totals(model, phase, base, fa)
    f1, b1 = totals(model, phase, replace(base, **flags), fa)
    return f1 - f0, b1 - b0


CORRECTED = Accounting()
COMPAT = Accounting.llm_viewer()


def tokens(phase: str) -> int:
    return S_PRE if phase == "prefill" else 1


def test_quirk_flag_set():
    assert set(Accounting.quirk_names()) == {
        "lm_head_one_op_per_mac", "mlp_act_on_hidden", "prefill_q_read_with_kv_heads", "fa_store_scores",
        "fa_kv_with_query_heads", "decode_excludes_new_token", "norm_seven_ops_no_weight",
        "weights_exclude_embedding", "add_reads_one_operand", "no_final_norm", "no_embedding_op", "no_rope_op",
        "full_causal_scores",
    }
    assert all(getattr(COMPAT, n) for n in Accounting.quirk_names())
    assert not any(getattr(CORRECTED, n) for n in Accounting.quirk_names())
    all_on = replace(CORRECTED, **{n: True for n in Accounting.quirk_names()})
    assert all_on == COMPAT
    # options that are not quirks keep the same default in both modes (Q5, Q12)
    for acc in (CORRECTED, COMPAT):
        assert acc.fa_kv_reads == "per_block"
        assert acc.fa_block_q is None
        assert acc.lm_head_positions == "last"


# Q1 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("phase", ["prefill", "decode"])
@pytest.mark.parametrize("model", ["llama2-7b", "llama3-8b"])
def test_q1_lm_head(model, phase):
    m = DIMS[model]
    h, V = m["h"], m["V"]
    flag = {"lm_head_one_op_per_mac": True}
    # corrected: 2*b*h*V OPs, b*h*a + b*V*a act bytes; quirk: b*h*V OPs, h*a + V*a
    assert delta(model, phase, CORRECTED, **flag) == (-B * h * V, -(B - 1) * (h + V) * A)
    # spec column: decode OPs +b*h*V (same one lm_head row in prefill)
    assert delta(model, phase, COMPAT, lm_head_one_op_per_mac=False) == (B * h * V, (B - 1) * (h + V) * A)


def test_q1_lm_head_all_positions_option():
    h, V = LLAMA2["h"], LLAMA2["V"]
    base = Accounting(lm_head_positions="all")
    f, by = delta("llama2-7b", "prefill", base, lm_head_one_op_per_mac=True)
    # corrected with all positions: 2*b*s*h*V, b*s*(h+V)*a; quirk stays one position
    assert f == B * h * V - 2 * B * S_PRE * h * V
    assert by == (h + V) * A - B * S_PRE * (h + V) * A


# Q2 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("phase", ["prefill", "decode"])
@pytest.mark.parametrize("model", ["llama2-7b", "llama3-8b"])
def test_q2_mlp_act(model, phase):
    m = DIMS[model]
    nL, h, inter, T = m["nL"], m["h"], m["I"], tokens(phase)
    spec_ops = nL * B * T * (5 * inter - 2 * h)  # spec column: corrected - quirk
    spec_bytes = nL * B * T * 3 * (inter - h) * A  # two inputs + one output, I vs h
    assert delta(model, phase, CORRECTED, mlp_act_on_hidden=True) == (-spec_ops, -spec_bytes)
    assert delta(model, phase, COMPAT, mlp_act_on_hidden=False) == (spec_ops, spec_bytes)


def test_q2_mlp_act_plain_relu():
    nL, h, inter, T = OPT["nL"], OPT["h"], OPT["I"], S_PRE
    # corrected ReLU: 1 OP/element of I, one input; quirk: 2 OPs/element of h, two inputs
    f, by = delta("opt-6.7b", "prefill", CORRECTED, mlp_act_on_hidden=True)
    assert f == nL * B * T * (2 * h - 1 * inter)
    assert by == nL * B * T * (3 * h - 2 * inter) * A


# Q3 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["llama2-7b", "llama3-8b"])
def test_q3_prefill_q_read(model):
    m = DIMS[model]
    nL, d, H, Hkv, s = m["nL"], m["d"], m["H"], m["Hkv"], S_PRE
    spec_bytes = nL * s * d * B * (H - Hkv) * A  # 0 for MHA
    assert delta(model, "prefill", CORRECTED, prefill_q_read_with_kv_heads=True) == (0, -spec_bytes)
    assert delta(model, "prefill", COMPAT, prefill_q_read_with_kv_heads=False) == (0, spec_bytes)
    assert delta(model, "decode", CORRECTED, prefill_q_read_with_kv_heads=True) == (0, 0)
    if model == "llama3-8b":
        assert spec_bytes == 32 * 512 * 128 * 3 * 24 * 2


# Q4a / Q4b (FlashAttention) ------------------------------------------------------------------


@pytest.mark.parametrize("phase", ["prefill", "decode"])
@pytest.mark.parametrize("model", ["llama2-7b", "llama3-8b"])
def test_q4a_fa_store_scores(model, phase):
    m = DIMS[model]
    nL, H, d, T = m["nL"], m["H"], m["d"], tokens(phase)
    # corrected baseline: decode attends s + 1 keys (Q6 off); compat baseline: s keys
    L_corr = S_PRE if phase == "prefill" else S_DEC + 1
    L_comp = S_PRE if phase == "prefill" else S_DEC
    # corrected prefill is causal (Q12 off): T(T+1)/2 score pairs instead of T*L
    pairs_corr = T * (T + 1) / 2 if phase == "prefill" else T * L_corr
    on = delta(model, phase, CORRECTED, fa=True, fa_store_scores=True)
    assert on == (0, -nL * B * H * A * (T * d - 2 * pairs_corr))
    off = delta(model, phase, COMPAT, fa=True, fa_store_scores=False)
    assert off == (0, nL * B * H * A * T * (d - 2 * L_comp))  # spec column nL*b*H*a*T*(d - 2s)


@pytest.mark.parametrize("phase", ["prefill", "decode"])
@pytest.mark.parametrize("model", ["llama2-7b", "llama3-8b"])
def test_q4b_fa_kv_heads(model, phase):
    m = DIMS[model]
    nL, H, Hkv, d = m["nL"], m["H"], m["Hkv"], m["d"]
    n_blocks = math.ceil(tokens(phase) / d)  # block_r = d: 4 in prefill (512 / 128), 1 in decode
    assert n_blocks == (4 if phase == "prefill" else 1)
    L_corr = S_PRE if phase == "prefill" else S_DEC + 1
    L_comp = S_PRE if phase == "prefill" else S_DEC
    on = delta(model, phase, CORRECTED, fa=True, fa_kv_with_query_heads=True)
    assert on == (0, nL * n_blocks * 2 * L_corr * d * B * (H - Hkv) * KV)
    off = delta(model, phase, COMPAT, fa=True, fa_kv_with_query_heads=False)
    assert off == (0, -nL * n_blocks * 2 * L_comp * d * B * (H - Hkv) * KV)


def test_gqa_fa_decode_kv_bytes_ratio():
    """Spec sec. 4 test: for GQA, corrected FA decode KV bytes = Hkv/H x compat.

    Taken literally at the same ``seq`` the ratio also carries Q6's (s + 1)/s, so the exact
    Hkv/H ratio holds when both modes attend the same number of keys (compat at s + 1)."""
    cfg = load_model("llama3-8b")
    s = S_DEC

    def kv_bytes(acc: Accounting, seq: int) -> float:
        ops = Workload(cfg, "decode", batch=B, seq=seq, flash_attention=True, accounting=acc).ops()
        (fa,) = [o for o in ops if o.name == "fused_attention"]
        return fa.load_kv

    corrected = kv_bytes(CORRECTED, s)
    compat_same_keys, compat_same_seq = kv_bytes(COMPAT, s + 1), kv_bytes(COMPAT, s)
    assert corrected == (s + 1) * 128 * B * 8 * KV * 2
    assert corrected == compat_same_keys * 8 / 32
    assert corrected == pytest.approx(compat_same_seq * 8 / 32 * (s + 1) / s, rel=1e-15)
    # the same through evaluate() (compat applies LLM-Viewer's register-file block, = d here)
    ev_corr = {c.op.name: c.op for c in evaluate(cfg, "a100-40g", "decode", B, s, flash_attention=True).ops}
    ev_comp = {c.op.name: c.op for c in evaluate(cfg, "a100-40g", "decode", B, s + 1, flash_attention=True,
                                                 compat="llm-viewer").ops}
    assert ev_corr["fused_attention"].load_kv == ev_comp["fused_attention"].load_kv * 8 / 32


# Q5 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["llama2-7b", "llama3-8b"])
def test_q5_kv_reads_once(model):
    m = DIMS[model]
    nL, Hkv, H, d, L = m["nL"], m["Hkv"], m["H"], m["d"], S_PRE
    n_blocks = 4
    # 'once' removes (n_blocks - 1) K+V reads; KV heads per the Q4b setting of the baseline
    assert delta(model, "prefill", CORRECTED, fa=True, fa_kv_reads="once") == (
        0, -nL * (n_blocks - 1) * L * d * B * Hkv * KV * 2)
    assert delta(model, "prefill", COMPAT, fa=True, fa_kv_reads="once") == (
        0, -nL * (n_blocks - 1) * L * d * B * H * KV * 2)
    assert delta(model, "decode", CORRECTED, fa=True, fa_kv_reads="once") == (0, 0)  # n_blocks = 1


def test_q5_block_size_option():
    nL, Hkv, d = LLAMA3["nL"], LLAMA3["Hkv"], LLAMA3["d"]
    # fa_block_q = 32: ceil(512 / 32) = 16 blocks instead of 4
    f, by = delta("llama3-8b", "prefill", CORRECTED, fa=True, fa_block_q=32)
    assert (f, by) == (0, nL * (16 - 4) * S_PRE * d * B * Hkv * KV * 2)


def test_q5_compat_block_from_register_file():
    """LLM-Viewer: block_r = min(ceil(buffer / (kv * d)), d); = d for real presets, smaller for a tiny one."""
    cfg = load_model("llama2-7b")
    hw = load_hardware("a100-40g")
    buffer = hw.onchip_buffer_bytes.model_copy(update={"value": 1000.0})
    tiny = hw.model_copy(update={"onchip_buffer_bytes": buffer})
    big = evaluate(cfg, hw, "prefill", B, S_PRE, flash_attention=True, compat="llm-viewer")
    small = evaluate(cfg, tiny, "prefill", B, S_PRE, flash_attention=True, compat="llm-viewer")
    kv_big = {c.op.name: c.op for c in big.ops}["fused_attention"].load_kv
    kv_small = {c.op.name: c.op for c in small.ops}["fused_attention"].load_kv
    # 27,648e3 B / (2 * 128) -> capped at 128: ceil(512/128) = 4 blocks
    assert kv_big == 4 * S_PRE * 128 * B * 32 * KV * 2
    # 1000 B / (2 * 128) = 3.9 -> block 4: ceil(512 / 4) = 128 blocks
    assert kv_small == 128 * S_PRE * 128 * B * 32 * KV * 2


# Q6 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["llama2-7b", "llama3-8b"])
def test_q6_decode_kv_length(model):
    m = DIMS[model]
    nL, H, Hkv, d = m["nL"], m["H"], m["Hkv"], m["d"]
    # one key less per (b, head): qk 2d + sv 2d + softmax 5 OPs; qk scores out, softmax in/out,
    # sv scores in (4 activations of one score element), plus K and V rows of Hkv heads
    ops_per_key = (4 * d + 5) * B * H
    bytes_per_key = 4 * B * H * A + 2 * d * B * Hkv * KV
    assert delta(model, "decode", CORRECTED, decode_excludes_new_token=True) == (
        -nL * ops_per_key, -nL * bytes_per_key)
    assert delta(model, "decode", COMPAT, decode_excludes_new_token=False) == (
        nL * ops_per_key, nL * bytes_per_key)
    # FlashAttention: only K/V reads grow with the key count (O-only store in corrected mode)
    assert delta(model, "decode", CORRECTED, fa=True, decode_excludes_new_token=True) == (
        -nL * ops_per_key, -nL * 2 * d * B * Hkv * KV)
    assert delta(model, "prefill", CORRECTED, decode_excludes_new_token=True) == (0, 0)
    mem = Workload(load_model(model), "decode", batch=B, seq=S_DEC).memory()
    mem_q = Workload(load_model(model), "decode", batch=B, seq=S_DEC,
                     accounting=replace(CORRECTED, decode_excludes_new_token=True)).memory()
    assert mem.kv_bytes - mem_q.kv_bytes == 2 * nL * Hkv * d * B * KV


# Q8 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("phase", ["prefill", "decode"])
@pytest.mark.parametrize("model", ["llama2-7b", "llama3-8b"])
def test_q8_norm_ops(model, phase):
    m = DIMS[model]
    nL, h, T = m["nL"], m["h"], tokens(phase)
    # corrected RMSNorm: 4 OPs/element + a 16-bit weight of h elements per norm; quirk: 7 OPs, no
    # weight. Corrected baseline has 2 norms per layer + the final norm (one position, X2).
    f, by = delta(model, phase, CORRECTED, norm_seven_ops_no_weight=True)
    assert f == 3 * B * h * (2 * nL * T + 1)
    assert by == -(2 * nL + 1) * h * 2
    # spec column from compat (no final norm): OPs -nL*2*3*b*h*T; weight load +h per norm
    assert delta(model, phase, COMPAT, norm_seven_ops_no_weight=False) == (
        -nL * 2 * 3 * B * h * T, nL * 2 * h * 2)


def test_q8_layernorm_only_adds_weight():
    nL, h = OPT["nL"], OPT["h"]
    f, by = delta("opt-6.7b", "prefill", CORRECTED, norm_seven_ops_no_weight=True)
    assert (f, by) == (0, -(2 * nL + 1) * h * 2)


def test_q8_norm_weight_stays_16_bit_under_quantization():
    # archsim keeps norm weights in FP16 even when linears are 4-bit (spec Q8 writes h*w).
    cfg = load_model("llama2-7b")
    ops = {o.name: o for o in Workload(cfg, "decode", seq=10, w_bits=4).ops()}
    assert ops["attn_norm"].load_weight == 4096 * 2


# Q11 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["llama2-7b", "llama3-8b", "qwen3-1.7b", "opt-6.7b"])
def test_q11_weight_footprint(model):
    m = DIMS[model]
    nL, h, V = m["nL"], m["h"], m["V"]
    tied = model in ("qwen3-1.7b", "opt-6.7b")
    cfg = load_model(model)
    assert cfg.tie_word_embeddings is tied

    def weights(acc: Accounting) -> float:
        return Workload(cfg, "decode", batch=B, seq=S_DEC, accounting=acc).memory().weight_bytes

    embed = 0 if tied else V * h * W  # spec Q11 delta: +V*h*w unless tied
    assert weights(CORRECTED) - weights(replace(CORRECTED, weights_exclude_embedding=True)) == embed
    assert weights(replace(COMPAT, weights_exclude_embedding=False)) - weights(COMPAT) == embed
    # the 16-bit norm weights belong to Q8 (the norm ops load them), not to Q11
    norms = (2 * nL + 1) * h * 2
    assert weights(CORRECTED) - weights(replace(CORRECTED, norm_seven_ops_no_weight=True)) == norms
    # traffic is unchanged: Q11 concerns the footprint only
    assert delta(model, "decode", CORRECTED, weights_exclude_embedding=True) == (0, 0)


# X1..X3 (archsim corrections beyond the spec register) ---------------------------------------


@pytest.mark.parametrize("phase", ["prefill", "decode"])
def test_x1_add_reads_both_operands(phase):
    nL, h, T = LLAMA2["nL"], LLAMA2["h"], tokens(phase)
    assert delta("llama2-7b", phase, CORRECTED, add_reads_one_operand=True) == (0, -nL * 2 * B * T * h * A)


@pytest.mark.parametrize("phase", ["prefill", "decode"])
def test_x2_final_norm(phase):
    h = LLAMA2["h"]
    assert delta("llama2-7b", phase, CORRECTED, no_final_norm=True) == (-4 * B * h, -(h * 2 + 2 * B * h * A))
    # in the compat graph (7-OP norm, no weight)
    assert delta("llama2-7b", phase, COMPAT, no_final_norm=False) == (7 * B * h, 2 * B * h * A)


@pytest.mark.parametrize("phase", ["prefill", "decode"])
def test_x3_embedding_gather(phase):
    h, T = LLAMA2["h"], tokens(phase)
    # gather b*T rows of h weights, write b*T*h activations
    assert delta("llama2-7b", phase, CORRECTED, no_embedding_op=True) == (0, -(B * T * h * W + B * T * h * A))


# Q12 -----------------------------------------------------------------------------------------


def test_q12_causal_skip():
    nL, H, d, s = LLAMA2["nL"], LLAMA2["H"], LLAMA2["d"], S_PRE
    pairs_removed = s * s - s * (s + 1) / 2  # keep the s(s+1)/2 unmasked pairs (diagonal included)
    f, by = delta("llama2-7b", "prefill", CORRECTED, full_causal_scores=True)
    assert f == nL * pairs_removed * B * H * (2 * d + 2 * d + 5)
    assert by == nL * pairs_removed * B * H * A * 4  # qk store, softmax load + store, sv load
    assert delta("llama2-7b", "decode", CORRECTED, full_causal_scores=True) == (0, 0)
    # spec: "halves" the score work; keeping the diagonal makes it s(s+1)/2 of s^2, within 1/s of half
    assert pairs_removed / (s * s) == pytest.approx(0.5, abs=1 / s)


# Compat = all flags on + LLM-Viewer peak rule -------------------------------------------------


@pytest.mark.parametrize(
    ("model", "phase", "kw"),
    [
        ("llama2-7b", "prefill", {}),
        ("llama2-7b", "decode", {"flash_attention": True}),
        ("llama3-8b", "prefill", {"flash_attention": True, "batch": 4}),
        ("llama3-8b", "decode", {"w_bits": 8, "a_bits": 8, "kv_bits": 8, "batch": 8}),
        ("opt-6.7b", "decode", {"w_bits": 4}),
    ],
)
def test_all_flags_equal_compat(model, phase, kw):
    kw = {"batch": 1, **kw}
    batch = kw.pop("batch")
    compat = evaluate(model, "a100-40g", phase, batch, 1024, compat="llm-viewer", **kw)
    all_on = replace(CORRECTED, **{n: True for n in Accounting.quirk_names()})
    flags = evaluate(model, "a100-40g", phase, batch, 1024, accounting=all_on,
                     roofline=RooflineOptions(peak_rule="llm-viewer"), **kw)
    assert flags.latency_s == compat.latency_s
    assert flags.flops == compat.flops
    assert flags.bytes_moved == compat.bytes_moved
    assert flags.memory == compat.memory
    assert [(c.op.name, c.time_s, c.peak_ops) for c in flags.ops] == [
        (c.op.name, c.time_s, c.peak_ops) for c in compat.ops]
    mode = resolve_mode("llm-viewer")
    assert mode.accounting == all_on and mode.roofline.peak_rule == "llm-viewer"


# Q7 peak choice ------------------------------------------------------------------------------


def peaks(model: str, hw: str, rule: str, **bits: int) -> dict[str, float]:
    wl = Workload(load_model(model), "decode", seq=64, **bits)
    spec = load_hardware(hw)
    return {op.name: select_peak(op, spec, rule)[1] for op in wl.ops()}


def test_q7_llm_viewer_one_peak_for_all_nodes():
    rule = "llm-viewer"
    assert set(peaks("llama2-7b", "a100-40g", rule, w_bits=8, a_bits=8, kv_bits=8).values()) == {624e12}
    # any width above 8 -> FP16 everywhere, including the INT4 weight case
    assert set(peaks("llama2-7b", "a100-40g", rule, w_bits=4, a_bits=8, kv_bits=16).values()) == {312e12}
    assert set(peaks("llama2-7b", "v100", rule, w_bits=8, a_bits=8, kv_bits=8).values()) == {62e12}


def test_q7_per_op_peaks():
    p = peaks("llama2-7b", "a100-40g", "per-op", w_bits=8, a_bits=8, kv_bits=16)
    assert p["q_proj"] == p["down_proj"] == p["lm_head"] == 624e12  # w, a <= 8 -> INT8
    assert p["qk_matmul"] == p["sv_matmul"] == 312e12  # kv 16 -> FP16
    assert p["softmax"] == p["attn_norm"] == p["mlp_act"] == p["attn_add"] == 78e12  # CUDA-core FP16
    p = peaks("llama2-7b", "a100-40g", "per-op", w_bits=4, a_bits=4, kv_bits=8)
    assert p["q_proj"] == 1248e12  # INT4 listed on A100
    assert p["qk_matmul"] == 624e12  # a, kv <= 8 -> INT8
    p = peaks("llama2-7b", "h100-sxm", "per-op", w_bits=4, a_bits=4, kv_bits=8)
    assert p["q_proj"] == 1979e12  # no INT4 on H100 -> INT8
    p = peaks("llama2-7b", "v100", "per-op", w_bits=8, a_bits=8, kv_bits=8)
    assert p["q_proj"] == p["qk_matmul"] == 112e12  # never below FP16 (V100 INT8 = 62)
    assert p["softmax"] == 28e12
    p = peaks("llama2-7b", "a100-40g", "per-op", w_bits=4, a_bits=16, kv_bits=16)
    assert p["q_proj"] == 312e12  # w4a16: activations are 16-bit -> FP16 tensor peak


# Q10 efficiency and launch cost --------------------------------------------------------------


def test_q10_identity_at_defaults():
    base = evaluate("llama3-8b", "a100-40g", "decode", 2, 512)
    explicit = evaluate("llama3-8b", "a100-40g", "decode", 2, 512,
                        roofline=RooflineOptions(eta_compute=1.0, eta_memory=1.0, t_launch_s=0.0))
    assert explicit.latency_s == base.latency_s


@pytest.mark.parametrize("phase", ["prefill", "decode"])
def test_q10_eta_and_launch(phase):
    opts = RooflineOptions(eta_compute=0.5, eta_memory=0.8, t_launch_s=5e-6)
    cfg = load_model("llama3-8b")
    wl = Workload(cfg, phase, batch=2, seq=512)
    hw = load_hardware("a100-40g")
    res = evaluate_workload(wl, hw, mode=resolve_mode(None, roofline=opts))
    ideal = evaluate_workload(wl, hw)
    total = 0.0
    for c, c0 in zip(res.ops, ideal.ops, strict=True):
        peak = c0.peak_ops  # the nominal peak the op runs at
        expected = max(c.op.flops / (peak * 0.5), c.op.bytes / (1555e9 * 0.8)) + 5e-6
        assert c.time_s == pytest.approx(expected, rel=1e-12)
        total += expected * c.op.repeat
    assert res.latency_s == pytest.approx(total, rel=1e-12)
    # launch cost alone adds t_launch per operator instance (32 layers x 15 layer ops + 3 model ops)
    launch = evaluate_workload(wl, hw, mode=resolve_mode(None, roofline=RooflineOptions(t_launch_s=5e-6)))
    instances = sum(c.op.repeat for c in ideal.ops)
    assert instances == 32 * 16 + 3
    assert launch.latency_s - ideal.latency_s == pytest.approx(instances * 5e-6, rel=1e-9)


def test_accounting_is_frozen_and_validated():
    with pytest.raises(FrozenInstanceError):
        CORRECTED.mlp_act_on_hidden = True  # type: ignore[misc]
    with pytest.raises(ValueError, match="fa_kv_reads"):
        Accounting(fa_kv_reads="twice")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fa_block_q"):
        Accounting(fa_block_q=0)
