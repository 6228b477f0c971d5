"""The rules between the top-level packages, as import-linter contracts ([tool.importlinter] in pyproject.toml),
checked on the whole import graph (indirect imports too) by `lint-imports`, the way make test runs it.

tests/test_architecture.py checks some of the same rules file by file; these are the ones that stop a build.
"""
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    """The contracts of the repository's pyproject.toml, on the packages importable from `cwd`."""
    return subprocess.run([str(LINT_IMPORTS), str(ROOT / "pyproject.toml"), "--no-cache"],
                          cwd=cwd, capture_output=True, text=True, timeout=300)


def contract_names() -> list[str]:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return [c["name"] for c in tomllib.load(f)["tool"]["importlinter"]["contracts"]]


def test_the_contracts_name_the_rules_that_matter():
    names = contract_names()
    assert {"Production code never imports the simulator",
            "The server never imports the host agent (they meet over the device API, in HTTP)",
            "The host agent never imports the server (it is a device-API client, over HTTP)",
            "The developer tools import neither the server nor the host agent",
            "The server uses of the firmware only core.texts, core.amount and core.compact"} <= set(names)


def test_the_code_keeps_every_contract():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(contract_names())} kept, 0 broken." in result.stdout


def write_package(root: Path, name: str, modules: dict[str, str]) -> None:
    package = root / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    for module, source in modules.items():
        (package / (module + ".py")).write_text(source)


def test_a_broken_rule_fails_the_check(tmp_path):
    # The same five packages, small, breaking every rule once (the agent's through the tools, indirectly).
    write_package(tmp_path, "server", {"cashier": "from core import texts\nfrom core.app import App\n",
                                       "drawer": "import hw_sim.wallet\nfrom host_agent import agent\n"})
    write_package(tmp_path, "host_agent", {"agent": "", "api": "from tools import board\n"})
    write_package(tmp_path, "tools", {"board": "from server import drawer\n"})
    write_package(tmp_path, "core", {"app": "import tools.board\nApp = 1\n", "texts": "SAY_FAILED = ''\n"})
    write_package(tmp_path, "hw_sim", {"wallet": ""})
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"Contracts: 0 kept, {len(contract_names())} broken." in result.stdout, result.stdout
    for line in ("server.drawer -> hw_sim.wallet", "server.drawer -> host_agent.agent", "server.cashier -> core.app",
                 "host_agent.api -> tools.board", "tools.board -> server.drawer", "core.app -> tools.board"):
        assert line in result.stdout, result.stdout
    assert "-> core.texts" not in result.stdout                 # the import the server may make
