"""What every mapping strategy provides: a plan for an operator on a device, and its analytic cost."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from archsim.hardware.schema import HardwareSpec
    from archsim.result import OpCost, OpCosts
    from models.workload import Op


def fuse_ops(ops: list[Op], groups: tuple[tuple[str, ...], ...],
             eligible: Callable[[Op], bool] = lambda op: True) -> list[list[Op]]:
    """Ops in execution order, with each fusion group (op names, e.g. q/k/v) merged into one list
    when at least two of its eligible members are present; every other op is its own group."""
    by_name = {op.name: op for op in ops}
    names_ok = {op.name for op in ops if eligible(op)}
    member_of: dict[str, list[str]] = {}
    for group in groups:
        present = [name for name in group if name in names_ok]
        if len(present) > 1:
            for name in present:
                member_of[name] = present
    out: list[list[Op]] = []
    seen: set[str] = set()
    for op in ops:
        if op.name in seen:
            continue
        names = member_of.get(op.name, [op.name])
        seen.update(names)
        out.append([by_name[n] for n in names])
    return out


@dataclass(frozen=True, slots=True)
class Check:
    """One feasibility check of a plan (fits SRAM, fits DSPs, fits routing budget ...)."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Plan:
    """A mapper's concrete choice for one operator and the checks it passed."""

    mapper: str
    op: str
    choices: dict[str, Any] = field(default_factory=dict)
    checks: tuple[Check, ...] = ()

    @property
    def feasible(self) -> bool:
        return all(c.ok for c in self.checks)


@dataclass(slots=True)
class MapContext:
    """Options that apply to a whole evaluation (engine-side quirks, efficiency factors), the
    engine (``analytic`` or ``sim``) and, when a timeline is wanted, the trace to append to."""

    options: Any  # the family's option object, e.g. archsim.analytic.roofline.RooflineOptions
    engine: str = "analytic"
    trace: Any = None  # archsim.sim.core.Trace
    grid: str | None = None  # mesh grid "RxC" or "auto"
    threads: int | None = None  # CPU threads


class Mapper(ABC):
    """A mapping strategy, registered by ``name`` for the hardware ``families`` it supports."""

    name: ClassVar[str]
    families: ClassVar[tuple[str, ...]]
    engines: ClassVar[tuple[str, ...]] = ("analytic",)
    description: ClassVar[str] = ""

    @abstractmethod
    def plan(self, op: Op, hw: HardwareSpec, ctx: MapContext) -> Plan:
        """Choose how ``op`` runs on ``hw``; raise ``archsim.errors.InputError`` if it cannot."""

    def transition(self, prefill_ops: list[Op], decode_ops: list[Op], hw: HardwareSpec,
                   ctx: MapContext) -> OpCost | None:
        """The cost of going from the prefill to the decode mapping (``--gen``), as one extra row, or
        None when the two phases share one layout (the default)."""
        return None

    def configure(self, **options: str) -> Mapper:
        """A copy of this mapper with ``options`` (from ``--mapper name:key=value``); mappers without
        options reject any."""
        from archsim.errors import InputError

        raise InputError("mapper", f"mapper '{self.name}' takes no options, got {', '.join(sorted(options))}.")

    def emulate(self, m: int, k: int, n: int, grid: int, seed: int = 0) -> tuple[Any, Any]:
        """Run this mapping numerically on a small ``[m,k] x [k,n]`` instance with the ``kernels_ref``
        JAX kernels; returns ``(mapped result, jnp.dot reference)``. Mappers without a data
        transformation (the roofline) have nothing to emulate."""
        raise NotImplementedError(f"mapper '{self.name}' has no numeric emulation")

    @abstractmethod
    def cost(self, ops: list[Op], hw: HardwareSpec, ctx: MapContext) -> OpCosts:
        """Analytic cost of each op (same order) with totals (``OpCosts.of`` builds them from a list).
        Mappers may vectorize across ops."""
