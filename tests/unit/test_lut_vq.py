"""LUT-LLM timing model and the ``lut-vq`` mapper (spec lut_pim.md sec. 6)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from archsim.analytic.lutllm import (
    bits_per_weight,
    lut_round,
    lutvq_params,
    table_count,
    weight_bytes,
)
from archsim.errors import InputError
from archsim.evaluate import evaluate, evaluate_kernel
from archsim.hardware import load_hardware
from mappers import get_mapper
from models.config import load_model
from models.workload import Workload

V80 = load_hardware("v80")
P = lutvq_params(V80)
QWEN = "qwen3-1.7b"


def _qwen_linears() -> list[tuple[int, int, int]]:
    """(D, M, repeat) of Qwen3-1.7B's decoder linears, from the workload's own ops."""
    ops = Workload(load_model(QWEN), "decode", 1, 256).ops()
    return [(op.k, op.n, op.repeat) for op in ops if op.kind == "matmul"]


def _run(**kw: object):  # type: ignore[no-untyped-def]
    args = {"phase": "decode", "batch": 1, "seq": 256, "mapper": "lut-vq"} | kw
    return evaluate(QWEN, "v80", **args)  # type: ignore[arg-type]


def test_bits_per_weight_is_2_5() -> None:
    assert bits_per_weight() == 2.5
    assert bits_per_weight(P.v, P.c_w, P.group) == 2.5  # the preset's block is the paper's format
    assert weight_bytes(2048, 2048) == pytest.approx(2048 * 2048 * 2.5 / 8)
    assert _run().extra["bits_per_weight"] == 2.5


def test_t_mem_worked_example() -> None:
    # spec 6.3: Qwen3-1.7B linears ~1.41 B weights -> ~0.44 GB -> T_mem >= 0.54 ms/token at 820 GB/s (+-1 %)
    linears = _qwen_linears()
    weights = sum(d * m * r for d, m, r in linears)
    assert weights == pytest.approx(1.41e9, rel=0.01)
    nbytes = sum(weight_bytes(d, m) * r for d, m, r in linears)
    assert nbytes == pytest.approx(0.44e9, rel=0.01)
    peak = replace(P, bw=P.bw_peak)  # the worked example is the peak-bandwidth bound
    assert peak.bytes_per_cycle == pytest.approx(3280.0)  # 820 GB/s / 250 MHz
    t_mem = sum(lut_round(peak, d, m).t_mem * r for d, m, r in linears)
    assert t_mem == pytest.approx(0.54e-3, rel=0.01)
    # the mapper streams at the preset's channel efficiency, so its linear T_mem is that bound / 0.7
    assert P.bw == pytest.approx(820e9 * 0.7)
    assert sum(lut_round(P, d, m).t_mem * r for d, m, r in linears) == pytest.approx(t_mem / 0.7)


def test_matches_reference_kernel_counters() -> None:
    vq = pytest.importorskip("kernels_ref.vq")
    for d, m, _ in _qwen_linears():
        assert weight_bytes(d, m) == pytest.approx(vq.t_mem_bytes(d, m))
    assert bits_per_weight() == pytest.approx(vq.bits_per_weight())


def test_round_by_hand() -> None:
    # 2048 x 2048 at batch 1: R = 16 x 256 = 4096 lookups/cycle, 1024 sub-vectors
    assert P.lookups_per_cycle == 4096
    r = lut_round(P, 2048, 2048)
    f = 250e6
    assert r.t_mem == pytest.approx(2048 * 2048 * 2.5 / 8 / (820e9 * 0.7))
    assert r.t_lookup == pytest.approx(1024 * 2048 / 4096 / f)
    assert r.t_search == pytest.approx((1024 / 16 + 8) / f)
    n_tab = 2048 * 2048 / (2 * 512)
    assert table_count(2048, 2048) == n_tab
    assert r.t_build == pytest.approx(n_tab * 64 * 16 * 2 / 1024 / f)  # 2 FP32 MACs per weight on 1024 MACs
    assert r.t_dequant == pytest.approx(2048 / 16 / f)
    assert r.total == pytest.approx(max(r.t_mem, r.t_lookup, r.t_search) + r.t_build + r.t_dequant)
    assert r.bound == "build"


def test_table_policy_reported_and_ordered() -> None:
    full, row, stream = (_run(mapper=f"lut-vq:table_policy={p}") for p in ("build_full", "build_row", "stream"))
    for res, policy in ((full, "build_full"), (row, "build_row"), (stream, "stream")):
        assert res.extra["table_policy"] == policy
        assert res.as_dict()["table_policy"] == policy
        assert any(policy in c.kernel for c in res.ops)  # the text table shows it per linear row
    assert _run().extra["table_policy"] == "build_row"  # the default (see mappers/lut_vq.py)
    # batch 1: one activation row per table is far cheaper than building all 64
    assert row.latency_s < full.latency_s
    assert row.extra["t_build_s"] == pytest.approx(full.extra["t_build_s"] / 64)
    # stream builds nothing but reads c_a x c_w int8 bytes per table on top of the weights
    assert stream.extra["t_build_s"] == 0.0
    assert stream.extra["t_mem_s"] > full.extra["t_mem_s"]
    n_tab = sum(table_count(d, m) * r for d, m, r in _qwen_linears()) + table_count(2048, 151936)
    assert stream.extra["hbm_bytes"] - full.extra["hbm_bytes"] == pytest.approx(n_tab * 64 * 16)


def test_rows_sum_to_total_and_energy_is_board_power() -> None:
    for kw in ({}, {"phase": "prefill", "seq": 128}, {"batch": 4}, {"mapper": "lut-vq:lm_head=fp16"}):
        res = _run(**kw)
        assert sum(c.total_time_s for c in res.ops) == pytest.approx(res.latency_s, rel=1e-12)
        assert res.energy_j == pytest.approx(V80.power.tdp_w.value * res.latency_s)
        assert all(c.time_s > 0 for c in res.ops if c.op.kind != "embedding")
    info = _run().extra
    assert info["t_linear_s"] + info["t_attn_s"] + info["t_misc_s"] == pytest.approx(_run().latency_s)


def test_latency_grows_with_seq() -> None:
    lat = [_run(seq=s) for s in (64, 256, 1024)]
    assert lat[0].latency_s < lat[1].latency_s < lat[2].latency_s
    attn = [r.extra["t_attn_s"] for r in lat]
    assert attn[0] < attn[1] < attn[2]
    assert lat[0].extra["t_linear_s"] == pytest.approx(lat[2].extra["t_linear_s"], rel=1e-3)  # KV writes only
    # the KV cache streams at --kv-bits: K and V, 8 KV heads x 128, per extra position and layer
    grown = lat[2].extra["hbm_bytes"] - lat[1].extra["hbm_bytes"]
    assert grown == pytest.approx(28 * 2 * (1024 - 256) * 8 * 128 * 2)
    # halving --kv-bits halves the 1025 K/V reads and the one K/V write per layer
    halved = lat[2].extra["hbm_bytes"] - _run(seq=1024, kv_bits=8).extra["hbm_bytes"]
    assert halved == pytest.approx(28 * 2 * (1025 + 1) * 8 * 128)


def test_batch_scales_lookups_not_weight_bytes() -> None:
    one, four = _run(mapper="lut-vq:table_policy=build_row"), _run(batch=4, mapper="lut-vq:table_policy=build_row")
    assert four.extra["t_lookup_s"] == pytest.approx(4 * one.extra["t_lookup_s"])
    assert four.extra["t_build_s"] == pytest.approx(4 * one.extra["t_build_s"])  # up to c_a rows per table
    assert four.extra["t_mem_s"] < 1.01 * one.extra["t_mem_s"]  # only the KV writes grow
    # prefill: the tokens of a pass share its full tables
    pre = _run(phase="prefill", seq=128, mapper="lut-vq:table_policy=build_full")
    dec = _run(mapper="lut-vq:table_policy=build_full")
    assert pre.extra["t_build_s"] == pytest.approx(dec.extra["t_build_s"])
    head = lut_round(P, 2048, 151936).t_lookup  # lm_head scores the last position only
    assert pre.extra["t_lookup_s"] == pytest.approx(128 * (dec.extra["t_lookup_s"] - head) + head)


def test_lm_head_modes() -> None:
    lut, fp16 = _run(), _run(mapper="lut-vq:lm_head=fp16")
    head = {r.extra["lm_head_mode"]: next(c for c in r.ops if c.op.name == "lm_head") for r in (lut, fp16)}
    assert head["fp16"].time_s >= 2048 * 151936 * 2 / P.bw  # the fp16 matrix streams from HBM
    assert math.isclose(lut.extra["t_attn_s"], fp16.extra["t_attn_s"])


def test_bad_options_and_hardware() -> None:
    with pytest.raises(InputError, match="unknown lut-vq option 'foo'"):
        get_mapper("lut-vq:foo=1", "fpga")
    with pytest.raises(InputError, match="table_policy must be one of"):
        _run(mapper="lut-vq:table_policy=lazy")
    with pytest.raises(InputError, match="lm_head must be one of"):
        _run(mapper="lut-vq:lm_head=int4")
    with pytest.raises(InputError, match=r"hw 'u280' has no fpga.lut_vq block \(LUT-LLM engine\)") as err:
        evaluate(QWEN, "u280", "decode", 1, 256, mapper="lut-vq")
    assert err.value.field == "fpga.lut_vq"
    with pytest.raises(InputError, match="no N:M sparsity"):
        _run(sparsity="2:4")


def test_limits_warn_and_kernel_runs() -> None:
    assert not _run().warnings  # seq 256 decode attends the cache plus its own token: within the design
    assert any("reference design limit" in w for w in _run(phase="prefill", seq=512).warnings)
    k = evaluate_kernel("gemv", "v80", 1, 4096, 2048, mapper="lut-vq:table_policy=build_row")
    assert k["latency_s"] == pytest.approx(lut_round(P, 2048, 4096, 1, "build_row").total)
    assert k["table_policy"] == "build_row"
