"""``archsim rtl verify``: the RTL regression. Every unit's parameter sets (``--all``: also the slow ones) run
through ``run_unit`` (cocotb + Icarus); a run passes when its cocotb tests pass and the cycles measured in
simulation equal the SimPy unit model's. The summary is also written to ``out/rtl_verify.json``.

Simulator and cocotb output goes to a log file per run (``out/rtl_build/<unit>/<params>.log``), so the
terminal shows one progress line per run and the summary table.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from archsim.errors import InputError
from archsim.rtl.runner import BUILD_ROOT, REPO_ROOT, param_tag, require_tools, run_unit
from archsim.rtl.units import RtlUnit, all_units

VERIFY_JSON = REPO_ROOT / "out" / "rtl_verify.json"


@dataclass(slots=True)
class VerifyRow:
    """One unit x parameter set of the regression."""

    unit: str
    params: dict[str, int]
    slow: bool
    passed: bool = False  # cocotb's verdict
    tests: int = 0
    failed: int = 0
    vectors: int = 0
    rtl_cycles: int | None = None
    model_cycles: int | None = None
    seed: int | None = None
    wall_s: float = 0.0
    log: str = ""
    error: str = ""
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def cycles_match(self) -> bool:
        return self.rtl_cycles is not None and self.rtl_cycles == self.model_cycles

    @property
    def ok(self) -> bool:
        """Bit-exact (cocotb passed) and cycle-exact (RTL cycles == model cycles)."""
        return self.passed and self.cycles_match

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "cycles_match": self.cycles_match, "ok": self.ok}


@dataclass(slots=True)
class VerifySummary:
    rows: list[VerifyRow]
    wall_s: float
    seed: int | None
    include_slow: bool
    waves: bool

    @property
    def all_ok(self) -> bool:
        return bool(self.rows) and all(r.ok for r in self.rows)

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": datetime.now(UTC).isoformat(timespec="seconds"), "all_passed": self.all_ok,
            "runs": len(self.rows), "passed": sum(r.ok for r in self.rows), "wall_s": round(self.wall_s, 3),
            "seed": self.seed, "include_slow": self.include_slow, "waves": self.waves,
            "rows": [r.as_dict() for r in self.rows],
        }


def plan(names: list[str] | None = None, include_slow: bool = False,
         units: dict[str, RtlUnit] | None = None) -> list[tuple[RtlUnit, dict[str, int], bool]]:
    """The (unit, parameter set, slow?) runs of a regression over ``names`` (all units when empty)."""
    units = all_units() if units is None else units
    if not units:
        raise InputError("unit", "no RTL units are defined yet (archsim/rtl/unit_*.py).")
    for n in names or ():
        if n not in units:
            raise InputError("unit", f"unknown RTL unit '{n}'; units: {', '.join(units)}.")
    chosen = [units[n] for n in (names or list(units))]
    runs = []
    for u in chosen:
        runs += [(u, dict(p), False) for p in u.param_sets]
        if include_slow:
            runs += [(u, dict(p), True) for p in u.slow_param_sets]
    return runs


@contextlib.contextmanager
def _redirect_fds(path: Path) -> Iterator[None]:
    """Send this process's stdout and stderr (file descriptors, so subprocesses too) to ``path``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def run_one(unit: RtlUnit, params: dict[str, int], slow: bool, *, seed: int | None = None, waves: bool = False,
            rtl_dir: Path | None = None, build_root: Path | None = None, quiet: bool = True) -> VerifyRow:
    """One unit x parameter set; never raises for a failing or broken unit (the row says why)."""
    root = build_root or BUILD_ROOT
    log = root / unit.name / f"{param_tag(params)}.log"
    row = VerifyRow(unit.name, dict(params), slow, seed=seed, log=str(log))
    t0 = time.perf_counter()
    ctx = _redirect_fds(log) if quiet else contextlib.nullcontext()
    try:
        with ctx:
            run = run_unit(unit.name, unit.toplevel, list(unit.sources), dict(params), unit.test_module, seed=seed,
                           waves=waves, build_root=build_root, rtl_dir=rtl_dir)
        row.passed, row.tests, row.failed, row.report = run.passed, run.tests, run.failed, dict(run.report)
        row.vectors = run.vectors
        row.rtl_cycles = _int_or_none(run.report.get("rtl_cycles"))
        row.model_cycles = _int_or_none(run.report.get("model_cycles"))
        row.seed = _int_or_none(run.report.get("seed", seed))
        if not run.passed:
            row.error = f"{run.failed} of {run.tests} cocotb tests failed" if run.tests else "no cocotb test ran"
        elif not row.cycles_match:
            row.error = ("the testbench reported no cycle counts" if row.rtl_cycles is None
                         else f"RTL {row.rtl_cycles} cycles != model {row.model_cycles}")
    except (Exception, SystemExit) as exc:  # a build error (e.g. an RTL syntax error) fails the row, not the run
        what = "the simulator exited with" if isinstance(exc, SystemExit) else f"{type(exc).__name__}:"
        row.error = f"{what} {exc}".strip()
    row.wall_s = round(time.perf_counter() - t0, 3)
    return row


def _int_or_none(x: Any) -> int | None:
    try:
        return None if x is None else int(x)
    except (TypeError, ValueError):
        return None


def verify(names: list[str] | None = None, *, include_slow: bool = False, waves: bool = False,
           seed: int | None = None, jobs: int = 1, units: dict[str, RtlUnit] | None = None,
           rtl_dir: Path | None = None, build_root: Path | None = None, json_path: Path | None = VERIFY_JSON,
           progress: Callable[[int, int, VerifyRow | None, tuple[RtlUnit, dict[str, int], bool]], None] | None = None,
           quiet: bool = True) -> VerifySummary:
    """Run the regression; ``progress(i, n, row, run)`` is called before (row None) and after each run.
    ``jobs`` > 1 runs that many simulations at once (separate processes)."""
    require_tools()
    runs = plan(names, include_slow, units)
    t0 = time.perf_counter()
    rows: list[VerifyRow | None] = [None] * len(runs)
    kw = {"seed": seed, "waves": waves, "rtl_dir": rtl_dir, "build_root": build_root, "quiet": quiet}
    if jobs <= 1 or len(runs) <= 1:
        for i, run in enumerate(runs):
            if progress:
                progress(i, len(runs), None, run)
            rows[i] = run_one(*run, **kw)
            if progress:
                progress(i, len(runs), rows[i], run)
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as pool:
            futures = {pool.submit(run_one, *run, **kw): i for i, run in enumerate(runs)}
            done = 0
            for fut in as_completed(futures):
                i = futures[fut]
                rows[i] = fut.result()
                if progress:
                    progress(done, len(runs), rows[i], runs[i])
                done += 1
    summary = VerifySummary([r for r in rows if r is not None], time.perf_counter() - t0, seed, include_slow, waves)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(summary.as_dict(), indent=1))
    return summary
