"""The archsim design-space explorer: a multi-page Dash app (``archsim explore``, ``make explore``).

Pages (``web/pages``): Design point, Compare, Sweeps, Simulation, RTL. Callbacks (``web/callbacks``) are
module-level ``dash.callback`` functions over ``web.services``, which validates every input with the CLI's
pydantic request models and calls ``archsim.cli.commands`` / ``archsim.evaluate``; the app computes no cost
itself. Figures come from ``web.figures``, the builders the HTML report uses.

Safety: the server binds 127.0.0.1 unless told otherwise; debug (Dash dev tools, tracebacks in the page)
is off unless asked for; request bodies over ``MAX_REQUEST_BYTES`` get a 413 and uploads over
``UPLOAD_LIMIT_BYTES`` an inline message; an unexpected exception in a callback is logged and shown as
one line in the page's error banner, never as a stack trace.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import dash
from dash import Dash, dcc, html, set_props

from web import services
from web.components import APP_ERROR, HW_UPLOAD_STORE, MODEL_UPLOAD_STORE, URL, error_box

WEB_DIR = Path(__file__).resolve().parent
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8050
log = logging.getLogger("archsim.explore")


def _cache_dir() -> Path:
    """Where background callbacks (the Simulation page) exchange results: ``ARCHSIM_EXPLORE_CACHE`` or a
    per-user folder in the system temp directory."""
    env = os.environ.get("ARCHSIM_EXPLORE_CACHE")
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    path = Path(env) if env else Path(tempfile.gettempdir()) / f"archsim-explore-{uid}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _on_error(err: Exception) -> None:
    """Last resort for an exception a callback did not turn into an inline message: log it, show one
    line in the banner, and leave the callback's outputs as they were."""
    set_props(APP_ERROR, {"children": error_box(services.user_message(err, "a page update"))})


def _layout() -> html.Div:
    pages = sorted(dash.page_registry.values(), key=lambda p: p.get("order", 99))
    return html.Div([
        dcc.Location(id=URL, refresh="callback-nav"),
        dcc.Store(id=MODEL_UPLOAD_STORE, storage_type="session"),
        dcc.Store(id=HW_UPLOAD_STORE, storage_type="session"),
        html.Header([
            html.Div([html.Span("archsim", className="brand"), html.Span(" explorer", className="brand-sub")]),
            html.Nav([dcc.Link(p["name"], href=p["relative_path"], className="nav-link",
                               id=f"nav-{p['path'].strip('/') or 'point'}") for p in pages], className="nav"),
        ], className="header"),
        html.Main([html.Div(id=APP_ERROR), dash.page_container], className="main"),
    ])


@cache
def create_app() -> Dash:
    """The explorer app (one per process: Dash pages and module-level callbacks are process-global)."""
    import diskcache
    from dash import DiskcacheManager

    import web.callbacks  # noqa: F401 - registers the module-level callbacks before the app takes them

    manager = DiskcacheManager(diskcache.Cache(str(_cache_dir())))
    app = Dash(
        __name__, use_pages=True, pages_folder=str(WEB_DIR / "pages"), assets_folder=str(WEB_DIR / "assets"),
        title="archsim explorer", suppress_callback_exceptions=True, background_callback_manager=manager,
        on_error=_on_error, update_title=None,
    )
    app.layout = _layout
    server = app.server
    server.config["MAX_CONTENT_LENGTH"] = services.MAX_REQUEST_BYTES

    @server.errorhandler(413)
    def _too_large(_err: Any) -> tuple[dict[str, str], int]:
        limit = services.MAX_REQUEST_BYTES >> 20
        return {"error": f"request too large: the explorer accepts at most {limit} MB per request."}, 413

    return app


def default_workers() -> int:
    """Server processes ``serve`` starts by default: two where the OS can fork (a callback is CPU-bound
    Python, so a second process doubles throughput on a multi-core machine), else one."""
    return min(2, os.cpu_count() or 1) if hasattr(os, "fork") else 1


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, debug: bool = False,
          workers: int | None = None) -> None:
    """Serve the explorer until interrupted.

    One process (Flask's threaded server, as ``app.run``) with ``debug`` or ``workers=1``; otherwise
    ``workers`` pre-forked processes of the same threaded server accepting on one listening socket (the
    kernel spreads connections over them). Nothing is kept in server memory between requests (uploads
    live in the browser's session store; background jobs go through the disk cache), so any process can
    answer any request.
    """
    app = create_app()
    n = default_workers() if workers is None else workers
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("the explorer is reachable from other machines on %s:%d; it has no authentication.", host, port)
    shown = f"[{host}]" if ":" in host else host
    print(f"archsim explorer on http://{shown}:{port}/ ({n if not debug else 1} process"
          f"{'es' if n > 1 and not debug else ''}{', debug' if debug else ''}; Ctrl+C to stop)", flush=True)
    if debug or n <= 1 or not hasattr(os, "fork"):
        app.run(host=host, port=port, debug=debug)
    else:
        _serve_prefork(app, host, port, n)


def _serve_prefork(app: Dash, host: str, port: int, workers: int) -> None:
    from werkzeug.serving import make_server

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=256)
    sock.set_inheritable(True)
    children: list[int] = []

    def stop(_sig: int, _frame: Any) -> None:
        raise SystemExit(0)

    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # a worker: serve until killed or interrupted
            code = 0
            try:
                make_server(host, port, app.server, threaded=True, fd=sock.fileno()).serve_forever()
            except KeyboardInterrupt:
                pass
            except BaseException:  # noqa: BLE001 - report, then leave without running the parent's cleanup
                log.exception("explorer worker %d failed", os.getpid())
                code = 1
            os._exit(code)
        children.append(pid)
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        for pid in children:
            os.waitpid(pid, 0)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        for pid in children:
            with contextlib.suppress(ProcessLookupError, ChildProcessError):
                os.kill(pid, signal.SIGTERM)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        sock.close()


if __name__ == "__main__":
    serve()
