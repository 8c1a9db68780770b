"""Run one cocotb testbench on one RTL unit with Icarus Verilog through ``cocotb_tools.runner``.

Protocol between a testbench and this runner: the testbench (a Python module in ``tests/rtl``) reads
``ARCHSIM_RTL_REPORT`` from the environment and writes a JSON object there when it ends, with at
least ``vectors`` (random + directed vectors checked), ``rtl_cycles`` and ``model_cycles`` (cycles
from first input to last output, measured in simulation and predicted by the SimPy unit model) and
``seed``. ``archsim rtl verify`` and the pytest wrappers both read it back through ``UnitRun``.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archsim.errors import InputError

REPO_ROOT = Path(__file__).resolve().parents[2]
RTL_DIR = REPO_ROOT / "hw" / "rtl"
TB_DIR = REPO_ROOT / "tests" / "rtl"
BUILD_ROOT = REPO_ROOT / "out" / "rtl_build"


@dataclass(slots=True)
class UnitRun:
    """The outcome of one unit x parameter set: pass/fail from cocotb's results plus the testbench report."""

    unit: str
    params: dict[str, int]
    passed: bool
    tests: int
    failed: int
    report: dict[str, Any] = field(default_factory=dict)
    build_dir: Path | None = None

    @property
    def vectors(self) -> int:
        return int(self.report.get("vectors", 0))

    @property
    def cycles_match(self) -> bool:
        rtl, model = self.report.get("rtl_cycles"), self.report.get("model_cycles")
        return rtl is not None and rtl == model


def require_tools() -> None:
    """Raise ``InputError`` naming the missing tool when Icarus is not installed (``make setup`` installs it)."""
    for tool in ("iverilog", "vvp"):
        if shutil.which(tool) is None:
            raise InputError("rtl", f"'{tool}' is not on PATH; install Icarus Verilog (make setup does).")


def param_tag(params: dict[str, int]) -> str:
    """A build-directory name for a parameter set, e.g. ``R4_WBITS2``."""
    return "_".join(f"{k}{v}" for k, v in sorted(params.items())) or "default"


def run_unit(unit: str, toplevel: str, sources: list[str], params: dict[str, int], test_module: str, *,
             seed: int | None = None, waves: bool = False, build_root: Path | None = None,
             rtl_dir: Path | None = None, extra_env: dict[str, str] | None = None) -> UnitRun:
    """Build ``sources`` (file names in ``rtl_dir``, default ``hw/rtl``) with ``params`` into their own build
    directory and run the cocotb ``test_module`` (importable from ``tests/rtl``) on ``toplevel``.

    ``seed`` (random when None) is passed to cocotb and logged in the report; ``waves`` dumps an FST.
    Returns a ``UnitRun``; never raises for a failing test (``passed`` is False)."""
    from cocotb_tools.runner import get_results, get_runner

    require_tools()
    rtl_dir = rtl_dir or RTL_DIR
    build_dir = (build_root or BUILD_ROOT) / unit / param_tag(params)
    build_dir.mkdir(parents=True, exist_ok=True)
    report_path = build_dir / "report.json"
    report_path.unlink(missing_ok=True)
    seed = random.randrange(1 << 31) if seed is None else seed
    runner = get_runner("icarus")
    runner.build(sources=[rtl_dir / s for s in sources], hdl_toplevel=toplevel, parameters=params,
                 build_dir=build_dir, always=True, waves=waves, timescale=("1ns", "1ps"))
    env = {"ARCHSIM_RTL_REPORT": str(report_path), "ARCHSIM_RTL_PARAMS": json.dumps(params),
           # cocotb 2 rewrites the asserts of every imported file and the runner disables bytecode caching:
           # without these, jax and numpy are recompiled inside the simulator on every run (~15 s).
           "COCOTB_REWRITE_ASSERTION_FILES": "tb_*.py", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
           **(extra_env or {})}
    # The runner hands the simulator this process's sys.path as PYTHONPATH: put the testbenches on it.
    added = [p for p in (str(TB_DIR), str(REPO_ROOT)) if p not in sys.path]
    sys.path[:0] = added
    # Under pytest the runner sys.exit()s on a failing test; hide that so a failure is a result, not an exit.
    pytest_current = os.environ.pop("PYTEST_CURRENT_TEST", None)
    xml = str(build_dir / "results.xml")
    try:
        xml = str(runner.test(test_module=test_module, hdl_toplevel=toplevel, build_dir=build_dir,
                              test_dir=build_dir, seed=seed, waves=waves, extra_env=env, parameters=params,
                              results_xml=xml))
    except SystemExit:
        pass
    finally:
        for p in added:
            sys.path.remove(p)
        if pytest_current is not None:
            os.environ["PYTEST_CURRENT_TEST"] = pytest_current
    try:
        tests, failed = get_results(Path(xml))
    except RuntimeError:  # the simulator died before writing results: a failed run
        tests, failed = 1, 1
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    report.setdefault("seed", seed)
    return UnitRun(unit, dict(params), failed == 0 and tests > 0, tests, failed, report, build_dir)


def write_report(**fields: Any) -> None:
    """Called by a testbench: merge ``fields`` into the JSON report the runner reads back."""
    path = os.environ.get("ARCHSIM_RTL_REPORT")
    if not path:
        return
    p = Path(path)
    data = json.loads(p.read_text()) if p.exists() else {}
    data.update(fields)
    p.write_text(json.dumps(data))


def unit_params() -> dict[str, int]:
    """Called by a testbench: the parameter set the runner built the unit with."""
    return {k: int(v) for k, v in json.loads(os.environ.get("ARCHSIM_RTL_PARAMS", "{}")).items()}
