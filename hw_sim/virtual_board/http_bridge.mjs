// The HTTP bridge for firmware/core/js_http.py on MicroPython's WebAssembly port, which has no sockets:
// registered as the JS module `scanpay_http`, it makes the firmware's requests with Node's http, one
// keep-alive connection per firmware transport (clientId), as each device has its own. Counts the
// bytes on the wire (request and response, headers included) for the benchmarks.
// Used by the virtual board (board.mjs) and the tests' MicroPython runner (tests/firmware/mp_runner.mjs).
import http from "node:http";

export function registerHttpBridge(mp) {
  const agents = new Map();
  const agentFor = (id) => {
    if (!agents.has(id)) agents.set(id, new http.Agent({ keepAlive: true, maxSockets: 1 }));
    return agents.get(id);
  };
  const wire = { sent: 0, received: 0, requests: 0, connections: 0 };
  function request(method, url, headersJson, bodyHex, timeoutMs, clientId) {
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
  mp.registerJsModule("scanpay_http", { request, abort, stats: () => JSON.stringify(wire) });
  return { close: () => { for (const agent of agents.values()) agent.destroy(); } };
}
