"""Configurable sparse DSP chain (``hw/rtl/sparse_dsp_chain.v``): cocotb regression per parameter set (bit-exact
against ``kernels_ref.sparse`` ``simulate_chain`` and ``sparse_matmul`` on >= 1000 random tiles plus directed
corners, RTL cycles == SimPy unit model), mutation tests that a broken RTL line fails it, and the SimPy model
on its own against ``kernels_ref.sparse.chain_cycles``."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from archsim.rtl.runner import RTL_DIR, run_unit
from archsim.rtl.unit_sparse_dsp_chain import UNIT
from archsim.sim.units import sparse_chain as model
from kernels_ref import sparse as ref

needs_icarus = pytest.mark.skipif(shutil.which("iverilog") is None or shutil.which("vvp") is None,
                                  reason="Icarus Verilog is not installed (make setup installs it)")

# Simulator start-up: skip pytest's plugin autoload and keep cocotb's assertion rewriting to the testbench,
# otherwise every numpy/jax module is re-parsed on each run (PYTHONDONTWRITEBYTECODE): ~10 s.
SIM_ENV = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "COCOTB_REWRITE_ASSERTION_FILES": "tb_*.py"}
N_TESTS = 5  # cocotb tests in tests/rtl/tb_sparse_dsp_chain.py


def _id(p: dict[str, int]) -> str:
    return "-".join(f"{k}{v}" for k, v in p.items())


PARAM_SETS = [pytest.param(p, id=_id(p)) for p in UNIT.param_sets] + [
    pytest.param(p, id=_id(p), marks=pytest.mark.slow) for p in UNIT.slow_param_sets
]


@needs_icarus
@pytest.mark.parametrize("params", PARAM_SETS)
def test_sparse_dsp_chain_rtl(params: dict[str, int], tmp_path) -> None:
    run = run_unit(UNIT.name, UNIT.toplevel, list(UNIT.sources), params, UNIT.test_module, build_root=tmp_path,
                   extra_env=SIM_ENV)
    assert run.passed, f"cocotb: {run.failed} of {run.tests} tests failed (seed {run.report.get('seed')}, " \
                       f"log under {run.build_dir})"
    assert run.tests == N_TESTS
    assert run.vectors >= 1000
    assert run.report["stream_tiles"] >= 1000
    assert run.cycles_match and run.report["rtl_cycles"] == run.report["model_cycles"] > 0
    for case in run.report["cycle_cases"]:  # single tiles: RTL == SimPy model == kernels_ref.chain_cycles
        want = ref.chain_cycles(case["k"], case["n_out"], params["CHAIN"], params["N"], params["M"])
        assert case["rtl"] == case["model"] == want, case


MUTATIONS = {  # one broken line each (file, original, mutant)
    "mux_select": ("sparse_dsp_slice.v", "wire [23:0] op_now = {w, cand_a[idx*8 +: 8], cand_b[idx*8 +: 8]};",
                   "wire [23:0] op_now = {w, cand_a[0 +: 8], cand_b[idx*8 +: 8]};"),
    "rn_cut": ("sparse_dsp_group.v", "assign cas_b = rn_cut ? {ACCW{1'b0}} : p1_b;", "assign cas_b = p1_b;"),
}


@needs_icarus
@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_sparse_dsp_chain_mutant_fails(mutation: str, tmp_path, monkeypatch) -> None:
    """A copy of the RTL with one line broken (the sparse MUX select of lane A, or the reduction node's cut of
    lane B's cascade) must fail the regression."""
    # Under pytest, cocotb_tools' runner sys.exit()s on failing cocotb tests instead of returning the results
    # that run_unit reports; hide the pytest marker so the failing run comes back as a UnitRun.
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    name, original, mutant = MUTATIONS[mutation]
    for src in UNIT.sources:
        shutil.copy(RTL_DIR / src, tmp_path / src)
    target = tmp_path / name
    text = target.read_text()
    assert text.count(original) == 1, f"mutation target not found once in {name}: {original!r}"
    target.write_text(text.replace(original, mutant))
    params = {"CHAIN": 8, "N": 4, "M": 16}  # two sub-chains per pass: the cut matters
    run = run_unit(UNIT.name, UNIT.toplevel, list(UNIT.sources), params, UNIT.test_module, rtl_dir=tmp_path,
                   build_root=tmp_path, extra_env={**SIM_ENV, "ARCHSIM_SPARSE_TILES": "20"})
    assert run.tests == N_TESTS and not run.passed, f"mutant '{mutation}' passed the regression"


# --------------------------------------------------------------------------------------------
# the SimPy unit model (no simulator)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("chain_len,n", [(4, 2), (4, 8), (8, 2), (8, 4), (8, 16), (16, 8), (16, 16), (32, 4)])
@pytest.mark.parametrize("k,n_out", [(16, 1), (16, 16), (48, 16), (64, 48)])
def test_unit_model_equals_reference(chain_len: int, n: int, k: int, n_out: int) -> None:
    want = ref.chain_cycles(k, n_out, chain_len, n)
    assert model.cycles(k, n_out, chain_len, n) == model.simulate(k, n_out, chain_len, n) == want


def test_unit_model_stream_and_simulate_chain() -> None:
    tiles = [(16, 16), (32, 16), (16, 32), (64, 48)]
    total = sum(model.passes(k, n_out, 8, 4) for k, n_out in tiles)
    assert model.stream_cycles(tiles, 8, 4) == model.simulate_stream(tiles, 8, 4) == total + 8 - 1
    assert model.simulate_stream([], 8, 4) == model.stream_cycles([], 8, 4) == 0
    x = np.zeros((2, 32), np.int64)
    fsb = ref.encode_fsb(np.zeros((16, 32), np.int64), 4)
    assert ref.simulate_chain(x, fsb, 8)[1].cycles == model.cycles(32, 16, 8, 4)


def test_unit_params_match_rtl_names() -> None:
    assert model.PARAMS == ("CHAIN", "N", "M")
    for params in (*UNIT.param_sets, *UNIT.slow_param_sets, *UNIT.synth_param_sets):
        assert tuple(params) == model.PARAMS
        model.check_params(params["CHAIN"], params["N"], params["M"])


@pytest.mark.parametrize("bad", [dict(chain_len=2, n=2), dict(chain_len=12, n=8), dict(chain_len=8, n=3),
                                 dict(chain_len=8, n=4, m=12), dict(chain_len=8, n=32)])
def test_unit_model_rejects_unbuildable_parameters(bad: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        model.check_params(**bad)
