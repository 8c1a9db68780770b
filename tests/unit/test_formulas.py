"""Operator formulas against hand-computed numbers (spec ``gpu_roofline.md`` sec. 1-6).

Expected values are literal numbers or arithmetic written out from the spec's tables with the
concrete dimensions of each model; none is obtained from archsim's own helpers. Units: bytes,
OPs, seconds; A100 40G = 312e12 FP16 OP/s, 624e12 INT8 OP/s, 1555e9 B/s (spec sec. 5).
"""

from __future__ import annotations

from functools import partial

import pytest

from archsim import evaluate as _ev
from archsim.hardware import HardwareSpec, load_hardware
from models.accounting import Accounting
from models.config import ModelConfig, load_model
from models.workload import Workload

# These tests check the roofline formulas, so they evaluate with the roofline mapper (the GPU
# default is the kernel-level `auto` mapper, tested in test_gpu_kernels.py).
evaluate = partial(_ev.evaluate, mapper="roofline")
evaluate_kernel = partial(_ev.evaluate_kernel, mapper="roofline")


A100_FP16 = 312e12
A100_INT8 = 624e12
A100_BW = 1555e9
A100_VECTOR = 78e12  # a100-40g preset vector_fp16_ops (CUDA-core FP16)


def by_name(result):
    """Op costs of a result keyed by operator name (names are unique within one step)."""
    return {c.op.name: c for c in result.ops}


def ops_by_name(ops):
    return {op.name: op for op in ops}


def rt(flops: float, nbytes: float, peak: float = A100_FP16, bw: float = A100_BW) -> float:
    """The roofline of spec sec. 1, written out for the hand sums below."""
    return max(flops / peak, nbytes / bw)


# --------------------------------------------------------------------------------------------
# Spec sec. 6: LLaMA2-7B, compat mode, FP16, batch 1, A100 40G, no FlashAttention.
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compat_prefill_1024():
    return evaluate("llama2-7b", "nvidia_A100", "prefill", 1, 1024, compat="llm-viewer")


@pytest.fixture(scope="module")
def compat_decode_1024():
    return evaluate("llama2-7b", "nvidia_A100", "decode", 1, 1024, compat="llm-viewer")


def test_sec6_prefill_qkvo_line(compat_prefill_1024):
    ops = by_name(compat_prefill_1024)
    for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
        c = ops[name]
        assert c.op.repeat == 32
        # 2 * 4096 * 4096 * 1024 = 34,359,738,368 OPs; printed 34.36 G
        assert c.op.flops == 34_359_738_368
        assert c.op.flops == pytest.approx(34.36e9, abs=0.005e9)
        # 4096*4096*2 + 4096*1024*2 + 4096*1024*2 = 50,331,648 B; printed 50.3 MB
        assert c.op.bytes == 50_331_648
        assert c.op.bytes == pytest.approx(50.3e6, abs=0.05e6)
        assert c.op.intensity == pytest.approx(682.7, abs=0.05)
        assert c.bound == "compute"
        assert c.time_s == pytest.approx(110.1e-6, abs=0.05e-6)
        assert c.time_s == pytest.approx(34_359_738_368 / 312e12, rel=1e-12)
    # k and v write their outputs to the KV cache, q and o to activations (spec 3.1).
    assert ops["k_proj"].op.store_kv == 4096 * 1024 * 2 and ops["k_proj"].op.store_act == 0
    assert ops["q_proj"].op.store_act == 4096 * 1024 * 2 and ops["q_proj"].op.store_kv == 0


def test_sec6_prefill_mlp_line(compat_prefill_1024):
    ops = by_name(compat_prefill_1024)
    for name in ("gate_proj", "up_proj", "down_proj"):
        c = ops[name]
        # 2 * 4096 * 11008 * 1024 = 92,341,796,864
        assert c.op.flops == 92_341_796_864
        assert c.op.flops == pytest.approx(92.34e9, abs=0.005e9)
        # 4096*11008*2 + 4096*1024*2 + 11008*1024*2 = 121,110,528 (down: in/out swapped, same sum)
        assert c.op.bytes == 121_110_528
        assert c.op.bytes == pytest.approx(121.1e6, abs=0.05e6)
        assert c.op.intensity == pytest.approx(762.5, abs=0.05)
        assert c.bound == "compute"
        assert c.time_s == pytest.approx(296.0e-6, abs=0.05e-6)


def test_sec6_prefill_attention_lines(compat_prefill_1024):
    ops = by_name(compat_prefill_1024)
    for name in ("qk_matmul", "sv_matmul"):
        c = ops[name]
        # 2 * 1024 * 1024 * 128 * 32 = 8,589,934,592
        assert c.op.flops == 8_589_934_592
        assert c.op.flops == pytest.approx(8.59e9, abs=0.005e9)
        # Q (or O) 1024*128*32*2 + scores 1024*1024*32*2 + K (or V) 1024*128*32*2 = 83,886,080
        assert c.op.bytes == 83_886_080
        assert c.op.intensity == pytest.approx(102.4, abs=0.05)
        assert c.bound == "memory"
        assert c.time_s == pytest.approx(53.95e-6, abs=0.005e-6)
    qk = ops["qk_matmul"].op
    assert qk.load_act == 1024 * 128 * 32 * 2
    assert qk.store_act == 1024 * 1024 * 32 * 2
    assert qk.load_kv == 1024 * 128 * 32 * 2
    sm = ops["softmax"]
    assert sm.op.flops == 5 * 32 * 1024 * 1024
    assert sm.op.bytes == 2 * 32 * 1024 * 1024 * 2
    assert sm.bound == "memory"
    assert sm.time_s == pytest.approx(86.3e-6, abs=0.05e-6)


def test_sec6_lm_head_line(compat_prefill_1024, compat_decode_1024):
    for res in (compat_prefill_1024, compat_decode_1024):
        c = by_name(res)["lm_head"]
        assert c.op.repeat == 1
        assert c.op.flops == 4096 * 32000  # Q1: one OP per MAC
        assert c.op.bytes == 4096 * 32000 * 2 + 4096 * 2 + 32000 * 2  # 262,216,192
        assert c.bound == "memory"
        assert c.time_s == pytest.approx(168.6e-6, abs=0.05e-6)


def test_sec6_decode_lines(compat_decode_1024):
    ops = by_name(compat_decode_1024)
    q = ops["q_proj"]
    assert q.op.flops == 2 * 4096 * 4096
    assert q.op.flops == pytest.approx(33.55e6, abs=0.005e6)
    assert q.op.bytes == 4096 * 4096 * 2 + 4096 * 2 + 4096 * 2  # 33,570,816
    assert q.op.bytes == pytest.approx(33.57e6, abs=0.005e6)
    assert q.op.intensity == pytest.approx(0.9995, abs=0.00005)
    assert q.bound == "memory"
    assert q.time_s == pytest.approx(21.59e-6, abs=0.005e-6)
    gate = ops["gate_proj"]
    assert gate.bound == "memory"
    assert gate.time_s == pytest.approx(58.01e-6, abs=0.005e-6)
    assert gate.time_s == pytest.approx((4096 * 11008 * 2 + 4096 * 2 + 11008 * 2) / 1555e9, rel=1e-12)
    for name in ("qk_matmul", "sv_matmul"):
        c = ops[name]
        # Q6: KV length 1024 (new token excluded). 8192 + 65536 + 1024*128*32*2 bytes
        assert c.op.flops == 2 * 1024 * 128 * 32
        assert c.op.bytes == 128 * 32 * 2 + 1024 * 32 * 2 + 1024 * 128 * 32 * 2
        assert c.bound == "memory"
        assert c.time_s == pytest.approx(5.44e-6, abs=0.005e-6)


def llama2_7b_compat_hand(phase: str, s: int) -> tuple[float, float, float]:
    """Spec sec. 3.1/3.3 node table for LLaMA2-7B (MHA, FP16, b = 1) written out: (time, OPs, bytes)."""
    h, H, d, inter, vocab, n_layers = 4096, 32, 128, 11008, 32000, 32
    a = w = kv = 2
    b = 1
    T = s if phase == "prefill" else 1
    L = s
    rows = [
        (7 * b * h * T, 2 * b * h * T * a),  # attn_norm
        (2 * h * h * b * T, h * h * w + 2 * h * b * T * a),  # q
        (2 * h * h * b * T, h * h * w + 2 * h * b * T * a),  # k (store to KV)
        (2 * h * h * b * T, h * h * w + 2 * h * b * T * a),  # v (store to KV)
        (2 * T * L * d * H * b, T * d * b * H * a + T * L * b * H * a + L * d * b * H * kv),  # qk
        (5 * b * H * T * L, 2 * b * H * T * L * a),  # softmax
        (2 * T * L * d * H * b, T * L * b * H * a + T * d * b * H * a + L * d * b * H * kv),  # sv
        (2 * h * h * b * T, h * h * w + 2 * h * b * T * a),  # o
        (b * h * T, 2 * b * h * T * a),  # attn_add
        (7 * b * h * T, 2 * b * h * T * a),  # mlp_norm
        (2 * h * inter * b * T, h * inter * w + h * b * T * a + inter * b * T * a),  # gate
        (2 * h * inter * b * T, h * inter * w + h * b * T * a + inter * b * T * a),  # up
        (2 * b * h * T, 3 * b * h * T * a),  # mlp_act (Q2)
        (2 * h * inter * b * T, h * inter * w + h * b * T * a + inter * b * T * a),  # down
        (b * h * T, 2 * b * h * T * a),  # mlp_add
    ]
    lm = (b * h * vocab, h * vocab * w + h * a + vocab * a)
    time = n_layers * sum(rt(f, m) for f, m in rows) + rt(*lm)
    flops = n_layers * sum(f for f, _ in rows) + lm[0]
    nbytes = n_layers * sum(m for _, m in rows) + lm[1]
    return time, flops, nbytes


@pytest.mark.parametrize(
    ("phase", "seq", "expected_ms"),
    [("prefill", 1024, 50.791), ("prefill", 2048, 112.462), ("decode", 1024, 8.854), ("decode", 2048, 9.205)],
)
def test_sec6_stage_times(phase, seq, expected_ms):
    res = evaluate("llama2-7b", "nvidia_A100", phase, 1, seq, compat="llm-viewer")
    assert res.latency_s * 1e3 == pytest.approx(expected_ms, abs=0.0005)
    assert res.latency_s * 1e3 == pytest.approx(expected_ms, rel=1e-3)  # the spec's stated tolerance
    t, f, nb = llama2_7b_compat_hand(phase, seq)
    assert res.latency_s == pytest.approx(t, rel=1e-12)
    assert res.flops == pytest.approx(f, rel=1e-12)
    assert res.bytes_moved == pytest.approx(nb, rel=1e-12)


def test_sec6_footprints_and_decode_totals(compat_prefill_1024, compat_decode_1024):
    mem = compat_prefill_1024.memory
    # (32 * 202,375,168 + 4096 * 32000) * 2 B; embedding table excluded (Q11)
    assert 4 * 4096 * 4096 + 3 * 4096 * 11008 == 202_375_168
    assert mem.weight_bytes == (32 * 202_375_168 + 4096 * 32000) * 2
    assert mem.weight_bytes / 1e9 == pytest.approx(13.214, abs=0.0005)
    # K and V of 1024 tokens: 2 * 32 * 1024 * 4096 * 2 B
    assert mem.kv_bytes == 2 * 32 * 1024 * 4096 * 2
    assert mem.kv_bytes / 1e9 == pytest.approx(0.537, abs=0.0005)
    # Q9: tmp_act = one layer's store_act sum (prefill, s = 1024)
    s, h, H, inter = 1024, 4096, 32, 11008
    one_layer_store = (
        2 * s * h * 2  # attn_norm, q (k/v store to KV)
        + s * s * H * 2 * 2  # qk scores, softmax
        + s * h * 2 * 3  # sv, o, attn_add
        + s * h * 2  # mlp_norm
        + 2 * s * inter * 2  # gate, up
        + s * h * 2 * 3  # mlp_act (Q2: hidden), down, mlp_add
    )
    assert mem.activation_bytes == one_layer_store
    assert compat_decode_1024.flops == pytest.approx(1.363e10, abs=0.0005e10)
    assert compat_decode_1024.bytes_moved == pytest.approx(1.377e10, abs=0.0005e10)


# --------------------------------------------------------------------------------------------
# Corrected mode: GQA (llama3-8b), quantization, activation / norm / lm_head corrections.
# --------------------------------------------------------------------------------------------

LLAMA3 = {"h": 4096, "H": 32, "Hkv": 8, "d": 128, "I": 14336, "V": 128256, "nL": 32}


def test_llama3_8b_dims():
    cfg = load_model("llama3-8b")
    assert (cfg.hidden, cfg.heads, cfg.kv_heads, cfg.head_dim) == (4096, 32, 8, 128)
    assert (cfg.intermediate, cfg.vocab, cfg.layers) == (14336, 128256, 32)


@pytest.mark.parametrize("phase", ["prefill", "decode"])
def test_gqa_projection_shapes(phase):
    b, s = 2, 256
    T = s if phase == "prefill" else 1
    ops = ops_by_name(Workload(load_model("llama3-8b"), phase, batch=b, seq=s).ops())
    for name in ("k_proj", "v_proj"):
        op = ops[name]
        assert (op.k, op.n, op.m) == (4096, 1024, b * T)  # 4096 -> 8 * 128
        assert op.flops == 2 * 4096 * 1024 * b * T
        assert op.load_weight == 4096 * 1024 * 2
        assert op.store_kv == 1024 * b * T * 2
    assert (ops["q_proj"].k, ops["q_proj"].n) == (4096, 4096)
    assert (ops["out_proj"].k, ops["out_proj"].n) == (4096, 4096)
    assert (ops["gate_proj"].k, ops["gate_proj"].n) == (4096, 14336)
    assert (ops["down_proj"].k, ops["down_proj"].n) == (14336, 4096)


def test_gqa_decode_attention_reads_s_plus_one():
    b, s = 3, 1000
    ops = ops_by_name(Workload(load_model("llama3-8b"), "decode", batch=b, seq=s).ops())
    qk, sv = ops["qk_matmul"], ops["sv_matmul"]
    # Q6 corrected: (s + 1) * d * b * Hkv * kv
    assert qk.load_kv == 1001 * 128 * 3 * 8 * 2
    assert sv.load_kv == 1001 * 128 * 3 * 8 * 2
    assert qk.flops == 2 * 1001 * 128 * 32 * 3
    assert qk.load_act == 128 * 3 * 32 * 2  # Q of all heads, one token
    assert qk.store_act == 1001 * 3 * 32 * 2
    assert ops["softmax"].flops == 5 * 3 * 32 * 1001


def test_gqa_prefill_q_read_with_all_heads():
    b, s = 2, 512
    qk = ops_by_name(Workload(load_model("llama3-8b"), "prefill", batch=b, seq=s).ops())["qk_matmul"]
    assert qk.load_act == 512 * 128 * 2 * 32 * 2  # s*d*b*H*a, not Hkv (Q3 corrected)
    assert qk.load_kv == 512 * 128 * 2 * 8 * 2  # K read stays with Hkv
    # causal prefill: 512 * 513 / 2 = 131,328 unmasked (query, key) pairs per (batch, head)
    assert qk.store_act == 131_328 * 2 * 32 * 2
    assert qk.flops == 2 * 131_328 * 128 * 32 * 2


def test_gqa_corrected_memory_footprint():
    mem = Workload(load_model("llama3-8b"), "prefill", batch=2, seq=1000).memory()
    layer = 4096 * 4096 * 2 + 4096 * 1024 * 2 + 3 * 4096 * 14336  # 218,103,808 parameters
    assert layer == 218_103_808
    # linears + lm_head + untied embedding (Q11 corrected) + (2*32 + 1) 16-bit norm weights
    assert mem.weight_bytes == 32 * layer * 2 + 128256 * 4096 * 2 + 128256 * 4096 * 2 + 65 * 4096 * 2
    assert mem.kv_bytes == 2 * 32 * 1000 * 1024 * 2 * 2
    # decode footprint holds s + 1 tokens' K/V (the new token's own entry)
    dec = Workload(load_model("llama3-8b"), "decode", batch=2, seq=1000).memory()
    assert dec.kv_bytes == 2 * 32 * 1001 * 1024 * 2 * 2


def test_quantized_weights_halve_and_peak_stays_fp16():
    cfg = load_model("llama3-8b")
    w4 = ops_by_name(Workload(cfg, "decode", seq=512, w_bits=4, a_bits=16).ops())
    w8 = ops_by_name(Workload(cfg, "decode", seq=512, w_bits=8, a_bits=16).ops())
    for name in ("q_proj", "k_proj", "gate_proj", "down_proj", "lm_head"):
        assert w4[name].load_weight * 2 == w8[name].load_weight
    assert w4["q_proj"].load_weight == 4096 * 4096 * 4 / 8
    assert w4["q_proj"].load_act == 4096 * 2  # activations stay 16-bit
    res = by_name(evaluate(cfg, "a100-40g", "decode", 1, 512, w_bits=4, a_bits=16))
    for name in ("q_proj", "gate_proj", "lm_head"):
        assert res[name].peak_dtype == "fp16"
        assert res[name].peak_ops == A100_FP16
    q = res["q_proj"]
    assert q.time_s == pytest.approx((4096 * 4096 * 0.5 + 4096 * 2 + 4096 * 2) / A100_BW, rel=1e-12)
    # footprint: 4-bit linears, lm_head and embedding; norm weights stay 16-bit
    mem = Workload(cfg, "decode", seq=512, w_bits=4, a_bits=16).memory()
    assert mem.weight_bytes == 32 * 218_103_808 * 0.5 + 2 * 128256 * 4096 * 0.5 + 65 * 4096 * 2


def test_w8a8_peak_choice_a100_vs_v100():
    a100 = by_name(evaluate("llama3-8b", "a100-40g", "decode", 1, 512, w_bits=8, a_bits=8))
    assert a100["q_proj"].peak_dtype == "int8" and a100["q_proj"].peak_ops == 624e12
    assert a100["lm_head"].peak_ops == 624e12
    assert a100["qk_matmul"].peak_ops == 312e12  # KV stays 16-bit
    assert a100["softmax"].peak_ops == 78e12  # element-wise: CUDA-core FP16
    v100 = by_name(evaluate("llama3-8b", "v100", "decode", 1, 512, w_bits=8, a_bits=8))
    # V100 lists INT8 (62 TOPS) below FP16 (112 TOPS): never pick a slower peak (Q7)
    assert v100["q_proj"].peak_dtype == "fp16" and v100["q_proj"].peak_ops == 112e12
    v100_kv8 = by_name(evaluate("llama3-8b", "v100", "decode", 1, 512, w_bits=8, a_bits=8, kv_bits=8))
    assert v100_kv8["qk_matmul"].peak_ops == 112e12
    # compat (Q7 quirk) takes INT8 for every node once all widths are <= 8, even on V100
    compat = by_name(
        evaluate("llama2-7b", "v100", "decode", 1, 512, w_bits=8, a_bits=8, kv_bits=8, compat="llm-viewer")
    )
    assert {c.peak_ops for c in compat.values()} == {62e12}
    compat16 = by_name(
        evaluate("llama2-7b", "v100", "decode", 1, 512, w_bits=8, a_bits=8, compat="llm-viewer")
    )
    assert {c.peak_ops for c in compat16.values()} == {112e12}


def test_corrected_gated_mlp_act_and_norm_and_lm_head():
    b, s = 4, 300
    cfg = load_model("llama2-7b")
    pre = ops_by_name(Workload(cfg, "prefill", batch=b, seq=s).ops())
    act = pre["mlp_act"]
    assert act.flops == 5 * 4 * 300 * 11008  # SiLU 4 + gate product 1 per element of I
    assert act.load_act == 2 * 4 * 300 * 11008 * 2
    assert act.store_act == 4 * 300 * 11008 * 2
    for name in ("attn_norm", "mlp_norm"):
        norm = pre[name]
        assert norm.flops == 4 * 4 * 300 * 4096  # RMSNorm 4 OPs/element
        assert norm.load_weight == 4096 * 2
        assert norm.load_act == norm.store_act == 4 * 300 * 4096 * 2
    assert pre["final_norm"].flops == 4 * 4 * 4096  # last position only
    lm = pre["lm_head"]
    assert lm.flops == 2 * 4 * 4096 * 32000  # last position of each sequence
    assert lm.load_act == 4 * 4096 * 2 and lm.store_act == 4 * 32000 * 2
    dec = ops_by_name(Workload(cfg, "decode", batch=b, seq=s).ops())
    assert dec["lm_head"].flops == 2 * 4 * 4096 * 32000
    assert dec["mlp_act"].flops == 5 * 4 * 11008
    # residual adds read both operands (X1 corrected)
    assert dec["attn_add"].load_act == 2 * 4 * 4096 * 2
    assert dec["embedding"].load_weight == 4 * 4096 * 2
    all_pos = ops_by_name(Workload(cfg, "prefill", batch=b, seq=s,
                                   accounting=Accounting(lm_head_positions="all")).ops())
    assert all_pos["lm_head"].flops == 2 * 4 * 300 * 4096 * 32000


def test_opt_plain_mlp_layernorm_relu_tied():
    b, s = 2, 64
    cfg = load_model("opt-6.7b")
    ops = ops_by_name(Workload(cfg, "prefill", batch=b, seq=s).ops())
    assert "gate_proj" not in ops and "up_proj" not in ops and "down_proj" not in ops
    assert (ops["fc1"].k, ops["fc1"].n) == (4096, 16384)
    assert (ops["fc2"].k, ops["fc2"].n) == (16384, 4096)
    assert ops["fc1"].flops == 2 * 4096 * 16384 * 2 * 64
    assert ops["attn_norm"].flops == 7 * 2 * 64 * 4096  # LayerNorm
    assert ops["mlp_act"].flops == 1 * 2 * 64 * 16384  # ReLU, one input
    assert ops["mlp_act"].load_act == 2 * 64 * 16384 * 2
    assert ops["k_proj"].n == 4096  # MHA
    mem = Workload(cfg, "prefill", batch=b, seq=s).memory()
    layer = 4 * 4096 * 4096 + 2 * 4096 * 16384
    # tied: lm_head matrix counted once, no separate embedding table
    assert mem.weight_bytes == 32 * layer * 2 + 4096 * 50272 * 2 + 65 * 4096 * 2
    assert mem.weight_bytes == 13_297_262_592


def test_qwen3_explicit_head_dim():
    cfg = load_model("qwen3-1.7b")
    ops = ops_by_name(Workload(cfg, "decode", seq=100).ops())
    assert ops["q_proj"].n == 16 * 128 == 2048
    assert ops["k_proj"].n == 8 * 128
    assert ops["qk_matmul"].k == 128
    # Qwen3-0.6B: head_dim 128 != hidden / heads = 64, so the projections are not square.
    small = ModelConfig.from_hf({
        "model_type": "qwen3", "hidden_size": 1024, "intermediate_size": 3072, "num_attention_heads": 16,
        "num_key_value_heads": 8, "num_hidden_layers": 28, "vocab_size": 151936, "head_dim": 128,
        "tie_word_embeddings": True,
    })
    ops = ops_by_name(Workload(small, "decode", seq=100).ops())
    assert (ops["q_proj"].k, ops["q_proj"].n) == (1024, 2048)
    assert (ops["k_proj"].k, ops["k_proj"].n) == (1024, 1024)
    assert (ops["out_proj"].k, ops["out_proj"].n) == (2048, 1024)
    assert ops["qk_matmul"].load_kv == 101 * 128 * 8 * 2


# --------------------------------------------------------------------------------------------
# evaluate_kernel (archsim kernel gemv|gemm)
# --------------------------------------------------------------------------------------------


def test_kernel_gemv_fp16():
    out = evaluate_kernel("gemv", "a100-40g", 1, 4096, 4096)
    assert out["flops"] == 2 * 1 * 4096 * 4096
    assert out["bytes_moved"] == 4096 * 4096 * 2 + 1 * 4096 * 2 + 1 * 4096 * 2
    assert out["latency_s"] == pytest.approx(33_570_816 / 1555e9, rel=1e-12)
    assert out["bound"] == "memory"
    assert out["mapper"] == "roofline"


def test_kernel_gemv_w4():
    out = evaluate_kernel("gemv", "a100-40g", 1, 11008, 4096, w_bits=4)
    assert out["bytes_moved"] == 4096 * 11008 * 0.5 + 4096 * 2 + 11008 * 2
    assert out["latency_s"] == pytest.approx((4096 * 11008 * 0.5 + 4096 * 2 + 11008 * 2) / 1555e9, rel=1e-12)
    assert out["peak_dtype"] == "fp16"


def test_kernel_gemm_compute_bound():
    out = evaluate_kernel("gemm", "a100-40g", 4096, 4096, 4096)
    assert out["flops"] == 2 * 4096**3
    assert out["bytes_moved"] == 3 * 4096 * 4096 * 2
    assert out["bound"] == "compute"
    assert out["latency_s"] == pytest.approx(2 * 4096**3 / 312e12, rel=1e-12)
    int8 = evaluate_kernel("gemm", "a100-40g", 512, 8192, 4096, w_bits=8, a_bits=8)
    assert int8["bytes_moved"] == 4096 * 8192 * 1 + 512 * 4096 * 1 + 512 * 8192 * 1
    expected = max(2 * 512 * 8192 * 4096 / 624e12, (4096 * 8192 + 512 * 4096 + 512 * 8192) / 1555e9)
    assert int8["latency_s"] == pytest.approx(expected, rel=1e-12)
    assert int8["peak_dtype"] == "int8"


def test_kernel_mid_gemm_memory_bound_on_v100():
    # m = 16: AI = 2*16*4096*4096 / (4096*4096*2 + 16*4096*2*2) ~ 15.9 < ridge 112e12/900e9
    out = evaluate_kernel("gemm", "v100", 16, 4096, 4096)
    nbytes = 4096 * 4096 * 2 + 16 * 4096 * 2 + 16 * 4096 * 2
    assert out["latency_s"] == pytest.approx(nbytes / 900e9, rel=1e-12)
    assert out["bound"] == "memory"


def test_ai_equal_to_ridge_is_compute():
    base = load_hardware("a100-40g").model_dump()
    base["peaks_ops"] = {"fp16": {"value": 1000.0, "source": "assumption: test device"}}
    base["memory"]["bandwidth_Bps"] = {"value": 10.0, "source": "assumption: test device"}
    base["id"] = "ridge-test"
    base["aliases"] = []
    hw = HardwareSpec.model_validate(base)
    # m = n = k = 300, FP16: 2*300^3 / (3 * 300^2 * 2) = 100 OP/B = ridge 1000 / 10
    out = evaluate_kernel("gemm", hw, 300, 300, 300)
    assert out["intensity"] == 100.0
    assert out["bound"] == "compute"
    assert out["latency_s"] == pytest.approx(2 * 300**3 / 1000.0, rel=1e-12)
    below = evaluate_kernel("gemm", hw, 299, 300, 300)
    assert below["bound"] == "memory"
