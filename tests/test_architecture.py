"""Rules between the top-level folders (docs/host-agent.md, docs/firmware.md "Spoken texts"), checked on the
source, not remembered:

- the server imports neither the host agent nor the simulator, and of the firmware only its text table
  (core.texts, and core.amount which formats its money) and the compact form's field numbers (core.compact);
- production code (server, host agent, tools) never imports the simulator;
- the host agent keeps no copy of a firmware table: no module of it defines a name the firmware's shared
  modules define (ERROR_TEXTS, SAY_..., DEFAULT_PREFIXES, MAX_LINE, parse_line, ...): it imports them.
"""
import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_FIRMWARE = ("texts", "codes", "line_protocol", "api")      # what the agent runs of firmware/core
SERVER_MAY_USE = {"core.texts", "core.amount", "core.compact"}
# the agent's own on purpose: its aiohttp client of the device API (docs/host-agent.md says why)
AGENT_OWN = {"DeviceApi"}


def imports(path):
    """Every module a file imports (absolute names; relative imports are the package's own)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update("%s.%s" % (node.module, alias.name) for alias in node.names)
    return found


def top_level_names(path):
    """Names a module binds at its top level: constants and tables it assigns, functions and classes."""
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
    return names


def sources(folder):
    return sorted((ROOT / folder).rglob("*.py"))


def test_the_server_imports_neither_the_agent_nor_the_simulator():
    problems = {}
    for path in sources("server"):
        bad = {name for name in imports(path)
               if name.split(".")[0] in ("host_agent", "hw_sim")
               or (name.split(".")[0] == "core" and name != "core"
                   and not any(name == m or name.startswith(m + ".") for m in SERVER_MAY_USE))}
        if bad:
            problems[str(path.relative_to(ROOT))] = sorted(bad)
    assert problems == {}


@pytest.mark.parametrize("folder", ["server", "host_agent", "tools"])
def test_production_code_never_imports_the_simulator(folder):
    for path in sources(folder):
        assert not {n for n in imports(path) if n.split(".")[0] == "hw_sim"}, path


def shared_names():
    """The public names of the firmware modules the agent runs."""
    names = {}
    for module in SHARED_FIRMWARE:
        for name in top_level_names(ROOT / "firmware" / "core" / (module + ".py")):
            if not name.startswith("_") and name not in AGENT_OWN:
                names[name] = "core." + module
    return names


def test_the_agent_copies_no_firmware_table():
    shared = shared_names()
    assert {"ERROR_TEXTS", "REASON_TEXTS", "SAY_FAILED", "result_text", "DEFAULT_PREFIXES", "MAX_LINE",
            "parse_line", "LineSplitter", "string_to_sign", "ApiError"} <= set(shared)
    copies = {}
    for path in sources("host_agent"):
        own = top_level_names(path) & set(shared)
        if own:
            copies[str(path.relative_to(ROOT))] = sorted("%s (%s)" % (n, shared[n]) for n in own)
    assert copies == {}


def test_the_checks_catch_what_they_should(tmp_path):
    copied = tmp_path / "texts.py"
    copied.write_text('ERROR_TEXTS = {"x": "y"}\nSAY_FAILED = "支付失败"\ndef result_text(order):\n    pass\n')
    assert top_level_names(copied) & set(shared_names()) == {"ERROR_TEXTS", "SAY_FAILED", "result_text"}
    importer = tmp_path / "view.py"
    importer.write_text("from host_agent import texts\nimport hw_sim.wallet\nfrom core.app import App\n"
                        "from .payments import pay\n")
    assert imports(importer) == {"host_agent", "host_agent.texts", "hw_sim.wallet", "core.app", "core.app.App"}
