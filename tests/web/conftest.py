"""Fixtures of the explorer tests: the app, a small sweep store, RTL summaries, and headless Chromium for
``dash_duo`` (dash[testing]).

dash[testing] builds its Chrome driver from the options the ``pytest_setup_options`` hook returns; here
they name Debian's Chromium (``/usr/bin/chromium``, driven by ``/usr/bin/chromedriver`` on PATH) in new
headless mode. Browser tests skip, with the reason, when either binary is missing (``make setup`` installs
both as root).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("DASH_TEST_CHROMEPATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver")

SWEEP_SPEC = """\
name: explorer-test
axes:
  model: [llama3-8b, llama2-7b]
  hw: [a100-80g, h100-sxm, a100-2xbw]
  phase: [prefill, decode]
  batch: [1, 8]
  seq: [1024]
  w_bits: [8, 16]
  mapper: [roofline]
variants:
  - {name: a100-2xbw, base: a100-80g, set: {memory.bandwidth_Bps: 4.078e12}}
"""


def browser_missing() -> str | None:
    """Why browser tests cannot run here, or None when they can."""
    if not Path(CHROMIUM).is_file():
        return f"Chromium not found ({CHROMIUM}); `make setup` installs Debian's chromium as root"
    if CHROMEDRIVER is None:
        return "chromedriver not on PATH; `make setup` installs Debian's chromium-driver as root"
    return None


def pytest_setup_options():  # noqa: ANN201 - dash[testing] hook: the selenium options of dash_duo's browser
    from selenium.webdriver.chrome.options import Options

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1500", "--enable-unsafe-swiftshader"):
        options.add_argument(arg)
    return options


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = browser_missing()
    if reason is None:
        return
    for item in items:
        if "dash_duo" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.skip(reason=f"browser test skipped: {reason}"))


@pytest.fixture(scope="session")
def app():  # noqa: ANN201
    """The explorer app (one per process, as in production)."""
    from web.app import create_app

    a = create_app()
    a.server.test_client().get("/")  # Dash collects the module-level callbacks on the first request
    return a


@pytest.fixture(scope="session")
def sweep_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 48-point sweep store written by ``archsim sweep`` (roofline: a second or so)."""
    from archsim.cli.main import main

    d = tmp_path_factory.mktemp("sweep")
    spec = d / "spec.yaml"
    spec.write_text(SWEEP_SPEC)
    db = d / "sweep.duckdb"
    assert main(["sweep", str(spec), "--out", str(db), "--workers", "1", "--quiet", "--format", "json"]) == 0
    return db


RTL_SUMMARY = {
    "created": "2026-01-01T00:00:00+00:00", "all_passed": False, "runs": 2, "passed": 1, "wall_s": 12.5, "seed": 7,
    "include_slow": False, "waves": False,
    "rows": [
        {"unit": "lut_gemv", "params": {"R": 2, "K": 8}, "slow": False, "passed": True, "tests": 4, "failed": 0,
         "vectors": 1155, "rtl_cycles": 7, "model_cycles": 7, "seed": 7, "wall_s": 6.0, "log": "", "error": "",
         "report": {}, "cycles_match": True, "ok": True},
        {"unit": "mesh_array", "params": {"P": 2, "T": 2}, "slow": False, "passed": True, "tests": 4, "failed": 0,
         "vectors": 1022, "rtl_cycles": 66, "model_cycles": 65, "seed": 7, "wall_s": 6.5, "log": "", "error": "",
         "report": {}, "cycles_match": False, "ok": False},
    ],
}
SYNTH_RESULT = {"key": {}, "result": {"unit": "lut_gemv", "top": "lut_gemv_unit", "target": "xilinx",
                                      "params": {"R": 4, "K": 32}, "cells": {"LUT6": 10},
                                      "summary": {"LUT": 2595, "FF": 767, "DSP48E2": 1}, "wall_s": 3.2,
                                      "yosys": "Yosys 0.23"}}


@pytest.fixture
def rtl_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A verify summary and one cached synthesis result (test data in the files' real format), pointed to
    through the environment variables the RTL page reads."""
    summary = tmp_path / "rtl_verify.json"
    summary.write_text(json.dumps(RTL_SUMMARY))
    synth = tmp_path / "synth" / "lut_gemv"
    synth.mkdir(parents=True)
    (synth / "xilinx_K32_R4.json").write_text(json.dumps(SYNTH_RESULT))
    monkeypatch.setenv("ARCHSIM_RTL_VERIFY_JSON", str(summary))
    monkeypatch.setenv("ARCHSIM_RTL_SYNTH_DIR", str(tmp_path / "synth"))
    return tmp_path


@pytest.fixture
def no_rtl_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ARCHSIM_RTL_VERIFY_JSON", str(tmp_path / "missing.json"))
    monkeypatch.setenv("ARCHSIM_RTL_SYNTH_DIR", str(tmp_path / "no-synth"))
    return tmp_path

