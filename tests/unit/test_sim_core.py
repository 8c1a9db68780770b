"""The fluid shared-rate resource of the SimPy core: hand-computed finishing times and conservation."""

from __future__ import annotations

import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from archsim.sim.core import SharedRate, Trace


def _finish_times(capacity: float, flows: list[tuple[float, float, int, float]]) -> list[float]:
    """Start each (start, amount, weight, cap) flow; return when each completes."""
    env = simpy.Environment()
    link = SharedRate(env, capacity)
    done: list[float] = [0.0] * len(flows)

    def flow(i: int, start: float, amount: float, weight: int, cap: float):
        yield env.timeout(start)
        yield link.transfer(amount, weight, cap)
        done[i] = env.now

    for i, f in enumerate(flows):
        env.process(flow(i, *f))
    env.run()
    return done


def test_equal_sharing_by_hand() -> None:
    # capacity 10: both share 5 each; the 10-unit flow ends at t=2, then the other gets 10/s:
    # it has 20 - 10 = 10 left -> ends at t=3.
    assert _finish_times(10.0, [(0, 10, 1, float("inf")), (0, 20, 1, float("inf"))]) == pytest.approx([2.0, 3.0])


def test_caps_and_water_filling_by_hand() -> None:
    # capacity 10; flow A capped at 2/s, flow B uncapped gets the remaining 8/s.
    # A: 4 units -> t=2. B: 16 units at 8/s -> t=2 as well.
    assert _finish_times(10.0, [(0, 4, 1, 2.0), (0, 16, 1, float("inf"))]) == pytest.approx([2.0, 2.0])


def test_weight_counts_identical_units() -> None:
    # A weight-3 flow is three tiles: with a weight-1 flow they split capacity 12 four ways (3/s each).
    # The single tile needs 3 -> t=1; the three tiles each need 6 -> 3 at t=1, then 4/s each -> t=1.75.
    assert _finish_times(12.0, [(0, 6, 3, float("inf")), (0, 3, 1, float("inf"))]) == pytest.approx([1.75, 1.0])


def test_late_arrival_reschedules() -> None:
    # A alone at 10/s for 1 s (10 of 30 done), then B arrives: 5/s each. B (10 units) ends at t=3,
    # by then A has 20 - 10 = 10 left, at 10/s -> t=4.
    assert _finish_times(10.0, [(0, 30, 1, float("inf")), (1, 10, 1, float("inf"))]) == pytest.approx([4.0, 3.0])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 5), st.floats(0.1, 50), st.integers(1, 8), st.floats(0.5, 20)),
                min_size=1, max_size=6),
       st.floats(1, 40))
def test_conservation_and_capacity(flows: list[tuple[float, float, int, float]], capacity: float) -> None:
    env = simpy.Environment()
    link = SharedRate(env, capacity)

    def flow(start: float, amount: float, weight: int, cap: float):
        yield env.timeout(start)
        yield link.transfer(amount, weight, cap)

    for f in flows:
        env.process(flow(*f))
    env.run()
    total = sum(a * w for _, a, w, _ in flows)
    assert link.moved == pytest.approx(total, rel=1e-9)
    # never faster than the capacity allows, nor than each flow's cap
    assert env.now >= total / capacity * (1 - 1e-9)
    for start, amount, _, cap in flows:
        assert env.now >= start + amount / cap * (1 - 1e-9)


def test_trace_spans_are_chrome_events() -> None:
    trace = Trace()
    trace.span("gemm", "stream", 1e-6, 3e-6, tiles=4)
    (event,) = trace.events
    assert event["ph"] == "X" and event["ts"] == pytest.approx(1.0) and event["dur"] == pytest.approx(2.0)
    assert trace.shifted(1e-6)[0]["ts"] == pytest.approx(2.0)
