"""The CLI contract: JSON keys, formats, and one-sentence errors with exit code 2 for bad input."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from archsim.cli.main import main

DATA = Path(__file__).parent.parent / "data"
PRESET_YAML = Path(__file__).parents[2] / "archsim" / "hardware" / "presets" / "a100-40g.yaml"


def cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run ``archsim`` in-process; returns (exit code, stdout, stderr). Exceptions propagate."""
    try:
        code = main(args)
    except SystemExit as exc:  # argparse errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


RUN = ["run", "--model", "llama2-7b", "--hw", "a100-40g", "--phase", "decode", "--seq", "128"]


def test_run_json_has_contract_keys(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli([*RUN, "--format", "json"], capsys)
    assert code == 0
    data = json.loads(out)
    for key in ("model", "hardware", "phase", "engine", "mapper", "latency_s", "tokens_per_s", "energy_j",
                "memory_bytes", "weight_bytes", "kv_bytes", "activation_bytes", "flops", "bytes_moved", "ops"):
        assert key in data, key
    assert data["memory_bytes"] == pytest.approx(data["weight_bytes"] + data["kv_bytes"] + data["activation_bytes"])
    for op in data["ops"]:
        assert {"name", "kind", "flops", "bytes", "intensity", "bound", "time_s"} <= set(op)
    assert sum(op["time_s"] for op in data["ops"]) == pytest.approx(data["latency_s"], rel=1e-12)
    assert data["tokens_per_s"] == pytest.approx(1 / data["latency_s"])  # batch 1 decode: one token per step


def test_run_csv_has_one_row_per_op(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli([*RUN, "--format", "csv"], capsys)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    names = [r["name"] for r in rows]
    assert "q_proj" in names and "lm_head" in names and len(names) == len(set(names))


def test_run_table_prints_ops_and_totals(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(RUN, capsys)
    assert code == 0
    assert "q_proj" in out and "latency" in out and "tokens/s" in out


@pytest.mark.parametrize(
    "config", ["qwen2.5-7b-instruct/config.json", "qwen2.5-7b-instruct", "llama-3.2-1b/config.json"]
)
def test_run_accepts_real_hf_configs(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(["run", "--model", str(DATA / config), "--hw", "h100-sxm", "--phase", "prefill",
                          "--seq", "256", "--format", "json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    k_proj = next(op for op in data["ops"] if op["name"] == "k_proj")
    raw = json.loads((DATA / config.removesuffix("/config.json") / "config.json").read_text())
    head_dim = raw.get("head_dim") or raw["hidden_size"] // raw["num_attention_heads"]
    assert k_proj["n"] == raw["num_key_value_heads"] * head_dim  # GQA: K has kv_heads x head_dim outputs


def test_run_accepts_user_hardware_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = PRESET_YAML.read_text().replace("id: a100-40g", "id: my-a100-2xbw").replace(
        "value: 1555.0e9", "value: 3110.0e9")
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    _, out_ref, _ = cli([*RUN, "--mapper", "roofline", "--format", "json"], capsys)
    code, out, err = cli(["run", "--model", "llama2-7b", "--hw", str(path), "--phase", "decode", "--seq", "128",
                          "--mapper", "roofline", "--format", "json"], capsys)
    assert code == 0, err
    mine, ref = json.loads(out), json.loads(out_ref)
    assert mine["hardware"] == "my-a100-2xbw"
    # Decode is memory-bound everywhere, so doubling bandwidth halves the step time.
    assert mine["latency_s"] == pytest.approx(ref["latency_s"] / 2, rel=1e-9)


BAD_INPUTS = [
    (["run", "--model", "llama2-7b", "--hw", "nosuch-gpu"], "hw"),
    (["run", "--model", "nosuch-model", "--hw", "a100-40g"], "model"),
    ([*RUN[:-2], "--seq", "0"], "seq"),
    ([*RUN, "--batch", "-4"], "batch"),
    ([*RUN, "--w-bits", "0"], "w_bits"),
    ([*RUN, "--kv-bits", "33"], "kv_bits"),
    ([*RUN, "--sparsity", "5:4"], "sparsity"),
    ([*RUN, "--sparsity", "half"], "sparsity"),
    ([*RUN, "--batch", "two"], "--batch"),
    ([*RUN, "--mapper", "nosuch"], "mapper"),
    ([*RUN, "--mapper", "meshgemv"], "mapper"),
    ([*RUN, "--mapper", "roofline", "--engine", "sim"], "engine"),
    ([*RUN, "--grid", "660x660"], "grid"),
    ([*RUN, "--gen", "0"], "gen"),
    (["run", "--model", str(DATA / "malformed_config.json"), "--hw", "a100-40g"], "malformed_config.json"),
    (["run", "--model", str(DATA / "missing_key_config.json"), "--hw", "a100-40g"], "intermediate_size"),
    (["kernel", "gemv", "--hw", "a100-40g", "--m", "4", "--n", "1024", "--k", "1024"], "gemv"),
    (["kernel", "gemm", "--hw", "a100-40g", "--n", "-1", "--k", "1024"], "n"),
    (["compare", "--model", "llama2-7b", "--hw", "a100-40g,bogus"], "bogus"),
    (["validate", "--cases", "/nonexistent/cases.yaml"], "cases"),
]


@pytest.mark.parametrize(("args", "field"), BAD_INPUTS, ids=[" ".join(a[-2:]) for a, _ in BAD_INPUTS])
def test_bad_input_one_sentence_exit_2(args: list[str], field: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(args, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("archsim: error:")
    assert field in lines[0]
    assert "Traceback" not in err and out == ""


def _hw_yaml(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "hw.yaml"
    path.write_text(text)
    return ["run", "--model", "llama2-7b", "--hw", str(path)]


def test_hardware_yaml_missing_field_names_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [ln for ln in PRESET_YAML.read_text().splitlines() if "bandwidth_Bps" not in ln]
    code, _, err = cli(_hw_yaml(tmp_path, "\n".join(lines)), capsys)
    assert code == 2
    assert "memory.bandwidth_Bps" in err and "missing" in err and len(err.strip().splitlines()) == 1


def test_hardware_yaml_malformed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(_hw_yaml(tmp_path, "id: x\nname: [unclosed\n"), capsys)
    assert code == 2 and "not valid YAML" in err and len(err.strip().splitlines()) == 1


def test_hardware_yaml_negative_value(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = PRESET_YAML.read_text().replace("value: 1555.0e9", "value: -1555.0e9")
    code, _, err = cli(_hw_yaml(tmp_path, text), capsys)
    assert code == 2 and "memory.bandwidth_Bps.value" in err


def test_real_process_has_no_traceback() -> None:
    """Through the installed entry point, as a user runs it."""
    proc = subprocess.run([sys.executable, "-m", "archsim", "run", "--model", "llama2-7b", "--hw", "a100-40g",
                           "--seq", "0"], capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "archsim: error: seq must be >= 1, got 0."


def test_compare_all_presets(capsys: pytest.CaptureFixture[str]) -> None:
    from archsim.hardware import hardware_ids

    code, out, _ = cli(["compare", "--model", "llama2-7b", "--hw", "all", "--seq", "256", "--format", "json"], capsys)
    assert code == 0
    rows = json.loads(out)
    assert {(r["hardware"], r["phase"]) for r in rows} == {
        (h, p) for h in hardware_ids() for p in ("prefill", "decode")}


def test_compare_writes_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "sub" / "r.html"
    code, out, _ = cli(["compare", "--model", "llama2-7b", "--hw", "a100-40g,h100-sxm", "--phase", "decode",
                        "--seq", "128", "--report", str(report)], capsys)
    assert code == 0 and report.is_file() and "h100-sxm" in out


def test_generation_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(["run", "--model", "llama2-7b", "--hw", "a100-40g", "--seq", "128", "--gen", "16",
                        "--format", "json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert data["phase"] == "generate" and data["gen"] == 16
    assert data["latency_s"] == pytest.approx(data["ttft_s"] + data["decode_s"])
    assert data["tokens_per_s"] == pytest.approx(16 / data["latency_s"])


def test_kernel_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(["kernel", "gemv", "--hw", "a100-80g", "--n", "16384", "--k", "16384", "--mapper", "roofline",
                        "--format", "json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert {"latency_s", "flops", "bytes_moved", "bound", "mapper"} <= set(data)
    # Hand-computed: 16384^2 fp16 weights dominate; 2 * 16384^2 OPs.
    assert data["flops"] == 2 * 16384 * 16384
    assert data["bytes_moved"] == 16384 * 16384 * 2 + 16384 * 2 + 16384 * 2
    assert data["latency_s"] == pytest.approx(data["bytes_moved"] / 2039e9)
    assert data["bound"] == "memory"


def test_hw_and_models_listing(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(["hw", "list"], capsys)
    assert code == 0 and "a100-40g" in out and "mi210" in out
    code, out, _ = cli(["hw", "show", "nvidia_A100"], capsys)
    assert code == 0 and "id: a100-40g" in out and "source:" in out
    code, out, _ = cli(["models", "list"], capsys)
    assert code == 0 and "qwen3-1.7b" in out
    code, out, _ = cli(["models", "show", "llama3-8b"], capsys)
    assert code == 0 and json.loads(out)["kv_heads"] == 8


def test_explore_serves_locally_by_default(capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import web.app

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(web.app, "serve", lambda **kw: calls.append(kw))
    code, _, _ = cli(["explore"], capsys)
    assert code == 0 and calls == [{"host": "127.0.0.1", "port": 8050, "debug": False, "workers": None}]
    code, _, _ = cli(["explore", "--host", "0.0.0.0", "--port", "9000", "--debug", "--workers", "1"], capsys)
    assert code == 0 and calls[-1] == {"host": "0.0.0.0", "port": 9000, "debug": True, "workers": 1}
    code, _, err = cli(["explore", "--port", "0"], capsys)
    assert code == 2 and "--port must be from 1 to 65535" in err
    code, _, err = cli(["explore", "--workers", "0"], capsys)
    assert code == 2 and "--workers must be at least 1" in err


def test_sweep_of_a_missing_spec_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(["sweep", "missing.yaml"], capsys)
    assert code == 2 and "does not exist" in err
