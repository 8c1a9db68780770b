"""The RTL units archsim verifies, discovered from ``archsim/rtl/unit_*.py`` (one module per unit, each
defining ``UNIT = RtlUnit(...)``), so adding a unit needs no list to be edited."""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RtlUnit:
    """One unit: its top module, Verilog sources (in ``hw/rtl``), cocotb testbench module (in ``tests/rtl``),
    the parameter sets the regression runs (``fast`` ones in ``make test``, all in ``make test-all``) and a
    one-line description."""

    name: str
    toplevel: str
    sources: tuple[str, ...]
    test_module: str
    param_sets: tuple[dict[str, int], ...]
    slow_param_sets: tuple[dict[str, int], ...] = ()
    description: str = ""
    synth_param_sets: tuple[dict[str, int], ...] = field(default_factory=tuple)  # two sets for docs/rtl.md


def all_units() -> dict[str, RtlUnit]:
    """Every unit defined by an ``archsim.rtl.unit_*`` module, by name."""
    import archsim.rtl as pkg

    out: dict[str, RtlUnit] = {}
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name.startswith("unit_"):
            unit = getattr(importlib.import_module(f"archsim.rtl.{info.name}"), "UNIT", None)
            if isinstance(unit, RtlUnit):
                out[unit.name] = unit
    return dict(sorted(out.items()))
