"""``archsim validate``: run published cases through the CLI code path and report their errors.

Case format: ``shared/validation/README.md``. A case whose hardware, mapper or engine does not exist
yet is reported as ``not yet supported`` with the reason, never silently skipped.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from archsim.cli import commands
from archsim.errors import InputError, NotSupportedError
from models.errors import ModelInputError

CASES_FILE = Path(__file__).parent / "cases" / "published.yaml"
# Metrics where smaller is better: a speed-up ratio is baseline / run for these, run / baseline otherwise.
LOWER_IS_BETTER = frozenset({"latency_s", "energy_j", "energy_per_token_j", "ttft_s", "tpot_s"})


@dataclass
class Outcome:
    """The result of one case. ``status``: pass, fail, not yet supported, or error."""

    id: str
    family: str
    kind: str
    metric: str
    predicted: float | list[float] | None
    published: float | str | None
    error: float | None
    tolerance: float | None
    status: str
    detail: str = ""
    roofline: float | None = None  # the ideal roofline's prediction of the same case (GPU cases)
    roofline_error: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_cases(path: Path | None = None) -> list[dict[str, Any]]:
    """Parse a cases YAML file (default: the bundled published cases)."""
    path = path or CASES_FILE
    if not path.is_file():
        raise InputError("cases", f"cases file '{path}' does not exist.")
    try:
        cases = yaml.safe_load(path.read_text())
    except yaml.YAMLError:
        raise InputError("cases", f"cases file '{path}' is not valid YAML.") from None
    if not isinstance(cases, list) or not all(isinstance(c, dict) and "id" in c for c in cases):
        raise InputError("cases", f"cases file '{path}' must be a YAML list of cases with an 'id' each.")
    return cases


def measure(run: dict[str, Any], metric: str) -> float:
    """Execute one ``run`` block (an ``archsim run`` or ``archsim kernel`` call) and read ``metric``."""
    params = dict(run)
    cmd = params.pop("cmd", "run")
    if cmd == "kernel":
        out = commands.kernel(params)
    elif cmd == "run":
        out = commands.run(params).as_dict()
    else:
        raise InputError("cmd", f"case command must be 'run' or 'kernel', got '{cmd}'.")
    if metric not in out:
        raise InputError("metric", f"metric '{metric}' is not in the output of '{cmd}'.")
    return float(out[metric])


def _as_roofline(run: dict[str, Any]) -> dict[str, Any] | None:
    """The same run with the ideal roofline mapper, for GPU runs priced by another mapper."""
    from archsim.hardware import load_hardware

    if run.get("mapper") == "roofline" or run.get("compat") == "llm-viewer":
        return None
    try:
        if load_hardware(run["hw"]).family != "gpu":
            return None
    except InputError:
        return None
    return {**run, "mapper": "roofline", "engine": "analytic"}


def _predict(case: dict[str, Any], run: dict[str, Any], baseline: dict[str, Any] | None, metric: str) -> float:
    value = measure(run, metric)
    if baseline is None:
        return value
    other = measure(baseline, metric)
    return other / value if metric in LOWER_IS_BETTER else value / other


def run_case(case: dict[str, Any]) -> Outcome:
    """Evaluate one case and judge it against its published value, ratio or trend."""
    metric = case.get("metric", "latency_s")
    tol = case.get("tolerance")
    base = dict(id=case["id"], family=case.get("family", "?"), kind=case.get("kind", "?"), metric=metric)
    try:
        if "trend" in case:
            values = [measure(r, metric) for r in case["runs"]]
            pairs = list(zip(values, values[1:], strict=False))
            ok = all(b < a for a, b in pairs) if case["trend"] == "decreasing" else all(b > a for a, b in pairs)
            return Outcome(**base, predicted=values, published=case["trend"], error=None, tolerance=None,
                           status="pass" if ok else "fail")
        if "pairs" in case:  # a ratio averaged over several (run, baseline) pairs
            ratios = [_predict(case, p["run"], p["baseline"], metric) for p in case["pairs"]]
            predicted = sum(ratios) / len(ratios)
            expected = float(case["expected_ratio"])
            error = (predicted - expected) / expected
            status = "pass" if tol is not None and abs(error) <= float(tol) else "fail"
            return Outcome(**base, predicted=predicted, published=expected, error=error, tolerance=tol,
                           status=status, detail=case.get("note", "") if status == "fail" else "")
        baseline = case.get("baseline")
        predicted = _predict(case, case["run"], baseline, metric)
        expected = float(case["expected_ratio"] if baseline is not None else case["expected"])
        error = (predicted - expected) / expected
        status = "pass" if tol is not None and abs(error) <= float(tol) else "fail"
        out = Outcome(**base, predicted=predicted, published=expected, error=error, tolerance=tol, status=status,
                      detail=case.get("note", "") if status == "fail" else "")
        roof_run = _as_roofline(case["run"])
        roof_base = _as_roofline(baseline) if baseline is not None else None
        if roof_run is not None and (baseline is None or roof_base is not None):
            out.roofline = _predict(case, roof_run, roof_base, metric)
            out.roofline_error = (out.roofline - expected) / expected
        return out
    except NotSupportedError as exc:
        return Outcome(**base, predicted=None, published=case.get("expected", case.get("expected_ratio")),
                       error=None, tolerance=tol, status="not yet supported", detail=str(exc))
    except (InputError, ModelInputError) as exc:
        return Outcome(**base, predicted=None, published=case.get("expected", case.get("expected_ratio")),
                       error=None, tolerance=tol, status="error", detail=str(exc))


def run_cases(cases: list[dict[str, Any]], family: str = "all") -> list[Outcome]:
    """Run every case of ``family`` (or all)."""
    return [run_case(c) for c in cases if family == "all" or c.get("family") == family]


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, list):
        return ", ".join(f"{v:.4g}" for v in x)
    if isinstance(x, float):
        return f"{x:.6g}"
    return str(x)


def print_outcomes(outcomes: list[Outcome], console: Console) -> None:
    """Table of prediction / published / error / status, then a one-line tally."""
    table = Table(title="archsim validate")
    numeric = ("predicted", "published", "error", "tol", "roofline", "roofline err")
    for col in ("case", "kind", "metric", "predicted", "published", "error", "tol", "status", "roofline",
                "roofline err"):
        table.add_column(col, justify="right" if col in numeric else "left")
    colours = {"pass": "green", "fail": "red", "not yet supported": "yellow", "error": "magenta"}
    for o in outcomes:
        err = "-" if o.error is None else f"{100 * o.error:+.2f}%"
        tol = "-" if o.tolerance is None else f"{100 * float(o.tolerance):g}%"
        status = f"[{colours[o.status]}]{o.status}[/{colours[o.status]}]"
        roof_err = "-" if o.roofline_error is None else f"{100 * o.roofline_error:+.2f}%"
        table.add_row(o.id, o.kind, o.metric, _fmt(o.predicted), _fmt(o.published), err, tol, status,
                      _fmt(o.roofline), roof_err)
    console.print(table)
    for o in outcomes:
        if o.detail:
            console.print(f"  {o.id}: {o.detail}")
    tally: dict[str, int] = {}
    for o in outcomes:
        tally[o.status] = tally.get(o.status, 0) + 1
    console.print(", ".join(f"{n} {s}" for s, n in tally.items()))
