"""pytest wrapper of the MeshGEMM PE array's RTL regression (hw/rtl/mesh_array.v, tests/rtl/tb_mesh_array.py).

Each parameter set of ``archsim.rtl.unit_mesh_array.UNIT`` is built with Icarus into its own directory and runs
the cocotb testbench (>= 1000 random products plus directed corners, bit-exact against kernels_ref, per-step
tile placement checked against kernels_ref's MeshGEMM schedule); the cycles measured from the first input to
the last output must equal the SimPy unit model. Mutation tests break one RTL line in a copy and expect the
regression to fail. The unit model itself is checked against the family simulator without Icarus.
"""

from __future__ import annotations

import shutil

import pytest

from archsim.rtl.runner import RTL_DIR, run_unit
from archsim.rtl.unit_mesh_array import UNIT
from archsim.sim.units import mesh_array as model

needs_icarus = pytest.mark.skipif(shutil.which("iverilog") is None or shutil.which("vvp") is None,
                                  reason="Icarus Verilog is not installed (make setup installs it)")


def _tag(params: dict[str, int]) -> str:
    return "-".join(f"{k}{v}" for k, v in params.items())


PARAM_SETS = [pytest.param(p, id=_tag(p)) for p in UNIT.param_sets] + \
             [pytest.param(p, id=_tag(p), marks=pytest.mark.slow) for p in UNIT.slow_param_sets]


@needs_icarus
@pytest.mark.parametrize("params", PARAM_SETS)
def test_mesh_array_rtl(params: dict[str, int]) -> None:
    run = run_unit(UNIT.name, UNIT.toplevel, list(UNIT.sources), params, UNIT.test_module)
    seed = run.report.get("seed")
    assert run.passed, f"{run.failed}/{run.tests} cocotb tests failed (seed {seed}, build {run.build_dir})"
    assert run.vectors >= 1000, f"only {run.vectors} products checked"
    assert run.report["random_products"] >= 1000
    expected = model.cycles(params["P"], params["T"])
    assert run.report["model_cycles"] == expected == model.simulate(params["P"], params["T"])
    assert run.report["rtl_cycles"] == expected, f"RTL {run.report['rtl_cycles']} cycles, model {expected}"
    assert run.cycles_match
    assert run.report["placement_steps_checked"] >= 1000 * params["P"]


# One RTL line broken in a copy of the sources: (file, original line fragment, mutant, what it breaks).
MUTATIONS = [
    ("mesh_array.v", "ring_src = fwd ? phi(n, (pos + n - 1) % n) : phi(n, (pos + 1) % n);",
     "ring_src = fwd ? phi(n, (pos + 1) % n) : phi(n, (pos + n - 1) % n);", "ring shift direction"),
    ("mesh_array.v", "assign a_w2 = a_re[ID - 1];", "assign a_w2 = a_rw[ID - 1];", "two-hop relay path"),
    ("mesh_pe.v", "c[c_idx * 32 +: 32] <= c_el + {{16{prod[15]}}, prod};",
     "c[c_idx * 32 +: 32] <= c_el + {16'd0, prod};", "MAC sign extension"),
]


@needs_icarus
@pytest.mark.parametrize("file, original, mutant, what", MUTATIONS, ids=[m[3] for m in MUTATIONS])
def test_mutant_fails(tmp_path, file: str, original: str, mutant: str, what: str) -> None:
    for src in UNIT.sources:
        shutil.copy(RTL_DIR / src, tmp_path / src)
    text = (tmp_path / file).read_text()
    assert text.count(original) == 1, f"mutation site '{original}' not found once in {file}"
    (tmp_path / file).write_text(text.replace(original, mutant))
    run = run_unit(UNIT.name, UNIT.toplevel, list(UNIT.sources), {"P": 3, "T": 1}, UNIT.test_module,
                   rtl_dir=tmp_path, build_root=tmp_path, extra_env={"ARCHSIM_MESH_PRODUCTS": "50"})
    assert run.tests > 0, "the mutant's testbench did not run"
    assert not run.passed, f"the regression missed a broken {what}"


def test_unit_model_agrees() -> None:
    """Closed form == event-by-event SimPy == the family simulator's MeshGEMM (align + steps) plus load and
    drain; the unit's ring is kernels_ref's INTERLEAVE ring."""
    from kernels_ref.mesh import interleave_ring, ring_send_to

    for p in range(2, 9):
        for t in (1, 2, 3):
            c = model.cycles(p, t)
            assert model.simulate(p, t) == c, (p, t)
            if p >= 3:
                assert model.family_cycles(p, t) == c, (p, t)
        if p >= 3:
            assert model.ring(p) == interleave_ring(p)
            assert [model.ring_src(p, ring_send_to(p)[i], forward=True) for i in range(p)] == list(range(p))
    assert model.cycles(3, 1) == 35 and model.cycles(4, 2) == 228 and model.cycles(2, 2) == 65
    assert model.cycles(3, 1, in_gaps=4, out_stalls=5) == 44
    with pytest.raises(ValueError):
        model.cycles(1, 1)


@needs_icarus
def test_rtl_parameters_match_unit() -> None:
    """The Verilog's parameters and defaults (read with pyverilog) are the unit model's, and every parameter
    set sets exactly them."""
    from archsim.rtl.info import top_module

    defaults = top_module(UNIT).param_defaults()
    assert defaults == model.DEFAULTS and tuple(defaults) == model.PARAMS
    for params in (*UNIT.param_sets, *UNIT.slow_param_sets, *UNIT.synth_param_sets):
        assert set(params) == set(defaults)
