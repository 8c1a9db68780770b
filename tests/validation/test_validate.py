"""``archsim validate``: the compat cases reproduce LLM-Viewer, statuses and exit codes are honest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archsim.cli.main import main
from archsim.validate.runner import load_cases, run_case, run_cases


def test_gpu_compat_cases_within_tolerance() -> None:
    outcomes = [o for o in run_cases(load_cases(), "gpu") if o.kind == "compat"]
    assert len(outcomes) == 5
    for o in outcomes:
        assert o.status == "pass", o
        assert abs(o.error) <= 0.001


def test_every_published_case_has_a_status() -> None:
    outcomes = run_cases(load_cases(), "all")
    assert len(outcomes) == len(load_cases())
    for o in outcomes:
        assert o.status in ("pass", "fail", "not yet supported"), o  # no crashes, no silent skips
        if o.status == "not yet supported":
            assert o.detail


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cases.yaml"
    path.write_text(text)
    return path


CASE = """
- id: {id}
  family: gpu
  kind: compat
  run: {{cmd: run, model: llama2-7b, hw: a100-40g, phase: decode, batch: 1, seq: 1024, compat: llm-viewer}}
  metric: latency_s
  expected: {expected}
  tolerance: 0.001
"""


def test_failing_case_fails_and_strict_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, CASE.format(id="right", expected=0.008854) + CASE.format(id="wrong", expected=0.0100))
    assert main(["validate", "--cases", str(path), "--format", "json"]) == 0
    data = {o["id"]: o for o in json.loads(capsys.readouterr().out)}
    assert data["right"]["status"] == "pass"
    assert data["wrong"]["status"] == "fail"
    assert data["wrong"]["error"] == pytest.approx(0.008853949 / 0.0100 - 1, abs=1e-6)
    assert main(["validate", "--cases", str(path), "--strict"]) == 1


def test_ratio_and_trend_cases() -> None:
    ratio = {"id": "r", "family": "gpu", "kind": "claim", "metric": "latency_s", "expected_ratio": 2.0,
             "tolerance": 0.01,
             "run": {"cmd": "kernel", "op": "gemv", "hw": "h100-sxm", "m": 1, "k": 8192, "n": 8192,
                     "mapper": "roofline"},
             "baseline": {"cmd": "kernel", "op": "gemv", "hw": "a100-40g", "m": 1, "k": 8192, "n": 8192,
                          "mapper": "roofline"}}
    out = run_case(ratio)
    # Memory-bound GEMV: speed-up is the bandwidth ratio 3072 / 1555.
    assert out.predicted == pytest.approx(3072 / 1555, rel=1e-6)
    trend = {"id": "t", "family": "gpu", "kind": "measured", "metric": "latency_s", "trend": "increasing",
             "runs": [{"cmd": "run", "model": "llama2-7b", "hw": "a100-40g", "phase": "decode", "seq": s}
                      for s in (512, 1024, 2048)]}
    assert run_case(trend).status == "pass"
    trend["trend"] = "decreasing"
    assert run_case(trend).status == "fail"


def test_unsupported_engine_is_reported_not_skipped() -> None:
    case = {"id": "w", "family": "pim", "kind": "measured", "metric": "latency_s", "expected": 1e-6,
            "tolerance": 0.15, "run": {"cmd": "kernel", "op": "gemv", "hw": "m2", "m": 1, "k": 4096, "n": 4096,
                                       "w_bits": 4, "mapper": "dequant-gemv", "engine": "sim"}}
    out = run_case(case)
    assert out.status == "not yet supported"
    assert "sim" in out.detail and "dequant-gemv" in out.detail
