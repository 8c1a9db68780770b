"""The explorer's callbacks (module-level ``dash.callback``), one module per page.

Importing this package registers them; ``web.app.create_app`` does so once per process, before the app
is built. Each callback is also a plain function the tests call directly.
"""

from web.callbacks import compare, point, rtl, simulation, sweeps  # noqa: F401 - registers the callbacks
