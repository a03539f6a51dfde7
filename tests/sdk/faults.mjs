// SPDX-License-Identifier: Apache-2.0
// The server's fault-injection hooks (POST /_sbx/faults), driven with a raw WebSocket: each
// fault is observable on the wire exactly as documented in sbx/server/deno.hpp.
import WebSocket from "ws";
import assert from "node:assert/strict";

const base = process.env.DENO_SANDBOX_ENDPOINT;
const auth = { authorization: `Bearer ${process.env.DENO_DEPLOY_TOKEN}` };
let failures = 0;
async function step(name, fn) {
  try { await fn(); console.log(`pass ${name}`); } catch (e) { failures++; console.log(`FAIL ${name}: ${e?.stack ?? e}`); }
}
async function faults(body) {
  const r = await fetch(`${base}/_sbx/faults`, { method: body ? "POST" : "DELETE", headers: { ...auth, "content-type": "application/json" }, body: body ? JSON.stringify(body) : undefined });
  assert.equal(r.status, 200);
}
function open() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(base.replace(/^http/, "ws") + "/api/v3/sandboxes/create", { headers: auth });
    ws.on("open", () => resolve({ ws, status: 101 }));
    ws.on("unexpected-response", (_q, r) => { let b = ""; r.on("data", (c) => (b += c)); r.on("end", () => resolve({ status: r.statusCode, headers: r.headers, body: b })); });
    ws.on("error", reject);
  });
}
function next(ws, ms = 3000) {
  return new Promise((resolve) => {
    const t = setTimeout(() => { ws.off("message", on); resolve(null); }, ms);
    const on = (d) => { clearTimeout(t); ws.off("message", on); resolve(d.toString()); };
    ws.on("message", on);
  });
}
const call = (ws, id, method, params = {}) => ws.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));

await step("handshake 500 N times, then success", async () => {
  await faults({ handshake_failures: 2 });
  for (let i = 0; i < 2; i++) {
    const r = await open();
    assert.equal(r.status, 500);
    assert.equal(JSON.parse(r.body).code, "INTERNAL_SERVER_ERROR");
  }
  const ok = await open();
  assert.equal(ok.status, 101);
  ok.ws.close();
});

await step("429 with Retry-After", async () => {
  await faults({ rate_limited: 1, rate_limit_retry_after_s: 7 });
  const r = await fetch(`${base}/api/v2/volumes`, { headers: auth });
  assert.equal(r.status, 429);
  assert.equal(r.headers.get("retry-after"), "7");
  assert.equal((await fetch(`${base}/api/v2/volumes`, { headers: auth })).status, 200);
});

await step("malformed JSON, method not found, stop answering", async () => {
  await faults({ malformed_json_methods: ["envGet"], method_not_found_methods: ["envSet"], stop_answering_methods: ["envToObject"] });
  const { ws } = await open();
  call(ws, 0, "envGet", { key: "X" });
  const bad = await next(ws);
  assert.throws(() => JSON.parse(bad));
  call(ws, 1, "envSet", { key: "X", value: "1" });
  assert.deepEqual(JSON.parse(await next(ws)).error.code, -32601);
  call(ws, 2, "envToObject");
  assert.equal(await next(ws, 1500), null);
  ws.send("ping");
  assert.equal(await next(ws), "pong");
  call(ws, 3, "envDelete", { key: "X" });
  assert.deepEqual(JSON.parse(await next(ws)), { jsonrpc: "2.0", id: 3, result: { ok: null } });
  ws.close();
});

await step("socket dropped mid-stream", async () => {
  await faults({ drop_after_stream_chunks: 1 });
  const { ws } = await open();
  const closed = new Promise((resolve) => ws.on("close", (code) => resolve(code)));
  call(ws, 0, "spawn", { command: "bash", args: ["-c", "for i in 1 2 3 4 5; do echo $i; sleep 0.2; done"], stdout: "piped", stderr: "piped" });
  const code = await Promise.race([closed, new Promise((r) => setTimeout(() => r("timeout"), 5000))]);
  assert.equal(code, 1006);  // no close frame: abnormal closure
});

await step("unknown method without faults is an in-band ENOTSUP error", async () => {
  await faults(null);
  const { ws } = await open();
  call(ws, 0, "noSuchMethod");
  const r = JSON.parse(await next(ws));
  assert.equal(r.result.error.code, "ENOTSUP");
  ws.close();
});

console.log(failures ? `${failures} step(s) failed` : "all steps passed");
process.exit(failures ? 1 : 0);
