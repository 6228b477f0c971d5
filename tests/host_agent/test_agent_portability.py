"""The agent runs on the cashier's Windows PC: no POSIX-only module or call outside a platform guard.
(That it speaks the firmware's own words, not a copy, is tests/test_architecture.py's.)"""
import ast
import pathlib
import re

import host_agent

POSIX_MODULES = {"fcntl", "termios", "tty", "pty", "grp", "pwd", "resource", "posix", "crypt", "syslog"}
POSIX_CALLS = {"openpty", "fork", "forkpty", "setsid", "getuid", "geteuid", "getpgid", "killpg", "mkfifo",
               "add_reader", "add_writer", "add_signal_handler", "ttyname", "chown", "getloadavg"}
POSIX_SIGNALS = {"SIGKILL", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGCHLD", "SIGPIPE", "SIGQUIT"}

AGENT_DIR = pathlib.Path(host_agent.__file__).parent


def _is_platform_guard(test):
    text = ast.unparse(test)
    return "sys.platform" in text or "os.name" in text


def posix_only_uses(tree):
    found = []

    def visit(node):
        if isinstance(node, ast.If) and _is_platform_guard(node.test):
            return                      # a guarded block: it checked where it runs
        if isinstance(node, ast.Import):
            found.extend(a.name for a in node.names if a.name.split(".")[0] in POSIX_MODULES)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in POSIX_MODULES:
            found.append(node.module)
        elif isinstance(node, ast.Attribute) and (node.attr in POSIX_CALLS or node.attr in POSIX_SIGNALS):
            found.append(node.attr)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def test_no_posix_only_calls_outside_guards():
    problems = {}
    for path in sorted(AGENT_DIR.rglob("*.py")):
        uses = posix_only_uses(ast.parse(path.read_text(encoding="utf-8")))
        if uses:
            problems[str(path.relative_to(AGENT_DIR))] = uses
    assert problems == {}


def test_the_check_catches_what_it_should():
    bad = ast.parse("import termios\nimport os\nos.openpty()\nloop.add_reader(fd, cb)\n")
    assert posix_only_uses(bad) == ["termios", "openpty", "add_reader"]
    guarded = ast.parse("import sys\nif sys.platform != 'win32':\n    import fcntl\n")
    assert posix_only_uses(guarded) == []


def test_the_agent_never_imports_the_simulator():
    for path in AGENT_DIR.rglob("*.py"):
        assert not re.search(r"^\s*(from|import) hw_sim", path.read_text(encoding="utf-8"), re.M), path
