"""Execute CLI commands from validated requests; shared by ``archsim`` and ``archsim validate``.

Each function takes plain data (a dict as a YAML case or argparse gives it), validates it with the
pydantic request models and returns results; printing is ``render``'s job.
"""

from __future__ import annotations

from typing import Any

from archsim.errors import InputError, NotSupportedError
from archsim.evaluate import evaluate, evaluate_kernel
from archsim.hardware import HardwareSpec, load_hardware
from archsim.requests import CompareRequest, KernelRequest, RunRequest, parse_request
from archsim.result import Result
from archsim.sim.core import Trace
from models.config import load_model

# Options that only some hardware families understand.
_FAMILY_OPTIONS = {"grid": ("mesh",), "threads": ("cpu", "pim")}


def _check_family_options(values: dict[str, Any], hw: HardwareSpec) -> None:
    for option, families in _FAMILY_OPTIONS.items():
        if values.get(option) is not None and hw.family not in families:
            raise InputError(
                option, f"--{option} applies to {' and '.join(families)} hardware, but '{hw.id}' is a {hw.family}."
            )


def _evaluate_request(req: RunRequest | Any, hw: HardwareSpec, phase: str, trace: Trace | None = None) -> Result:
    _check_family_options(req.model_dump(), hw)
    return evaluate(
        req.model, hw, phase, req.batch, req.seq, w_bits=req.w_bits, a_bits=req.a_bits, kv_bits=req.kv_bits,
        sparsity=req.sparsity, flash_attention=req.flash_attention, mapper=req.mapper, engine=req.engine,
        compat=req.compat, gen=req.gen, trace=trace, grid=req.grid, threads=req.threads,
    )


def run(params: dict[str, Any], trace: Trace | None = None) -> Result:
    """``archsim run``: one design point; ``trace`` collects the simulated timeline (``engine: sim``)."""
    req: RunRequest = parse_request(RunRequest, params)
    load_model(req.model)  # fail on the model before the hardware, in argument order
    return _evaluate_request(req, load_hardware(req.hw), req.phase, trace)


def kernel(params: dict[str, Any]) -> dict[str, Any]:
    """``archsim kernel gemv|gemm``: one matrix kernel."""
    req: KernelRequest = parse_request(KernelRequest, params)
    hw = load_hardware(req.hw)
    _check_family_options(req.model_dump(), hw)
    return evaluate_kernel(req.op, hw, req.m, req.n, req.k, w_bits=req.w_bits, a_bits=req.a_bits,
                           sparsity=req.sparsity, mapper=req.mapper, engine=req.engine, grid=req.grid,
                           threads=req.threads)


def split_list(value: str | list[str]) -> list[str]:
    """``"a,b, c"`` -> ``["a", "b", "c"]`` (lists pass through)."""
    if isinstance(value, list):
        return value
    return [v.strip() for v in value.split(",") if v.strip()]


def compare(params: dict[str, Any]) -> list[Result]:
    """``archsim compare``: the same workload on several devices (and phases).

    Every input is validated and every device resolved before anything is computed, so a bad id
    fails fast instead of after minutes of work.
    """
    params = dict(params)
    hw_ids = split_list(params.pop("hw"))
    if hw_ids == ["all"]:
        from archsim.hardware import hardware_ids

        hw_ids = hardware_ids()
    phase = params.pop("phase", "both") or "both"
    phases = ["prefill", "decode"] if phase == "both" else split_list(phase)
    req: CompareRequest = parse_request(CompareRequest, {"hw": hw_ids, "phases": phases,
                                                         "workload": {**params, "phase": phases[0]}})
    load_model(req.workload.model)
    specs = [load_hardware(h) for h in req.hw]
    for spec in specs:
        _check_family_options(req.workload.model_dump(), spec)
    results = []
    for ph in req.phases:
        for spec in specs:
            try:
                results.append(_evaluate_request(req.workload, spec, ph))
            except NotSupportedError as exc:
                if exc.field != "engine":
                    raise
                # A family without a simulator still belongs in the comparison: price it analytically
                # and say so, rather than dropping it or failing the whole run.
                fallback = req.workload.model_copy(update={"engine": "analytic"})
                res = _evaluate_request(fallback, spec, ph)
                res.warnings.append(f"{exc} (shown with the analytic engine)")
                results.append(res)
    return results


# --- archsim run --unit-cost-from-rtl (issue 7 item 4: the co-design loop) ----------------------------------

RTL_CHAIN_UNIT = "sparse_dsp_chain"
# The chain-length parameter of the sparse DSP chain RTL, by the names it may carry (first found wins).
RTL_CHAIN_PARAMS = ("CHAIN", "CHAIN_LEN", "CHAIN_DSPS", "L")


def rtl_chain_cost(hw: HardwareSpec, use_cache: bool = True) -> tuple[Any, Any]:
    """Synthesize the sparse DSP chain RTL for UltraScale+ with as many DSP slices as ``hw``'s
    ``fpga.chain_dsps`` and return (its ``UnitCost``, the ``SynthResult``)."""
    from archsim.rtl.info import top_module
    from archsim.rtl.synth import synth_unit, unit_cost
    from archsim.rtl.units import all_units

    if hw.family != "fpga" or hw.fpga is None:
        raise InputError("unit-cost-from-rtl", f"--unit-cost-from-rtl applies to fpga hardware, but '{hw.id}' is "
                                               f"a {hw.family}.")
    unit = all_units().get(RTL_CHAIN_UNIT)
    if unit is None:
        raise InputError("unit-cost-from-rtl", f"the RTL unit '{RTL_CHAIN_UNIT}' is not defined "
                                               f"(archsim/rtl/unit_{RTL_CHAIN_UNIT}.py).")
    defaults = top_module(unit).param_defaults()
    param = next((n for n in RTL_CHAIN_PARAMS if n in defaults), None)
    if param is None:
        raise InputError("unit-cost-from-rtl", f"{unit.toplevel} has none of the chain-length parameters "
                                               f"{', '.join(RTL_CHAIN_PARAMS)}.")
    # every parameter spelled out (the others at their defaults): the same synthesis, and cache entry, as
    # `archsim rtl synth sparse_dsp_chain --target xilinx --param CHAIN=32 --param N=4 --param M=16`
    params = {k: v for k, v in defaults.items() if isinstance(v, int)}
    params[param] = int(hw.fpga.chain_dsps.value)
    res = synth_unit(unit.name, "xilinx", params, use_cache=use_cache, check_params=False)
    return unit_cost(res), res


def _with_unit_options(mapper: str | None, options: str) -> str:
    name, colon, rest = (mapper or "sparse-dsp").partition(":")
    if name != "sparse-dsp":
        raise InputError("unit-cost-from-rtl", f"--unit-cost-from-rtl sets the sparse DSP chain's cost and needs the "
                                               f"sparse-dsp mapper, not '{name}'.")
    return f"sparse-dsp:{rest},{options}" if colon and rest else f"sparse-dsp:{options}"


def run_with_rtl_unit_cost(params: dict[str, Any], trace: Trace | None = None) -> Result:
    """``archsim run --unit-cost-from-rtl``: the run with the chain's synthesized cost, with the typed-in
    preset's chains, MAC rate, latency and throughput beside it (``*_preset`` fields in ``extra``)."""
    from archsim.analytic.fpga import chains_that_fit, fpga_params

    req: RunRequest = parse_request(RunRequest, params)
    load_model(req.model)
    hw = load_hardware(req.hw)
    if hw.family != "fpga":
        raise InputError("unit-cost-from-rtl", f"--unit-cost-from-rtl applies to fpga hardware, but '{hw.id}' is "
                                               f"a {hw.family}.")
    _with_unit_options(params.get("mapper"), "")  # fail on the mapper before synthesizing
    cost, synth = rtl_chain_cost(hw)
    options = f"unit_dsp={cost.dsp:g},unit_lut={cost.lut:g},unit_ff={cost.ff:g}"
    result = run({**params, "mapper": _with_unit_options(params.get("mapper"), options)}, trace)
    preset = run(dict(params))
    fp = hw.fpga
    assert fp is not None
    p0, p1 = fpga_params(hw), fpga_params(hw, cost)
    by_dsp = int(fp.dsp_budget.value // cost.dsp) if cost.dsp > 0 else None
    by_lut = int(fp.luts.value // cost.lut) if cost.lut > 0 else None
    x = result.extra
    for prefix in ("", "prefill_", "decode_"):
        if f"{prefix}fpga_chains" in preset.extra:
            x[f"{prefix}fpga_chains_preset"] = preset.extra[f"{prefix}fpga_chains"]
            x[f"{prefix}fpga_mac_per_cycle_preset"] = preset.extra[f"{prefix}fpga_mac_per_cycle"]
    x.update({
        "latency_s_preset": preset.latency_s, "tokens_per_s_preset": preset.tokens_per_s,
        "fpga_unit_cost_preset": {"dsp": float(fp.chain_dsps.value), "lut": 0.0, "ff": 0.0},
        "fpga_unit_cost": {"dsp": cost.dsp, "lut": cost.lut, "ff": cost.ff},
        "fpga_chains_by_dsp": by_dsp, "fpga_chains_by_lut": by_lut,
        "fpga_chains_limited_by": "LUT" if by_lut is not None and (by_dsp is None or by_lut < by_dsp) else "DSP",
        "fpga_peak_int8_ops": p1.mm_rate * 2 * p1.f * p1.divisor,
        "fpga_peak_int8_ops_preset": p0.mm_rate * 2 * p0.f * p0.divisor,
        "rtl_synth": {"unit": synth.unit, "top": synth.top, "target": synth.target, "params": synth.params,
                      "summary": synth.summary, "yosys_s": synth.wall_s, "cached": synth.cached},
    })
    assert p1.chains == chains_that_fit(hw, cost)
    chain = int(fp.chain_dsps.value)
    if cost.dsp == 0:
        result.warnings.append(f"yosys mapped none of the {synth.top} multipliers to DSP48E2 (all in LUTs), so the "
                               "device's LUTs, not its DSPs, decide how many chains fit.")
    elif cost.dsp != chain:
        result.warnings.append(f"the {chain}-slice RTL chain synthesizes to {cost.dsp:g} DSP48E2 (the preset "
                               f"assumes {chain}); the chains that fit follow the synthesized count.")
    return result
