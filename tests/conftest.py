"""Shared test fixtures. Area fixtures live in tests/<area>/conftest.py."""
import sys

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_collectstart(collector):
    """Area test modules import their helpers with `from conftest import ...`. Every tests/<area>/conftest.py
    is loaded as the module `conftest` and the last one loaded keeps the name, so a run of several areas
    (pytest tests/server tests/tools) would hand one area another's; point the name at the module's own."""
    if isinstance(collector, pytest.Module):
        own = collector.path.parent / "conftest.py"
        for plugin in collector.config.pluginmanager.get_plugins():
            if getattr(plugin, "__file__", None) == str(own):
                sys.modules["conftest"] = plugin
                break
