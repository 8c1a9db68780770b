"""``archsim`` entry point: parse arguments, run the command, print, map errors to exit codes.

Exit codes: 0 success; 1 ``validate --strict`` with failures; 2 bad input (one sentence on stderr,
naming the field and the allowed values, never a traceback).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console

from archsim.cli import commands, render
from archsim.errors import InputError
from archsim.sim.core import Trace
from models.errors import ModelInputError


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line and exits 2 (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        end = "" if message.endswith(".") else "."
        sys.stderr.write(f"archsim: error: {message}{end}\n")
        raise SystemExit(2)


def _workload_options(p: argparse.ArgumentParser, *, phase_choices: tuple[str, ...], phase_default: str) -> None:
    p.add_argument("--model", required=True, help="model id (see `archsim models list`) or path to a config.json")
    p.add_argument("--phase", default=phase_default, choices=phase_choices)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--seq", type=int, default=1024, help="prompt length (prefill) or KV length (decode)")
    p.add_argument("--gen", type=int, help="end-to-end generation: prefill of --seq then GEN decode steps")
    p.add_argument("--w-bits", dest="w_bits", type=int, default=16)
    p.add_argument("--a-bits", dest="a_bits", type=int, default=16)
    p.add_argument("--kv-bits", dest="kv_bits", type=int, default=16)
    p.add_argument("--sparsity", help="N:M weight sparsity, e.g. 2:4")
    p.add_argument("--flash-attention", dest="flash_attention", action="store_true",
                   help="count attention as one fused FlashAttention operator")
    p.add_argument("--mapper", help="mapping strategy (default: the hardware family's default)")
    p.add_argument("--engine", default="analytic", choices=("analytic", "sim"))
    p.add_argument("--grid", help="mesh grid RxC or 'auto' (wafer-scale hardware)")
    p.add_argument("--threads", type=int, help="CPU threads (CPU/PIM hardware)")
    p.add_argument("--compat", default="corrected", choices=("corrected", "llm-viewer"),
                   help="llm-viewer: reproduce LLM-Viewer's formulas exactly; corrected (default) fixes them")
    p.add_argument("--format", default="table", choices=("table", "json", "csv"))
    p.add_argument("--report", type=Path, help="write a self-contained HTML report here")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (DESIGN.md's CLI contract)."""
    parser = _Parser(prog="archsim", description="Co-design hardware for LLM inference.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("run", help="evaluate one model/workload on one device")
    p.add_argument("--hw", required=True, help="hardware id (see `archsim hw list`) or path to a YAML file")
    _workload_options(p, phase_choices=("prefill", "decode"), phase_default="decode")
    p.add_argument("--trace", type=Path, help="write the simulation timeline (sim engine)")

    p = sub.add_parser("compare", help="the same workload on several devices")
    p.add_argument("--hw", required=True, help="comma-separated hardware ids or YAML paths, or 'all'")
    _workload_options(p, phase_choices=("prefill", "decode", "both"), phase_default="both")

    p = sub.add_parser("kernel", help="one GEMV/GEMM kernel on one device")
    p.add_argument("op", choices=("gemv", "gemm"))
    p.add_argument("--hw", required=True)
    p.add_argument("--m", type=int, default=1)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--k", type=int, required=True)
    p.add_argument("--w-bits", dest="w_bits", type=int, default=16)
    p.add_argument("--a-bits", dest="a_bits", type=int, default=16)
    p.add_argument("--sparsity", help="N:M weight sparsity, e.g. 4:16")
    p.add_argument("--mapper")
    p.add_argument("--engine", default="analytic", choices=("analytic", "sim"))
    p.add_argument("--grid")
    p.add_argument("--threads", type=int)
    p.add_argument("--format", default="table", choices=("table", "json"))

    p = sub.add_parser("validate", help="reproduce published results and print the error of each")
    p.add_argument("--family", default="all", choices=("gpu", "mesh", "pim", "fpga", "all"))
    p.add_argument("--format", default="table", choices=("table", "json"))
    p.add_argument("--strict", action="store_true", help="exit 1 if any supported case fails")
    p.add_argument("--cases", type=Path, help="a cases YAML file (default: the bundled published cases)")

    p = sub.add_parser("hw", help="list or show hardware presets")
    hw_sub = p.add_subparsers(dest="hw_command", required=True, parser_class=_Parser)
    hw_sub.add_parser("list")
    show = hw_sub.add_parser("show")
    show.add_argument("id")

    p = sub.add_parser("models", help="list or show model presets")
    m_sub = p.add_subparsers(dest="models_command", required=True, parser_class=_Parser)
    m_sub.add_parser("list")
    show = m_sub.add_parser("show")
    show.add_argument("id")

    p = sub.add_parser("explore", help="open the interactive design-space explorer")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8050)
    p.add_argument("--debug", action="store_true")

    p = sub.add_parser("calibrate", help="measure this machine and write a hardware preset")
    p.add_argument("target", choices=("host",), help="host: this CPU (writes the `host` preset)")
    p.add_argument("--out", type=Path, help="where to write the preset (default: ./host.yaml)")
    p.add_argument("--quick", action="store_true", help="smaller arrays and fewer repeats (~10 s)")

    for name, what in (("sweep", "design-space sweeps"), ("rtl", "RTL verification and synthesis")):
        p = sub.add_parser(name, help=f"{what} (not available yet)")
        p.add_argument("rest", nargs="*")
    return parser


def _workload_params(args: argparse.Namespace) -> dict[str, Any]:
    keys = ("model", "phase", "batch", "seq", "gen", "w_bits", "a_bits", "kv_bits", "sparsity", "flash_attention",
            "mapper", "engine", "grid", "threads", "compat")
    return {k: getattr(args, k) for k in keys}


def _cmd_run(args: argparse.Namespace, console: Console) -> int:
    if args.trace is not None and args.engine != "sim":
        raise InputError("trace", "--trace records a simulation timeline and needs --engine sim.")
    trace = Trace() if args.trace is not None else None
    result = commands.run({**_workload_params(args), "hw": args.hw}, trace)
    if trace is not None:
        args.trace.parent.mkdir(parents=True, exist_ok=True)
        args.trace.write_text(json.dumps({"traceEvents": trace.events, "displayTimeUnit": "ms",
                                          "otherData": {"model": result.model, "hardware": result.hardware,
                                                        "phase": result.phase, "note": "one decoder layer's "
                                                        "kernels appear once per layer in op order"}}))
    if args.format == "json":
        print(render.to_json(result.as_dict()))
    elif args.format == "csv":
        print(render.to_csv(render.op_rows(result)), end="")
    else:
        render.print_result(result, console)
    if args.report is not None:
        _write_report([result], args.report, console, args.format)
    return 0


def _cmd_compare(args: argparse.Namespace, console: Console) -> int:
    results = commands.compare({**_workload_params(args), "hw": args.hw})
    if args.format == "json":
        print(render.to_json([r.as_dict() for r in results]))
    elif args.format == "csv":
        print(render.to_csv(render.summary_rows(results)), end="")
    else:
        render.print_comparison(results, console)
    if args.report is not None:
        _write_report(results, args.report, console, args.format)
    return 0


def _write_report(results: list[Any], path: Path, console: Console, fmt: str) -> None:
    from archsim.report import write_report

    title = f"archsim: {results[0].model}"
    out = write_report(results, path, title)
    if fmt == "table":
        console.print(f"report written to {out}")
    else:
        print(f"report written to {out}", file=sys.stderr)


def _cmd_kernel(args: argparse.Namespace, console: Console) -> int:
    params = {k: getattr(args, k) for k in ("op", "hw", "m", "n", "k", "w_bits", "a_bits", "sparsity", "mapper",
                                            "engine", "grid", "threads")}
    out = commands.kernel(params)
    if args.format == "json":
        print(render.to_json(out))
    else:
        for key, value in out.items():
            console.print(f"{key:>12}  {value}")
    return 0


def _cmd_validate(args: argparse.Namespace, console: Console) -> int:
    from archsim.validate.runner import load_cases, print_outcomes, run_cases

    cases = load_cases(args.cases)
    outcomes = run_cases(cases, args.family)
    if args.format == "json":
        print(render.to_json([o.as_dict() for o in outcomes]))
    else:
        print_outcomes(outcomes, console)
    failed = [o for o in outcomes if o.status == "fail"]
    return 1 if (args.strict and failed) else 0


def _cmd_hw(args: argparse.Namespace, console: Console) -> int:
    from archsim.hardware import hardware_ids, load_hardware

    if args.hw_command == "list":
        rows = [(h.id, h.family, h.name, f"{h.peaks_ops['fp16'].value / 1e12:g}",
                 f"{h.memory.bandwidth_Bps.value / 1e9:g}", f"{h.memory.capacity_bytes.value / 1e9:g}",
                 f"{h.power.tdp_w.value:g}", f"{h.price_usd.value:,.0f}")
                for h in map(load_hardware, hardware_ids())]
        render.print_table(console, "hardware presets", ("id", "family", "name", "fp16 TOPS", "BW GB/s",
                                                         "memory GB", "TDP W", "price $"), rows)
    else:
        import yaml

        h = load_hardware(args.id)
        print(yaml.safe_dump(h.model_dump(exclude_none=True), sort_keys=False, width=120), end="")
    return 0


def _cmd_models(args: argparse.Namespace, console: Console) -> int:
    from models.config import load_model, preset_ids

    if args.models_command == "list":
        rows = [(mid, c.model_type, str(c.layers), str(c.hidden), f"{c.heads}/{c.kv_heads}", str(c.intermediate),
                 str(c.vocab), f"{sum(c.parameter_count().values()) / 1e9:.2f} B")
                for mid, c in ((mid, load_model(mid)) for mid in preset_ids())]
        render.print_table(console, "model presets",
                           ("id", "type", "layers", "hidden", "heads/kv", "ffn", "vocab", "params"), rows)
    else:
        from dataclasses import asdict

        c = load_model(args.id)
        print(render.to_json({**asdict(c), "parameters": c.parameter_count()}))
    return 0


def _cmd_calibrate(args: argparse.Namespace, console: Console) -> int:
    from archsim.calibrate import HOST_ENV, calibrate_host, find_host_preset

    try:
        path = calibrate_host(args.out, quick=args.quick,
                              progress=lambda line: console.print(line, markup=False, highlight=False))
    except OSError as exc:
        raise InputError("out", f"cannot write the host preset: {exc.strerror or exc}.") from None
    found = find_host_preset()
    if found is not None and found.resolve() == path.resolve():
        console.print("use it with --hw host, e.g. `archsim kernel gemv --hw host --n 4096 --k 4096`")
    else:
        console.print(f"use it with --hw {path}, or set {HOST_ENV}={path} for --hw host")
    return 0


def _cmd_not_yet(args: argparse.Namespace, console: Console) -> int:
    from archsim.errors import NotSupportedError

    raise NotSupportedError("command", f"'archsim {args.command}' is not available yet in this version.")


_COMMANDS = {"run": _cmd_run, "compare": _cmd_compare, "kernel": _cmd_kernel, "validate": _cmd_validate,
             "hw": _cmd_hw, "models": _cmd_models, "explore": _cmd_not_yet, "sweep": _cmd_not_yet,
             "rtl": _cmd_not_yet, "calibrate": _cmd_calibrate}


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns (and, as a script, exits with) the exit code."""
    args = build_parser().parse_args(argv)
    # Wide enough for the op tables when output is piped (rich falls back to 80 columns).
    width = shutil.get_terminal_size((160, 40)).columns
    console = Console(width=max(width, 120))
    try:
        return _COMMANDS[args.command](args, console)
    except (InputError, ModelInputError) as exc:
        msg = str(exc)
        sys.stderr.write(f"archsim: error: {msg}\n")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
