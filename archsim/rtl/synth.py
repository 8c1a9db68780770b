"""``archsim rtl synth``: synthesize a unit with yosys and count its cells.

``generic`` runs ``synth -flatten`` (yosys's internal gate library: a technology-neutral size);
``xilinx`` runs ``synth_xilinx -family xcup -flatten -noiopad -noclkbuf`` (UltraScale+, the U280's
family; out-of-context, so no I/O buffers) and summarises LUT / FF / DSP48E2 / BRAM / carry counts (yosys
0.23 maps carry chains to CARRY4 even for UltraScale+; Vivado would pack two into one CARRY8).
Results are cached per (unit, target, parameters) under ``out/rtl_build/synth`` and reused while the
sources and the yosys version are unchanged.

``unit_cost`` turns a Xilinx result into the FPGA model's ``UnitCost`` (co-design hook, issue 7 item 4).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from archsim.errors import InputError
from archsim.rtl.runner import BUILD_ROOT, RTL_DIR, param_tag

TARGETS = ("generic", "xilinx")
SYNTH_ROOT = BUILD_ROOT / "synth"
SCRIPT_VERSION = 2  # bump when the yosys script or the summary changes (invalidates the cache)

# UltraScale+ primitives, grouped the way a utilisation report groups them.
_LUTS = ("LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6", "LUT6_2")
_FFS = ("FDRE", "FDSE", "FDCE", "FDPE", "LDCE", "LDPE")
_SRLS = {"SRL16E": 1, "SRLC16E": 1, "SRLC32E": 1}
# LUTs a distributed-RAM primitive occupies
_LUTRAMS = {"RAM16X1S": 1, "RAM32X1S": 1, "RAM64X1S": 1, "RAM128X1S": 2, "RAM256X1S": 4, "RAM512X1S": 8,
            "RAM16X1D": 2, "RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1D": 4, "RAM256X1D": 8,
            "RAM32M": 4, "RAM64M": 4, "RAM32M16": 8, "RAM64M8": 8, "RAM64X8SW": 8, "RAM32X16DR8": 8}
_BRAMS = ("RAMB18E2", "RAMB36E2")
_DSPS = ("DSP48E2",)


@dataclass(slots=True)
class SynthResult:
    """Cell counts of one synthesis. ``summary`` holds the grouped counts (xilinx: LUT, LUTRAM/SRL, FF,
    DSP48E2, RAMB18E2, RAMB36E2, BRAM36 equivalent, CARRY8, MUXF; generic: cells, FF, by family)."""

    unit: str
    top: str
    target: str
    params: dict[str, int]
    cells: dict[str, int]
    summary: dict[str, float]
    wall_s: float
    yosys: str
    cached: bool = False
    sources: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def yosys_path() -> str:
    """The yosys executable; ``InputError`` when it is not installed."""
    exe = shutil.which("yosys")
    if exe is None:
        raise InputError("yosys", "'yosys' is not on PATH; install it (make setup installs the Debian package).")
    return exe


def yosys_version() -> str:
    out = subprocess.run([yosys_path(), "-V"], capture_output=True, text=True, check=False)
    return out.stdout.strip()


def summarize(cells: dict[str, int], target: str) -> dict[str, float]:
    """Grouped counts of a ``num_cells_by_type`` map."""
    total = sum(cells.values())
    if target == "xilinx":
        lut = sum(cells.get(c, 0) for c in _LUTS)
        lutram = sum(n * cells.get(c, 0) for c, n in {**_SRLS, **_LUTRAMS}.items())
        b18, b36 = cells.get("RAMB18E2", 0), cells.get("RAMB36E2", 0)
        return {
            "LUT": lut, "LUTRAM/SRL": lutram, "FF": sum(cells.get(c, 0) for c in _FFS),
            "DSP48E2": sum(cells.get(c, 0) for c in _DSPS), "RAMB18E2": b18, "RAMB36E2": b36,
            "BRAM36": b36 + b18 / 2, "URAM288": cells.get("URAM288", 0), "CARRY4": cells.get("CARRY4", 0),
            "CARRY8": cells.get("CARRY8", 0),
            "MUXF": sum(cells.get(c, 0) for c in ("MUXF7", "MUXF8", "MUXF9")), "cells": total,
        }
    ff = sum(n for c, n in cells.items() if "DFF" in c.upper() or "DLATCH" in c.upper())
    logic = sum(n for c, n in cells.items() if c.startswith("$_") and "DFF" not in c.upper())
    return {"cells": total, "FF": ff, "logic": logic, "mem": sum(n for c, n in cells.items() if "MEM" in c.upper())}


def _script(files: list[Path], top: str, params: dict[str, int], target: str) -> str:
    lines = [f"read_verilog {' '.join(_quote(f) for f in files)}"]
    for key, value in sorted(params.items()):
        lines.append(f"chparam -set {key} {int(value)} {top}")
    # chparam re-derives the top as "$paramod\\top\\..." once hierarchy runs; rename it back so that
    # synth -top finds it (hierarchy -chparam trips an assertion in yosys 0.23 on multi-module designs)
    lines.append(f"hierarchy -check -top {top}")
    lines.append(f"rename -top {top}")
    if target == "xilinx":
        lines.append(f"synth_xilinx -top {top} -family xcup -flatten -noiopad -noclkbuf")
    else:
        lines.append(f"synth -top {top} -flatten")
    lines.append("tee -q -o stat.json stat -json")
    return "\n".join(lines) + "\n"


def _quote(p: Path) -> str:
    s = str(p)
    return f'"{s}"' if " " in s else s


def _sources_digest(files: list[Path]) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def run_yosys(files: list[Path], top: str, params: dict[str, int], target: str,
              timeout_s: float = 1800.0) -> tuple[dict[str, int], float]:
    """Run one synthesis in a temporary directory; returns (cells by type, wall seconds)."""
    exe = yosys_path()
    if target not in TARGETS:
        raise InputError("target", f"--target must be one of {', '.join(TARGETS)}, got '{target}'.")
    for f in files:
        if not Path(f).is_file():
            raise InputError("rtl", f"Verilog source '{f}' does not exist.")
    files = [Path(f).resolve() for f in files]
    with tempfile.TemporaryDirectory(prefix="archsim_yosys_") as tmp:
        script = Path(tmp) / "synth.ys"
        script.write_text(_script(files, top, params, target))
        t0 = time.perf_counter()
        try:
            proc = subprocess.run([exe, "-q", "-l", "yosys.log", "synth.ys"], cwd=tmp, capture_output=True,
                                  text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise InputError("synth", f"yosys did not finish synthesizing {top} within {timeout_s:.0f} s.") from None
        wall = time.perf_counter() - t0
        stat = Path(tmp) / "stat.json"
        if proc.returncode != 0 or not stat.exists():
            log = (Path(tmp) / "yosys.log").read_text(errors="replace") if (Path(tmp) / "yosys.log").exists() else ""
            raise InputError("synth", f"yosys failed on {top}: {_yosys_error(proc.stderr + proc.stdout + log)}")
        data = json.loads(stat.read_text())
    design = data.get("design") or next(iter(data.get("modules", {}).values()), {})
    cells = {k: int(v) for k, v in sorted(design.get("num_cells_by_type", {}).items())}
    return cells, wall


def _yosys_error(text: str) -> str:
    for line in text.splitlines():
        if "ERROR:" in line:
            msg = line.split("ERROR:", 1)[1].strip().rstrip(".!")
            return msg + "."
    tail = [ln for ln in text.splitlines() if ln.strip()][-1:] or ["no error message"]
    return tail[0].strip().rstrip(".") + "."


def synth_files(files: list[Path], top: str, params: dict[str, int] | None = None, target: str = "generic", *,
                name: str | None = None, cache_root: Path | None = None, use_cache: bool = True) -> SynthResult:
    """Synthesize ``files`` with ``top`` (parameters ``params`` set with ``chparam``) for ``target``; the
    result is cached under ``cache_root/<name>/<target>_<params>.json`` (keyed also by the sources' hash)."""
    params = dict(params or {})
    if target not in TARGETS:
        raise InputError("target", f"--target must be one of {', '.join(TARGETS)}, got '{target}'.")
    yosys_path()
    files = [Path(f) for f in files]
    for f in files:
        if not f.is_file():
            raise InputError("rtl", f"Verilog source '{f}' does not exist.")
    name = name or top
    version = yosys_version()
    key = {"top": top, "target": target, "params": dict(sorted(params.items())), "sources": _sources_digest(files),
           "yosys": version, "script": SCRIPT_VERSION}
    cache = (cache_root or SYNTH_ROOT) / name / f"{target}_{param_tag(params)}.json"
    if use_cache and cache.exists():
        try:
            stored = json.loads(cache.read_text())
        except json.JSONDecodeError:
            stored = {}
        if stored.get("key") == key:
            return SynthResult(**{**stored["result"], "cached": True})
    cells, wall = run_yosys(files, top, params, target)
    res = SynthResult(name, top, target, params, cells, summarize(cells, target), round(wall, 3), version,
                      sources=[str(f) for f in files])
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"key": key, "result": res.as_dict()}, indent=1))
    os.replace(tmp, cache)  # atomic: concurrent runs never read half a file
    return res


def synth_unit(unit_name: str, target: str = "generic", params: dict[str, int] | None = None, *,
               rtl_dir: Path | None = None, cache_root: Path | None = None, use_cache: bool = True,
               check_params: bool = True) -> SynthResult:
    """Synthesize the RTL unit ``unit_name`` (see ``archsim rtl info``); unknown parameters of its top module
    are an ``InputError`` naming the ones it has. Parameters left out take their (literal) defaults and are
    set explicitly too, so ``--param CHAIN=32`` and ``--param CHAIN=32 --param N=4 --param M=16`` are the
    same synthesis and share one cache entry (defaults that are expressions of other parameters stay
    derived)."""
    from archsim.rtl.info import top_module, unit_by_name

    unit = unit_by_name(unit_name)
    if target not in TARGETS:
        raise InputError("target", f"--target must be one of {', '.join(TARGETS)}, got '{target}'.")
    yosys_path()
    params = dict(params or {})
    rtl_dir = rtl_dir or RTL_DIR
    if check_params:
        top = top_module(unit, rtl_dir)
        known = [p.name for p in top.parameters]
        bad = [k for k in params if k not in known]
        if bad:
            raise InputError("param", f"{unit.toplevel} has no parameter {', '.join(bad)}; parameters: "
                                      f"{', '.join(known) or 'none'}.")
        literal = {p.name: p.value for p in top.parameters if isinstance(p.value, int) and _is_literal(p.expr)}
        params = {**literal, **params}
    return synth_files([rtl_dir / s for s in unit.sources], unit.toplevel, params, target, name=unit.name,
                       cache_root=cache_root, use_cache=use_cache)


def _is_literal(expr: str) -> bool:
    from archsim.rtl.info import _int_literal, _NotConstant

    try:
        _int_literal(expr)
    except _NotConstant:
        return False
    return True


def unit_cost(result: SynthResult) -> Any:
    """The FPGA model's ``UnitCost`` of a Xilinx synthesis: DSP48E2s, LUTs (logic plus LUT-RAM/SRL) and FFs."""
    from archsim.analytic.fpga import UnitCost

    if result.target != "xilinx":
        raise InputError("target", "a unit cost needs a Xilinx synthesis (--target xilinx).")
    s = result.summary
    return UnitCost(dsp=float(s["DSP48E2"]), lut=float(s["LUT"] + s["LUTRAM/SRL"]), ff=float(s["FF"]))
