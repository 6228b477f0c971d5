// Run a Python script on real MicroPython (the WebAssembly port, in Node.js) with the firmware's
// files in its file system, as they are on a device.
//
//   node mp_runner.mjs <firmware_dir> <script.py> [input.json] [--heap=bytes]
//
// The firmware tree is copied under /lib (importable: `from core import cbor`), the optional input
// file to /input.json. The script's output goes to stdout; a Python exception goes to stderr and
// makes the exit status 1. The script may use top-level `await` (asyncio is driven by Node's loop).
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";

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

// The HTTP bridge for core/js_http.py: Node's http with one keep-alive connection, as a device has.
// Counts the bytes on the wire (request and response, headers included) for the benchmarks.
// One agent per firmware transport (clientId), so two devices in one script do not queue behind
// each other's long poll.
const agents = new Map();
const agentFor = (id) => {
  if (!agents.has(id)) agents.set(id, new http.Agent({ keepAlive: true, maxSockets: 1 }));
  return agents.get(id);
};
const wire = { sent: 0, received: 0, requests: 0, connections: 0 };
function httpRequest(method, url, headersJson, bodyHex, timeoutMs, clientId) {
  const agent = agentFor(String(clientId ?? 0));
  return new Promise((resolve) => {
    const body = Buffer.from(bodyHex, "hex");
    const headers = JSON.parse(headersJson);
    headers["Content-Length"] = String(body.length);
    let done = false;
    const finish = (value) => { if (!done) { done = true; resolve(JSON.stringify(value)); } };
    const req = http.request(url, { method, headers, agent }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const data = Buffer.concat(chunks);
        wire.received += data.length + res.rawHeaders.reduce((n, h) => n + h.length + 2, 0) + 15;
        finish({ status: res.statusCode, headers: res.headers, body: data.toString("hex") });
      });
      res.on("error", (e) => finish({ error: String(e) }));
    });
    req.on("socket", (socket) => {
      if (!socket.__counted) { socket.__counted = true; wire.connections += 1; }
    });
    req.setTimeout(timeoutMs, () => { req.destroy(new Error("no answer within " + timeoutMs + " ms")); });
    req.on("error", (e) => finish({ error: String(e.message || e) }));
    wire.requests += 1;
    const head = `${method} ${new URL(url).pathname} HTTP/1.1\r\n` +
      Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("") + "\r\n";
    wire.sent += head.length + body.length;
    req.end(body);
  });
}
// A request the firmware gave up on (its task was cancelled): drop the connection, as HttpClient does,
// so the next request does not queue behind it.
function abort(clientId) {
  const id = String(clientId ?? 0);
  const agent = agents.get(id);
  if (agent) { agent.destroy(); agents.delete(id); }
}
mp.registerJsModule("scanpay_http", {
  request: httpRequest,
  abort,
  stats: () => JSON.stringify(wire),
});

copyTree(firmwareDir, "/lib");
// The scripts' shared stand-in peripherals, importable as `mp_standins`.
mp.FS.writeFile("/lib/mp_standins.py", fs.readFileSync(path.join(path.dirname(new URL(import.meta.url).pathname), "mp_standins.py")));
if (inputPath) mp.FS.writeFile("/input.json", fs.readFileSync(inputPath));

try {
  await mp.runPythonAsync(fs.readFileSync(scriptPath, "utf8"));
} catch (error) {
  // a PythonError carries the MicroPython traceback as its message
  process.stderr.write((error && error.message) || String(error));
  process.stderr.write("\n");
  process.exit(1);
}
for (const agent of agents.values()) agent.destroy();
process.exit(0);
