"""``archsim sweep`` and ``archsim results``: run a design-space sweep into DuckDB, then query, export and
take Pareto fronts of it."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from archsim.errors import InputError
from archsim.sweep.store import DEFAULT_STORE


def add_parsers(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Register ``sweep`` and ``results`` on the CLI's subparsers."""
    p = sub.add_parser("sweep", help="evaluate a design space described in a YAML file into a DuckDB store")
    p.add_argument("spec", type=Path, help="sweep spec (YAML); examples in examples/sweeps/")
    p.add_argument("--out", type=Path, default=DEFAULT_STORE, help=f"DuckDB store (default {DEFAULT_STORE})")
    p.add_argument("--resume", action="store_true", help="skip the chunks a previous run of this spec finished")
    p.add_argument("--fresh", action="store_true", help="recompute this spec's points, replacing stored ones")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, help="local worker processes (default: one per core)")
    where.add_argument("--scheduler", help="address of an existing Dask scheduler, e.g. tcp://10.0.0.5:8786")
    where.add_argument("--dask-local", dest="dask_local", type=int, metavar="N",
                       help="start a local Dask cluster of N worker processes (to try the Dask path)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--log", type=Path, help="append one JSON line per stored chunk (progress for non-terminals)")
    p.add_argument("--format", default="table", choices=("table", "json"))

    p = sub.add_parser("results", help="query, export or take the Pareto front of a sweep store")
    r = p.add_subparsers(dest="results_command", required=True, parser_class=parser_class)
    q = r.add_parser("query", help="run SQL on the store (tables: points, runs, chunks)")
    q.add_argument("sql")
    q.add_argument("--db", type=Path, default=DEFAULT_STORE)
    q.add_argument("--format", default="table", choices=("table", "json", "csv"))
    q = r.add_parser("export", help="write the points table to Parquet or CSV")
    fmt = q.add_mutually_exclusive_group(required=True)
    fmt.add_argument("--parquet", type=Path, metavar="FILE")
    fmt.add_argument("--csv", type=Path, metavar="FILE")
    q.add_argument("--where", help="SQL filter on points, e.g. \"phase = 'decode'\"")
    q.add_argument("--db", type=Path, default=DEFAULT_STORE)
    q = r.add_parser("pareto", help="the Pareto front of two metrics (each in its natural direction)")
    q.add_argument("--x", default="energy_per_token_j")
    q.add_argument("--y", default="tokens_per_s")
    q.add_argument("--x-dir", choices=("min", "max"))
    q.add_argument("--y-dir", choices=("min", "max"))
    q.add_argument("--where", help="SQL filter, e.g. \"phase = 'decode' AND feasible\"")
    q.add_argument("--db", type=Path, default=DEFAULT_STORE)
    q.add_argument("--plot", type=Path, help="write an HTML scatter with the front highlighted")
    q.add_argument("--format", default="table", choices=("table", "json", "csv"))


def cmd_sweep(args: argparse.Namespace, console: Console) -> int:
    from archsim.sweep.runner import run_sweep
    from archsim.sweep.spec import load_spec

    if args.resume and args.fresh:
        raise InputError("resume", "--resume and --fresh contradict each other; pick one.")
    for name in ("workers", "dask_local"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise InputError(name, f"--{name.replace('_', '-')} must be at least 1, got {value}.")
    spec = load_spec(args.spec)
    err_console = Console(stderr=True)
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[rate]:>10} pts/s"), TextColumn("{task.fields[fail]} failed"),
                        TimeElapsedColumn(), TimeRemainingColumn(), console=err_console,
                        disable=args.quiet or args.format == "json", transient=False)
    task = progress.add_task(spec.name, total=None, rate="-", fail=0)
    start_done: list[int] = []

    log = args.log.open("a", buffering=1) if args.log else None

    def on_progress(done: int, total: int, failures: int) -> None:
        if not start_done:
            start_done.append(done)
        elapsed = progress.tasks[0].elapsed or 0.0
        rate = (done - start_done[0]) / elapsed if elapsed > 0 else 0.0
        progress.update(task, completed=done, total=total, rate=f"{rate:,.0f}", fail=failures)
        if log is not None:
            log.write(json.dumps({"done": done, "total": total, "failures": failures, "points_per_s": rate}) + "\n")

    try:
        with progress:
            out = run_sweep(spec, args.out, resume=args.resume, fresh=args.fresh, workers=args.workers,
                            scheduler=args.scheduler, dask_local=args.dask_local, on_progress=on_progress)
    finally:
        if log is not None:
            log.close()
    summary = {"run_id": out.run_id, "store": str(args.out), "points": out.points, "written": out.written,
               "failures": out.failures, "skipped_chunks": out.skipped_chunks, "refined_with_sim": out.refined,
               "elapsed_s": out.elapsed_s, "points_per_s": out.points_per_s, "executor": out.executor,
               "best": out.best}
    if args.format == "json":
        print(json.dumps(summary, default=str))
        return 0
    console.print(f"[bold]{spec.name}[/bold]: {out.points:,} points, {out.written:,} written now "
                  f"({out.points_per_s:,.0f} points/s on {out.executor}), {out.failures:,} failed, "
                  f"{out.skipped_chunks} chunks resumed" + (f", {out.refined} refined with the simulator"
                                                            if out.refined else ""), highlight=False)
    if out.best:
        table = Table(title="best feasible point per objective")
        for col in ("objective", "value", "model", "hw", "phase", "batch", "seq", "w_bits", "mapper", "engine"):
            table.add_column(col)
        for metric, row in out.best.items():
            table.add_row(metric, f"{row[metric]:.4g}", *(str(row[k]) for k in ("model", "hw", "phase", "batch", "seq",
                                                                            "w_bits", "mapper", "engine")))
        console.print(table)
    console.print(f"store: {args.out}  (archsim results query \"SELECT ...\" --db {args.out})", highlight=False)
    return 0


def _print_rows(cols: list[str], rows: list[tuple[Any, ...]], fmt: str, console: Console, title: str = "") -> None:
    if fmt == "json":
        print(json.dumps([dict(zip(cols, r, strict=True)) for r in rows], default=str))
    elif fmt == "csv":
        import csv

        w = csv.writer(sys.stdout)
        w.writerow(cols)
        w.writerows(rows)
    else:
        table = Table(title=title or None)
        for c in cols:
            table.add_column(c)
        for r in rows:
            table.add_row(*(f"{v:.4g}" if isinstance(v, float) else str(v) for v in r))
        console.print(table)


def cmd_results(args: argparse.Namespace, console: Console) -> int:
    from archsim.sweep import store

    con = store.connect(args.db, read_only=True)
    try:
        if args.results_command == "query":
            cols, rows = store.query(con, args.sql)
            _print_rows(cols, rows, args.format, console)
        elif args.results_command == "export":
            fmt, path = ("parquet", args.parquet) if args.parquet else ("csv", args.csv)
            n = store.export(con, path, fmt, args.where)
            console.print(f"{n:,} points written to {path}", highlight=False)
        else:
            return _pareto(con, args, console)
    finally:
        con.close()
    return 0


def _pareto(con: Any, args: argparse.Namespace, console: Console) -> int:
    import numpy as np

    from archsim.sweep import store
    from archsim.sweep.pareto import direction, pareto_mask

    xd, yd = direction(args.x, args.x_dir), direction(args.y, args.y_dir)
    show = ["model", "hw", "phase", "batch", "seq", "w_bits", "mapper", "engine"]
    where = f"status = 'ok' AND {args.x} IS NOT NULL AND {args.y} IS NOT NULL" + (
        f" AND ({args.where})" if args.where else "")
    cols, rows = store.query(con, f"SELECT {args.x}, {args.y}, {', '.join(show)} FROM points WHERE {where}")
    if not rows:
        raise InputError("where", "no stored points match; check --where or run a sweep first.")
    x = np.array([r[0] for r in rows], dtype=float)
    y = np.array([r[1] for r in rows], dtype=float)
    mask = pareto_mask(x, y, xd, yd)
    front = sorted((rows[i] for i in np.flatnonzero(mask)), key=lambda r: r[0])
    _print_rows(cols, front, args.format, console,
                f"Pareto front: {args.x} ({xd}) vs {args.y} ({yd}), {len(front)} of {len(rows):,} points")
    if args.plot:
        from web.figures import pareto_figure

        fig = pareto_figure(x, y, mask, args.x, args.y, labels=[f"{r[2]} {r[3]} {r[4]} b{r[5]} s{r[6]}" for r in rows])
        args.plot.parent.mkdir(parents=True, exist_ok=True)
        fig.write_html(str(args.plot), include_plotlyjs=True)
        console.print(f"plot written to {args.plot}", highlight=False)
    return 0
