"""Design-space sweeps (issue 8): spec validation, the point space and its keys, the DuckDB store (one row
per point, kill -9 then --resume), executors (inline, processes, Dask LocalCluster), Pareto fronts, CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pytest
import yaml

from archsim.cli.main import main
from archsim.errors import InputError
from archsim.evaluate import evaluate
from archsim.sweep.pareto import pareto_mask
from archsim.sweep.runner import run_sweep
from archsim.sweep.space import Space
from archsim.sweep.spec import load_spec, parse_spec
from archsim.sweep.work import evaluate_chunk, evaluate_points
from models.errors import ModelInputError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "sweeps"

SMALL = {
    "name": "small",
    "axes": {"model": ["llama2-7b", "llama3-8b"], "hw": ["a100-80g", "h100-sxm", "fast-a100"],
             "phase": ["prefill", "decode"], "batch": [1, 8], "seq": [512, 2048], "w_bits": [4, 16],
             "mapper": ["roofline"]},
    "variants": [{"name": "fast-a100", "base": "a100-80g", "set": {"memory.bandwidth_Bps": 4.0e12}}],
    "constraints": ["memory_bytes <= capacity_bytes"],
    "chunk_size": 16,
}


def _rows(db: Path) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("SELECT key, point_index, model, hw, phase, batch, seq, w_bits, mapper, engine, latency_s, "
                       "energy_j, tokens_per_usd, feasible, status FROM points ORDER BY key").fetchall()
    con.close()
    return rows


@pytest.mark.parametrize(("change", "field"), [
    ({"axes": {"model": ["llama2-7b"], "hw": ["a100-80g"], "color": [1]}}, "unknown axis 'color'"),
    ({"axes": {"model": ["llama2-7b"]}}, "the 'hw' axis is required"),
    ({"zip": [["batch", "seq"]], "axes": {**SMALL["axes"], "seq": [1, 2, 3]}}, "equal lengths"),
    ({"constraints": ["memory_bytes <= nonsense"]}, "names 'nonsense'"),
    ({"objectives": {"speed": "max"}}, "objective 'speed'"),
    ({"wat": 1}, "'wat' is not a known sweep field"),
    ({"axes": {**SMALL["axes"], "batch": {"start": 1, "stop": 8}}}, "exactly one of 'step' or 'num'"),
])
def test_spec_errors_are_one_sentence(change: dict, field: str) -> None:
    with pytest.raises(InputError, match=field):
        parse_spec({**SMALL, **change})


def test_bad_yaml_unknown_model_and_override_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("axes: [unclosed\n")
    with pytest.raises(InputError, match="not valid YAML at line"):
        load_spec(bad)
    with pytest.raises((InputError, ModelInputError), match="gpt-9"):
        Space.of(parse_spec({**SMALL, "axes": {**SMALL["axes"], "model": ["gpt-9"]}}))
    with pytest.raises(InputError, match="'memory.hbm.speed' is not a field of hardware 'a100-80g'"):
        Space.of(parse_spec({**SMALL, "overrides": {"memory.hbm.speed": [1.0]}}))


def test_space_counts_zip_ranges_and_stable_unique_keys() -> None:
    spec = parse_spec({**SMALL, "zip": [["batch", "seq"]], "overrides": {"memory.bandwidth_Bps": [1e12, 2e12, 3e12]}})
    space = Space.of(spec)
    assert space.total == 2 * 3 * 2 * 2 * 2 * 3  # batch and seq advance together
    points = space.points(0, space.total)
    assert {(p["batch"], p["seq"]) for p in points} == {(1, 512), (8, 2048)}
    keys = space.keys(space.indices(0, space.total))
    assert len(set(keys)) == space.total
    assert keys == [space.key(p) for p in points]  # vectorized keys equal the per-point form
    again = Space.of(parse_spec({**SMALL, "zip": [["batch", "seq"]],
                                 "overrides": {"memory.bandwidth_Bps": [1e12, 2e12, 3e12]}}))
    assert again.keys(again.indices(0, 7)) == keys[:7]  # stable across processes and runs
    rng = parse_spec({**SMALL, "axes": {**SMALL["axes"], "batch": {"start": 1, "stop": 64, "num": 7, "scale": "log"},
                                        "seq": {"start": 128, "stop": 512, "step": 128}}})
    assert rng.axis_values("batch") == [1, 2, 4, 8, 16, 32, 64]
    assert rng.axis_values("seq") == [128, 256, 384, 512]


def test_chunk_results_equal_the_per_point_path_and_variants_apply() -> None:
    spec = parse_spec(SMALL)
    space = Space.of(spec)
    cols = evaluate_chunk(spec.model_dump_json(), 0, space.total)
    assert (cols["status"] == "ok").all()
    for i in np.random.default_rng(0).choice(space.total, 12, replace=False):
        p = space.points(int(i), int(i) + 1)[0]
        hw = space.resolved_hw(p["hw"], None)
        ref = evaluate(p["model"], hw, phase=p["phase"], batch=p["batch"], seq=p["seq"], w_bits=p["w_bits"],
                       mapper="roofline")
        assert cols["latency_s"][i] == pytest.approx(ref.latency_s, rel=1e-9)
        assert cols["tokens_per_usd"][i] == pytest.approx(ref.tokens_per_usd, rel=1e-9)
        assert bool(cols["feasible"][i]) == (ref.memory.total_bytes <= ref.capacity_bytes)
    fast = [i for i, p in enumerate(space.points(0, space.total)) if p["hw"] == "fast-a100" and p["phase"] == "decode"]
    base = [i - 2 * 16 for i in fast]  # same point on a100-80g (hw index 2 vs 0, stride 2*2*2*2)
    assert all(space.points(b, b + 1)[0]["hw"] == "a100-80g" for b in base)
    assert all(cols["latency_s"][f] < cols["latency_s"][b] for f, b in zip(fast, base, strict=True))


def test_failures_are_recorded_not_fatal(tmp_path: Path) -> None:
    spec = parse_spec({"name": "mixed", "axes": {"model": ["llama2-7b"], "hw": ["a100-80g", "u280"],
                                                 "phase": ["decode"], "mapper": ["gemm"]}})
    out = run_sweep(spec, tmp_path / "s.duckdb", workers=1)
    assert out.failures == 1 and out.written == 2
    con = duckdb.connect(str(tmp_path / "s.duckdb"))
    rows = con.execute("SELECT hw, status, error FROM points ORDER BY hw").fetchall()
    assert rows[0][1] == "ok" and rows[1][1] == "error" and "gemm" in rows[1][2]


def test_resume_and_fresh_semantics(tmp_path: Path) -> None:
    spec = parse_spec(SMALL)
    db = tmp_path / "s.duckdb"
    first = run_sweep(spec, db, workers=1)
    assert first.written == Space.of(spec).total
    with pytest.raises(InputError, match="--resume"):
        run_sweep(spec, db, workers=1)
    again = run_sweep(spec, db, resume=True, workers=1)
    assert again.written == 0 and again.skipped_chunks > 0
    rows = _rows(db)
    redo = run_sweep(spec, db, fresh=True, workers=1)
    assert redo.written == len(rows) and _rows(db) == rows


def _kill_spec(tmp_path: Path) -> Path:
    spec = {"name": "kill", "axes": {"model": ["llama2-7b", "opt-6.7b"], "hw": ["a100-80g", "h100-sxm", "v100"],
                                     "phase": ["prefill", "decode"], "batch": {"start": 1, "stop": 4, "step": 1},
                                     "seq": {"start": 256, "stop": 4096, "step": 256}, "mapper": ["roofline"]},
            "chunk_size": 16}  # many small transactions: the kill lands between and inside them
    path = tmp_path / "kill.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_kill_9_then_resume_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    spec_path = _kill_spec(tmp_path)
    db = tmp_path / "killed.duckdb"
    log = tmp_path / "progress.jsonl"
    cmd = [sys.executable, "-m", "archsim", "sweep", str(spec_path), "--out", str(db), "--workers", "1", "--quiet",
           "--log", str(log)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and (
            not log.exists() or len(log.read_text().splitlines()) < 4):  # a few chunks stored, more in flight
        time.sleep(0.02)
    assert proc.poll() is None, "the sweep finished before it could be killed; make the spec larger"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = duckdb.connect(str(db), read_only=True)  # not corrupted: it opens and holds whole chunks
    n_partial, n_chunks = partial.execute("SELECT (SELECT count(*) FROM points), (SELECT count(*) FROM chunks)"
                                          ).fetchone()
    partial.close()
    total = Space.of(load_spec(spec_path)).total
    assert 0 < n_partial < total and n_partial == min(total, n_chunks * 16)
    assert main(["sweep", str(spec_path), "--out", str(db), "--resume", "--workers", "1", "--quiet",
                 "--format", "json"]) == 0
    clean = tmp_path / "clean.duckdb"
    assert main(["sweep", str(spec_path), "--out", str(clean), "--workers", "1", "--quiet", "--format", "json"]) == 0
    resumed, uninterrupted = _rows(db), _rows(clean)
    assert len(resumed) == total == len({r[0] for r in resumed})
    assert resumed == uninterrupted


def test_dask_local_cluster_equals_local_processes(tmp_path: Path) -> None:
    spec = parse_spec({**SMALL, "chunk_size": 8})
    run_sweep(spec, tmp_path / "p.duckdb", workers=2)
    run_sweep(spec, tmp_path / "d.duckdb", dask_local=2)
    assert _rows(tmp_path / "p.duckdb") == _rows(tmp_path / "d.duckdb")


def test_pareto_mask_is_the_nondominated_set() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.random(300), rng.random(300)
    mask = pareto_mask(x, y, "min", "max")
    for i in range(300):
        dominated = np.any((x <= x[i]) & (y >= y[i]) & ((x < x[i]) | (y > y[i])))
        assert mask[i] == (not dominated)
    assert list(pareto_mask([1, 2, 3], [3, 2, 1], "max", "min")) == [False, False, True]


def test_refine_simulates_the_pareto_front(tmp_path: Path) -> None:
    spec = parse_spec({"name": "refine", "axes": {"model": ["llama2-7b"], "hw": ["a100-80g", "h100-sxm", "v100"],
                                                  "phase": ["decode"], "batch": [1, 16], "seq": [1024]},
                       "refine": {"engine": "sim", "x": "energy_per_token_j", "y": "tokens_per_s"}})
    out = run_sweep(spec, tmp_path / "r.duckdb", workers=1)
    con = duckdb.connect(str(tmp_path / "r.duckdb"), read_only=True)
    sims = con.execute("SELECT point_index, latency_s FROM points WHERE engine = 'sim'").fetchall()
    assert out.refined == len(sims) > 0
    cols = evaluate_points(spec.model_dump_json(), [sims[0][0]], "sim")
    assert cols["latency_s"][0] == pytest.approx(sims[0][1])


@pytest.mark.parametrize("name", ["gpu", "mesh", "pim", "fpga", "cross"])
def test_example_specs_run(name: str, tmp_path: Path) -> None:
    spec = load_spec(EXAMPLES / f"{name}.yaml")
    out = run_sweep(spec, tmp_path / f"{name}.duckdb", workers=1)
    assert out.written == Space.of(spec).total - _duplicates(spec)
    assert out.failures == 0


def _duplicates(spec) -> int:  # type: ignore[no-untyped-def]
    space = Space.of(spec)
    keys = space.keys(space.indices(0, space.total))
    return len(keys) - len(set(keys))


def test_cli_sweep_results_query_export_pareto(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec_path = tmp_path / "s.yaml"
    spec_path.write_text(yaml.safe_dump(SMALL))
    db = tmp_path / "s.duckdb"
    assert main(["sweep", str(spec_path), "--out", str(db), "--workers", "1", "--quiet", "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["written"] == 96 and summary["failures"] == 0 and "tokens_per_s" in summary["best"]
    assert main(["results", "query", "SELECT count(*) AS n FROM points", "--db", str(db), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"n": 96}]
    assert main(["results", "export", "--csv", str(tmp_path / "p.csv"), "--db", str(db),
                 "--where", "phase = 'decode'"]) == 0
    assert len((tmp_path / "p.csv").read_text().splitlines()) == 49
    capsys.readouterr()
    plot = tmp_path / "front.html"
    assert main(["results", "pareto", "--x", "energy_per_token_j", "--y", "tokens_per_s", "--db", str(db),
                 "--format", "json", "--plot", str(plot)]) == 0
    front = json.loads(capsys.readouterr().out.split("\nplot written")[0])
    assert front and plot.exists()
    assert main(["results", "query", "SELEC nonsense", "--db", str(db)]) == 2
    assert "the query failed" in capsys.readouterr().err
    assert main(["results", "query", "SELECT 1", "--db", str(tmp_path / "none.duckdb")]) == 2
    assert main(["sweep", str(tmp_path / "missing.yaml")]) == 2


def test_large_examples_parse_and_first_chunk_runs() -> None:
    """The million-point and kernel-model examples (run in full by bench/) are valid and start correctly."""
    big = load_spec(EXAMPLES / "gpu-1m.yaml")
    space = Space.of(big)
    assert space.total == 991_232
    cols = evaluate_chunk(big.model_dump_json(), 500_000, 500_200)
    assert (cols["status"] == "ok").all()
    kern = load_spec(EXAMPLES / "gpu-kernels.yaml")
    cols = evaluate_chunk(kern.model_dump_json(), 0, 5)
    assert (cols["status"] == "ok").all() and set(cols["mapper"]) == {"gemm"}
