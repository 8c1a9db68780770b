"""Shared SimPy core: a fluid shared rate (bandwidth or compute) and a trace recorder.

``SharedRate`` is max-min fair processor sharing (water-filling) among concurrent flows: a flow
stands for ``weight`` identical units (tiles) that each need ``amount`` and may each draw at most
``cap``. Only arrivals and completions are events, so a wave of thousands of identical tiles costs
a handful of events (DESIGN.md: exploit symmetry; SimPy costs ~1 us per event).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import simpy


@dataclass(slots=True)
class _Flow:
    remaining: float  # per unit
    weight: int
    cap: float  # per unit
    done: simpy.Event
    rate: float = 0.0  # per unit


class SharedRate:
    """A capacity (units/s) shared max-min fairly by flows with per-unit caps."""

    def __init__(self, env: simpy.Environment, capacity: float, name: str = "") -> None:
        if capacity <= 0:
            raise ValueError(f"{name or 'SharedRate'} capacity must be positive, got {capacity}")
        self.env = env
        self.capacity = capacity
        self.name = name
        self._flows: list[_Flow] = []
        self._last = env.now
        self._token = 0
        self.busy_time = 0.0  # time with at least one active flow
        self.moved = 0.0  # total units delivered (amount x weight)

    def transfer(self, amount: float, weight: int = 1, cap: float = float("inf")) -> simpy.Event:
        """An event that fires when each of ``weight`` units has received ``amount``."""
        done = self.env.event()
        if amount <= 0 or weight <= 0:
            done.succeed()
            return done
        self._advance()
        self._flows.append(_Flow(amount, weight, cap, done))
        self._reschedule()
        return done

    def _advance(self) -> None:
        dt = self.env.now - self._last
        if dt > 0 and self._flows:
            self.busy_time += dt
            for f in self._flows:
                moved = f.rate * dt
                f.remaining -= moved
                self.moved += moved * f.weight
        self._last = self.env.now

    def _water_fill(self) -> None:
        """Per-unit rates: capped flows get their cap, the rest share what is left equally."""
        flows = sorted(self._flows, key=lambda f: f.cap)
        left = self.capacity
        weight = sum(f.weight for f in flows)
        for f in flows:
            share = left / weight
            if f.cap < share:
                f.rate = f.cap
                left -= f.cap * f.weight
                weight -= f.weight
            else:
                f.rate = share
        # flows after the first uncapped one all received ``share`` computed with the final weight

    def _reschedule(self) -> None:
        # Floating point: a flow within a picosecond of completion is complete.
        finished = [f for f in self._flows if f.remaining <= f.rate * 1e-12 or f.remaining <= 0]
        for f in finished:
            self._flows.remove(f)
            f.done.succeed()
        if not self._flows:
            return
        self._water_fill()
        dt = min(f.remaining / f.rate for f in self._flows)
        self._token += 1
        token = self._token
        timer = self.env.timeout(dt)
        timer.callbacks.append(lambda _ev: self._on_timer(token))

    def _on_timer(self, token: int) -> None:
        if token != self._token:
            return  # superseded by a later arrival or completion
        self._advance()
        self._reschedule()


@dataclass
class Trace:
    """Timeline events in Chrome trace format (``chrome://tracing`` / Perfetto)."""

    events: list[dict[str, Any]] = field(default_factory=list)

    def span(self, name: str, lane: str, start_s: float, end_s: float, **args: Any) -> None:
        self.events.append({"name": name, "ph": "X", "pid": 0, "tid": lane, "ts": start_s * 1e6,
                            "dur": (end_s - start_s) * 1e6, "args": args})

    def shifted(self, offset_s: float) -> list[dict[str, Any]]:
        return [{**e, "ts": e["ts"] + offset_s * 1e6} for e in self.events]
