"""LUT-GEMV unit (``hw/rtl/lut_gemv_unit.v``): cocotb regression per parameter set (bit-exact against
``kernels_ref.lut.lut_gemv_int`` on >= 1000 random vectors plus directed corners, RTL cycles == SimPy model),
a mutation test that a broken RTL line fails it, and the SimPy model / integer reference on their own."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from archsim.rtl.runner import RTL_DIR, run_unit
from archsim.rtl.unit_lut_gemv import UNIT
from archsim.sim.units import lut_gemv as model
from kernels_ref.lut import lut_gemv_int

needs_icarus = pytest.mark.skipif(shutil.which("iverilog") is None or shutil.which("vvp") is None,
                                  reason="Icarus Verilog is not installed (make setup installs it)")

# Simulator start-up: skip pytest's plugin autoload (dash[testing] etc.) and keep cocotb's assertion rewriting to
# the testbench, otherwise every numpy/jax module is re-parsed on each run (PYTHONDONTWRITEBYTECODE): ~10 s.
SIM_ENV = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "COCOTB_REWRITE_ASSERTION_FILES": "tb_*.py"}

PARAM_SETS = [pytest.param(p, id="-".join(f"{k}{v}" for k, v in p.items())) for p in UNIT.param_sets] + [
    pytest.param(p, id="-".join(f"{k}{v}" for k, v in p.items()), marks=pytest.mark.slow) for p in UNIT.slow_param_sets
]


def _run(params: dict[str, int], tmp_path, **kw):
    return run_unit(UNIT.name, UNIT.toplevel, list(UNIT.sources), params, UNIT.test_module, build_root=tmp_path,
                    extra_env=SIM_ENV, **kw)


@needs_icarus
@pytest.mark.parametrize("params", PARAM_SETS)
def test_lut_gemv_rtl(params: dict[str, int], tmp_path) -> None:
    run = _run(params, tmp_path)
    assert run.passed, f"cocotb: {run.failed} of {run.tests} tests failed (seed {run.report.get('seed')}, " \
                       f"log under {run.build_dir})"
    assert run.tests == 4
    assert run.vectors >= 1000
    want = model.cycles(params["R"], params["WBITS"], params["K"], params["ABITS"])
    assert run.report["rtl_cycles"] == run.report["model_cycles"] == want
    assert run.cycles_match
    n = run.report["rtl_stream_cycles"] // want
    assert run.report["rtl_stream_cycles"] == run.report["model_stream_cycles"] == model.cycles(
        params["R"], params["WBITS"], params["K"], vectors=n)


MUTATIONS = {  # one broken line each: (original, mutant)
    "accumulate": ("wire [YW-1:0] acc_next = acc + term;", "wire [YW-1:0] acc_next = acc - term;"),
    "mirror": ("assign new_table[(14-2*e)*TW +: TW] = -odd;", "assign new_table[(14-2*e)*TW +: TW] = odd;"),
    "plane_weight": ("wire [YW-1:0] term = entry_ext << pl;", "wire [YW-1:0] term = entry_ext;"),
}


@needs_icarus
@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_lut_gemv_rtl_mutant_fails(mutation: str, tmp_path, monkeypatch) -> None:
    """A copy of the RTL with one line broken must fail the regression."""
    # Under pytest, cocotb_tools' runner sys.exit()s on failing cocotb tests instead of returning the results
    # that run_unit reports; hide the pytest marker so the failing run comes back as a UnitRun.
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    original, mutant = MUTATIONS[mutation]
    for src in UNIT.sources:
        shutil.copy(RTL_DIR / src, tmp_path / src)
    top = tmp_path / "lut_gemv_unit.v"
    text = top.read_text()
    assert text.count(original) == 1, f"mutation target not found once in the RTL: {original!r}"
    top.write_text(text.replace(original, mutant))
    params = UNIT.param_sets[1] if mutation == "plane_weight" else UNIT.param_sets[0]  # needs WBITS > 1
    run = run_unit(UNIT.name, UNIT.toplevel, list(UNIT.sources), params, UNIT.test_module, rtl_dir=tmp_path,
                   build_root=tmp_path, extra_env=SIM_ENV)
    assert run.tests == 4 and not run.passed, f"mutant '{mutation}' passed the regression"


# --------------------------------------------------------------------------------------------
# the SimPy model and the integer reference (no simulator)
# --------------------------------------------------------------------------------------------


def test_model_closed_form_equals_simpy() -> None:
    for R in (1, 2, 3, 4, 8):
        for W in (1, 2, 3, 4):
            for K in (4, 8, 12, 32, 64):
                for n in (1, 3):
                    want = (K // 4) * (1 + R * W) + 1
                    assert model.cycles(R, W, K, vectors=n) == model.simulate(R, W, K, vectors=n) == n * want
    assert model.simulate(4, 4, 32, vectors=1000) == model.cycles(4, 4, 32, vectors=1000) == 137_000


def test_model_param_checks() -> None:
    for bad in ({"R": 0, "WBITS": 2, "K": 8}, {"R": 2, "WBITS": 5, "K": 8}, {"R": 2, "WBITS": 2, "K": 6},
                {"R": 2, "WBITS": 2, "K": 8, "ABITS": 4}, {"R": 2.0, "WBITS": 2, "K": 8}):
        with pytest.raises(ValueError):
            model.cycles(**bad)


def test_rtl_parameters_match_model() -> None:
    """The RTL's parameter names and defaults are the model's (pyverilog introspection lives in archsim rtl)."""
    text = (RTL_DIR / "lut_gemv_unit.v").read_text()
    header = text[text.index("module lut_gemv_unit") : text.index(") (")]
    params = dict((k, int(v)) for k, v in re.findall(r"parameter\s+(\w+)\s*=\s*(\d+)", header))
    assert tuple(params) == model.PARAMS
    assert params == model.DEFAULTS
    for p in UNIT.param_sets + UNIT.slow_param_sets + UNIT.synth_param_sets:
        assert set(p) == set(model.PARAMS)
        model.check_params(p["R"], p["WBITS"], p["K"], p["ABITS"])


def test_lut_gemv_int_reference() -> None:
    # spec 2.7 worked example with a scaled by 2 to integers: y = 2 * 2 * (y_spec / s) = [14, 6]
    q = np.array([[3, 0, 1, 2, 2, 1, 3, 0], [1, 1, 2, 0, 0, 3, 2, 1]])
    a = np.array([1, -2, 4, 3, -1, 2, 0, -4])
    assert np.asarray(lut_gemv_int(q, a, 2)).tolist() == [14, 6]
    rng = np.random.default_rng(7)
    for bits in (1, 2, 3, 4):
        qn = rng.integers(0, 2**bits, size=(5, 3, 16))
        an = rng.integers(-128, 128, size=(5, 16))
        an[0] = -128
        want = np.einsum("nk,nmk->nm", 2 * an, qn - 2 ** (bits - 1))
        assert np.array_equal(np.asarray(lut_gemv_int(qn, an, bits)), want)  # one weight matrix per token
        assert np.array_equal(np.asarray(lut_gemv_int(qn[1], an, bits)), 2 * an @ (qn[1] - 2 ** (bits - 1)).T)
    with pytest.raises(ValueError):
        lut_gemv_int(np.zeros((2, 6), int), np.zeros(6, int), 2)
    with pytest.raises(ValueError):
        lut_gemv_int(np.full((2, 8), 4), np.zeros(8, int), 2)
    with pytest.raises(ValueError):
        lut_gemv_int(np.zeros((3, 2, 8), int), np.zeros((2, 8), int), 2)
