// Run a Python script on real MicroPython (the WebAssembly port, in Node.js) with the firmware's
// files in its file system, as they are on a device.
//
//   node mp_runner.mjs <firmware_dir> <script.py> [input.json] [--heap=bytes]
//
// The firmware tree is copied under /lib (importable: `from core import cbor`), the optional input
// file to /input.json. The script's output goes to stdout; a Python exception goes to stderr and
// makes the exit status 1. The script may use top-level `await` (asyncio is driven by Node's loop).
import fs from "node:fs";
import path from "node:path";
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";
import { registerHttpBridge } from "../../hw_sim/virtual_board/http_bridge.mjs";

const args = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const heapArg = process.argv.find((a) => a.startsWith("--heap="));
const [firmwareDir, scriptPath, inputPath] = args;
if (!firmwareDir || !scriptPath) {
  process.stderr.write("usage: node mp_runner.mjs <firmware_dir> <script.py> [input.json]\n");
  process.exit(2);
}

const mp = await loadMicroPython({
  heapsize: heapArg ? parseInt(heapArg.split("=")[1], 10) : 2 * 1024 * 1024,
  stdout: (line) => process.stdout.write(line + "\n"),
  stderr: (line) => process.stderr.write(line + "\n"),
  linebuffer: true,
});

function copyTree(src, dst) {
  mp.FS.mkdirTree(dst);
  for (const entry of fs.readdirSync(src, { withFileTypes: true })) {
    const from = path.join(src, entry.name);
    const to = dst + "/" + entry.name;
    if (entry.isDirectory()) {
      if (entry.name !== "__pycache__") copyTree(from, to);
    } else if (entry.name.endsWith(".py")) {
      mp.FS.writeFile(to, fs.readFileSync(from));
    }
  }
}

// The HTTP bridge for core/js_http.py (shared with the virtual board).
const bridge = registerHttpBridge(mp);

copyTree(firmwareDir, "/lib");
// The scripts' shared stand-in peripherals (the virtual board's jig has them), importable as `mp_standins`.
mp.FS.writeFile("/lib/mp_standins.py", fs.readFileSync(path.join(path.dirname(new URL(import.meta.url).pathname),
                                                                 "../../hw_sim/virtual_board/jig/mp_standins.py")));
if (inputPath) mp.FS.writeFile("/input.json", fs.readFileSync(inputPath));

try {
  await mp.runPythonAsync(fs.readFileSync(scriptPath, "utf8"));
} catch (error) {
  // a PythonError carries the MicroPython traceback as its message
  process.stderr.write((error && error.message) || String(error));
  process.stderr.write("\n");
  process.exit(1);
}
bridge.close();
process.exit(0);
