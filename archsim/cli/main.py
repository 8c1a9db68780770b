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

from archsim.cli import commands, render, sweep_cmd
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
    p.add_argument("--unit-cost-from-rtl", dest="unit_cost_from_rtl", action="store_true",
                   help="fpga: cost a sparse DSP chain by synthesizing its RTL with yosys (UltraScale+) and print "
                        "the chains and MAC rate beside the typed-in preset's")

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
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 exposes it, unauthenticated)")
    p.add_argument("--port", type=int, default=8050)
    p.add_argument("--debug", action="store_true", help="Dash debug mode: dev tools, reloader, tracebacks in the page")
    p.add_argument("--workers", type=int, help="server processes (default: 2 where the OS can fork, else 1; "
                                               "--debug uses 1)")

    p = sub.add_parser("calibrate", help="measure this machine and write a hardware preset")
    p.add_argument("target", choices=("host",), help="host: this CPU (writes the `host` preset)")
    p.add_argument("--out", type=Path, help="where to write the preset (default: ./host.yaml)")
    p.add_argument("--quick", action="store_true", help="smaller arrays and fewer repeats (~10 s)")

    sweep_cmd.add_parsers(sub, _Parser)
    _rtl_parser(sub)
    return parser


def _rtl_parser(sub: Any) -> None:
    p = sub.add_parser("rtl", help="RTL units: ports and parameters, yosys synthesis, the cocotb regression")
    rtl = p.add_subparsers(dest="rtl_command", required=True, parser_class=_Parser)
    q = rtl.add_parser("info", help="modules, parameters and ports of units or Verilog files (pyverilog)")
    q.add_argument("targets", nargs="*", metavar="UNIT|FILE.v", help="unit names or Verilog files (default: all units)")
    q.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="resolve widths with this parameter value on the top module (repeatable)")
    q.add_argument("--format", default="table", choices=("table", "json"))
    q = rtl.add_parser("synth", help="synthesize a unit with yosys and count its cells")
    q.add_argument("unit", metavar="UNIT|FILE.v")
    q.add_argument("--target", default="generic", choices=("generic", "xilinx"),
                   help="generic: yosys gates; xilinx: UltraScale+ (synth_xilinx -family xcup)")
    q.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="set a top parameter")
    q.add_argument("--top", help="top module of a Verilog file (default: its first module no other one instantiates)")
    q.add_argument("--no-cache", dest="no_cache", action="store_true", help="synthesize even if a result is cached")
    q.add_argument("--format", default="table", choices=("table", "json"))
    q = rtl.add_parser("verify", help="run the RTL regression (cocotb + Icarus) with a summary table")
    q.add_argument("--unit", action="append", default=[], help="only this unit (repeatable; default: all)")
    q.add_argument("--all", action="store_true", help="also the slow parameter sets")
    q.add_argument("--waves", action="store_true", help="dump FST waveforms into each build directory")
    q.add_argument("--seed", type=int, help="random seed for every run (default: a fresh one, logged)")
    q.add_argument("--jobs", "-j", type=int, default=1, help="simulations run at once")
    q.add_argument("--verbose", action="store_true", help="show the simulator output instead of logging it")
    q.add_argument("--json", type=Path, help="summary file (default: out/rtl_verify.json)")
    q.add_argument("--format", default="table", choices=("table", "json"))


def _workload_params(args: argparse.Namespace) -> dict[str, Any]:
    keys = ("model", "phase", "batch", "seq", "gen", "w_bits", "a_bits", "kv_bits", "sparsity", "flash_attention",
            "mapper", "engine", "grid", "threads", "compat")
    return {k: getattr(args, k) for k in keys}


def _cmd_run(args: argparse.Namespace, console: Console) -> int:
    if args.trace is not None and args.engine != "sim":
        raise InputError("trace", "--trace records a simulation timeline and needs --engine sim.")
    trace = Trace() if args.trace is not None else None
    if args.unit_cost_from_rtl:
        result = commands.run_with_rtl_unit_cost({**_workload_params(args), "hw": args.hw}, trace)
    else:
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
        if args.unit_cost_from_rtl:
            _print_codesign(result, console)
    if args.report is not None:
        _write_report([result], args.report, console, args.format)
    return 0


def _print_codesign(result: Any, console: Console) -> None:
    x = result.extra
    pre = next(p for p in ("", "decode_", "prefill_") if f"{p}fpga_chains" in x)
    u0, u1, s = x["fpga_unit_cost_preset"], x["fpga_unit_cost"], x["rtl_synth"]
    params = ", ".join(f"{k}={v}" for k, v in s["params"].items())
    by = [f"{x['fpga_chains_by_dsp']} by DSP" if x["fpga_chains_by_dsp"] is not None else "",
          f"{x['fpga_chains_by_lut']} by LUT" if x["fpga_chains_by_lut"] is not None else ""]
    rows = [
        ("chain cost DSP / LUT / FF", f"{u0['dsp']:g} / - / -", f"{u1['dsp']:g} / {u1['lut']:g} / {u1['ff']:g}"),
        ("chains that fit", f"{x[pre + 'fpga_chains_preset']}",
         f"{x[pre + 'fpga_chains']} ({', '.join(b for b in by if b)}; {x['fpga_chains_limited_by']} limits)"),
        ("MAC / cycle (this phase)", f"{x[pre + 'fpga_mac_per_cycle_preset']:g}", f"{x[pre + 'fpga_mac_per_cycle']:g}"),
        ("peak INT8 TOPS (MM)", f"{x['fpga_peak_int8_ops_preset'] / 1e12:.3f}",
         f"{x['fpga_peak_int8_ops'] / 1e12:.3f}"),
        ("latency", render._time(x["latency_s_preset"]), render._time(result.latency_s)),
        ("tokens/s", f"{x['tokens_per_s_preset']:,.1f}", f"{result.tokens_per_s:,.1f}"),
    ]
    render.print_codesign(console, rows, f"co-design: {s['unit']} ({params}) synthesized for UltraScale+ "
                          f"(yosys {s['yosys_s']:.1f} s{', cached' if s['cached'] else ''})")


def _cmd_rtl(args: argparse.Namespace, console: Console) -> int:
    from archsim.rtl import info as rtl_info

    if args.rtl_command == "info":
        overrides = rtl_info.parse_param_args(args.param)
        targets = rtl_info.resolve_targets(args.targets)
        found = [(t, rtl_info.target_modules(t, overrides)) for t in targets]
        if args.format == "json":
            print(render.to_json([{"target": t.label, "top": t.top, "files": [str(f) for f in t.files],
                                   "modules": [m.as_dict() for m in mods]} for t, mods in found]))
        else:
            for t, mods in found:
                render.print_rtl_modules(console, t.label, mods, t.top)
        return 0
    if args.rtl_command == "synth":
        return _cmd_rtl_synth(args, console)
    return _cmd_rtl_verify(args, console)


def _cmd_rtl_synth(args: argparse.Namespace, console: Console) -> int:
    from archsim.rtl import info as rtl_info
    from archsim.rtl import synth

    params = rtl_info.parse_param_args(args.param)
    path = Path(args.unit)
    if path.suffix in rtl_info.VERILOG_SUFFIXES or path.is_file():
        mods = rtl_info.file_modules(path)
        names = [m.name for m in mods]
        used = {mod for m in mods for mod, _ in m.instances}
        top = args.top or next((n for n in names if n not in used), names[0] if names else None)
        if top not in names:
            raise InputError("top", f"'{path}' has no module '{top}'; modules: {', '.join(names) or 'none'}.")
        known = [p.name for p in next(m for m in mods if m.name == top).parameters]
        bad = [k for k in params if k not in known]
        if bad:
            raise InputError("param", f"{top} has no parameter {', '.join(bad)}; parameters: "
                                      f"{', '.join(known) or 'none'}.")
        res = synth.synth_files([path], top, params, args.target, use_cache=not args.no_cache)
    else:
        if args.top:
            raise InputError("top", "--top applies to a Verilog file; a unit synthesizes its own top module.")
        res = synth.synth_unit(args.unit, args.target, params, use_cache=not args.no_cache)
    if args.format == "json":
        print(render.to_json(res.as_dict()))
    else:
        render.print_synth(console, res)
    return 0


def _cmd_rtl_verify(args: argparse.Namespace, console: Console) -> int:
    from archsim.rtl import verify

    if args.jobs < 1:
        raise InputError("jobs", f"--jobs must be at least 1, got {args.jobs}.")
    out = console if args.format == "table" else Console(stderr=True)

    def progress(i: int, n: int, row: Any, run: Any) -> None:
        unit, params, slow = run
        label = f"{unit.name} " + " ".join(f"{k}={v}" for k, v in params.items()) + (" (slow)" if slow else "")
        if row is None:
            out.print(f"[{i + 1}/{n}] {label} ...", highlight=False)
        else:
            verdict = "[green]pass[/green]" if row.ok else f"[red]FAIL[/red] {row.error}"
            out.print(f"[{i + 1}/{n}] {label}: {verdict} ({row.vectors} vectors, {row.wall_s:.1f} s)",
                      highlight=False)

    summary = verify.verify(args.unit or None, include_slow=args.all, waves=args.waves, seed=args.seed,
                            jobs=args.jobs, json_path=args.json or verify.VERIFY_JSON, progress=progress,
                            quiet=not args.verbose)
    if args.format == "json":
        print(render.to_json(summary.as_dict()))
    else:
        render.print_rtl_verify(console, summary)
        console.print(f"summary written to {args.json or verify.VERIFY_JSON}", highlight=False)
    return 0 if summary.all_ok else 1


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


def _cmd_explore(args: argparse.Namespace, console: Console) -> int:
    if not 0 < args.port < 65536:
        raise InputError("port", f"--port must be from 1 to 65535, got {args.port}.")
    if args.workers is not None and args.workers < 1:
        raise InputError("workers", f"--workers must be at least 1, got {args.workers}.")
    from web.app import serve

    try:
        serve(host=args.host, port=args.port, debug=args.debug, workers=args.workers)
    except OSError as exc:  # the port is taken, the address is not this machine's
        raise InputError("port", f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc}.") from None
    except KeyboardInterrupt:
        pass
    return 0


_COMMANDS = {"run": _cmd_run, "compare": _cmd_compare, "kernel": _cmd_kernel, "validate": _cmd_validate,
             "hw": _cmd_hw, "models": _cmd_models, "explore": _cmd_explore, "sweep": sweep_cmd.cmd_sweep,
             "results": sweep_cmd.cmd_results,
             "rtl": _cmd_rtl, "calibrate": _cmd_calibrate}


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
