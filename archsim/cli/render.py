"""Render results for the terminal (rich tables), as JSON, or as CSV. Units convert only here."""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

from rich.console import Console
from rich.table import Table

from archsim.result import Result

OP_COLUMNS = ("name", "kind", "repeat", "flops", "bytes", "intensity", "bound", "peak_dtype", "time_s")


def _si(x: float, unit: str = "") -> str:
    """Engineering notation: 1.23 G, 45.6 M ..."""
    if x == 0:
        return f"0 {unit}".strip()
    if math.isinf(x):
        return "inf"
    for factor, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= factor:
            return f"{x / factor:.2f} {prefix}{unit}"
    return f"{x:.3g} {unit}".strip()


def _time(t: float) -> str:
    if t >= 1:
        return f"{t:.3f} s"
    if t >= 1e-3:
        return f"{t * 1e3:.3f} ms"
    return f"{t * 1e6:.2f} us"


def to_json(data: Any) -> str:
    """JSON text; infinities become null so the output stays valid JSON."""
    def clean(x: Any) -> Any:
        if isinstance(x, float) and (math.isinf(x) or math.isnan(x)):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, list):
            return [clean(v) for v in x]
        return x

    return json.dumps(clean(data), indent=2)


def summary_rows(results: list[Result]) -> list[dict[str, Any]]:
    """One flat row per result (no per-op list), for CSV and the comparison table."""
    rows = []
    for r in results:
        d = r.as_dict()
        d.pop("ops")
        d["warnings"] = "; ".join(d["warnings"])
        rows.append(d)
    return rows


def to_csv(rows: list[dict[str, Any]]) -> str:
    """CSV text with a header from the first row's keys."""
    if not rows:
        return ""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def op_rows(result: Result) -> list[dict[str, Any]]:
    """Per-op CSV rows of one result, prefixed with the design point."""
    head = {"model": result.model, "hardware": result.hardware, "phase": result.phase}
    return [{**head, **{k: c.as_dict()[k] for k in OP_COLUMNS}} for c in result.ops]


def print_table(console: Console, title: str, columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """A plain rich table of strings."""
    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    console.print(table)


def print_result(result: Result, console: Console) -> None:
    """Per-op roofline table (one row per layer op, LLM-Viewer style) and the totals."""
    table = Table(title=f"{result.model} on {result.hardware} · {result.phase} · batch {result.batch} · "
                        f"seq {result.seq}" + (f" · gen {result.gen}" if result.gen else "")
                        + f" · {result.compat} · {result.mapper}/{result.engine}")
    for col, justify in (("op", "left"), ("kind", "left"), ("x", "right"), ("OPs", "right"),
                         ("bytes", "right"), ("AI (OP/B)", "right"), ("bound", "left"), ("peak / kernel", "left"),
                         ("time / inst", "right"), ("time total", "right"), ("share", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    total = result.latency_s
    for c in result.ops:
        op = c.op
        ai = op.intensity
        table.add_row(op.name, op.kind, str(op.repeat), _si(op.flops), _si(op.bytes, "B"),
                      "inf" if math.isinf(ai) else f"{ai:.4g}", c.bound, c.kernel or c.peak_dtype, _time(c.time_s),
                      _time(c.total_time_s), f"{100 * c.total_time_s / total:.1f}%" if total else "-")
    console.print(table)
    mem = result.memory
    lines = [
        f"latency {_time(result.latency_s)}   tokens/s {result.tokens_per_s:,.1f}   "
        f"energy {result.energy_j:.4g} J ({result.energy_per_token_j:.4g} J/token)   "
        f"tokens/$ {result.tokens_per_usd:,.0f}",
        f"OPs {_si(result.flops)}   bytes {_si(result.bytes_moved, 'B')}   memory {mem.total_bytes / 1e9:.2f} GB "
        f"(weights {mem.weight_bytes / 1e9:.3f}, KV {mem.kv_bytes / 1e9:.3f}, activations "
        f"{mem.activation_bytes / 1e9:.3f}) of {result.capacity_bytes / 1e9:.0f} GB",
    ]
    for key in ("ttft_s", "tpot_s"):
        if key in result.extra:
            lines.append(f"{key.removesuffix('_s')} {_time(result.extra[key])}")
    if "roofline_latency_s" in result.extra:
        bound = result.extra["roofline_latency_s"]
        lines.append(f"roofline bound {_time(bound)} (this prediction is {result.latency_s / bound:.2f}x the bound)")
    for line in lines:
        console.print(line)
    for w in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}")


def print_comparison(results: list[Result], console: Console) -> None:
    """One row per (phase, device): latency, throughput, energy, cost, memory, dominant bound."""
    table = Table(title=f"{results[0].model} · batch {results[0].batch} · seq {results[0].seq} · "
                        f"{results[0].compat} · {results[0].engine}")
    for col in ("phase", "hardware", "mapper", "latency", "roofline", "x bound", "tokens/s", "J/token", "tokens/$",
                "memory GB", "fits", "memory-bound time"):
        table.add_column(col, justify="left" if col in ("phase", "hardware", "mapper", "fits") else "right")
    for r in results:
        mem_time = sum(c.total_time_s for c in r.ops if c.bound == "memory")
        bound = r.extra.get("roofline_latency_s")
        grid = f" {r.extra['grid']}" if "grid" in r.extra else ""
        table.add_row(r.phase, r.hardware, f"{r.mapper}/{r.engine}{grid}", _time(r.latency_s),
                      "-" if bound is None else _time(bound),
                      "-" if bound is None else f"{r.latency_s / bound:.2f}", f"{r.tokens_per_s:,.1f}",
                      f"{r.energy_per_token_j:.4g}", f"{r.tokens_per_usd:,.0f}",
                      f"{r.memory.total_bytes / 1e9:.1f} / {r.capacity_bytes / 1e9:.0f}",
                      "yes" if r.fits_memory else "[red]no[/red]",
                      f"{100 * mem_time / r.latency_s:.0f}%" if r.latency_s else "-")
    console.print(table)
    for r in results:
        for w in r.warnings:
            console.print(f"[yellow]warning ({r.hardware}, {r.phase}):[/yellow] {w}")


# --- archsim rtl -------------------------------------------------------------------------------------------


def print_rtl_modules(console: Console, label: str, modules: list[Any], top: str | None = None) -> None:
    """``archsim rtl info``: one table of parameters and one of ports per module."""
    for m in modules:
        mark = " (top)" if top and m.name == top else ""
        console.print(f"[bold]{m.name}[/bold]{mark}  [dim]{m.file}[/dim]" + (f"  [dim]unit {label}[/dim]"
                                                                           if label != m.file else ""))
        if m.parameters or m.localparams:
            table = Table(title=None, show_edge=False)
            for col in ("parameter", "default", "expression", "kind"):
                table.add_column(col, justify="right" if col == "default" else "left")
            for p in [*m.parameters, *m.localparams]:
                table.add_row(p.name, str(p.value), p.expr if str(p.value) != p.expr else "", p.kind)
            console.print(table)
        table = Table(title=None, show_edge=False)
        for col in ("port", "dir", "width", "range", "signed", "net"):
            table.add_column(col, justify="right" if col == "width" else "left")
        for p in m.ports:
            table.add_row(p.name, p.direction, str(p.width), p.range, "signed" if p.signed else "", p.net)
        console.print(table)
        if m.instances:
            console.print("instances: " + ", ".join(f"{mod} {name}" for mod, name in m.instances))
        console.print()


def print_synth(console: Console, res: Any) -> None:
    """``archsim rtl synth``: grouped counts, then every cell type."""
    params = ", ".join(f"{k}={v}" for k, v in sorted(res.params.items())) or "defaults"
    cached = " (cached)" if res.cached else ""
    console.print(f"[bold]{res.unit}[/bold] (top {res.top}) · {res.target} · {params} · yosys {res.wall_s:.1f} s"
                  f"{cached}", highlight=False)
    table = Table()
    table.add_column("resource")
    table.add_column("count", justify="right")
    for key, value in res.summary.items():
        table.add_row(key, f"{value:g}")
    console.print(table)
    cells = Table(title="cells by type", show_edge=False)
    cells.add_column("cell")
    cells.add_column("count", justify="right")
    for key, value in sorted(res.cells.items(), key=lambda kv: (-kv[1], kv[0])):
        cells.add_row(key, str(value))
    console.print(cells)


def _short(x: Any, width: int = 12) -> str:
    text = "-" if x is None else str(x)
    return text if len(text) <= width else text[: width - 1] + "…"


def print_rtl_verify(console: Console, summary: Any) -> None:
    """``archsim rtl verify``: one row per unit x parameter set."""
    table = Table(title=f"RTL regression · {len(summary.rows)} runs · {summary.wall_s:.1f} s")
    for col, justify in (("unit", "left"), ("params", "left"), ("vectors", "right"), ("tests", "right"),
                         ("pass", "left"), ("cycles RTL", "right"), ("cycles model", "right"), ("match", "left"),
                         ("seed", "right"), ("time", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in summary.rows:
        params = " ".join(f"{k}={v}" for k, v in r.params.items()) + (" (slow)" if r.slow else "")
        table.add_row(r.unit, params, str(r.vectors), f"{r.tests - r.failed}/{r.tests}",
                      "[green]pass[/green]" if r.ok else "[red]FAIL[/red]",
                      "-" if r.rtl_cycles is None else str(r.rtl_cycles),
                      "-" if r.model_cycles is None else str(r.model_cycles),
                      "yes" if r.cycles_match else "[red]no[/red]", _short(r.seed),
                      f"{r.wall_s:.1f} s")
    console.print(table)
    for r in summary.rows:
        if not r.ok:
            console.print(f"[red]{r.unit} {r.params}:[/red] {r.error or 'failed'} (log: {r.log})", highlight=False)
    n_ok = sum(r.ok for r in summary.rows)
    colour = "green" if summary.all_ok else "red"
    console.print(f"[{colour}]{n_ok} of {len(summary.rows)} runs bit-exact and cycle-exact[/{colour}]")


def print_codesign(console: Console, rows: list[tuple[str, str, str]], title: str) -> None:
    """``archsim run --unit-cost-from-rtl``: the typed-in preset beside the RTL-derived unit cost."""
    console.print(title, highlight=False)
    table = Table()
    for col in ("", "typed-in preset", "RTL-derived (yosys)"):
        table.add_column(col, justify="left" if not col else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)
