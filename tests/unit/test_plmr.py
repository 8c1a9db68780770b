"""PLMR model of the wafer-scale mesh: primitives, kernels, checks, LLM mapping (spec wafer_mesh.md)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from archsim.analytic import plmr
from archsim.cli.main import main
from archsim.errors import InputError
from archsim.evaluate import evaluate, evaluate_kernel
from archsim.hardware import load_hardware
from archsim.hardware.registry import PRESET_DIR

MP = plmr.mesh_params(load_hardware("wse2"))


def test_preset_consistency_spec_2_2() -> None:
    # 24 B/cycle x 1.1 GHz x 850,000 cores ~ 22 PB/s; 48 KB x 850,000 ~ 40 GB; 7.5 PFLOP/s fp16 SIMD
    assert 24 * 1.1e9 * 850_000 == pytest.approx(22.44e15)
    assert 49_152 * 850_000 == pytest.approx(41.8e9, rel=0.01)
    hw = load_hardware("wse2")
    assert hw.peaks_ops["fp16"].value == pytest.approx(850_000 * 4 * 2 * 1.1e9, rel=1e-3)
    assert hw.power.tdp_w.value == 37.5 * 400
    assert (MP.alpha, MP.beta, MP.lam, MP.c_gemv, MP.c_gemm, MP.t_step) == (1, 30, 1, 4, 1, 400)
    assert MP.usable_bytes == 49_152 - 8_192


def test_primitives_closed_forms() -> None:
    assert plmr.transfer(MP, 100, 3, 2) == 3 * 1 + 2 * 30 + 100
    assert plmr.two_hop_shift(MP, 50) == 52  # independent of P
    assert plmr.cannon_shift(MP, 50, 10) == 9 + 50  # linear in P
    assert plmr.line_bcast(MP, 50, 10) == 9 + 50
    assert plmr.line_bcast(MP, 50, 10, h_seg=1) == 9 + 9 * 30 + 50  # the paper's worst case
    assert plmr.pipeline_allreduce(MP, 8, 16) == 30 * 16 + 2 * 16 + 16
    assert plmr.ring_allreduce(MP, 8, 16) == (2 + 30) * 16 + 16
    # K-tree, P = 16, G = 4 groups of g = 4: beta*(4+4)/2 + alpha*(16 + 2) + 2w
    assert plmr.ktree_allreduce(MP, 8, 16, 4) == 30 * 4 + 18 + 16


@pytest.mark.parametrize("p", [64, 180, 360, 720])
def test_ktree_beats_pipeline_and_ring(p: int) -> None:
    g = plmr.default_groups(p)
    assert plmr.ktree_allreduce(MP, 10, p, g) < plmr.pipeline_allreduce(MP, 10, p)
    assert plmr.ktree_allreduce(MP, 10, p, g) < plmr.ring_allreduce(MP, 10, p)
    # minimised near G = sqrt(P) over the divisors of P
    divisors = [d for d in range(1, p + 1) if p % d == 0]
    best = min(divisors, key=lambda d: plmr.ktree_allreduce(MP, 10, p, d))
    assert abs(best - math.sqrt(p)) <= max(abs(d - math.sqrt(p)) for d in divisors[1:-1])


@pytest.mark.parametrize(("p", "groups"), [(240, 15), (256, 16), (360, 18), (420, 20), (480, 20), (540, 20),
                                           (600, 24), (660, 22), (720, 24)])
def test_default_groups_match_the_artifact_configs(p: int, groups: int) -> None:
    # spec 5.3: the repository's group_num is the divisor of P nearest sqrt(P) (512 uses 32: a choice)
    assert plmr.default_groups(p) == groups


def test_meshgemm_comm_per_step_is_p_independent() -> None:
    a, b = plmr.meshgemm(MP, 360, 8192, 8192, 8192), plmr.meshgemm(MP, 720, 16384, 16384, 16384)
    # same per-core tiles (Mt = Kt = Nt = 23) -> same two-hop shift per step whatever P
    assert plmr.two_hop_shift(MP, 23 * 23) == plmr.two_hop_shift(MP, 23 * 23)
    assert a.steps == 360 and b.steps == 720
    assert (b.cycles - b.comm) / b.steps == pytest.approx((a.cycles - a.comm) / a.steps)


def test_meshgemm_vs_baselines_at_2k() -> None:
    mg, ca, su = (f(MP, 720, 2048, 2048, 2048) for f in (plmr.meshgemm, plmr.cannon, plmr.summa))
    assert 2.0 <= ca.cycles / mg.cycles <= 3.5 and 2.0 <= su.cycles / mg.cycles <= 3.5
    assert mg.eta_share >= 0.7 and ca.eta_share < 0.5 and su.eta_share < 0.5
    # SUMMA and Cannon get slower from 360^2 to 720^2 on a small GEMM; MeshGEMM does not blow up
    for f in (plmr.cannon, plmr.summa):
        assert f(MP, 720, 2048, 2048, 2048).cycles > f(MP, 360, 2048, 2048, 2048).cycles
    # large GEMM: MeshGEMM's advantage shrinks
    assert plmr.cannon(MP, 720, 8192, 8192, 8192).cycles / plmr.meshgemm(MP, 720, 8192, 8192, 8192).cycles < 1.5


def test_meshgemm_memory_formula() -> None:
    kc = plmr.meshgemm(MP, 64, 1024, 1024, 1024)
    assert kc.bytes_per_core == 2 * (2 * 16 * 16 + 2 * 16 * 16 + 16 * 16)  # X0, X1, W0, W1, res


def test_table6_gemv_at_the_best_grid() -> None:
    for k, published in ((16384, 1.2e-6), (32768, 2.03e-6)):
        out = evaluate_kernel("gemv", "wse2", 1, k, k, mapper="meshgemv", grid="auto")
        assert out["latency_s"] == pytest.approx(published, rel=0.15)
        # autotuned: no other grid is faster
        p = int(out["grid"].split("x")[0])
        assert plmr.meshgemv(MP, p, k, k).cycles == min(plmr.meshgemv(MP, q, k, k).cycles for q in range(16, 751))
    # with c_gemv = 1 the 32K point would be unreachable on any square grid (spec 5.4)
    slow = plmr.MeshParams(**{**{f: getattr(MP, f) for f in MP.__slots__}, "c_gemv": 1.0})
    assert min(plmr.meshgemv(slow, q, 32768, 32768).cycles for q in range(16, 751)) > 2233


def test_kv_shift_capacity_ratio_is_the_row_count() -> None:
    # Table 5 ratio 137,548 / 382 = 360.07 ~ the 360 rows of LLaMA3-8B's decode grid
    concat, shift = plmr.kv_capacity(MP, 360, 360, 1024, 8, 4096, 40_000)
    assert shift / concat == 360
    assert 137_548 / 382 == pytest.approx(360, rel=1e-3)


def test_sram_rejection_message(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["kernel", "gemm", "--hw", "wse2", "--m", "8192", "--n", "8192", "--k", "8192",
                 "--mapper", "meshgemm", "--grid", "16x16"])
    err = capsys.readouterr().err
    assert code == 2
    # Mt = Kt = Nt = 512: 2 B x (2*512*512 + 2*512*512 + 512*512) = 2,621,440 B = 2560 KB
    assert err.strip() == ("archsim: error: meshgemm P=16 for gemm needs 2560 KB per core, wse2 has 48 KB "
                           "(40 KB usable).")


def test_routing_rejection_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (PRESET_DIR / "wse2.yaml").read_text().replace("id: wse2", "id: few-routes").replace(
        "route_budget: {value: 24", "route_budget: {value: 8")
    path = tmp_path / "few.yaml"
    path.write_text(text)
    code = main(["kernel", "gemm", "--hw", str(path), "--m", "1024", "--n", "1024", "--k", "1024",
                 "--mapper", "meshgemm", "--grid", "64x64"])
    assert code == 2
    assert capsys.readouterr().err.strip() == ("archsim: error: meshgemm P=64 needs 13 routes per core, "
                                               "few-routes has a budget of 8.")


def test_grid_errors() -> None:
    with pytest.raises(InputError, match="not square"):
        evaluate_kernel("gemv", "wse2", 1, 1024, 1024, grid="64x32")
    with pytest.raises(InputError, match="largest square kernel rectangle is 750x750"):
        evaluate_kernel("gemv", "wse2", 1, 1024, 1024, grid="800x800")
    with pytest.raises(InputError, match="660x660 or be 'auto'"):
        evaluate_kernel("gemv", "wse2", 1, 1024, 1024, grid="big")


def test_decode_slows_as_the_grid_grows_and_prefill_scales_sublinearly() -> None:
    dec = [evaluate("llama3-8b", "wse2", "decode", 1, 4096, grid=f"{p}x{p}").tokens_per_s for p in (420, 540, 660)]
    assert dec[0] > dec[1] > dec[2]
    pre = [evaluate("llama3-8b", "wse2", "prefill", 1, 4096, grid=f"{p}x{p}").tokens_per_s for p in (480, 720)]
    assert 1.2 <= pre[1] / pre[0] <= 1.6  # published ~1.36


def test_decode_warns_when_layers_do_not_fit_the_fabric() -> None:
    # 420^2: ~2.7 KB of weights + KV per layer per core -> 15 layers per region, 3 stages, 2 regions
    r = evaluate("llama3-8b", "wse2", "decode", 1, 4096, grid="420x420")
    assert (r.extra["layers_per_region"], r.extra["pipeline_stages"], r.extra["regions_on_fabric"]) == (15, 3, 2)
    assert any("3 pipeline stages" in w and "holds 2" in w for w in r.warnings)
    # 660^2 holds the whole model (~1 KB per layer per core with GQA K/V): one stage, no warning
    r = evaluate("llama3-8b", "wse2", "decode", 1, 4096, grid="660x660")
    assert r.extra["pipeline_stages"] == 1 and not r.warnings


def test_other_models_run_with_the_same_preset() -> None:
    for model in ("llama2-13b", "codellama-34b", "qwen2-72b"):
        r = evaluate(model, "wse2", "decode", 1, 4096, grid="auto")
        assert r.tokens_per_s > 0 and r.extra["grid"].endswith(r.extra["grid"].split("x")[0])


@pytest.mark.parametrize("name", ["meshgemm", "cannon", "summa", "allgather-gemm", "gemm-t", "meshgemv",
                                  "pipeline-gemv", "ring-gemv"])
def test_every_mesh_mapper_emulates_exactly(name: str) -> None:
    import numpy as np

    from mappers import get_mapper

    mapper = get_mapper(name, "mesh")
    for m, k, n in ((7, 10, 9), (1, 13, 11)):  # a GEMM and a GEMV, dims not divisible by the grid
        out, ref = mapper.emulate(m, k, n, grid=4)
        np.testing.assert_allclose(np.asarray(out).reshape(np.shape(ref)), np.asarray(ref), rtol=1e-5, atol=1e-5)


def test_simulator_ring_matches_the_reference_ring() -> None:
    from archsim.sim.mesh import interleave_next
    from kernels_ref.mesh import ring_send_to

    for p in range(3, 65):
        assert interleave_next(p) == ring_send_to(p)


def test_batched_decode_shares_weight_tiles() -> None:
    # batch 8 decode keeps the decode layout: 8 tokens per weight tile, one allreduce of 8 x Nt
    one = evaluate("llama2-7b", "wse2", "decode", 1, 1024, grid="420x420")
    eight = evaluate("llama2-7b", "wse2", "decode", 8, 1024, grid="420x420")
    q = next(c for c in eight.ops if c.op.name == "q_proj")
    assert q.kernel.startswith("meshgemv x8")
    assert eight.tokens_per_s > 4 * one.tokens_per_s  # far from 8 x the cost of one token
    kc1, kc8 = plmr.meshgemv(MP, 420, 4096, 4096), plmr.meshgemv(MP, 420, 4096, 4096, rows=8)
    assert kc8.compute == 8 * kc1.compute
    assert kc8.comm - kc1.comm == pytest.approx(2 * 7 * plmr.tile(4096, 420))  # 2w/lambda with w = 8 Nt


def test_ktree_options_on_the_mapper(capsys: pytest.CaptureFixture[str]) -> None:
    base = evaluate_kernel("gemv", "wse2", 1, 16384, 16384, mapper="meshgemv", grid="456x456")
    g24 = evaluate_kernel("gemv", "wse2", 1, 16384, 16384, mapper="meshgemv:groups=24", grid="456x456")
    k3 = evaluate_kernel("gemv", "wse2", 1, 16384, 16384, mapper="meshgemv:k=3", grid="456x456")
    # groups=24 (g = 19) vs the default 19 (g = 24): beta*(g+G)/2 is equal, alpha*g/2 differs by 2.5 cycles
    assert g24["latency_s"] - base["latency_s"] == pytest.approx((19 / 2 - 24 / 2) / 1.1e9)
    assert k3["routes_per_core"] == 15 and base["routes_per_core"] == 11
    assert k3["latency_s"] * 1.1e9 == pytest.approx(36 * 36 / 4 + plmr.ktree_general(MP, 36, 456, 3))
    for bad, message in (("meshgemv:k=6", "needs 27 routes per core, wse2 has a budget of 24."),
                         ("meshgemv:groups=7", "K-tree groups=7 must divide the grid side P=456."),
                         ("meshgemv:depth=2", "takes options k and groups, got 'depth'."),
                         ("meshgemv:k", "must look like name:key=value")):
        assert main(["kernel", "gemv", "--hw", "wse2", "--k", "16384", "--n", "16384", "--mapper", bad,
                     "--grid", "456x456"]) == 2
        assert message in capsys.readouterr().err
    assert main(["kernel", "gemv", "--hw", "a100-80g", "--k", "64", "--n", "64", "--mapper", "gemm:x=1"]) == 2
    assert "takes no options" in capsys.readouterr().err


def test_generation_on_the_wafer_adds_the_relayout_once() -> None:
    r = evaluate("llama3-8b", "wse2", "prefill", 1, 4096, gen=8)
    names = [c.op.name for c in r.ops]
    assert names.count("prefill_to_decode_relayout") == 1
    relayout = next(c for c in r.ops if c.op.name == "prefill_to_decode_relayout")
    assert relayout.time_s > 0 and r.latency_s == pytest.approx(r.extra["ttft_s"] + r.extra["decode_s"])
    assert sum(c.total_time_s for c in r.ops) == pytest.approx(r.latency_s, rel=1e-9)


def test_generation_reports_both_phases_grids_and_warnings() -> None:
    r = evaluate("llama3-8b", "wse2", "prefill", 1, 4096, gen=4, grid="420x420")
    assert r.extra["prefill_grid"] == r.extra["decode_grid"] == "420x420"
    assert any("pipeline stages" in w for w in r.warnings)
