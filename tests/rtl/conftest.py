"""The RTL tests need Icarus Verilog (``iverilog`` and ``vvp``; pyverilog's preprocessor uses it too). ``make
setup`` installs it; where it is missing every test in this directory is skipped with that reason instead of
failing. yosys is checked per test (only synthesis needs it)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent
_MISSING = [tool for tool in ("iverilog", "vvp") if shutil.which(tool) is None]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not _MISSING:
        return
    skip = pytest.mark.skip(reason=f"RTL tests need Icarus Verilog ({', '.join(_MISSING)} not on PATH); "
                                   "`make setup` installs it")
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(skip)
