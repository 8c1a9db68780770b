"""Load test of the explorer's design-point callback: N concurrent clients for T seconds.

Starts ``archsim explore`` (the real server, Flask's threaded server) on a free loopback port in a
subprocess, reads the registered callbacks from ``/_dash-dependencies``, then runs ``--clients`` threads
that each POST the Design point page's callback (``/_dash-update-component``, the body a browser sends)
back to back for ``--duration`` seconds. By default every request is the same analytic GPU point
(LLaMA-3-8B decode on an A100-80GB, batch 8, 2K context: the acceptance case); ``--random-points`` makes
each request a random analytic GPU point (model, device, phase, batch, seq, bits), which mostly measures
the kernel-level GPU mapper pricing shapes it has not seen (a new prefill shape costs it up to ~0.3 s).

A request is an error when the status is not 200 or the page's inline error output is not empty. Prints
p50/p95/p99/max latency, throughput and the error count, and exits 1 when p95 is over ``--target-ms`` or
any request failed. Traffic goes to 127.0.0.1 only, and the loop is bounded by ``--duration``.

    python bench/bench_explore.py                    # 20 clients, 30 s, one analytic GPU point
    python bench/bench_explore.py --random-points --clients 5 --duration 10
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from web.wire import DEPENDENCIES, ENDPOINT, callback_body  # noqa: E402

MODELS = ("llama3-8b", "llama2-7b", "llama2-13b", "qwen3-1.7b", "opt-6.7b")
GPUS = ("a100-80g", "a100-40g", "h100-sxm", "mi210", "a6000", "v100")
SAME = {"model": "llama3-8b", "hw": "a100-80g", "phase": "decode", "batch": 8, "seq": 2048, "w_bits": 16}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _values(rng: random.Random | None) -> dict[str, Any]:
    p = dict(SAME) if rng is None else {
        "model": rng.choice(MODELS), "hw": rng.choice(GPUS), "phase": rng.choice(("prefill", "decode")),
        "batch": rng.choice((1, 2, 4, 8, 16, 32, 64)), "seq": rng.randrange(128, 8193),
        "w_bits": rng.choice((4, 8, 16))}
    return {"point-model.value": p["model"], "point-hw.value": p["hw"], "point-phase.value": p["phase"],
            "point-batch.value": p["batch"], "point-seq.value": p["seq"], "point-w_bits.value": p["w_bits"],
            "point-a_bits.value": 16, "point-kv_bits.value": 16, "point-sparsity.value": "",
            "point-mapper.value": "default", "point-engine.value": "analytic", "point-view.value": "roofline"}


def _get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def start_server(port: int, log_path: Path, workers: int | None = None) -> subprocess.Popen:
    """``archsim explore`` on ``port``; returns once it answers (or raises with its log)."""
    log = log_path.open("wb")
    cmd = [sys.executable, "-m", "archsim", "explore", "--port", str(port)]
    cmd += ["--workers", str(workers)] if workers else []
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited: {log_path.read_text()[-2000:]}")
        try:
            if _get(port, "/")[0] == 200:
                return proc
        except OSError:
            pass
        time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("the server did not answer within 60 s")


def run_clients(port: int, callbacks: list[dict[str, Any]], clients: int, duration: float,
                random_points: bool) -> tuple[list[float], list[str]]:
    """Fire the callback from ``clients`` threads for ``duration`` seconds; (latencies in s, errors)."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)
    stop_at: list[float] = []

    def client(i: int) -> None:
        rng = random.Random(1000 + i) if random_points else None
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        bad: list[str] = []
        start.wait()
        while time.monotonic() < stop_at[0]:
            body = json.dumps(callback_body(callbacks, "point-figure.figure", _values(rng))).encode()
            t0 = time.perf_counter()
            try:
                conn.request("POST", ENDPOINT, body, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                bad.append(f"{type(exc).__name__}: {exc}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                continue
            mine.append(time.perf_counter() - t0)
            if resp.status != 200:
                bad.append(f"HTTP {resp.status}: {data[:200]!r}")
                continue
            out = json.loads(data).get("response", {})
            if out.get("point-error", {}).get("children") or "point-totals" not in out:
                bad.append(f"inline error: {json.dumps(out.get('point-error'))[:200]}")
        conn.close()
        with lock:
            latencies.extend(mine)
            errors.extend(bad)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    stop_at.append(time.monotonic() + duration)
    start.wait()
    for t in threads:
        t.join(duration + 60)
    return latencies, errors


def percentile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--duration", type=float, default=30.0, help="seconds of load (after a short warm-up)")
    ap.add_argument("--random-points", action="store_true", help="a random GPU point per request instead of one")
    ap.add_argument("--workers", type=int, help="server processes (default: archsim explore's default)")
    ap.add_argument("--target-ms", type=float, default=300.0, help="p95 target (exit 1 above it)")
    ap.add_argument("--log", type=Path, default=ROOT / "out" / "bench_explore_server.log")
    args = ap.parse_args(argv)
    args.log.parent.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    proc = start_server(port, args.log, args.workers)
    try:
        _get(port, "/_dash-layout")
        status, deps = _get(port, DEPENDENCIES)
        callbacks = json.loads(deps)
        run_clients(port, callbacks, 2, 2.0, args.random_points)  # warm-up: first-use caches, imports
        t0 = time.monotonic()
        lat, errors = run_clients(port, callbacks, args.clients, args.duration, args.random_points)
        wall = time.monotonic() - t0
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    if not lat:
        print("no request completed", file=sys.stderr)
        return 1
    ms = [x * 1e3 for x in lat]
    p95 = percentile(ms, 95)
    what = "random analytic GPU points" if args.random_points else "one analytic GPU point"
    workers = args.workers or "default"
    print(f"explorer design-point callback: {args.clients} clients x {args.duration:g} s, {what}, "
          f"server workers {workers}, {os.cpu_count()} CPUs")
    print(f"  requests {len(lat):,} ({len(lat) / wall:,.1f}/s), errors {len(errors)}")
    print(f"  latency ms: p50 {percentile(ms, 50):.1f}  p95 {p95:.1f}  p99 {percentile(ms, 99):.1f}  "
          f"max {max(ms):.1f}  mean {statistics.fmean(ms):.1f}")
    for e in errors[:5]:
        print(f"  error: {e}")
    ok = p95 < args.target_ms and not errors
    print(f"  target p95 < {args.target_ms:g} ms and zero errors: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
