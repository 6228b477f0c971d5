// The virtual board's MicroPython: the real MicroPython WebAssembly port, driven as a board's USB
// serial REPL. Bytes from the host arrive on stdin, the REPL's output leaves on stdout, unbuffered;
// board.py puts a pseudo-terminal in front of this process, so mpremote sees a serial port.
//
//   node board.mjs <fs_dir> [--heap=bytes] [--run-main]
//   node board.mjs <fs_dir> --run=<script.py> [--jig=<dir>]
//
// --run: no REPL; boot from the flash as the board does, then run the script (top-level `await` allowed,
// asyncio on Node's event loop: the port has no asyncio.run) and exit 0, or 1 with the traceback on
// stderr. The files of --jig (a test's stand-in board and peripherals) are importable from /jig, which
// is not part of the flash. `vboard.reset()` (the jig's machine.reset) ends the process with status 3
// after writing the flash back: the caller boots the board again; `vboard.power_cut()` ends it with 4
// without writing back what the last sync missed.
// Both modes register `scanpay_http` (http_bridge.mjs), so core/js_http.py reaches the server.
//
// The board's flash file system is Emscripten's MEMFS, loaded from <fs_dir> at start and written back
// to it (changed files only, temp file + rename) after each burst of input is processed, twice a
// second while idle, on os.sync(), os.rename/remove/mkdir/rmdir, at soft reset and at exit: a
// "flashed" board keeps its files across restarts. Writes not yet synced when the process is killed
// (power_cut(), or a reset of a program that never returns) are lost, as in a power cut.
//
// What the port lacks and a USB board has, emulated here (each where it is handled):
//   soft reset    the wasm REPL returns "forced exit" on Ctrl-D: start a fresh interpreter on the same
//                 files, print "MPY: soft reboot", run boot.py (and main.py with --run-main, friendly
//                 REPL only, as the ESP32 port does), re-enter the REPL mode the host was in;
//   Ctrl-C        reaches the REPL only when the interpreter is idle: the port runs Python synchronously,
//                 so a running `while True: pass` blocks this process. board.py resets the board
//                 (restarts this process) when a Ctrl-C is not answered within a second;
//   raw-paste     the port's event-driven raw REPL has no raw-paste mode: collected here with its flow
//                 control, then fed to the raw REPL as ordinary raw-REPL input;
//   errno         the port raises OSError with Emscripten's numbers (ENOENT is 44, EEXIST 20); mpremote
//                 and the firmware test e.errno against MicroPython's (ENOENT 2). SHIM wraps open and
//                 the os file functions to translate them, at every boot, before boot.py;
//   root dir      Emscripten's /dev, /proc, /tmp, /home are removed after start (the interpreter keeps
//                 its open stdio), so `mpremote fs ls` shows the board's flash only.
// The port already has os.ilistdir, os.stat, os.statvfs (fixed numbers), hashlib.sha256, binascii.
import fs from "node:fs";
import path from "node:path";
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";
import { registerHttpBridge } from "./http_bridge.mjs";

const fsDir = process.argv[2];
if (!fsDir) {
  process.stderr.write("usage: node board.mjs <fs_dir> [--heap=bytes] [--run-main]\n");
  process.exit(2);
}
const heapArg = process.argv.find((a) => a.startsWith("--heap="));
const heapsize = heapArg ? parseInt(heapArg.split("=")[1], 10) : 2 * 1024 * 1024;
const runMain = process.argv.includes("--run-main");
const runArg = process.argv.find((a) => a.startsWith("--run="));
const runScript = runArg ? runArg.slice("--run=".length) : null;
const jigArg = process.argv.find((a) => a.startsWith("--jig="));
const jigDir = jigArg ? jigArg.slice("--jig=".length) : null;
// --ack-fd=N: a pipe to board.py; "I" each time all input so far has been processed. A program
// that keeps the interpreter busy sends none, so board.py can tell Ctrl-C went unanswered.
const ackArg = process.argv.find((a) => a.startsWith("--ack-fd="));
const ackFd = ackArg ? parseInt(ackArg.split("=")[1], 10) : null;
const SHIM = `
import builtins, os
def _shim():
    # Emscripten errno -> MicroPython errno (see board.mjs)
    table = {44: 2, 20: 17, 54: 20, 31: 21, 55: 39, 2: 13, 28: 22, 8: 9, 10: 16}
    def wrap(fn):
        def call(*args, **kw):
            try:
                return fn(*args, **kw)
            except OSError as e:
                if e.errno in table:
                    raise OSError(table[e.errno])
                raise
        return call
    import vboard
    def wrap_sync(fn):
        # a rename or removal reaches the host's copy of the flash at once: a board reset right after
        # (see Ctrl-C) finds it done, as littlefs would
        def call(*args):
            result = fn(*args)
            vboard.sync()
            return result
        return call
    for name in ("rename", "remove", "unlink", "rmdir", "mkdir"):
        setattr(os, name, wrap_sync(getattr(os, name)))
    os.sync = vboard.sync       # as on the ESP32 port: everything written so far is on the flash
    builtins.open = wrap(builtins.open)
    ilistdir = os.ilistdir
    def ilistdir_sized(path=""):
        # the port gives (name, type, inode) only; a board's littlefs adds the size
        for entry in ilistdir(path):
            if entry[0] == "proc" and path in ("", "/") and os.getcwd() == "/":
                continue    # Emscripten's /proc/self/fd cannot be removed: hidden instead
            size = 0
            if entry[1] == 0x8000:
                size = os.stat((path.rstrip("/") + "/" if path else "") + entry[0])[6]
            yield (entry[0], entry[1], entry[2], size)
    os.ilistdir = ilistdir_sized
    for name in ("stat", "listdir", "ilistdir", "mkdir", "rmdir", "remove", "unlink", "rename", "chdir", "statvfs"):
        setattr(os, name, wrap(getattr(os, name)))
_shim()
del _shim, builtins, os
`;
function rmTree(mp, p) {
  const st = mp.FS.lstat(p);
  if (mp.FS.isDir(st.mode)) {
    try { mp.FS.unmount(p); } catch { /* not a mount point */ }
    for (const n of mp.FS.readdir(p)) if (n !== "." && n !== "..") rmTree(mp, p + "/" + n);
    mp.FS.rmdir(p);
  } else mp.FS.unlink(p);
}
// Emscripten's own directories in MEMFS: not part of the board's flash
const SYSTEM = new Set(["dev", "proc", "tmp", "home", "jig"]);

// ---- output: bytes, flushed once per turn of the event loop ------------------------------------
let out = [];
let mute = false;
let swallow = null;          // raw-paste: the raw REPL's "OK" is not part of that protocol
function emit(byte) {
  if (mute) return;
  if (swallow !== null) {
    if (byte === swallow.charCodeAt(0)) { swallow = swallow.slice(1) || null; return; }
    swallow = null;
  }
  out.push(byte);
  // A program may run for ever inside the interpreter without a turn of the event loop: write out
  // now what a host waits for before the program's end (a line, the raw REPL's "OK", the \x04
  // markers, raw-paste acks), the rest at the next turn.
  const n = out.length;
  if (byte === 0x0a || byte === 0x04 || byte === 0x01 || n >= 512 || (byte === 0x4b && out[n - 2] === 0x4f)) flush();
  else if (n === 1) setImmediate(flush);
}
function flush() {
  if (out.length) { process.stdout.write(Buffer.from(out)); out = []; }
}
function print(text) { for (const c of Buffer.from(text)) emit(c); }

// ---- file system: host directory <-> MEMFS ------------------------------------------------------
function loadTree(mp, src, dst) {
  for (const entry of fs.readdirSync(src, { withFileTypes: true })) {
    const from = path.join(src, entry.name);
    const to = (dst === "/" ? "" : dst) + "/" + entry.name;
    if (entry.name.endsWith(".sync-tmp")) continue;
    if (entry.isDirectory()) { mp.FS.mkdirTree(to); loadTree(mp, from, to); }
    else mp.FS.writeFile(to, fs.readFileSync(from));
  }
}
function syncTree(mp, src, dst) {
  const seen = new Set();
  for (const name of mp.FS.readdir(src)) {
    if (name === "." || name === ".." || (src === "/" && SYSTEM.has(name))) continue;
    seen.add(name);
    const from = (src === "/" ? "" : src) + "/" + name;
    const to = path.join(dst, name);
    const st = mp.FS.stat(from);
    if (mp.FS.isDir(st.mode)) {
      if (fs.existsSync(to) && !fs.statSync(to).isDirectory()) fs.rmSync(to);
      fs.mkdirSync(to, { recursive: true });
      syncTree(mp, from, to);
    } else {
      const data = mp.FS.readFile(from);
      let same = false;
      try { same = Buffer.from(data).equals(fs.readFileSync(to)); } catch { same = false; }
      if (!same) {
        if (fs.existsSync(to) && fs.statSync(to).isDirectory()) fs.rmSync(to, { recursive: true });
        fs.writeFileSync(to + ".sync-tmp", data);
        fs.renameSync(to + ".sync-tmp", to);
      }
    }
  }
  for (const name of fs.readdirSync(dst)) {
    if (!seen.has(name) && !(dst === fsDir && SYSTEM.has(name))) fs.rmSync(path.join(dst, name), { recursive: true, force: true });
  }
}
function sync() {
  if (mp) syncTree(mp, "/", fsDir);
}

// ---- the interpreter ----------------------------------------------------------------------------
let mp = null;
let rawMode = false;        // what the host last asked for: Ctrl-A raw, Ctrl-B friendly

async function boot(soft) {
  if (mp) sync();
  mp = await loadMicroPython({
    heapsize,
    linebuffer: false,
    stdout: (bytes) => { for (const b of bytes) emit(b); },
    stderr: (bytes) => { for (const b of bytes) emit(b); },
  });
  mp.registerJsModule("vboard", {
    sync: () => { sync(); },
    // machine.reset as the jig gives it: what was written is on the flash; the board stops here
    reset: () => { flush(); sync(); process.exit(3); },
    // the power goes: what was not yet written back to the flash is lost (exit status 4)
    power_cut: () => { flush(); process.exit(4); },
  });
  registerHttpBridge(mp);
  for (const dir of ["/proc/self/fd", "/proc/self", "/proc", "/dev", "/tmp", "/home"]) {
    try { rmTree(mp, dir); } catch { /* /proc/self/fd may refuse: sync skips it anyway */ }
  }
  fs.mkdirSync(fsDir, { recursive: true });
  loadTree(mp, fsDir, "/");
  mp.runPython(SHIM);
  if (soft) print("MPY: soft reboot\r\n");
  for (const file of ["boot.py", ...(runMain && !rawMode ? ["main.py"] : [])]) {
    if (!fs.existsSync(path.join(fsDir, file))) continue;
    try { mp.runPython(`exec(open(${JSON.stringify(file)}).read())`); }
    catch (e) { print(String((e && e.message) || e).replace(/\n/g, "\r\n") + "\r\n"); }
  }
  mute = rawMode || runScript !== null;   // re-enter raw REPL without the friendly banner, as the board does
  mp.replInit();
  mute = false;
  if (rawMode) await mp.replProcessCharWithAsyncify(0x01);
}

// ---- input --------------------------------------------------------------------------------------
let queue = [];
let busy = false;
let paste = null;           // raw-paste state: {buf, sinceAck}
let prev = [];              // last bytes seen in raw mode, to spot the raw-paste request \x05A\x01
const WINDOW = 256;

async function feed(byte) {
  if (paste) {
    if (byte === 0x04) {             // end of data: acknowledge, then compile and run it
      const code = paste.buf;
      paste = null;
      print("\x04");
      swallow = "OK";
      for (const c of code) await mp.replProcessCharWithAsyncify(c);
      await mp.replProcessCharWithAsyncify(0x04);
      return;
    }
    paste.buf.push(byte);
    if (++paste.sinceAck === WINDOW) { paste.sinceAck = 0; print("\x01"); }
    return;
  }
  if (rawMode) {
    prev.push(byte);
    if (prev.length > 3) prev.shift();
    if (byte === 0x05) return;                        // held until we know it is a raw-paste request
    if (prev[0] === 0x05 && prev[1] === 0x41 && prev[2] === 0x01) {
      prev = [];
      paste = { buf: [], sinceAck: 0 };
      print("R\x01" + String.fromCharCode(WINDOW & 0xff, WINDOW >> 8));
      return;
    }
    if (prev.length >= 2 && prev[prev.length - 2] === 0x05 && byte === 0x41) return;
  }
  if (byte === 0x01) rawMode = true;
  if (byte === 0x02) rawMode = false;
  const result = await mp.replProcessCharWithAsyncify(byte);
  if (result) await boot(true);      // Ctrl-D at an empty prompt: soft reset
}

let syncTimer = null;
async function drain() {
  if (busy) return;
  busy = true;
  try {
    while (queue.length) await feed(queue.shift());
  } finally {
    busy = false;
  }
  if (ackFd !== null) { try { fs.writeSync(ackFd, "I"); } catch { /* board.py gone */ } }
  clearTimeout(syncTimer);
  syncTimer = setTimeout(() => { try { sync(); } catch (e) { process.stderr.write(String(e) + "\n"); } }, 20);
}

function shutdown() {
  try { flush(); sync(); } finally { process.exit(0); }
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
if (!runScript) process.stdin.on("end", shutdown);

if (runScript) {
  await boot(false);
  if (jigDir) {
    mp.FS.mkdirTree("/jig");
    loadTree(mp, jigDir, "/jig");
    mp.runPython("import sys\nsys.path.append('/jig')");
  }
  let status = 0;
  try {
    await mp.runPythonAsync(fs.readFileSync(runScript, "utf8"));
  } catch (error) {
    // a PythonError carries the MicroPython traceback as its message
    process.stderr.write(((error && error.message) || String(error)) + "\n");
    status = 1;
  }
  flush();
  sync();
  process.exit(status);
}

await boot(false);
if (ackFd !== null) fs.writeSync(ackFd, "I");       // booted: the REPL takes input from now on
// asyncio programs run between turns of the event loop: their writes are synced twice a second
setInterval(() => { if (!busy) { try { sync(); } catch (e) { process.stderr.write(String(e) + "\n"); } } }, 500);
process.stdin.on("data", (data) => { for (const b of data) queue.push(b); drain(); });
