// SPDX-License-Identifier: Apache-2.0
// The wire-comparison scenario through the official SDK (the C++ twin is run_cpp_scenario in
// wire_test.cpp; steps have the same names and do the same thing, each the way its API does it).
//   node sdk_scenario.mjs OUT.json RUN_ID
// Needs DENO_DEPLOY_TOKEN, DENO_SANDBOX_ENDPOINT, DENO_DEPLOY_ENDPOINT and SBX_TRACE (the
// server's trace file). Each step is an action (its trace lines are recorded) and a check (its
// trace lines are read and dropped, so checking does not count as what the step sent).
// Writes {"sdk": version, "steps": [{name, ok, error, lines}]}; exits 0 even when steps fail
// (the comparison reports them).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadSdk } from "./load_sdk.mjs";

const [out, runId] = process.argv.slice(2);
if (!out || !runId || !process.env.SBX_TRACE) {
  console.error("usage: SBX_TRACE=FILE node sdk_scenario.mjs OUT.json RUN_ID");
  process.exit(2);
}
const { Sandbox, Client, version } = await loadSdk();

// ---- trace tail: the lines the server wrote since the last call, once the file is quiet
const tracePath = process.env.SBX_TRACE;
let offset = 0;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const size = () => { try { return fs.statSync(tracePath).size; } catch { return 0; } };
async function take() {
  let last = size(), since = Date.now();
  while (Date.now() - since < 250) {
    await sleep(20);
    const now = size();
    if (now !== last) { last = now; since = Date.now(); }
  }
  const buf = fs.readFileSync(tracePath);
  const end = buf.lastIndexOf(0x0a) + 1;
  if (end <= offset) return [];
  const text = buf.subarray(offset, end).toString("utf8");
  offset = end;
  return text.split("\n").filter((l) => l);
}

const steps = [];
async function step(name, act, check = async () => {}) {
  await take();  // whatever is left from before is nobody's
  let ok = true, error = "", v;
  try { v = await act(); } catch (e) { ok = false; error = `action: ${e?.stack ?? e}`; }
  const lines = await take();
  if (ok) {
    try { await check(v); } catch (e) { ok = false; error = `check: ${e?.stack ?? e}`; }
  }
  await take();
  steps.push({ name, ok, error, lines });
  console.error(`${ok ? "ok  " : "FAIL"} ${name}${ok ? "" : ": " + error}`);
}
function expect(cond, what) { if (!cond) throw new Error(what); }
const dec = (b) => new TextDecoder().decode(b);
const enc = (s) => new TextEncoder().encode(s);

async function readAll(stream) {
  let s = "";
  for await (const c of stream) s += dec(c);
  return s;
}

const local = fs.mkdtempSync(path.join(os.tmpdir(), "sbx-cmp-sdk-"));
const proj = path.join(local, "proj");
fs.mkdirSync(path.join(proj, "nested"), { recursive: true });
fs.writeFileSync(path.join(proj, "top.txt"), "top");
fs.writeFileSync(path.join(proj, "nested", "deep.bin"), Buffer.alloc(200000, 7));
fs.symlinkSync("top.txt", path.join(proj, "link"));

let sb, again, id;
try {
  // allowNet: []: our request's default network policy is `blocked` (Deno's default is open).
  await step("create", async () => {
    sb = await Sandbox.create({
      timeout: "5m", memory: "1GiB", labels: { suite: "sdk-compare", run: runId }, env: { GREETING: "hello from env" }, allowNet: [],
    });
    id = sb.id;
  });

  // Our exec = spawn + wait + both streams collected; no stdin unless given.
  await step("exec", async () => {
    const child = await sb.spawn("echo", { args: ["hello"], stdout: "piped", stderr: "piped" });
    return await child.output();
  }, async (o) => { expect(dec(o.stdout) === "hello\n", `stdout ${dec(o.stdout)}`); expect(o.status.code === 0, "exit"); });

  await step("exec_env_cwd_stdin", async () => {
    const child = await sb.spawn("sh", {
      args: ["-c", 'cat; echo "$GREETING $EXTRA"; pwd'], env: { EXTRA: "x" }, cwd: "/tmp",
      stdin: "piped", stdout: "piped", stderr: "piped",
    });
    const w = child.stdin.getWriter();
    await w.write(enc("in\n"));
    await w.close();
    return await child.output();
  }, async (o) => expect(dec(o.stdout) === "in\nhello from env x\n/tmp\n", `stdout ${JSON.stringify(dec(o.stdout))}`));

  const tricky = "it's a $HOME `x` \"q\" ; rm -rf /";
  await step("sh_escaping", async () => sb.sh`printf '%s' ${tricky}`.text(),
    async (t) => expect(t === tricky, `got ${t}`));

  // Our spawn: stdin, stdout and stderr are all pipes (process::write_stdin/read).
  await step("spawn_stream_stdin", async () => {
    const child = await sb.spawn("sh", { args: ["-c", "echo ready; cat"], stdin: "piped", stdout: "piped", stderr: "piped" });
    const r = child.stdout.getReader();
    const first = dec((await r.read()).value);
    const w = child.stdin.getWriter();
    await w.write(enc("ping\n"));
    const second = dec((await r.read()).value);
    await w.close();
    for (;;) if ((await r.read()).done) break;
    const st = await child.status;
    return { first, second, code: st.code };
  }, async (v) => expect(v.first === "ready\n" && v.second === "ping\n" && v.code === 0, JSON.stringify(v)));

  await step("kill_process", async () => {
    const child = await sb.spawn("sleep", { args: ["30"], stdin: "piped", stdout: "piped", stderr: "piped" });
    await child.kill("SIGTERM");
    return await child.status;
  }, async (st) => expect(st.code === 143 && st.signal === "SIGTERM", JSON.stringify(st)));

  // Our make_dir is mkdir -p.
  await step("make_dir", async () => sb.fs.mkdir("/tmp/cmp/up", { recursive: true }),
    async () => expect((await sb.fs.stat("/tmp/cmp/up")).isDirectory, "not a dir"));

  // Our write_file: mode 0644 (write_options default); the parent exists, so creating
  // parents (the other default) needs nothing.
  await step("write_file", async () => sb.fs.writeFile("/tmp/cmp/f.txt", enc("hello file"), { mode: 0o644 }), async () => expect((await sb.fs.readTextFile("/tmp/cmp/f.txt")) === "hello file", "content"));

  await step("read_file", async () => dec(await sb.fs.readFile("/tmp/cmp/f.txt")),
    async (t) => expect(t === "hello file", t));

  // Our stat and exists do not follow a symlink (file_info says symlink and gives the target).
  await step("stat", async () => sb.fs.lstat("/tmp/cmp/f.txt"),
    async (st) => expect(st.isFile && st.size === 10, JSON.stringify(st)));

  await step("exists", async () => sb.fs.lstat("/tmp/cmp/f.txt").then(() => true, (e) => { if (e.code === "ENOENT") return false; throw e; }),
    async (b) => expect(b === true, "missing"));

  await step("list_dir", async () => {
    const names = [];
    for await (const e of sb.fs.readDir("/tmp/cmp")) names.push(e.name);
    return names.sort();
  }, async (n) => expect(JSON.stringify(n) === '["f.txt","up"]', JSON.stringify(n)));

  await step("rename", async () => sb.fs.rename("/tmp/cmp/f.txt", "/tmp/cmp/g.txt"),
    async () => expect((await sb.fs.readTextFile("/tmp/cmp/g.txt")) === "hello file", "moved"));

  await step("remove", async () => sb.fs.remove("/tmp/cmp/g.txt"),
    async () => expect(await sb.fs.stat("/tmp/cmp/g.txt").then(() => false, (e) => e.code === "ENOENT"), "still there"));

  await step("remove_recursive", async () => {
    await sb.fs.mkdir("/tmp/cmp/tree/sub", { recursive: true });
    await sb.fs.remove("/tmp/cmp/tree", { recursive: true });
  }, async () => expect(await sb.fs.stat("/tmp/cmp/tree").then(() => false, (e) => e.code === "ENOENT"), "still there"));

  // Our upload(local dir, remote dir) makes remote dir the copy; the SDK's puts the copy inside.
  await step("upload_dir", async () => sb.fs.upload(proj, "/tmp/cmp/up"), async () => {
    expect((await sb.fs.readTextFile("/tmp/cmp/up/proj/top.txt")) === "top", "top.txt");
    expect((await sb.fs.stat("/tmp/cmp/up/proj/nested/deep.bin")).size === 200000, "deep.bin");
    expect((await sb.fs.readLink("/tmp/cmp/up/proj/link")) === "top.txt", "link");
  });

  const back = path.join(local, "back");
  fs.mkdirSync(back);
  await step("download_dir", async () => sb.fs.download("/tmp/cmp/up/proj", back), async () => {
    expect(fs.readFileSync(path.join(back, "proj", "top.txt"), "utf8") === "top", "top.txt");
    expect(fs.readFileSync(path.join(back, "proj", "nested", "deep.bin")).equals(Buffer.alloc(200000, 7)), "deep.bin");
  });

  await step("download_file", async () => sb.fs.download("/tmp/cmp/up/proj/top.txt", path.join(local, "single.txt")),
    async () => expect(fs.readFileSync(path.join(local, "single.txt"), "utf8") === "top", "single"));

  await step("env_set", async () => sb.env.set("NEW_VAR", "v 1"),
    async () => expect((await sb.env.get("NEW_VAR")) === "v 1", "set"));
  await step("env_get", async () => sb.env.get("GREETING"), async (v) => expect(v === "hello from env", v));
  await step("env_all", async () => sb.env.toObject(), async (o) => expect(o.NEW_VAR === "v 1" && "PATH" in o, JSON.stringify(o)));
  await step("env_delete", async () => sb.env.delete("NEW_VAR"),
    async () => expect((await sb.env.get("NEW_VAR")) === undefined, "deleted"));

  await step("repl", async () => {
    const repl = await sb.deno.repl();
    await repl.eval("let counter = 40");
    const v = await repl.eval("counter + 2");
    await repl.close();
    return v;
  }, async (v) => expect(v === 42, String(v)));

  await step("eval", async () => sb.deno.eval("6 * 7"), async (v) => expect(v === 42, String(v)));

  await step("expose_http", async () => sb.exposeHttp({ port: 8000 }), async (u) => expect(/^https:\/\//.test(u), u));

  await step("extend_timeout", async () => sb.extendTimeout("10m"),
    async (d) => expect(d instanceof Date && d.getTime() > Date.now() + 9 * 60000, String(d)));

  await step("list_by_labels", async () => {
    const r = await new Client().sandboxes.list({ labels: { run: runId } });
    return r.items ?? r;
  }, async (items) => expect(items.length === 1 && items[0].id === id, JSON.stringify(items)));

  await step("close", async () => { await sb.close(); });

  await step("connect", async () => { again = await Sandbox.connect(id); },
    async () => expect((await again.fs.readTextFile("/tmp/cmp/up/proj/top.txt")) === "top", "state kept"));

  await step("kill", async () => { await again.kill(); },
    async () => { let gone = false; try { await Sandbox.connect(id); } catch (e) { gone = e.status === 404; } expect(gone, "still connectable"); });
} finally {
  if (again) await again.kill().catch(() => {});
  else if (sb) await sb.kill().catch(() => {});
  fs.rmSync(local, { recursive: true, force: true });
}
fs.writeFileSync(out, JSON.stringify({ sdk: version, steps }, null, 1));
process.exit(0);
