// SPDX-License-Identifier: Apache-2.0
// A JavaScript REPL for `spawnDenoRepl` (`sandbox.deno.repl()`, `deno.eval`): evaluates code in
// one global scope, so `let`/`const`/functions persist between evaluations, and answers each
// request on the control channel (a `\x1e<nonce>:` record on stdout, see control_demux) while
// the code's own console output goes to stdout/stderr as usual. Requests are stdin lines:
// {"id":N,"op":"eval","code":"..."} or {"id":N,"op":"call","fn":"name or expression","args":[...]}
// or {"op":"close"}. They are served one after another, in order.
import vm from "node:vm";

const nonce = Deno.env.get("SBX_DENO_CTL");
Deno.env.delete("SBX_DENO_CTL");
const enc = new TextEncoder();
const dec = new TextDecoder();

function errorObject(e) {
  const o = { constructorName: "Error", message: String(e), code: null, stack: null, cause: null,
              errors: null, name: null, suppressed: null, error: null };
  if (e && typeof e === "object") {
    o.constructorName = e.constructor?.name ?? "Error";
    o.message = String(e.message ?? e);
    o.code = typeof e.code === "string" ? e.code : null;
    o.stack = typeof e.stack === "string" ? e.stack : null;
    if (e.constructor?.name === "DOMException") o.name = e.name;
  }
  return o;
}

// JSON for a JS value: undefined -> null, bigint -> decimal string, Map/Set -> arrays/objects,
// functions and symbols -> null; cycles -> the value's String().
function toJson(v) {
  const seen = new WeakSet();
  const conv = (x) => {
    if (x === undefined || typeof x === "function" || typeof x === "symbol") return null;
    if (typeof x === "bigint") return x.toString();
    if (typeof x === "number" && !Number.isFinite(x)) return null;
    if (x === null || typeof x !== "object") return x;
    if (seen.has(x)) throw new TypeError("cyclic");
    seen.add(x);
    try {
      if (x instanceof Date) return x.toISOString();
      if (x instanceof Map) return Object.fromEntries([...x].map(([k, val]) => [String(k), conv(val)]));
      if (x instanceof Set) return [...x].map(conv);
      if (ArrayBuffer.isView(x)) return Array.from(x);
      if (Array.isArray(x)) return x.map(conv);
      if (typeof x.toJSON === "function") return conv(x.toJSON());
      return Object.fromEntries(Object.entries(x).map(([k, val]) => [k, conv(val)]));
    } finally { seen.delete(x); }
  };
  try { return conv(v); } catch { return String(v); }
}

function send(msg) {
  Deno.stdout.writeSync(enc.encode("\x1e" + nonce + ":" + JSON.stringify(msg) + "\n"));
}

async function run(code) {
  try {
    return await vm.runInThisContext(code, { filename: "repl" });
  } catch (e) {
    // Top-level await is not valid in a script: run it as the body of an async function.
    if (e instanceof SyntaxError && /await/.test(String(e.message))) {
      const body = code.trim().replace(/;+$/, "");
      try { return await vm.runInThisContext(`(async () => (${body}))()`, { filename: "repl" }); }
      catch { return await vm.runInThisContext(`(async () => { ${code} })()`, { filename: "repl" }); }
    }
    throw e;
  }
}

async function serve(req) {
  try {
    let value;
    if (req.op === "eval") value = await run(req.code);
    else {
      const fn = vm.runInThisContext(`(${req.fn})`, { filename: "repl" });
      if (typeof fn !== "function") throw new TypeError(`${req.fn} is not a function`);
      value = await fn(...(req.args ?? []));
    }
    send({ id: req.id, result: { ok: toJson(value) } });
  } catch (e) {
    send({ id: req.id, result: { error: errorObject(e) } });
  }
}

send({ event: "ready" });
let pending = "";
outer: for await (const chunk of Deno.stdin.readable) {
  pending += dec.decode(chunk, { stream: true });
  let nl;
  while ((nl = pending.indexOf("\n")) >= 0) {
    const line = pending.slice(0, nl);
    pending = pending.slice(nl + 1);
    if (!line.trim()) continue;
    const req = JSON.parse(line);
    if (req.op === "close") break outer;
    await serve(req);
  }
}
Deno.exit(0);
