"""The explorer's callbacks as plain functions (no browser): what each page shows for good and bad input,
that the numbers are the CLI's, and that the server survives malformed and oversized requests."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from archsim.cli import commands
from archsim.cli.render import op_rows, to_csv
from web import services
from web.callbacks import compare, point, rtl, simulation, sweeps
from web.state import POINT_DEFAULTS, POINT_FIELDS, from_query, to_query
from web.wire import ENDPOINT, callback_body

DATA = Path(__file__).parents[1] / "data"
PRESET_YAML = Path(__file__).parents[2] / "archsim" / "hardware" / "presets" / "h100-sxm.yaml"
DEFAULTS = dict(POINT_DEFAULTS, mapper="default")


def data_url(raw: bytes, mime: str = "application/octet-stream") -> str:
    return f"data:{mime};base64," + base64.b64encode(raw).decode()


def run_point(view: str = "roofline", model_upload: Any = None, hw_upload: Any = None, **changes: Any) -> tuple:
    values = {**DEFAULTS, **changes}
    return point.update_point(*(values[k] for k in POINT_FIELDS), view, model_upload, hw_upload)


def text_of(component: Any) -> str:
    """All the text in a Dash component tree."""
    if component is None:
        return ""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list | tuple):
        return " ".join(text_of(c) for c in component)
    return text_of(getattr(component, "children", None))


# --- design point --------------------------------------------------------------------------------------------

def test_design_point_shows_the_cli_numbers() -> None:
    error, totals, _warnings, fig, rows, query, sim_href = run_point(hw="h100-sxm", batch=8, seq=2048)
    assert error is None
    cli = commands.run({"model": "llama3-8b", "hw": "h100-sxm", "phase": "decode", "batch": 8, "seq": 2048})
    assert f"{cli.latency_s * 1e3:.3f} ms" in text_of(totals)
    assert f"{cli.tokens_per_s:,.1f}" in text_of(totals)
    roles = [t.meta["role"] for t in fig.data]
    assert "roof" in roles and "ops" in roles
    assert len(rows) == len(cli.ops) and {r["name"] for r in rows} == {c.op.name for c in cli.ops}
    assert sum(r["total_us"] for r in rows) == pytest.approx(cli.latency_s * 1e6)
    assert query.startswith("?model=llama3-8b&hw=h100-sxm") and "batch=8" in query and "mapper" not in query
    assert sim_href == "/sim" + query


@pytest.mark.parametrize(("view", "role"), [("breakdown", "latency"), ("memory", "memory")])
def test_design_point_views(view: str, role: str) -> None:
    error, *_rest = out = run_point(view=view)
    assert error is None and any(t.meta["role"] == role for t in out[3].data)


@pytest.mark.parametrize(("change", "expected"), [
    ({"batch": 0}, "batch must be >= 1"),
    ({"batch": "abc"}, "batch must be an integer"),
    ({"seq": None}, "seq must be an integer"),
    ({"w_bits": 40}, "w_bits must be <= 32"),
    ({"sparsity": "3:2"}, "sparsity"),
    ({"phase": "train"}, "phase must be one of"),
    ({"engine": "fast"}, "engine must be one of"),
    ({"model": "gpt-9"}, "not a known model id"),
    ({"model": "/etc/passwd"}, "not a preset"),
    ({"hw": "../../secret.yaml"}, "not a preset"),
    ({"hw": "tpu-v9"}, "not a known hardware id"),
    ({"mapper": "meshgemm"}, "mapper 'meshgemm' maps onto mesh hardware"),
    ({"mapper": "roofline", "engine": "sim"}, "engine 'sim' is not available"),
    ({"model": "uploaded"}, "upload one"),
])
def test_design_point_rejects_bad_input_inline(change: dict[str, Any], expected: str) -> None:
    error, totals, _w, fig, rows, query, _href = run_point(**change)
    message = text_of(error)
    assert expected in message, message
    assert "Traceback" not in message and "\n" not in message
    assert totals is None and rows == [] and fig["data"] == []
    assert query is point.no_update


def test_an_internal_failure_is_one_line_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_a: Any, **_k: Any) -> None:
        raise ZeroDivisionError("float division by zero")

    logged: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = logged.append  # type: ignore[method-assign]
    services.log.addHandler(handler)
    monkeypatch.setattr(services, "evaluate_point", broken)
    try:
        error, totals, *_ = run_point()
    finally:
        services.log.removeHandler(handler)
    message = text_of(error)
    assert message.startswith("archsim could not complete this design point (ZeroDivisionError: float division")
    assert "Traceback" not in message and totals is None
    assert logged and logged[0].exc_info is not None  # ... while the server log has the traceback


def test_sparsity_and_mapper_choices_pass_through() -> None:
    error, totals, *_ = run_point(sparsity="2:4", mapper="roofline", w_bits=4)
    assert error is None and "roofline" in text_of(totals)


def test_csv_download_is_the_cli_csv() -> None:
    values = {**DEFAULTS, "hw": "a100-40g", "phase": "prefill", "seq": 512}
    data, error = point.download_csv(1, *(values[k] for k in POINT_FIELDS), None, None)
    assert error is point.no_update
    cli = commands.run({k: values[k] for k in ("model", "hw", "phase", "batch", "seq")})
    assert data["content"] == to_csv(op_rows(cli)) and data["filename"].endswith("_ops.csv")


# --- uploads -------------------------------------------------------------------------------------------------

def test_model_upload_is_validated_then_used() -> None:
    raw = (DATA / "llama-3.2-1b" / "config.json").read_bytes()
    store, msg, value = point.model_upload({"filename": "config.json", "contents": data_url(raw)})
    assert value == "uploaded" and "using uploaded model" in text_of(msg)
    error, totals, *_ = run_point(model="uploaded", model_upload=store)
    assert error is None and store["name"] in text_of(totals)


def test_hardware_upload_is_validated_then_used() -> None:
    text = PRESET_YAML.read_text().replace("id: h100-sxm", "id: my-h100")
    store, msg, value = point.hw_upload({"filename": "mine.yaml", "contents": data_url(text.encode())})
    assert value == "uploaded" and "my-h100" in text_of(msg)
    error, totals, _w, fig, *_ = run_point(hw="uploaded", hw_upload=store)
    assert error is None and "my-h100" in text_of(totals)
    assert any(t.meta.get("role") == "roof" and t.meta["hardware"] == "my-h100" for t in fig.data)


@pytest.mark.parametrize(("kind", "filename", "raw", "expected"), [
    ("model", "bad.json", (DATA / "malformed_config.json").read_bytes(), "not valid JSON"),
    ("model", "missing.json", (DATA / "missing_key_config.json").read_bytes(), "config.json"),
    ("model", "list.json", b"[1, 2]", "JSON object"),
    ("model", "latin1.json", "{\"a\": \"\xe9\"}".encode("latin-1"), "not UTF-8"),
    ("hw", "bad.yaml", b"id: [unclosed\nfamily: gpu", "not valid YAML"),
    ("hw", "scalar.yaml", b"just text", "YAML mapping"),
    ("hw", "fields.yaml", b"id: x\nfamily: gpu\n", "field"),
])
def test_malformed_uploads_give_one_sentence(kind: str, filename: str, raw: bytes, expected: str) -> None:
    handler = point.model_upload if kind == "model" else point.hw_upload
    store, msg, value = handler({"filename": filename, "contents": data_url(raw)})
    assert store is point.no_update and value is point.no_update
    assert expected in text_of(msg) and "Traceback" not in text_of(msg)


def test_large_uploads_are_refused_by_size() -> None:
    # The browser reports a big file without sending it ...
    _, msg, _ = point.model_upload({"filename": "huge.json", "too_large": True, "size": 50e6})
    assert "'huge.json' is 50.0 MB; uploads are limited to 1.0 MB" in text_of(msg)
    # ... and a client that sends one anyway is refused before decoding.
    big = data_url(b"0" * (50 << 20))
    _, msg, _ = point.hw_upload({"filename": "huge.yaml", "contents": big})
    assert "is 52.4 MB; uploads are limited to 1.0 MB" in text_of(msg)
    _, msg, _ = point.hw_upload({"filename": "x.yaml", "contents": "data:text/plain;base64,@@@"})
    assert "could not be decoded" in text_of(msg)


def test_upload_stores_are_revalidated() -> None:
    error, *_ = run_point(hw="uploaded", hw_upload={"name": "x", "yaml": "id: [broken"})
    assert "not valid YAML" in text_of(error)
    error, *_ = run_point(model="uploaded", model_upload={"name": "x", "config": {"model_type": "llama"}})
    assert "config.json" in text_of(error)


# --- URL state -----------------------------------------------------------------------------------------------

def test_query_round_trip() -> None:
    values = from_query({"hw": "wse2", "batch": "16", "seq": "x", "junk": "1"}, POINT_DEFAULTS)
    assert values["batch"] == 16 and values["seq"] == "x" and "junk" not in values
    assert from_query({}, POINT_DEFAULTS) == POINT_DEFAULTS
    q = to_query({**POINT_DEFAULTS, "sparsity": "2:4"}, POINT_FIELDS)
    assert "sparsity=2%3A4" in q and "mapper" not in q


# --- compare -------------------------------------------------------------------------------------------------

def test_compare_normalizes_to_the_baseline() -> None:
    error, norm, absolute, rows, _notes, query = compare.update_compare(
        "llama3-8b", ["a100-80g", "h100-sxm", "wse2"], "decode", 1, 1024, 16, "analytic", "energy_per_token_j",
        "h100-sxm")
    assert error is None and len(rows) == 3
    (trace,) = [t for t in norm.data if t.meta["role"] == "normalized"]
    labels = [str(x).split(" · ")[0] for x in trace.x]  # "h100-sxm · gemm": the mapper differs by family
    assert trace.meta["baseline"] == "h100-sxm" and trace.y[labels.index("h100-sxm")] == pytest.approx(1.0)
    cli = commands.compare({"model": "llama3-8b", "hw": "a100-80g,h100-sxm,wse2", "phase": "decode"})
    by_hw = {r.hardware: r for r in cli}
    assert trace.y[0] == pytest.approx(by_hw["a100-80g"].energy_per_token_j / by_hw["h100-sxm"].energy_per_token_j)
    assert {t.meta["role"] for t in absolute.data} == {"throughput", "energy"}
    assert "view=energy_per_token_j" in query and "baseline=h100-sxm" in query


def test_compare_with_sim_falls_back_with_a_note() -> None:
    error, _n, _a, rows, notes, _q = compare.update_compare("llama2-7b", "a100-80g,m2-ultra", "decode", 1, 256, 16,
                                                            "sim", "tokens_per_s", None)
    assert error is None and {r["engine"] for r in rows} == {"sim", "analytic"}
    assert "analytic engine" in text_of(notes)


@pytest.mark.parametrize(("hw", "view", "expected"), [
    ([], "tokens_per_s", "pick at least one"),
    (["a100-80g", "nope"], "tokens_per_s", "not a known hardware id"),
    (["a100-80g"], "speed", "view must be one of"),
])
def test_compare_errors_inline(hw: list[str], view: str, expected: str) -> None:
    error, *_ = compare.update_compare("llama3-8b", hw, "both", 1, 1024, 16, "analytic", view, None)
    assert expected in text_of(error)


# --- sweeps --------------------------------------------------------------------------------------------------

def test_sweep_store_opens_and_draws_the_front(sweep_db: Path) -> None:
    info, error, *options = sweeps.open_store(1, None, str(sweep_db))
    assert error is None and info["points"] == 48 and "tokens_per_s" in info["metrics"]
    hw_options = options[3 + list(sweeps.SWEEP_FILTERS).index("hw")]
    assert {o["value"] for o in hw_options} == {"a100-80g", "h100-sxm", "a100-2xbw"}
    fig, summary, query = sweeps.update_scatter(info, "latency_s", "tokens_per_s", "hw", ["1"],
                                                *([[]] * len(sweeps.SWEEP_FILTERS)))
    front = [t for t in fig.data if t.meta["role"] == "front"]
    assert len(front) == 1 and len(front[0].x) >= 1 and all(isinstance(k, str) for k in front[0].customdata)
    assert "points match" in text_of(summary) and query.startswith("?db=")
    filters = [["decode"] if a == "phase" else [] for a in sweeps.SWEEP_FILTERS]
    fig2, summary2, _ = sweeps.update_scatter(info, "latency_s", "tokens_per_s", "phase", [], *filters)
    assert sum(len(t.x) for t in fig2.data if t.meta["role"] == "points") == 24
    assert {t.meta["group"] for t in fig2.data if t.meta["role"] == "points"} == {"decode"}


def test_sweep_click_opens_the_design_point(sweep_db: Path) -> None:
    info = services.open_sweep(str(sweep_db))
    view = services.sweep_view(str(sweep_db), "latency_s", "tokens_per_s", "hw", {"hw": ["h100-sxm"]})
    href, msg = sweeps.open_point({"points": [{"customdata": view.keys[0]}]}, info)
    assert msg is None and href.startswith("/?model=") and "hw=h100-sxm" in href and "mapper=roofline" in href
    variant = services.sweep_view(str(sweep_db), "latency_s", "tokens_per_s", "hw", {"hw": ["a100-2xbw"]})
    href, msg = sweeps.open_point({"points": [{"customdata": variant.keys[0]}]}, info)
    assert href is sweeps.no_update and "variant defined in the sweep spec" in text_of(msg)


@pytest.mark.parametrize(("path", "expected"), [
    ("", "enter the path"),
    ("/nonexistent/x.duckdb", "does not exist"),
    (str(DATA / "malformed_config.json"), "not a readable DuckDB sweep store"),
])
def test_bad_sweep_stores_say_why(path: str, expected: str) -> None:
    info, error, *_ = sweeps.open_store(1, None, path)
    assert info is None and expected in text_of(error)


def test_sweep_filters_are_parameters_not_sql(sweep_db: Path) -> None:
    info = services.open_sweep(str(sweep_db))
    filters = [["x' OR 1=1 --"] if a == "hw" else [] for a in sweeps.SWEEP_FILTERS]
    fig, summary, _ = sweeps.update_scatter(info, "latency_s", "tokens_per_s", "hw", [], *filters)
    assert "no points match" in text_of(summary)
    fig, summary, _ = sweeps.update_scatter(info, "latency_s; DROP TABLE points", "tokens_per_s", "hw", [],
                                            *([[]] * len(sweeps.SWEEP_FILTERS)))
    assert "is not a sweep metric" in text_of(summary)


# --- simulation ----------------------------------------------------------------------------------------------

def test_simulation_of_a_mesh_draws_timeline_and_heatmap() -> None:
    steps: list[tuple[int, int, str]] = []
    values = {**DEFAULTS, "hw": "wse2", "engine": "sim", "seq": 512}
    error, summary, timeline, heat, style = simulation.run_point(values, None, None, lambda *a: steps.append(a))
    assert error is None and style == simulation.SHOWN
    assert [s[0] for s in steps] == [1, 2, 3]
    spans = [t for t in timeline.data if t.meta["role"] == "span"]
    assert spans and timeline.layout.meta["spans"] > 0 and timeline.layout.meta["lanes"] <= 40
    assert heat.data and heat.data[0].type == "heatmap"
    assert "simulated latency" in text_of(summary) and "analytic latency" in text_of(summary)


def test_simulation_of_a_gpu_has_no_heatmap() -> None:
    values = {**DEFAULTS, "hw": "a100-80g", "engine": "sim"}
    error, _summary, timeline, _heat, style = simulation.run_point(values, None, None)
    assert error is None and style == simulation.HIDDEN and timeline.data


def test_simulation_errors_inline() -> None:
    error, *_ = simulation.run_point({**DEFAULTS, "hw": "m2-ultra"}, None, None)
    assert "engine 'sim' is not available" in text_of(error)
    msg, query = simulation.check_point(*({**DEFAULTS, "batch": -1}[k] for k in POINT_FIELDS), None, None)
    assert "batch must be >= 1" in text_of(msg)
    msg, query = simulation.check_point(*({**DEFAULTS, "hw": "wse2"}[k] for k in POINT_FIELDS), None, None)
    assert msg is None and "hw=wse2" in query


# --- RTL -----------------------------------------------------------------------------------------------------

def test_rtl_page_without_a_summary_says_how_to_get_one(no_rtl_files: Path) -> None:
    error, head, rows, _cols, synth, note = rtl.load_rtl(None)
    assert error is None and rows == [] and synth == []
    assert "not available: run `archsim rtl verify`" in text_of(head)
    assert "archsim rtl synth" in text_of(note)


def test_rtl_page_shows_the_summary_and_synthesis(rtl_files: Path) -> None:
    error, head, rows, cols, synth, note = rtl.load_rtl(1)
    assert error is None and note is None
    assert "1/2 runs passed" in text_of(head)
    assert [r["verdict"] for r in rows] == ["pass", "fail: cycles differ"]
    assert synth[0]["unit"] == "lut_gemv" and 2595 in synth[0].values()
    assert {"LUT", "FF", "DSP48E2"} <= {c["headerName"] for c in cols}


def test_rtl_page_reports_a_corrupt_summary(rtl_files: Path) -> None:
    (rtl_files / "rtl_verify.json").write_text("{ not json")
    error, head, rows, *_ = rtl.load_rtl(1)
    assert "not a readable rtl verify summary" in text_of(error) and rows == []


# --- the server ----------------------------------------------------------------------------------------------

def test_server_survives_oversized_and_malformed_requests(app: Any) -> None:
    client = app.server.test_client()
    r = client.post(ENDPOINT, data=b"x" * (50 << 20), content_type="application/json")
    assert r.status_code == 413 and "request too large" in r.get_json()["error"]
    r = client.post(ENDPOINT, data=b"{not json", content_type="application/json")
    assert r.status_code in (400, 500)
    assert client.get("/").status_code == 200
    values = {f"point-{k}.value": v for k, v in DEFAULTS.items()} | {"point-view.value": "roofline"}
    r = client.post(ENDPOINT, json=callback_body(app._callback_list, "point-figure.figure", values))
    assert r.status_code == 200
    out = r.get_json()["response"]
    assert out["point-error"]["children"] is None and out["point-figure"]["figure"]["data"]
    values["point-batch.value"] = "lots"
    out = client.post(ENDPOINT, json=callback_body(app._callback_list, "point-figure.figure",
                                                   values)).get_json()["response"]
    assert "batch must be an integer" in json.dumps(out["point-error"])


def test_every_page_renders(app: Any) -> None:
    client = app.server.test_client()
    for path in ("/", "/compare", "/sweeps", "/sim", "/rtl", "/?batch=abc", "/sweeps?db=/nope.duckdb"):
        assert client.get(path).status_code == 200, path
    import dash

    assert {p["path"] for p in dash.page_registry.values()} == {"/", "/compare", "/sweeps", "/sim", "/rtl"}
