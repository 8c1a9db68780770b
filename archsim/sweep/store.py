"""The sweep store: one DuckDB file with a ``points`` table (one row per design point, keyed by the stable
hash of its fully-resolved configuration), a ``runs`` table (spec, version, start/end, host) and a
``chunks`` table (which chunks of which spec are finished).

Each chunk's rows and its ``chunks`` row are written in one transaction, so ``kill -9`` at any moment loses
at most the chunks in flight and never leaves a half-written chunk; ``--resume`` skips finished chunks and
``INSERT OR IGNORE`` keeps exactly one row per key.
"""

from __future__ import annotations

import json
import platform
import socket
import uuid
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from archsim.errors import InputError
from archsim.sweep.work import COLUMNS

DEFAULT_STORE = Path("out/sweep.duckdb")


def connect(path: str | Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (creating when writable) a sweep store; ``InputError`` for a file that is not one."""
    p = Path(path)
    if read_only and not p.exists():
        raise InputError("db", f"sweep store '{p}' does not exist; run `archsim sweep SPEC.yaml --out {p}` first.")
    if not read_only:
        p.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(p), read_only=read_only)
    except duckdb.Error as err:
        raise InputError("db", f"'{p}' is not a readable DuckDB sweep store ({str(err).splitlines()[0]}).") from None
    if not read_only:
        _create(con)
    return con


def _create(con: duckdb.DuckDBPyConnection) -> None:
    cols = ", ".join(f"{name} {sql}" + (" PRIMARY KEY" if name == "key" else "") for name, sql in COLUMNS.items())
    con.execute(f"CREATE TABLE IF NOT EXISTS points ({cols}, run_id VARCHAR)")
    con.execute("CREATE TABLE IF NOT EXISTS runs (run_id VARCHAR PRIMARY KEY, name VARCHAR, spec VARCHAR, "
                "spec_digest VARCHAR, version VARCHAR, host VARCHAR, executor VARCHAR, started TIMESTAMP, "
                "ended TIMESTAMP, points BIGINT, failures BIGINT, status VARCHAR)")
    con.execute("CREATE TABLE IF NOT EXISTS chunks (spec_digest VARCHAR, chunk BIGINT, run_id VARCHAR, "
                "PRIMARY KEY (spec_digest, chunk))")


def start_run(con: duckdb.DuckDBPyConnection, name: str, spec_json: str, digest: str, executor: str,
              points: int) -> str:
    """Record a run; returns its id."""
    run_id = uuid.uuid4().hex[:12]
    try:
        ver = version("archsim")
    except Exception:
        ver = "unknown"
    con.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, 0, 'running')",
                [run_id, name, spec_json, digest, ver, f"{socket.gethostname()} ({platform.platform()})", executor,
                 datetime.now(UTC).replace(tzinfo=None), points])
    return run_id


def end_run(con: duckdb.DuckDBPyConnection, run_id: str, failures: int, status: str) -> None:
    con.execute("UPDATE runs SET ended = ?, failures = ?, status = ? WHERE run_id = ?",
                [datetime.now(UTC).replace(tzinfo=None), failures, status, run_id])


def done_chunks(con: duckdb.DuckDBPyConnection, digest: str) -> set[int]:
    """Chunks of this spec already stored (by any run)."""
    return {int(r[0]) for r in con.execute("SELECT chunk FROM chunks WHERE spec_digest = ?", [digest]).fetchall()}


def write_chunk(con: duckdb.DuckDBPyConnection, digest: str, chunk: int, run_id: str,
                columns: dict[str, np.ndarray]) -> int:
    """Store one chunk's points and mark the chunk done, atomically. Returns rows inserted."""
    n = len(columns["key"])
    data = dict(columns)
    data["run_id"] = np.array([run_id] * n, dtype=object)
    names = list(COLUMNS) + ["run_id"]
    con.execute("BEGIN TRANSACTION")
    try:
        con.register("_chunk", {k: data[k] for k in names})
        before = con.execute("SELECT count(*) FROM points").fetchone()[0]  # type: ignore[index]
        con.execute(f"INSERT OR IGNORE INTO points ({', '.join(names)}) SELECT {', '.join(names)} FROM _chunk")
        con.execute("INSERT OR IGNORE INTO chunks VALUES (?, ?, ?)", [digest, chunk, run_id])
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("_chunk")
    return con.execute("SELECT count(*) FROM points").fetchone()[0] - before  # type: ignore[index]


def query(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run SQL; returns (column names, rows). ``InputError`` with DuckDB's first line on a bad query."""
    try:
        cur = con.execute(sql)
        rows = cur.fetchall()
    except duckdb.Error as err:
        raise InputError("sql", f"the query failed: {str(err).splitlines()[0]}") from None
    return [d[0] for d in cur.description or []], rows


def export(con: duckdb.DuckDBPyConnection, out: str | Path, fmt: str, where: str | None = None) -> int:
    """Write the points table (optionally filtered) to Parquet or CSV; returns the row count."""
    sel = "SELECT * FROM points" + (f" WHERE {where}" if where else "")
    opts = "(FORMAT PARQUET)" if fmt == "parquet" else "(HEADER, DELIMITER ',')"
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    try:
        con.execute(f"COPY ({sel}) TO '{Path(out).as_posix()}' {opts}")
        return int(con.execute(f"SELECT count(*) FROM ({sel})").fetchone()[0])  # type: ignore[index]
    except duckdb.Error as err:
        raise InputError("where", f"export failed: {str(err).splitlines()[0]}") from None


def spec_of_run(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, Any]:
    row = con.execute("SELECT spec FROM runs WHERE run_id = ?", [run_id]).fetchone()
    return json.loads(row[0]) if row else {}
