"""SimPy model of the configurable sparse DSP chain (``hw/rtl/sparse_dsp_chain.v``), cycle-exact with the RTL.

The unit is FlightLLM's CSD-Chain (spec ``fpga_sparse_dsp.md`` 3): ``chain_len`` packed DSP slices in DSP
groups of 2, each slice one INT8 weight times two token lanes, sparse MUXes and reduction nodes. Its work
for a ``K x n_out`` weight tile under N:M (dense: ``n == m``) is one DSP slot per stored weight,
``slots = n_out * (K / m) * n``, packed back to back into passes of ``chain_len`` slots:
``passes = ceil(slots / chain_len)`` (``kernels_ref.sparse._schedule``).

Timing (the convention of ``kernels_ref.sparse.simulate_chain``, which the RTL implements): one pass is
issued per cycle; pass p occupies DSP j in cycle ``p + j`` (an input skew of j registers in front of DSP j
and one cascade register per DSP), so it leaves the chain ``chain_len`` cycles after its issue. Times are
clock edges counted from the edge that accepts the first pass (edge 0); a pass accepted at edge t is
taken from the output at edge ``t + chain_len``. Hence, without back-pressure,

    cycles(k, n_out, chain_len, n, m) = passes + chain_len - 1        (0 when there is no work)

equal to ``kernels_ref.sparse.chain_cycles``, and tiles streamed back to back (the next tile's first pass
issued the cycle after the previous tile's last) take ``sum(passes) + chain_len - 1``
(:func:`stream_cycles`). :func:`simulate` / :func:`simulate_stream` run the SimPy processes (an issue
process, one pass per cycle, and the pipeline of ``chain_len`` stages) and return the same numbers; the
cocotb testbench ``tests/rtl/tb_sparse_dsp_chain.py`` measures the RTL and the three must agree exactly.
The pipeline is one FIFO of at most ``chain_len`` passes in flight (the cascade registers) rather than one
process per DSP: every DSP takes exactly one cycle, so per-DSP events would add cost (~1 us each) and no
information; about 3 events per pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import simpy

__all__ = ["DEFAULTS", "DG_SIZE", "PARAMS", "check_params", "cycles", "passes", "simulate", "simulate_stream",
           "stream_cycles"]

PARAMS = ("CHAIN", "N", "M")  # the RTL parameter names (hw/rtl/sparse_dsp_chain.v)
DEFAULTS = {"CHAIN": 8, "N": 4, "M": 16}  # the RTL parameter defaults
DG_SIZE = 2  # DSP slices per DSP group; reduction nodes sit after every group


def _int(value: object, name: str, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, got {value!r}")
    return value


def check_params(chain_len: int, n: int, m: int = 16) -> None:
    """Raise ValueError unless the RTL can be built with CHAIN = chain_len, N = n, M = m: ``m`` a power of
    two >= 2, ``n`` even in 2..m, ``chain_len`` even >= 4, and ``chain_len % n == 0`` or ``n % chain_len == 0``
    (every candidate block of a pass serves whole sub-chains)."""
    m = _int(m, "m", 2)
    if m & (m - 1):
        raise ValueError(f"m must be a power of two, got {m}")
    n = _int(n, "n", 2)
    if n % DG_SIZE or n > m:
        raise ValueError(f"n must be a multiple of {DG_SIZE} in 2..m = {m}, got {n}")
    chain_len = _int(chain_len, "chain_len", 4)
    if chain_len % DG_SIZE:
        raise ValueError(f"chain_len must be a multiple of {DG_SIZE}, got {chain_len}")
    if chain_len % n and n % chain_len:
        raise ValueError(f"chain_len = {chain_len} and n = {n}: one must divide the other")


def passes(k: int, n_out: int, chain_len: int, n: int, m: int = 16) -> int:
    """Passes of one ``K x n_out`` tile: ``ceil(n_out * (K / m) * n / chain_len)``."""
    check_params(chain_len, n, m)
    k, n_out = _int(k, "k", 1), _int(n_out, "n_out", 1)
    if k % m:
        raise ValueError(f"m = {m} must divide k = {k}")
    return -(-(n_out * (k // m) * n) // chain_len)


def cycles(k: int, n_out: int, chain_len: int, n: int, m: int = 16) -> int:
    """Closed form: edges from the first pass accepted to the last result taken, ``passes + chain_len - 1``."""
    p = passes(k, n_out, chain_len, n, m)
    return p + chain_len - 1 if p else 0


def stream_cycles(tiles: Iterable[tuple[int, int]], chain_len: int, n: int, m: int = 16) -> int:
    """Closed form for ``(k, n_out)`` tiles streamed back to back: ``sum(passes) + chain_len - 1``."""
    total = sum(passes(k, n_out, chain_len, n, m) for k, n_out in tiles)
    return total + chain_len - 1 if total else 0


def simulate_stream(tiles: Sequence[tuple[int, int]], chain_len: int, n: int, m: int = 16) -> int:
    """SimPy run of ``(k, n_out)`` tiles back to back: returns the edge that takes the last result, the edge
    accepting the first pass being 0 (0 when there is no work)."""
    per_tile = [passes(k, n_out, chain_len, n, m) for k, n_out in tiles]
    total = sum(per_tile)
    if total == 0:
        return 0
    env = simpy.Environment()
    in_flight = simpy.Store(env, capacity=chain_len)  # the pipeline: at most one pass per DSP register
    taken: list[float] = []

    def issue():  # one pass per cycle, tiles back to back: pass p enters DSP 0 at edge p
        for _ in range(total):
            yield in_flight.put(env.now)
            yield env.timeout(1)

    def drain():  # pass issued at edge t has left DSP chain_len - 1 at edge t + chain_len, when it is taken
        for _ in range(total):
            issued = yield in_flight.get()
            yield env.timeout(issued + chain_len - env.now)
            taken.append(env.now)

    env.process(issue())
    env.process(drain())
    env.run()
    return int(taken[-1])


def simulate(k: int, n_out: int, chain_len: int, n: int, m: int = 16) -> int:
    """SimPy run of one tile (pipeline empty before and after): equals :func:`cycles`."""
    return simulate_stream([(k, n_out)], chain_len, n, m)
