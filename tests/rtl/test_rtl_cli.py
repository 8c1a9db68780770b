"""``archsim rtl info|synth|verify`` and the co-design hook (``archsim run --unit-cost-from-rtl``, the sparse-dsp
mapper's ``unit_*`` options) on small fixture designs written to tmp_path, plus the drift check between the
Python unit definitions (``archsim/rtl/unit_*.py``) and the parameters their Verilog declares."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from archsim.analytic.fpga import UnitCost, chains_that_fit, fpga_params
from archsim.cli import commands
from archsim.cli.main import main
from archsim.errors import InputError
from archsim.hardware import load_hardware
from archsim.rtl import info as rtl_info
from archsim.rtl import synth, verify
from archsim.rtl.runner import RTL_DIR
from archsim.rtl.units import RtlUnit, all_units

needs_yosys = pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not on PATH (make setup installs it)")

MUL_V = """\
// registered signed multiplier with a valid flag, plus a non-ANSI helper module
module mul8 #(
    parameter W = 8,
    parameter OW = 2 * W,
    parameter [3:0] MODE = 4'd3,
    parameter D = $clog2(W) + 1
) (
    input  wire                 clk,
    input  wire                 rst,
    input  wire signed [W-1:0]  a,
    input  wire signed [W-1:0]  b,
    output reg  signed [OW-1:0] p,
    output wire [D-1:0]         depth,
    output wire [$bits(a)-1:0]  copy
);
    localparam L = (W > 4) ? W + 1 : 4;
    always @(posedge clk) begin
        if (rst) p <= 0;
        else p <= a * b;
    end
    assign depth = D;
    assign copy = a;
endmodule

module helper (x, y, z);
    parameter N = 3;
    input [N:0] x;
    output reg y;
    inout z;
    always @* y = ^x;
endmodule
"""

ADD_V = """\
// tiny_add: registered sum with valid/ready (latency 1)
module tiny_add #(parameter W = 8) (
    input  wire         clk,
    input  wire         rst,
    input  wire         s_valid,
    output wire         s_ready,
    input  wire [W-1:0] a,
    input  wire [W-1:0] b,
    output reg          m_valid,
    input  wire         m_ready,
    output reg  [W:0]   sum
);
    assign s_ready = !m_valid || m_ready;
    always @(posedge clk) begin
        if (rst) m_valid <= 1'b0;
        else if (s_ready) begin
            m_valid <= s_valid;
            sum <= a + b;
        end
    end
endmodule
"""

TB_PY = '''\
"""Testbench of the tiny_add fixture: one vector per cycle, checked one cycle later."""
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge

from archsim.rtl.runner import unit_params, write_report


@cocotb.test()
async def add_vectors(dut):
    w = unit_params().get("W", 8)
    n = 40
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.s_valid.value = 0
    dut.m_ready.value = 1
    dut.a.value = 0
    dut.b.value = 0
    for _ in range(2):
        await FallingEdge(dut.clk)
    dut.rst.value = 0
    vectors = [(random.randrange(1 << w), random.randrange(1 << w)) for _ in range(n)] + [(0, 0), (2**w - 1, 2**w - 1)]
    expect, got, cycles = [], [], 0
    for a, b in vectors + [(None, None)]:
        if int(dut.m_valid.value):
            got.append(int(dut.sum.value))
        if a is None:
            dut.s_valid.value = 0
        else:
            dut.a.value, dut.b.value, dut.s_valid.value = a, b, 1
            expect.append(a + b)
        await FallingEdge(dut.clk)
        cycles += 1
    write_report(vectors=len(vectors), rtl_cycles=cycles - 1, model_cycles=len(vectors))
    assert got == expect
'''


@pytest.fixture()
def mul_v(tmp_path: Path) -> Path:
    path = tmp_path / "mul8.v"
    path.write_text(MUL_V)
    return path


@pytest.fixture()
def synth_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "synth_cache"
    monkeypatch.setattr(synth, "SYNTH_ROOT", root)
    return root


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def _one_error(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("archsim: error: "), err
    assert "Traceback" not in err
    return lines[0]


# --- info -------------------------------------------------------------------------------------------------


def test_info_reads_modules_ports_widths_and_parameters(mul_v: Path) -> None:
    mods = {m.name: m for m in rtl_info.file_modules(mul_v)}
    assert list(mods) == ["mul8", "helper"]
    m = mods["mul8"]
    assert m.param_defaults() == {"W": 8, "OW": 16, "MODE": 3, "D": 4}
    assert [(p.name, p.expr) for p in m.parameters][1] == ("OW", "2 * W")
    assert [(p.name, p.value, p.kind) for p in m.localparams] == [("L", 9, "localparam")]
    ports = {p.name: p for p in m.ports}
    assert list(ports) == ["clk", "rst", "a", "b", "p", "depth", "copy"]
    assert (ports["clk"].direction, ports["clk"].width) == ("input", 1)
    assert (ports["a"].width, ports["a"].signed, ports["a"].range) == (8, True, "[W - 1:0]")
    assert (ports["p"].direction, ports["p"].width, ports["p"].net) == ("output", 16, "reg")
    assert ports["depth"].width == 4
    assert isinstance(ports["copy"].width, str) and "$bits" in ports["copy"].width  # not resolvable: as written
    h = mods["helper"]
    assert h.param_defaults() == {"N": 3}
    assert [(p.name, p.direction, p.width) for p in h.ports] == [("x", "input", 4), ("y", "output", 1),
                                                                ("z", "inout", 1)]


def test_info_overrides_resolve_widths(mul_v: Path) -> None:
    m = rtl_info.file_modules(mul_v, {"W": 4}, "mul8")[0]
    widths = {p.name: p.width for p in m.ports}
    assert (widths["a"], widths["p"], widths["depth"]) == (4, 8, 3)
    assert m.param_defaults()["OW"] == 8


@pytest.mark.parametrize(("text", "value"), [("8", 8), ("4'd3", 3), ("8'hFF", 255), ("8'shFF", -1), ("'b1010", 10),
                                             ("1_000", 1000), ("32'sd5", 5)])
def test_int_literals(text: str, value: int) -> None:
    assert rtl_info._int_literal(text) == value


def test_info_cli_table_and_json(mul_v: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(["rtl", "info", str(mul_v)], capsys)
    assert rc == 0
    assert "mul8" in out and "helper" in out and "[W - 1:0]" in out and "2 * W" in out
    rc, out, _ = _run(["rtl", "info", str(mul_v), "--param", "W=16", "--format", "json"], capsys)
    assert rc == 0
    data = json.loads(out)
    ports = {p["name"]: p for p in data[0]["modules"][0]["ports"]}
    assert ports["p"]["width"] == 32 and ports["p"]["direction"] == "output"


def test_info_errors_are_one_sentence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = _run(["rtl", "info", str(tmp_path / "missing.v")], capsys)
    assert rc == 2 and "does not exist" in _one_error(err)
    bad = tmp_path / "bad.v"
    bad.write_text("module bad (input wire a; endmodule\n")
    rc, _, err = _run(["rtl", "info", str(bad)], capsys)
    assert rc == 2 and "cannot parse" in _one_error(err)
    rc, _, err = _run(["rtl", "info", "no_such_unit"], capsys)
    assert rc == 2 and "unknown RTL unit 'no_such_unit'" in _one_error(err)
    rc, _, err = _run(["rtl", "info", str(bad), "--param", "W"], capsys)
    assert rc == 2 and "NAME=INTEGER" in _one_error(err)


# --- synth ------------------------------------------------------------------------------------------------


@needs_yosys
def test_synth_generic_and_xilinx_counts_and_cache(mul_v: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    gen = synth.synth_files([mul_v], "mul8", {"W": 8}, "generic", cache_root=cache)
    assert gen.summary["FF"] == 16 and gen.summary["cells"] > 100 and not gen.cached
    assert any(c.startswith("$_") for c in gen.cells)
    xil = synth.synth_files([mul_v], "mul8", {"W": 8}, "xilinx", cache_root=cache)
    # an 8 x 8 product fits one DSP48E2; the output register stays in fabric flip-flops
    assert (xil.summary["DSP48E2"], xil.summary["LUT"], xil.summary["FF"]) == (1, 0, 16)
    assert "IBUF" not in xil.cells and "BUFG" not in xil.cells  # out-of-context: no I/O or clock buffers
    assert synth.unit_cost(xil) == UnitCost(dsp=1, lut=0, ff=16)
    again = synth.synth_files([mul_v], "mul8", {"W": 8}, "xilinx", cache_root=cache)
    assert again.cached and again.cells == xil.cells
    assert (cache / "mul8" / "xilinx_W8.json").exists()
    with pytest.raises(InputError, match="Xilinx synthesis"):
        synth.unit_cost(gen)
    mul_v.write_text(MUL_V.replace("a * b", "a * b + 1"))  # a changed source is not served from the cache
    assert not synth.synth_files([mul_v], "mul8", {"W": 8}, "generic", cache_root=cache).cached


@needs_yosys
def test_synth_cli_small_multiplier_maps_to_luts(mul_v: Path, synth_cache: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(["rtl", "synth", str(mul_v), "--target", "xilinx", "--param", "W=4", "--format", "json"], capsys)
    assert rc == 0
    res = json.loads(out)
    # yosys keeps products of 4-bit operands in LUTs (below the DSP48E2 inference threshold)
    assert res["summary"]["DSP48E2"] == 0 and res["summary"]["LUT"] > 0 and res["params"] == {"W": 4}
    rc, out, _ = _run(["rtl", "synth", str(mul_v), "--target", "xilinx", "--param", "W=4"], capsys)
    assert rc == 0 and "(cached)" in out and "DSP48E2" in out and "LUT" in out


def test_synth_errors_are_one_sentence(mul_v: Path, synth_cache: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = _run(["rtl", "synth", "no_such_unit"], capsys)
    assert rc == 2 and "unknown RTL unit" in _one_error(err)
    rc, _, err = _run(["rtl", "synth", str(mul_v), "--param", "Q=1"], capsys)
    assert rc == 2 and "mul8 has no parameter Q; parameters: W, OW, MODE, D." in _one_error(err)
    rc, _, err = _run(["rtl", "synth", str(mul_v), "--param", "W=eight"], capsys)
    assert rc == 2 and "must be an integer" in _one_error(err)
    rc, _, err = _run(["rtl", "synth", str(mul_v), "--top", "nope"], capsys)
    assert rc == 2 and "has no module 'nope'" in _one_error(err)
    with pytest.raises(SystemExit) as exc:
        main(["rtl", "synth", str(mul_v), "--target", "altera"])
    assert exc.value.code == 2 and "--target: invalid choice" in _one_error(capsys.readouterr().err)
    which = shutil.which
    monkeypatch.setattr(synth.shutil, "which", lambda name, *a, **k: None if name == "yosys" else which(name, *a, **k))
    rc, _, err = _run(["rtl", "synth", str(mul_v)], capsys)
    assert rc == 2 and "'yosys' is not on PATH" in _one_error(err)


@needs_yosys
def test_synth_unit_spells_out_literal_defaults(mul_v: Path, synth_cache: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    unit = RtlUnit(name="mulunit", toplevel="mul8", sources=(str(mul_v),), test_module="-", param_sets=({},))
    monkeypatch.setattr(rtl_info, "all_units", lambda: {"mulunit": unit})
    first = synth.synth_unit("mulunit", "generic", {"W": 6})
    assert first.params == {"W": 6, "MODE": 3} and not first.cached  # OW and D stay derived from W
    assert synth.synth_unit("mulunit", "generic", {"W": 6, "MODE": 3}).cached
    assert synth.synth_unit("mulunit", "generic").params == {"W": 8, "MODE": 3}
    with pytest.raises(InputError, match="mul8 has no parameter X; parameters: W, OW, MODE, D"):
        synth.synth_unit("mulunit", "generic", {"X": 1})


@needs_yosys
def test_synth_reports_a_yosys_failure(tmp_path: Path) -> None:
    bad = tmp_path / "bad.v"
    bad.write_text("module bad (input wire a, output wire y);\n  assign y = a +;\nendmodule\n")
    with pytest.raises(InputError, match="yosys failed on bad"):
        synth.synth_files([bad], "bad", {}, "generic", cache_root=tmp_path)


# --- verify -----------------------------------------------------------------------------------------------


def _tiny_unit(tmp_path: Path, name: str = "tiny", body: str = ADD_V,
               param_sets: tuple[dict[str, int], ...] = ({"W": 8},)) -> RtlUnit:
    src = tmp_path / f"{name}.v"
    src.write_text(body)
    (tmp_path / "tb_tiny_add.py").write_text(TB_PY)
    # an absolute source path works whatever rtl_dir the runner joins it to
    return RtlUnit(name=name, toplevel="tiny_add", sources=(str(src),), test_module="tb_tiny_add",
                   param_sets=param_sets, slow_param_sets=({"W": 12},))


@pytest.fixture()
def rtl_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Testbenches importable from tmp_path, builds under tmp_path."""
    monkeypatch.syspath_prepend(str(tmp_path))
    import archsim.rtl.runner as runner

    monkeypatch.setattr(runner, "BUILD_ROOT", tmp_path / "build")
    monkeypatch.setattr(verify, "BUILD_ROOT", tmp_path / "build")
    return tmp_path


def test_verify_passes_fails_and_writes_json(rtl_sandbox: Path) -> None:
    good = _tiny_unit(rtl_sandbox)
    broken = _tiny_unit(rtl_sandbox, "broken", ADD_V.replace("a + b", "a - b"))
    uncompilable = _tiny_unit(rtl_sandbox, "uncompilable", ADD_V.replace("assign s_ready", "assign s_ready +"))
    units = {u.name: u for u in (good, broken, uncompilable)}
    out = rtl_sandbox / "verify.json"
    seen: list[tuple[int, bool]] = []
    summary = verify.verify(None, units=units, seed=7, json_path=out,
                            progress=lambda i, n, row, run: seen.append((i, row is None)))
    rows = {r.unit: r for r in summary.rows}
    assert rows["tiny"].ok and rows["tiny"].vectors == 42 and rows["tiny"].rtl_cycles == rows["tiny"].model_cycles
    assert rows["tiny"].seed == 7 and rows["tiny"].tests == 1
    assert not rows["broken"].ok and "1 of 1 cocotb tests failed" in rows["broken"].error
    assert not rows["uncompilable"].ok and rows["uncompilable"].error
    assert not summary.all_ok
    assert seen == [(0, True), (0, False), (1, True), (1, False), (2, True), (2, False)]
    data = json.loads(out.read_text())
    assert data["all_passed"] is False and data["runs"] == 3 and data["passed"] == 1
    assert {r["unit"]: r["ok"] for r in data["rows"]} == {"tiny": True, "broken": False, "uncompilable": False}
    assert Path(rows["broken"].log).exists()  # simulator output went to the log, not the terminal


def test_verify_cli_exit_codes_table_and_slow_sets(rtl_sandbox: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    good = _tiny_unit(rtl_sandbox, param_sets=({"W": 4}, {"W": 8}))
    broken = _tiny_unit(rtl_sandbox, "broken", ADD_V.replace("a + b", "a ^ b"))
    monkeypatch.setattr(verify, "all_units", lambda: {"tiny": good, "broken": broken})
    out = rtl_sandbox / "v.json"
    rc, text, _ = _run(["rtl", "verify", "--unit", "tiny", "--all", "--seed", "3", "--json", str(out)], capsys)
    assert rc == 0
    assert "RTL regression" in text and "[1/3] tiny W=4" in text and "W=12 (slow)" in text
    assert "3 of 3 runs bit-exact and cycle-exact" in text
    assert json.loads(out.read_text())["include_slow"] is True
    rc, text, _ = _run(["rtl", "verify", "--json", str(out), "--format", "json", "--jobs", "2"], capsys)
    assert rc == 1
    data = json.loads(text)
    assert [r["unit"] for r in data["rows"]] == ["tiny", "tiny", "broken"]
    assert [r["ok"] for r in data["rows"]] == [True, True, False]
    rc, _, err = _run(["rtl", "verify", "--unit", "nope", "--json", str(out)], capsys)
    assert rc == 2 and "unknown RTL unit 'nope'" in _one_error(err)


def test_verify_waves_dump_fst(rtl_sandbox: Path) -> None:
    unit = _tiny_unit(rtl_sandbox)
    summary = verify.verify(None, units={"tiny": unit}, waves=True, json_path=None)
    assert summary.all_ok
    assert list((rtl_sandbox / "build" / "tiny").rglob("*.fst"))


# --- co-design: the sparse-dsp mapper's unit cost and run --unit-cost-from-rtl -------------------------------


def _decode(mapper: str | None = None, hw: str = "u280") -> dict:
    res = commands.run({"model": "llama2-7b", "hw": hw, "phase": "decode", "seq": 512, "mapper": mapper})
    return {"latency": res.latency_s, **res.extra}


def test_sparse_dsp_unit_cost_options() -> None:
    base = _decode()
    assert base["fpga_chains"] == 198 and "fpga_unit_cost" not in base  # default unchanged
    same = _decode("sparse-dsp:unit_dsp=32")
    assert same["fpga_chains"] == 198 and same["latency"] == pytest.approx(base["latency"])
    half = _decode("sparse-dsp:unit_dsp=64,unit_ff=10")
    assert half["fpga_chains"] == 99 and half["fpga_mac_per_cycle"] == base["fpga_mac_per_cycle"] / 2
    assert half["fpga_unit_cost"] == {"dsp": 64.0, "lut": 0.0, "ff": 10.0}
    lut_bound = _decode("sparse-dsp:unit_dsp=32,unit_lut=13036.8,onchip=on")
    assert lut_bound["fpga_chains"] == 100  # 1,303,680 LUTs / 13,036.8 < 6,345 DSPs / 32
    u280 = load_hardware("u280")
    assert chains_that_fit(u280, UnitCost(dsp=0, lut=26)) == 1303680 // 26  # LUT multipliers: LUTs decide
    for bad, msg in (("unit_dsp=x", "non-negative number"), ("unit_dsp=-1", "non-negative number"),
                     ("unit_ff=5", "unit_dsp or unit_lut above 0"), ("unit_cost=1", "unknown sparse-dsp option")):
        with pytest.raises(InputError, match=msg):
            _decode(f"sparse-dsp:{bad}")


def _fake_synth(dsp: float, lut: float, ff: float) -> synth.SynthResult:
    return synth.SynthResult("sparse_dsp_chain", "sparse_dsp_chain", "xilinx", {"CHAIN": 32},
                             {"DSP48E2": int(dsp), "LUT6": int(lut), "FDRE": int(ff)},
                             {"LUT": lut, "LUTRAM/SRL": 0, "FF": ff, "DSP48E2": dsp}, 1.0, "Yosys test")


def test_unit_cost_from_rtl_beside_the_preset(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    fake = _fake_synth(32, 6900, 2200)
    monkeypatch.setattr(commands, "rtl_chain_cost", lambda hw, use_cache=True: (synth.unit_cost(fake), fake))
    argv = ["run", "--hw", "u280", "--model", "llama2-7b", "--seq", "512", "--unit-cost-from-rtl"]
    rc, out, _ = _run([*argv, "--format", "json"], capsys)
    assert rc == 0
    d = json.loads(out)
    assert d["fpga_chains_preset"] == 198 and d["fpga_chains"] == 1303680 // 6900 == 188
    assert d["fpga_chains_by_dsp"] == 198 and d["fpga_chains_limited_by"] == "LUT"
    assert d["fpga_mac_per_cycle"] / d["fpga_mac_per_cycle_preset"] == pytest.approx(188 / 198)
    assert d["fpga_unit_cost"] == {"dsp": 32.0, "lut": 6900.0, "ff": 2200.0}
    assert d["latency_s"] > d["latency_s_preset"]
    rc, out, _ = _run(argv, capsys)
    assert rc == 0 and "typed-in preset" in out and "RTL-derived" in out and "188" in out and "198" in out
    # generation runs carry both phases' figures
    rc, out, _ = _run([*argv, "--gen", "4", "--format", "json"], capsys)
    d = json.loads(out)
    assert rc == 0 and d["decode_fpga_chains_preset"] == 198 and d["prefill_fpga_chains"] == 188


def test_unit_cost_from_rtl_errors(capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = _run(["run", "--hw", "a100-80g", "--model", "llama2-7b", "--unit-cost-from-rtl"], capsys)
    assert rc == 2 and "applies to fpga hardware" in _one_error(err)
    rc, _, err = _run(["run", "--hw", "v80", "--model", "llama2-7b", "--mapper", "lut-vq", "--unit-cost-from-rtl"],
                      capsys)
    assert rc == 2 and "needs the sparse-dsp mapper" in _one_error(err)


def _chain_unit() -> RtlUnit:
    unit = all_units().get(commands.RTL_CHAIN_UNIT)
    if unit is None or not all((RTL_DIR / s).exists() for s in unit.sources):
        pytest.skip(f"the {commands.RTL_CHAIN_UNIT} RTL unit does not exist yet")
    if shutil.which("yosys") is None:
        pytest.skip("yosys not on PATH (make setup installs it)")
    return unit


def _small_chain_preset(tmp_path: Path, chain: int) -> Path:
    text = (Path(rtl_info.__file__).parents[1] / "hardware" / "presets" / "u280.yaml").read_text()
    text = text.replace("id: u280", f"id: u280-chain{chain}").replace("aliases: [alveo-u280]", "aliases: []")
    text = text.replace("chain_dsps: {value: 32,", f"chain_dsps: {{value: {chain},")
    path = tmp_path / f"u280-chain{chain}.yaml"
    path.write_text(text)
    return path


def test_unit_cost_from_rtl_synthesizes_the_chain(tmp_path: Path, synth_cache: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """The real loop on a 4-slice chain (fast): yosys maps each packed slice to one DSP48E2."""
    _chain_unit()
    hw = _small_chain_preset(tmp_path, 4)
    rc, out, err = _run(["run", "--hw", str(hw), "--model", "llama2-7b", "--seq", "512", "--unit-cost-from-rtl",
                         "--format", "json"], capsys)
    assert rc == 0, err
    d = json.loads(out)
    cost = d["fpga_unit_cost"]
    assert d["rtl_synth"]["params"]["CHAIN"] == 4 and cost["lut"] > 0 and cost["ff"] > 0
    spec = load_hardware(hw)
    assert d["fpga_chains"] == fpga_params(spec, UnitCost(**cost)).chains
    assert d["fpga_chains_preset"] == 6345 // 4
    if cost["dsp"] == 4:
        assert not any("DSP48E2" in w for w in d["warnings"])


@pytest.mark.slow
def test_unit_cost_from_rtl_u280(capsys: pytest.CaptureFixture[str]) -> None:
    """The U280 preset's 32-slice chain (yosys takes minutes; cached under out/rtl_build/synth)."""
    _chain_unit()
    rc, out, err = _run(["run", "--hw", "u280", "--model", "llama2-7b", "--seq", "512", "--unit-cost-from-rtl",
                         "--format", "json"], capsys)
    assert rc == 0, err
    d = json.loads(out)
    assert d["rtl_synth"]["params"]["CHAIN"] == 32 and d["fpga_chains_preset"] == 198
    assert 0 < d["fpga_chains"] <= 198


# --- Python unit definitions vs the parameters their RTL declares ------------------------------------------

_UNITS = all_units()


@pytest.mark.parametrize("name", sorted(_UNITS) or ["(none)"])
def test_unit_parameters_match_rtl(name: str) -> None:
    """Every parameter a unit's Python definition sets (regression, slow and synthesis sets) is a parameter
    of its Verilog top module, so the two cannot drift apart."""
    if name not in _UNITS:
        pytest.skip("no RTL units are defined yet")
    unit = _UNITS[name]
    missing = [s for s in unit.sources if not (RTL_DIR / s).exists()]
    if missing:
        pytest.skip(f"{name}: {', '.join(missing)} not written yet")
    top = rtl_info.top_module(unit)
    declared = top.param_defaults()
    for params in (*unit.param_sets, *unit.slow_param_sets, *unit.synth_param_sets):
        unknown = sorted(set(params) - set(declared))
        assert not unknown, f"{name}: {unknown} are not parameters of {unit.toplevel} ({sorted(declared)})"
    assert unit.param_sets, f"{name} has no regression parameter set"
    # the ports still resolve with every parameter set (widths are integers, not expressions)
    for params in unit.param_sets:
        mod = rtl_info.top_module(unit, overrides=params)
        assert all(isinstance(p.width, int) and p.width > 0 for p in mod.ports), (params, mod.ports)


def test_sparse_chain_rtl_matches_the_fpga_model() -> None:
    """The chain RTL's structural constants are the FPGA model's: M (the sparse MUX fan-in, 16 = the FSB block
    and the mapper's limit), DSP groups of 2 (presets' dsp_group, kernels_ref DG_SIZE), and its synthesis sets
    include the presets' chain length (fpga.chain_dsps = kernels_ref's default chain_len = 32)."""
    import inspect

    from kernels_ref import sparse as ref

    unit = _chain_unit()
    declared = rtl_info.top_module(unit).param_defaults()
    assert declared["M"] == ref.BLOCK == 16
    group = declared.get("DG", declared.get("GROUP", ref.DG_SIZE))
    chain_len_default = inspect.signature(ref.simulate_chain).parameters["chain_len"].default
    for hw_id in ("u280", "vhk158", "v80"):
        fp = load_hardware(hw_id).fpga
        assert fp is not None
        assert int(fp.dsp_group.value) == group == ref.DG_SIZE
        assert int(fp.chain_dsps.value) == chain_len_default
    assert any(p.get("CHAIN") == chain_len_default for p in unit.synth_param_sets)
    assert declared["CHAIN"] == chain_len_default  # the RTL's default chain is the presets' chain
    assert declared["CHAIN"] % 2 == 0 and declared["CHAIN"] % declared["N"] == 0


def test_info_on_every_unit(capsys: pytest.CaptureFixture[str]) -> None:
    units = {n: u for n, u in _UNITS.items() if all((RTL_DIR / s).exists() for s in u.sources)}
    if not units:
        pytest.skip("no RTL unit has its sources yet")
    rc, out, _ = _run(["rtl", "info", *units, "--format", "json"], capsys)
    assert rc == 0
    data = {t["target"]: t for t in json.loads(out)}
    for name, unit in units.items():
        assert unit.toplevel in [m["name"] for m in data[name]["modules"]]


def test_cli_rtl_help_mentions_commands() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["rtl", "--help"])
    assert exc.value.code == 0

