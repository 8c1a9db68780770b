"""Host calibration (``archsim calibrate host``): the preset it writes, how ``--hw host`` finds it.

Most tests build the preset from fixed measurements (no timing). One measures this machine for real
(``calibrate_host(quick=True)``, ~12 s on the 2-core VM); the CLI run of the same is marked slow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from archsim import calibrate
from archsim.calibrate import HostMeasurements, calibrate_host, find_host_preset, host_preset, serial_fraction
from archsim.evaluate import evaluate_kernel
from archsim.hardware import parse_hardware

SOURCE_PREFIXES = ("measured: ", "assumption: ")


def _sourced(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every ``{value, source}`` pair in a parsed preset, with its dotted path."""
    if isinstance(node, dict):
        if set(node) == {"value", "source"}:
            return [(path, node)]
        return [pair for key, sub in node.items() for pair in _sourced(sub, f"{path}.{key}".lstrip("."))]
    return []


def _fake(cores: int = 4, lut: bool = True) -> HostMeasurements:
    one = {"fp32_wps": 5e9, "fp16_wps": 0.4e9, "dequant_wps": 0.4e9}
    every = {"fp32_wps": 8e9, "fp16_wps": 0.4e9 * 1.8, "dequant_wps": 0.4e9 * 2.0}
    if lut:
        one["lut_lps"], every["lut_lps"] = 0.5e9, 0.8e9
    return HostMeasurements(
        quick=True, date="2026-01-01", model="Test CPU [x]", cores=cores, clock_hz=2.5e9,
        clock_how="measured: /proc/cpuinfo", caches={1: 32768, 2: 2**20, 3: 32 * 2**20}, memory_bytes=16 * 2**30,
        stream_bytes=256 * 2**20, repeats=5, bw_core=30e9, bw_sys=40e9, copy_bw=25e9, triad_bw=20e9, gemm_n=1024,
        peaks={"fp32": 150e9, "fp16": 110e9, "bf16": 130e9, "int8": 200e9},
        shapes={"fp32_gemv": [(4096, 4096)], "fp16_gemv": [(4096, 4096)], "dequant_gemv": [(4096, 4096)],
                "lut_gemv": [(2048, 2048)]},
        all_cores=every, one_core=one, jax_version="0.0", fallbacks=[],
    )


def _check_preset(text: str) -> None:
    spec = parse_hardware(text, "host.yaml")
    assert spec.id == "host" and spec.family == "cpu"
    pairs = _sourced(yaml.safe_load(text))
    assert len(pairs) >= 20
    for where, pair in pairs:
        assert pair["value"] > 0, where
        assert pair["source"].startswith(SOURCE_PREFIXES), where
    assert spec.cpu is not None
    assert set(spec.cpu.dequant_weights_per_cycle) >= {"q2_k", "q3_k", "q4_0", "fp16", "fp32"}


@pytest.mark.parametrize("cores, lut", [(4, True), (1, True), (4, False)])
def test_preset_from_measurements_is_valid_and_sourced(tmp_path: Path, cores: int, lut: bool) -> None:
    spec = host_preset(_fake(cores, lut))
    text = yaml.dump(spec, Dumper=calibrate._Dumper, sort_keys=False)
    _check_preset(text)
    path = tmp_path / "host.yaml"
    path.write_text(text)
    out = evaluate_kernel("gemv", path, 1, 4096, 4096, mapper="dequant-gemv")
    assert out["hardware"] == "host" and out["latency_s"] > 0
    assert evaluate_kernel("gemv", path, 1, 4096, 4096, w_bits=2, mapper="lut-gemv")["latency_s"] > 0


def test_preset_rates_are_per_core_per_cycle() -> None:
    m = _fake()
    cpu = host_preset(m)["cpu"]
    assert cpu["dequant_weights_per_cycle"]["fp16"]["value"] == pytest.approx(0.4e9 / 2.5e9, rel=1e-3)
    assert cpu["simd_pipes"]["value"] == pytest.approx(150e9 / (4 * 2.5e9 * 8), rel=1e-3)
    # o_lut = n_pipe * 16 / lookups per cycle (spec lut_pim.md 4.1, R_lut = n_pipe * 16 / o_lut)
    pipes = 150e9 / (4 * 2.5e9 * 8)
    assert cpu["lut_ops_per_16"]["value"] == pytest.approx(pipes * 16 / (0.5e9 / 2.5e9), rel=1e-3)
    # Amdahl's fraction from the geometric mean of the fp16 and dequant speed-ups (1.8x and 2.0x)
    assert cpu["serial_fraction_dense"]["value"] == pytest.approx(serial_fraction((1.8 * 2.0) ** 0.5, 4), rel=1e-3)
    assert cpu["serial_fraction_lut"]["value"] == pytest.approx(serial_fraction(1.6, 4), rel=1e-3)


def test_one_core_machine_assumes_serial_fractions() -> None:
    cpu = host_preset(_fake(cores=1))["cpu"]
    assert cpu["serial_fraction_dense"]["source"].startswith("assumption: ")
    assert cpu["serial_fraction_lut"]["source"].startswith("assumption: ")


def test_serial_fraction_inverts_amdahl() -> None:
    for phi in (0.05, 0.2, 0.5):
        for n in (2, 4, 16):
            assert serial_fraction(1 / (phi + (1 - phi) / n), n) == pytest.approx(phi)
    assert serial_fraction(5.0, 4) == 0.01  # super-linear: clamped to the smallest allowed fraction
    assert serial_fraction(0.5, 4) == 1.0


def test_find_host_preset_env_then_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(calibrate.HOST_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert find_host_preset() is None
    (tmp_path / "host.yaml").write_text("id: host\n")
    assert find_host_preset() == tmp_path / "host.yaml"
    other = tmp_path / "elsewhere.yaml"
    monkeypatch.setenv(calibrate.HOST_ENV, str(other))
    assert find_host_preset() is None  # a named file that is missing is not silently replaced
    other.write_text("id: host\n")
    assert find_host_preset() == other


def test_stream_bandwidth_is_positive() -> None:
    for kernel in ("read", "copy", "triad"):
        assert calibrate.stream_bandwidth(8 * 2**20, 2, kernel, repeats=2) > 0


def test_calibrate_host_quick_writes_a_loadable_preset(tmp_path: Path) -> None:
    path = calibrate_host(tmp_path / "host.yaml", quick=True)
    _check_preset(path.read_text())
    out = evaluate_kernel("gemv", path, 1, 4096, 4096, mapper="dequant-gemv")
    assert out["latency_s"] > 0 and out["hardware"] == "host"


@pytest.mark.slow
def test_cli_calibrate_host(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from archsim.cli.main import main

    out = tmp_path / "sub" / "host.yaml"
    assert main(["calibrate", "host", "--quick", "--out", str(out)]) == 0
    assert out.is_file()
    assert "wrote" in capsys.readouterr().out
