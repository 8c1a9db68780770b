"""Run a sweep: chunks of design points evaluated inline, on local processes or on a Dask cluster, streamed
into the DuckDB store one transaction per chunk, with a live progress bar, resumption and an optional
simulation refinement of the analytic Pareto front."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from archsim.errors import InputError
from archsim.sweep import store
from archsim.sweep.pareto import direction, pareto_mask
from archsim.sweep.space import Space
from archsim.sweep.spec import SweepSpec
from archsim.sweep.work import evaluate_chunk, evaluate_points

SIM_CHUNK = 4  # simulated points are slow: small tasks keep workers busy and progress honest


@dataclass
class SweepOutcome:
    """What a sweep did: its run id, points in the space, rows written now, failures, chunks skipped
    (resume), wall seconds, and the best feasible point per objective."""

    run_id: str
    points: int
    written: int
    failures: int
    skipped_chunks: int
    elapsed_s: float
    executor: str
    refined: int = 0
    best: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def points_per_s(self) -> float:
        return self.written / self.elapsed_s if self.elapsed_s > 0 else float("inf")


def _chunks(total: int, size: int, skip: set[int]) -> Iterator[tuple[int, int, int]]:
    for c, start in enumerate(range(0, total, size)):
        if c not in skip:
            yield c, start, min(start + size, total)


class _Inline:
    name = "inline"

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args)

    def close(self) -> None:
        pass


def _executor(workers: int | None, scheduler: str | None, dask_local: int | None) -> tuple[Any, str]:
    """(executor, description). Dask when a scheduler or a local cluster is asked for, else processes
    (inline for one worker)."""
    if scheduler or dask_local:
        from dask.distributed import Client, LocalCluster

        if scheduler:
            try:
                client = Client(scheduler, timeout="10s")
            except Exception as err:
                raise InputError("scheduler", f"cannot reach the Dask scheduler at '{scheduler}' ({err}).") from None
            return client, f"dask {scheduler}"
        cluster = LocalCluster(n_workers=dask_local, threads_per_worker=1, processes=True, dashboard_address=None)
        return Client(cluster), f"dask LocalCluster x{dask_local}"
    n = workers or os.cpu_count() or 1
    if n == 1:
        return _Inline(), "inline (1 process)"
    return ProcessPoolExecutor(max_workers=n, mp_context=get_context("spawn")), f"{n} local processes"


def _close(ex: Any) -> None:
    if isinstance(ex, ProcessPoolExecutor):
        ex.shutdown(cancel_futures=True)
    elif hasattr(ex, "cluster") and ex.cluster is not None and hasattr(ex, "close"):
        cluster = ex.cluster
        ex.close()
        cluster.close()
    elif hasattr(ex, "close"):
        ex.close()


def run_sweep(spec: SweepSpec, out: str | Path = store.DEFAULT_STORE, *, resume: bool = False, fresh: bool = False,
              workers: int | None = None, scheduler: str | None = None, dask_local: int | None = None,
              on_progress: Callable[[int, int, int], None] | None = None) -> SweepOutcome:
    """Evaluate every point of ``spec`` into the store at ``out``.

    ``resume`` skips chunks a previous run of the same spec finished; ``fresh`` deletes them first; with
    neither, a store already holding this spec's chunks is an ``InputError`` (nothing is lost).
    ``on_progress(done, total, failures)`` is called after each chunk."""
    space = Space.of(spec)
    spec_json = spec.model_dump_json()
    digest = space.spec_digest()
    con = store.connect(out)
    finished = store.done_chunks(con, digest)
    if finished and not (resume or fresh):
        con.close()
        raise InputError("resume", f"'{out}' already holds {len(finished)} finished chunks of this sweep; pass "
                                   "--resume to finish it or --fresh to recompute it.")
    if fresh and finished:
        con.execute("DELETE FROM points WHERE key IN (SELECT key FROM points p JOIN chunks c ON p.run_id = c.run_id "
                    "WHERE c.spec_digest = ?)", [digest])
        con.execute("DELETE FROM chunks WHERE spec_digest = ?", [digest])
        finished = set()
    size = min(spec.chunk_size, SIM_CHUNK) if "sim" in spec.axis_values("engine") else spec.chunk_size
    ex, desc = _executor(workers, scheduler, dask_local)
    run_id = store.start_run(con, spec.name, spec_json, digest, desc, space.total)
    t0 = time.perf_counter()
    done = sum(min(size, space.total - c * size) for c in finished if c * size < space.total)
    failures = written = 0
    if on_progress:
        on_progress(done, space.total, failures)
    status = "interrupted"
    try:
        written, failures, done = _drain(ex, con, digest, run_id, spec_json, _chunks(space.total, size, finished),
                                         workers or os.cpu_count() or 1, done, space.total, on_progress)
        refined = 0
        if spec.refine is not None:
            refined = _refine(ex, con, space, spec, digest, run_id)
        status = "done"
    finally:
        store.end_run(con, run_id, failures, status)
        _close(ex)
    outcome = SweepOutcome(run_id, space.total, written, failures, len(finished), time.perf_counter() - t0, desc,
                           refined, best_points(con, spec, digest))
    con.close()
    return outcome


def _drain(ex: Any, con: Any, digest: str, run_id: str, spec_json: str, chunks: Iterator[tuple[int, int, int]],
           parallel: int, done: int, total: int, on_progress: Callable[[int, int, int], None] | None,
           ) -> tuple[int, int, int]:
    """Submit chunks keeping ~2 per worker in flight (bounded memory), store each as it completes."""
    written = failures = 0

    def store_result(chunk: int, cols: dict[str, np.ndarray]) -> None:
        nonlocal written, failures, done
        written += store.write_chunk(con, digest, chunk, run_id, cols)
        failures += int(np.sum(cols["status"] == "error"))
        done += len(cols["key"])
        if on_progress:
            on_progress(done, total, failures)

    if isinstance(ex, _Inline):
        for c, start, stop in chunks:
            store_result(c, evaluate_chunk(spec_json, start, stop))
        return written, failures, done
    dask = not isinstance(ex, ProcessPoolExecutor)
    pending: dict[Any, int] = {}
    limit = 2 * max(1, parallel)
    it = iter(chunks)
    exhausted = False
    while pending or not exhausted:
        while not exhausted and len(pending) < limit:
            nxt = next(it, None)
            if nxt is None:
                exhausted = True
                break
            c, start, stop = nxt
            fut = ex.submit(evaluate_chunk, spec_json, start, stop, pure=False) if dask else ex.submit(
                evaluate_chunk, spec_json, start, stop)
            pending[fut] = c
        if not pending:
            break
        finished = _wait_any(list(pending), dask)
        for fut in finished:
            c = pending.pop(fut)
            store_result(c, fut.result())
    return written, failures, done


def _wait_any(futures: list[Any], dask: bool) -> list[Any]:
    if dask:
        from dask.distributed import wait as dask_wait

        return list(dask_wait(futures, return_when="FIRST_COMPLETED").done)
    done, _ = wait(futures, return_when=FIRST_COMPLETED)
    return list(done)


def _spec_rows(con: Any, digest: str, columns: str, where: str = "") -> list[tuple[Any, ...]]:
    return con.execute(f"SELECT {columns} FROM points WHERE run_id IN (SELECT run_id FROM chunks WHERE spec_digest = ?)"
                       f" {where}", [digest]).fetchall()


def _refine(ex: Any, con: Any, space: Space, spec: SweepSpec, digest: str, run_id: str) -> int:
    """Re-run the analytic Pareto front of (refine.x, refine.y) with the simulator, one task per point."""
    ref = spec.refine
    assert ref is not None
    rows = _spec_rows(con, digest, f"point_index, {ref.x}, {ref.y}",
                      "AND status = 'ok' AND engine = 'analytic' AND coalesce(feasible, true)")
    if not rows:
        return 0
    idx = np.array([r[0] for r in rows], dtype=np.int64)
    mask = pareto_mask(np.array([r[1] for r in rows]), np.array([r[2] for r in rows]), direction(ref.x),
                       direction(ref.y))
    front = sorted(int(i) for i in idx[mask])
    base = space.total + 1  # chunk ids no sweep chunk uses (a chunk holds at least one point)
    spec_json = spec.model_dump_json()
    finished = store.done_chunks(con, digest)
    todo = [i for i in front if base + i not in finished]
    futures = [(i, ex.submit(evaluate_points, spec_json, [i], ref.engine)) for i in todo]
    for i, fut in futures:
        cols = fut if isinstance(ex, _Inline) else fut.result()
        store.write_chunk(con, digest, base + i, run_id, cols)
    return len(front)


def best_points(con: Any, spec: SweepSpec, digest: str) -> dict[str, dict[str, Any]]:
    """The best feasible stored point of this spec for each objective (default: tokens/s, J/token, tokens/$)."""
    objectives = spec.objectives or {"tokens_per_s": "max", "energy_per_token_j": "min", "tokens_per_usd": "max"}
    out = {}
    for metric, way in objectives.items():
        order = "DESC" if way == "max" else "ASC"
        row = con.execute(
            f"SELECT model, hw, phase, batch, seq, w_bits, mapper, engine, {metric} FROM points WHERE run_id IN "
            f"(SELECT run_id FROM chunks WHERE spec_digest = ?) AND status = 'ok' AND coalesce(feasible, true) "
            f"AND {metric} IS NOT NULL ORDER BY {metric} {order} LIMIT 1", [digest]).fetchone()
        if row:
            out[metric] = dict(zip(("model", "hw", "phase", "batch", "seq", "w_bits", "mapper", "engine", metric),
                                   row, strict=True))
    return out


__all__ = ["SweepOutcome", "best_points", "run_sweep"]
