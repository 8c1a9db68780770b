"""SimPy model of the T-MAC LUT-GEMV unit (``hw/rtl/lut_gemv_unit.v``), cycle-exact with the RTL.

The unit handles one activation vector at a time, in three phases (spec ``lut_pim.md`` 2.3-2.4):

* **table build**: one activation beat (a group of 4) per cycle; the build engine writes that group's
  16-entry table (8 odd entries computed, 8 mirrored negations) in the cycle it is accepted;
* **lookup**: one weight beat per (row, group) holding the 4 codes; the datapath does one lookup and
  accumulate per cycle, WBITS per beat (plane by plane), and accepts the next beat in the cycle of the
  current beat's last lookup; the first weight beat is accepted the cycle after the last activation beat;
* **output**: a row's result is registered at its last lookup and transfers one cycle later.

Times are clock edges counted from the first activation transfer (edge 0). With G = K/4:

    cycles(R, WBITS, K) = G * (1 + R * WBITS) + 1      (first input transfer -> last output transfer)

and the next vector's first activation transfers at the edge of the last output, so ``n`` vectors back
to back take ``n * cycles(R, WBITS, K)``. ``simulate`` runs the SimPy processes and returns the same
number; the cocotb testbench measures the RTL and the three must agree exactly.
"""

from __future__ import annotations

import simpy

__all__ = ["PARAMS", "check_params", "cycles", "simulate"]

PARAMS = ("R", "WBITS", "ABITS", "K")  # the RTL parameter names (hw/rtl/lut_gemv_unit.v)
DEFAULTS = {"R": 4, "WBITS": 2, "ABITS": 8, "K": 16}  # the RTL parameter defaults


def check_params(R: int, WBITS: int, K: int, ABITS: int = 8, vectors: int = 1) -> None:
    """Raise ValueError unless R >= 1, WBITS in 1..4, ABITS == 8, K a positive multiple of 4, vectors >= 1."""
    for name, v in (("R", R), ("WBITS", WBITS), ("K", K), ("ABITS", ABITS), ("vectors", vectors)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if WBITS > 4:
        raise ValueError(f"WBITS must be in 1..4, got {WBITS}")
    if ABITS != 8:
        raise ValueError(f"ABITS must be 8 (int8 activations), got {ABITS}")
    if K % 4:
        raise ValueError(f"K must be a multiple of 4, got {K}")


def cycles(R: int, WBITS: int, K: int, ABITS: int = 8, vectors: int = 1) -> int:
    """Closed form: cycles from the first activation transfer to the last output transfer (no stalls)."""
    check_params(R, WBITS, K, ABITS, vectors)
    return vectors * ((K // 4) * (1 + R * WBITS) + 1)


def simulate(R: int, WBITS: int, K: int, ABITS: int = 8, vectors: int = 1) -> int:
    """SimPy run of the same unit: returns the edge of the last output transfer, the first input being edge 0."""
    check_params(R, WBITS, K, ABITS, vectors)
    G = K // 4
    env = simpy.Environment()
    tables_ready = simpy.Store(env)  # build -> lookup: one token per vector
    results = simpy.Store(env, capacity=1)  # the output register
    done_vector = simpy.Store(env)  # lookup -> build: the unit returns to the build phase
    out_times: list[int] = []

    def build():
        for v in range(vectors):
            if v:
                yield done_vector.get()  # next vector's first beat transfers the edge after the last lookup
                yield env.timeout(1)
            for _j in range(1, G):  # one table per cycle: beat j transfers at edge (start + j)
                yield env.timeout(1)
            tables_ready.put(v)

    def lookup():
        for _ in range(vectors):
            yield tables_ready.get()
            yield env.timeout(1)  # first weight beat transfers the edge after the last activation beat
            for r in range(R):
                for _j in range(G):
                    for _i in range(WBITS):  # one lookup per edge; the next beat transfers with the last
                        yield env.timeout(1)
                yield results.put(r)  # registered at the row's last lookup edge
            done_vector.put(True)

    def output():
        for _ in range(vectors * R):
            yield results.get()
            yield env.timeout(1)  # y_valid is seen (and transfers, y_ready high) one edge later
            out_times.append(int(env.now))

    env.process(build())
    env.process(lookup())
    env.process(output())
    env.run()
    return out_times[-1]
