"""Property tests of the roofline and the operator graph over random models and workloads.

Spec ``gpu_roofline.md`` sec. 1 (time = max of the two bounds, AI == ridge is compute, stage
totals are sums over ops), sec. 3.4 (footprints), sec. 3.5 (generation = prefill + the decode
steps one by one). Dimensions are drawn at random; expected quantities are written out from the
drawn numbers, not from archsim's helpers.
"""

from __future__ import annotations

import math
from functools import partial

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archsim import evaluate as _ev
from archsim.analytic.roofline import RooflineOptions, bound_of
from archsim.hardware import hardware_ids, load_hardware
from models.accounting import Accounting
from models.config import ModelConfig
from models.workload import MODEL_LEVEL_OPS, Workload

# These tests check the roofline formulas, so they evaluate with the roofline mapper (the GPU
# default is the kernel-level `auto` mapper, tested in test_gpu_kernels.py).
evaluate = partial(_ev.evaluate, mapper="roofline")
evaluate_kernel = partial(_ev.evaluate_kernel, mapper="roofline")


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# the roofline covers GPUs; other families are priced by their own mappers
HW_IDS = [h for h in hardware_ids() if load_hardware(h).family == "gpu"]
MODES = ("corrected", "llm-viewer")


@st.composite
def model_dicts(draw) -> dict:
    """A Hugging Face style config.json dict of a LLaMA-, Qwen3- or OPT-style model."""
    model_type = draw(st.sampled_from(["llama", "qwen3", "opt"]))
    head_dim = draw(st.sampled_from([16, 32, 64, 80, 128]))
    kv_heads = draw(st.integers(1, 8))
    heads = kv_heads * draw(st.integers(1, 8))
    raw = {
        "model_type": model_type,
        "intermediate_size": draw(st.integers(1, 30000)),
        "num_attention_heads": heads,
        "num_hidden_layers": draw(st.integers(1, 48)),
        "vocab_size": draw(st.integers(1, 200000)),
        "tie_word_embeddings": draw(st.booleans()),
    }
    if model_type == "opt":
        raw["ffn_dim"] = raw.pop("intermediate_size")
        raw["hidden_size"] = heads * head_dim  # OPT: MHA, head_dim = hidden / heads
    elif model_type == "qwen3":
        raw["hidden_size"] = 64 * draw(st.integers(1, 128))  # explicit head_dim, any hidden
        raw["head_dim"] = head_dim
        raw["num_key_value_heads"] = kv_heads
    else:
        raw["hidden_size"] = heads * head_dim
        raw["num_key_value_heads"] = kv_heads
    return raw


def dims(raw: dict) -> dict[str, int]:
    """The symbols of spec sec. 2 read straight off the dict."""
    H = raw["num_attention_heads"]
    h = raw["hidden_size"]
    return {
        "h": h,
        "H": H,
        "Hkv": raw.get("num_key_value_heads", H),
        "d": raw.get("head_dim", h // H),
        "I": raw.get("intermediate_size", raw.get("ffn_dim")),
        "nL": raw["num_hidden_layers"],
        "V": raw["vocab_size"],
        "gated": raw["model_type"] != "opt",
    }


def linear_params_by_hand(m: dict[str, int]) -> int:
    """q (h -> H d), k and v (h -> Hkv d), o (H d -> h), MLP (3 h I gated, 2 h I plain)."""
    h, H, Hkv, d, inter = m["h"], m["H"], m["Hkv"], m["d"], m["I"]
    attn = h * H * d + 2 * h * Hkv * d + H * d * h
    return attn + (3 if m["gated"] else 2) * h * inter


bits = st.integers(1, 16)
workloads = st.fixed_dictionaries({
    "phase": st.sampled_from(["prefill", "decode"]),
    "batch": st.integers(1, 64),
    "seq": st.integers(1, 8192),
    "w_bits": bits,
    "a_bits": bits,
    "kv_bits": bits,
    "flash_attention": st.booleans(),
})


def run(raw: dict, hw: str, mode: str, wl: dict, **kw):
    return evaluate(ModelConfig.from_hf(raw), hw, compat=mode, **wl, **kw)


@SETTINGS
@given(raw=model_dicts(), wl=workloads, hw=st.sampled_from(HW_IDS), mode=st.sampled_from(MODES))
def test_every_op_time_is_the_max_of_both_bounds(raw, wl, hw, mode):
    res = run(raw, hw, mode, wl)
    spec = load_hardware(hw)
    bw = spec.memory.bandwidth_Bps.value
    listed = {p.value for p in spec.peaks_ops.values()}
    if spec.gpu is not None and spec.gpu.vector_fp16_ops is not None:
        listed.add(spec.gpu.vector_fp16_ops.value)
    for c in res.ops:
        op = c.op
        assert c.peak_ops in listed
        t_compute = op.flops / c.peak_ops
        t_memory = op.bytes / bw
        assert c.time_s >= t_compute
        assert c.time_s >= t_memory
        assert c.time_s == max(t_compute, t_memory)
        assert c.bound == ("memory" if op.bytes and op.flops / op.bytes < c.peak_ops / bw else "compute")
        assert min(op.flops, op.load_weight, op.load_act, op.store_act, op.load_kv, op.store_kv) >= 0


@SETTINGS
@given(raw=model_dicts(), wl=workloads, hw=st.sampled_from(HW_IDS), mode=st.sampled_from(MODES))
def test_totals_are_sums_over_ops_times_repeat(raw, wl, hw, mode):
    res = run(raw, hw, mode, wl)
    m = dims(raw)
    assert res.flops == pytest.approx(sum(c.op.flops * c.op.repeat for c in res.ops), rel=1e-12)
    assert res.bytes_moved == pytest.approx(sum(c.op.bytes * c.op.repeat for c in res.ops), rel=1e-12)
    assert res.latency_s == pytest.approx(sum(c.time_s * c.op.repeat for c in res.ops), rel=1e-12)
    assert res.energy_j == pytest.approx(sum(c.energy_j * c.op.repeat for c in res.ops), rel=1e-12)
    for c in res.ops:
        assert c.op.repeat == (1 if c.op.name in MODEL_LEVEL_OPS else m["nL"])
    rows = res.as_dict()["ops"]
    assert sum(r["flops"] for r in rows) == pytest.approx(res.flops, rel=1e-12)
    assert sum(r["time_s"] for r in rows) == pytest.approx(res.latency_s, rel=1e-12)


@SETTINGS
@given(raw=model_dicts(), wl=workloads, hw=st.sampled_from(HW_IDS), mode=st.sampled_from(MODES))
def test_bytes_cover_compulsory_weights_and_footprints(raw, wl, hw, mode):
    res = run(raw, hw, mode, wl)
    m = dims(raw)
    w = wl["w_bits"] / 8
    compulsory = linear_params_by_hand(m) * w * m["nL"] + m["h"] * m["V"] * w
    loaded = sum(c.op.load_weight * c.op.repeat for c in res.ops)
    assert res.bytes_moved >= loaded >= compulsory * (1 - 1e-12)
    b, s = wl["batch"], wl["seq"]
    cached = s if (wl["phase"] == "prefill" or mode == "llm-viewer") else s + 1
    kv_expected = 2 * m["nL"] * cached * m["Hkv"] * m["d"] * b * wl["kv_bits"] / 8
    assert res.memory.kv_bytes == pytest.approx(kv_expected, rel=1e-12)
    if wl["phase"] == "prefill":
        # spec 3.4: kv_cache = prefill store_kv total
        stored = sum(c.op.store_kv * c.op.repeat for c in res.ops)
        assert res.memory.kv_bytes == pytest.approx(stored, rel=1e-12)
    if mode == "llm-viewer":
        # spec 3.4: weights = prefill load_weight total incl. lm_head (embedding and norms excluded)
        assert res.memory.weight_bytes == pytest.approx(compulsory, rel=1e-12)
        assert loaded == pytest.approx(compulsory, rel=1e-12)
    else:
        embed = 0 if raw["tie_word_embeddings"] else m["h"] * m["V"] * w
        expected = compulsory + embed + (2 * m["nL"] + 1) * m["h"] * 2
        assert res.memory.weight_bytes == pytest.approx(expected, rel=1e-12)


@SETTINGS
@given(raw=model_dicts(), wl=workloads, hw=st.sampled_from(HW_IDS), mode=st.sampled_from(MODES),
       more=st.integers(1, 4096))
def test_latency_increases_with_sequence(raw, wl, hw, mode, more):
    base = run(raw, hw, mode, wl)
    longer = run(raw, hw, mode, {**wl, "seq": wl["seq"] + more})
    assert longer.latency_s > base.latency_s
    assert longer.flops > base.flops
    assert longer.bytes_moved > base.bytes_moved


@SETTINGS
@given(raw=model_dicts(), hw=st.sampled_from(HW_IDS), mode=st.sampled_from(MODES),
       batch=st.integers(1, 64), prompt=st.integers(1, 4096), gen=st.integers(1, 6), w=bits, a=bits, kv=bits,
       fa=st.booleans(), eta_c=st.floats(0.05, 1.0), eta_m=st.floats(0.05, 1.0),
       launch=st.sampled_from([0.0, 1e-6, 7.5e-6]))
def test_generation_is_prefill_plus_each_decode_step(raw, hw, mode, batch, prompt, gen, w, a, kv, fa,
                                                    eta_c, eta_m, launch):
    cfg = ModelConfig.from_hf(raw)
    rule = "llm-viewer" if mode == "llm-viewer" else "per-op"
    opts = RooflineOptions(peak_rule=rule, eta_compute=eta_c, eta_memory=eta_m, t_launch_s=launch)
    common = {"batch": batch, "w_bits": w, "a_bits": a, "kv_bits": kv, "flash_attention": fa, "compat": mode,
              "roofline": opts}
    total = evaluate(cfg, hw, seq=prompt, gen=gen, **common)
    pre = evaluate(cfg, hw, "prefill", seq=prompt, **common)
    steps = [evaluate(cfg, hw, "decode", seq=prompt + i, **common) for i in range(gen)]
    decode_t = sum(r.latency_s for r in steps)
    assert total.latency_s == pytest.approx(pre.latency_s + decode_t, rel=1e-9)
    assert total.flops == pytest.approx(pre.flops + sum(r.flops for r in steps), rel=1e-9)
    assert total.bytes_moved == pytest.approx(pre.bytes_moved + sum(r.bytes_moved for r in steps), rel=1e-9)
    assert total.energy_j == pytest.approx(pre.energy_j + sum(r.energy_j for r in steps), rel=1e-9)
    assert total.extra["ttft_s"] == pytest.approx(pre.latency_s, rel=1e-12)
    assert total.extra["decode_s"] == pytest.approx(decode_t, rel=1e-9)
    assert total.tokens == batch * gen


@SETTINGS
@given(bytes_=st.integers(1, 2**30), ridge=st.integers(1, 2**20), bw=st.sampled_from([1.0, 2.0**10, 2.0**30]))
def test_intensity_at_ridge_is_compute(bytes_, ridge, bw):
    peak = ridge * bw  # exact in binary: ridge = peak / bw
    flops = ridge * bytes_
    assert bound_of(float(flops), float(bytes_), peak, bw) == "compute"
    assert bound_of(float(flops - 1), float(bytes_), peak, bw) == "memory"
    assert bound_of(float(flops + 1), float(bytes_), peak, bw) == "compute"


def test_nothing_moved_is_compute():
    assert bound_of(10.0, 0.0, 1.0, 1.0) == "compute"


@SETTINGS
@given(raw=model_dicts(), phase=st.sampled_from(["prefill", "decode"]), batch=st.integers(1, 64),
       seq=st.integers(1, 8192), w=bits, m_sp=st.integers(1, 256), data=st.data(),
       acc=st.sampled_from([Accounting(), Accounting.llm_viewer()]))
def test_sparsity_scales_weight_bytes(raw, phase, batch, seq, w, m_sp, data, acc):
    n_sp = data.draw(st.integers(1, m_sp))
    cfg = ModelConfig.from_hf(raw)
    dense = Workload(cfg, phase, batch, seq, w_bits=w, accounting=acc)
    sparse = Workload(cfg, phase, batch, seq, w_bits=w, sparsity=f"{n_sp}:{m_sp}", accounting=acc)
    index_bits = (m_sp - 1).bit_length()  # ceil(log2 M) bits of index per kept value
    factor = (w + index_bits) / w * n_sp / m_sp
    d_ops, s_ops = dense.ops(), sparse.ops()
    for do, so in zip(d_ops, s_ops, strict=True):
        assert do.name == so.name
        assert so.flops == do.flops  # the annotation changes storage, not the OP count
        if do.kind == "matmul":
            assert so.load_weight == pytest.approx(do.load_weight * factor, rel=1e-12)
            by_hand = do.k * do.n * (w + index_bits) / 8 * n_sp / m_sp
            assert so.load_weight == pytest.approx(by_hand, rel=1e-12)
            assert so.sparsity == (n_sp, m_sp)
        else:
            assert so.load_weight == do.load_weight  # lm_head, norms, embedding stay dense
        assert (so.load_act, so.store_act, so.load_kv, so.store_kv) == (
            do.load_act, do.store_act, do.load_kv, do.store_kv)
    m = dims(raw)
    linear = linear_params_by_hand(m) * m["nL"] * w / 8
    assert sparse.memory().weight_bytes - dense.memory().weight_bytes == pytest.approx(
        linear * (factor - 1), rel=1e-9, abs=1e-6)


@SETTINGS
@given(m=st.integers(1, 4096), n=st.integers(1, 65536), k=st.integers(1, 65536), w=bits, a=bits,
       hw=st.sampled_from(HW_IDS))
def test_kernel_counts(m, n, k, w, a, hw):
    out = evaluate_kernel("gemv" if m == 1 else "gemm", hw, m, n, k, w_bits=w, a_bits=a)
    flops = 2 * m * n * k
    nbytes = k * n * w / 8 + m * k * a / 8 + m * n * a / 8
    assert out["flops"] == flops
    assert out["bytes_moved"] == pytest.approx(nbytes, rel=1e-12)
    spec = load_hardware(hw)
    bw = spec.memory.bandwidth_Bps.value
    fp16 = spec.peaks_ops["fp16"].value
    peak = {p.value for p in spec.peaks_ops.values()}
    assert out["latency_s"] >= nbytes / bw
    assert out["latency_s"] >= flops / max(peak)
    # a matmul never runs below the FP16 tensor peak (spec Q7)
    assert out["latency_s"] <= max(flops / fp16, nbytes / bw) * (1 + 1e-12)
    if max(w, a) > 8:
        assert out["latency_s"] == pytest.approx(max(flops / fp16, nbytes / bw), rel=1e-12)
    assert out["bound"] in ("memory", "compute")
    assert math.isfinite(out["latency_s"]) and out["latency_s"] > 0
