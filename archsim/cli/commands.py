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
