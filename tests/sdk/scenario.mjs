// SPDX-License-Identifier: Apache-2.0
// The official @deno/sandbox SDK (0.13.2) against `sbx serve --dialect deno`. Each step prints
// "pass <name>" or "FAIL <name>: <why>"; the exit status is non-zero if any step failed.
// Needs DENO_DEPLOY_TOKEN, DENO_SANDBOX_ENDPOINT and DENO_DEPLOY_ENDPOINT (run.mjs sets them).
import { Client, Sandbox } from "@deno/sandbox";
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";

const only = process.argv[2] ? new RegExp(process.argv[2]) : null;
let failures = 0;
async function step(name, fn) {
  if (only && !only.test(name)) return;
  const t0 = Date.now();
  try {
    await fn();
    console.log(`pass ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}: ${e?.stack ?? e}`);
  }
}

const endpoint = process.env.DENO_SANDBOX_ENDPOINT;
const runId = Math.random().toString(36).slice(2, 8);

// GET through the server with Host set to an exposed domain (the server proxies it).
function getVia(domain, pathname) {
  const u = new URL(endpoint);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: pathname, headers: { host: domain } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

async function streamText(stream) {
  let out = "";
  const dec = new TextDecoder();
  for await (const chunk of stream) out += dec.decode(chunk, { stream: true });
  return out;
}

// ------------------------------------------------------------------ one sandbox, many calls
const sb = await Sandbox.create({
  timeout: "5m",
  memory: "1GiB",
  labels: { suite: "sdk", run: runId },
  env: { GREETING: "hello from env" },
});

try {
  await step("create returns an id in the documented format", async () => {
    assert.match(sb.id, /^sbx_([a-z]{3})_[0-9a-hjkmnp-z]{20}$/);
  });

  await step("create with env: the variable is visible to commands", async () => {
    assert.equal(await sb.sh`echo $GREETING`.text(), "hello from env\n");
  });

  await step("sh escapes interpolated values", async () => {
    const tricky = "it's a $HOME `x` \"q\" ; rm -rf /";
    assert.equal(await sb.sh`printf '%s' ${tricky}`.text(), tricky);
    const list = ["a b", "c'd", ""];
    assert.equal(await sb.sh`printf '[%s]' ${list}`.text(), "[a b][c'd][]");
  });

  await step("sh reports a failing exit code", async () => {
    const r = await sb.sh`exit 3`.noThrow();
    assert.equal(r.status.code, 3);
    assert.equal(r.status.success, false);
    await assert.rejects(async () => { await sb.sh`echo oops >&2; exit 5`.stderr("piped"); }, (e) => e.code === 5 && /oops/.test(e.message));
  });

  await step("spawn streams stdout while the process runs", async () => {
    const child = await sb.spawn("bash", { args: ["-c", "echo first; sleep 1; echo second"], stdout: "piped", stderr: "piped" });
    const reader = child.stdout.getReader();
    const t0 = Date.now();
    const first = await reader.read();
    const early = Date.now() - t0;
    assert.equal(new TextDecoder().decode(first.value), "first\n");
    assert.ok(early < 900, `first line arrived after ${early} ms, not streamed`);
    let rest = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      rest += new TextDecoder().decode(value);
    }
    assert.equal(rest, "second\n");
    assert.equal((await child.status).code, 0);
  });

  await step("spawn with piped stdin", async () => {
    const child = await sb.spawn("cat", { stdin: "piped", stdout: "piped", stderr: "null" });
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode("line one\n"));
    await w.write(new TextEncoder().encode("line two\n"));
    await w.close();
    const out = await child.output();
    assert.equal(new TextDecoder().decode(out.stdout), "line one\nline two\n");
    assert.equal(out.status.code, 0);
  });

  await step("spawn keeps stdout and stderr apart", async () => {
    const child = await sb.spawn("bash", { args: ["-c", "echo out; echo err >&2"], stdout: "piped", stderr: "piped" });
    const out = await child.output();
    assert.equal(new TextDecoder().decode(out.stdout), "out\n");
    assert.equal(new TextDecoder().decode(out.stderr), "err\n");
  });

  await step("kill a running process", async () => {
    const child = await sb.spawn("sleep", { args: ["30"], stdout: "null", stderr: "null" });
    await child.kill("SIGTERM");
    const st = await child.status;
    assert.equal(st.code, 143);
    assert.equal(st.signal, "SIGTERM");
    await child.kill();  // already gone: ENOENT is swallowed by the SDK
  });

  await step("spawn of a missing command is NotFound", async () => {
    await assert.rejects(sb.spawn("no-such-command-xyz", { stdout: "null", stderr: "null" }), (e) => e.code === "ENOENT");
  });

  await step("fs: write and read text and bytes", async () => {
    await sb.fs.writeTextFile("/tmp/t.txt", "héllo");
    assert.equal(await sb.fs.readTextFile("/tmp/t.txt"), "héllo");
    const bytes = new Uint8Array(300).map((_, i) => i % 256);
    await sb.fs.writeFile("/tmp/b.bin", bytes);
    assert.deepEqual(await sb.fs.readFile("/tmp/b.bin"), bytes);
    await sb.fs.writeTextFile("/tmp/t.txt", " more", { append: true });
    assert.equal(await sb.fs.readTextFile("/tmp/t.txt"), "héllo more");
    await assert.rejects(sb.fs.writeTextFile("/tmp/t.txt", "x", { createNew: true }), (e) => e.code === "EEXIST");
  });

  await step("fs: missing files are NotFound with ENOENT", async () => {
    await assert.rejects(sb.fs.readTextFile("/nope/missing.txt"), (e) => e.code === "ENOENT" && e.constructor.name === "NotFound");
  });

  await step("fs: mkdir, readDir, stat, lstat, rename, remove", async () => {
    await sb.fs.mkdir("/tmp/d/e/f", { recursive: true });
    await assert.rejects(sb.fs.mkdir("/tmp/d"), (e) => e.code === "EEXIST");
    await sb.fs.writeTextFile("/tmp/d/one.txt", "1");
    await sb.fs.symlink("one.txt", "/tmp/d/link");
    const names = [];
    for await (const e of sb.fs.readDir("/tmp/d")) names.push(`${e.name}:${e.isFile ? "f" : e.isDirectory ? "d" : e.isSymlink ? "l" : "?"}`);
    assert.deepEqual(names.sort(), ["e:d", "link:l", "one.txt:f"]);
    const st = await sb.fs.stat("/tmp/d/link");
    assert.equal(st.isFile, true);
    assert.equal(st.size, 1);
    assert.ok(st.mtime instanceof Date);
    const lst = await sb.fs.lstat("/tmp/d/link");
    assert.equal(lst.isSymlink, true);
    await sb.fs.rename("/tmp/d/one.txt", "/tmp/d/two.txt");
    assert.equal(await sb.fs.readTextFile("/tmp/d/two.txt"), "1");
    await assert.rejects(sb.fs.remove("/tmp/d"));
    await sb.fs.remove("/tmp/d", { recursive: true });
    await assert.rejects(sb.fs.stat("/tmp/d"), (e) => e.code === "ENOENT");
  });

  await step("fs: chmod, copyFile, link, readLink, realPath, truncate, utime", async () => {
    await sb.fs.writeTextFile("/tmp/c.txt", "abcdef");
    await sb.fs.chmod("/tmp/c.txt", 0o600);
    assert.equal((await sb.fs.stat("/tmp/c.txt")).mode & 0o777, 0o600);
    await sb.fs.copyFile("/tmp/c.txt", "/tmp/c2.txt");
    assert.equal(await sb.fs.readTextFile("/tmp/c2.txt"), "abcdef");
    await sb.fs.link("/tmp/c.txt", "/tmp/c-hard.txt");
    assert.equal((await sb.fs.stat("/tmp/c.txt")).nlink, 2);
    await sb.fs.symlink("/tmp/c.txt", "/tmp/c-sym");
    assert.equal(await sb.fs.readLink("/tmp/c-sym"), "/tmp/c.txt");
    assert.equal(await sb.fs.realPath("/tmp/c-sym"), "/tmp/c.txt");
    await sb.fs.truncate("/tmp/c2.txt", 3);
    assert.equal(await sb.fs.readTextFile("/tmp/c2.txt"), "abc");
    const when = new Date("2020-01-02T03:04:05.000Z");
    await sb.fs.utime("/tmp/c2.txt", when, when);
    assert.equal((await sb.fs.stat("/tmp/c2.txt")).mtime.toISOString(), when.toISOString());
  });

  await step("fs: makeTempDir, makeTempFile, file handles", async () => {
    const dir = await sb.fs.makeTempDir({ prefix: "sbx-" });
    assert.match(dir, /^\/tmp\/sbx-/);
    const file = await sb.fs.makeTempFile({ dir });
    assert.ok(file.startsWith(dir + "/"));
    const f = await sb.fs.open(file, { write: true, read: true });
    await f.write(new TextEncoder().encode("handle data"));
    await f.seek(0, 0);
    const buf = new Uint8Array(6);
    const n = await f.read(buf);
    assert.equal(new TextDecoder().decode(buf.subarray(0, n)), "handle");
    assert.equal((await f.stat()).size, 11);
    f.close();
  });

  await step("fs: walk and expandGlob", async () => {
    await sb.fs.mkdir("/tmp/w/sub", { recursive: true });
    await sb.fs.writeTextFile("/tmp/w/a.ts", "");
    await sb.fs.writeTextFile("/tmp/w/sub/b.ts", "");
    await sb.fs.writeTextFile("/tmp/w/sub/c.js", "");
    const walked = [];
    for await (const e of sb.fs.walk("/tmp/w", { exts: [".ts"], includeDirs: false })) walked.push(e.path);
    assert.deepEqual(walked.sort(), ["/tmp/w/a.ts", "/tmp/w/sub/b.ts"]);
    const globbed = [];
    for await (const e of sb.fs.expandGlob("/tmp/w/**/*.js")) globbed.push(e.path);
    assert.deepEqual(globbed, ["/tmp/w/sub/c.js"]);
  });

  await step("fs.upload and fs.download of a directory tree", async () => {
    const local = fs.mkdtempSync(path.join(os.tmpdir(), "sbx-sdk-"));
    const src = path.join(local, "proj");
    fs.mkdirSync(path.join(src, "nested"), { recursive: true });
    fs.writeFileSync(path.join(src, "top.txt"), "top");
    fs.writeFileSync(path.join(src, "nested", "deep.bin"), Buffer.alloc(200000, 7));
    await sb.fs.mkdir("/tmp/up", { recursive: true });
    await sb.fs.upload(src, "/tmp/up");
    assert.equal(await sb.fs.readTextFile("/tmp/up/proj/top.txt"), "top");
    assert.equal((await sb.fs.stat("/tmp/up/proj/nested/deep.bin")).size, 200000);
    const back = path.join(local, "back");
    fs.mkdirSync(back);
    await sb.fs.download("/tmp/up/proj", back);
    assert.equal(fs.readFileSync(path.join(back, "proj", "top.txt"), "utf8"), "top");
    assert.deepEqual(fs.readFileSync(path.join(back, "proj", "nested", "deep.bin")), Buffer.alloc(200000, 7));
    const single = path.join(local, "single.txt");
    await sb.fs.download("/tmp/up/proj/top.txt", single);
    assert.equal(fs.readFileSync(single, "utf8"), "top");
    fs.rmSync(local, { recursive: true, force: true });
  });

  await step("env get, set, delete, toObject", async () => {
    assert.equal(await sb.env.get("GREETING"), "hello from env");
    await sb.env.set("NEW_VAR", "v 1");
    assert.equal(await sb.env.get("NEW_VAR"), "v 1");
    assert.equal(await sb.sh`echo $NEW_VAR`.text(), "v 1\n");
    const all = await sb.env.toObject();
    assert.equal(all.NEW_VAR, "v 1");
    assert.ok("PATH" in all);
    await sb.env.delete("NEW_VAR");
    assert.equal(await sb.env.get("NEW_VAR"), undefined);
    assert.equal(await sb.sh`echo "[$NEW_VAR]"`.text(), "[]\n");
  });

  await step("deno.eval runs the Deno runtime", async () => {
    assert.equal(await sb.deno.eval("1 + 2"), 3);
    assert.equal(await sb.deno.eval("Deno.version.deno.split('.').length"), 3);
    assert.deepEqual(await sb.deno.eval("({a: [1, 'x'], b: null})"), { a: [1, "x"], b: null });
  });

  await step("a REPL keeps state between evaluations", async () => {
    const repl = await sb.deno.repl();
    try {
      await repl.eval("let counter = 40; function inc(n) { counter += n; return counter; }");
      assert.equal(await repl.eval("counter + 1"), 41);
      assert.equal(await repl.call("inc", 2), 42);
      assert.equal(await repl.eval("counter"), 42);
      assert.equal(await repl.eval("await Promise.resolve(7)"), 7);
      await assert.rejects(repl.eval("throw new RangeError('boom')"), (e) => e instanceof RangeError && /boom/.test(e.message));
      assert.equal(await repl.eval("counter"), 42);
    } finally {
      await repl.close();
    }
  });

  await step("deno.run an entrypoint with args, and fetch from it", async () => {
    await sb.fs.writeTextFile("/home/app/server.ts", `
      const port = Number(Deno.args[0]);
      Deno.serve({ port, onListen() {} }, (req) => new Response("served " + new URL(req.url).pathname));
    `);
    const proc = await sb.deno.run({ entrypoint: "server.ts", scriptArgs: ["8123"], stdout: "piped", stderr: "piped" });
    try {
      assert.equal(await proc.httpReady, true);
      const r = await proc.fetch("http://localhost/hello");
      assert.equal(r.status, 200);
      assert.equal(await r.text(), "served /hello");
    } finally {
      await proc.kill();
    }
  });

  await step("exposeHttp, then fetching the URL", async () => {
    const child = await sb.spawn("python3", { args: ["-m", "http.server", "8000", "--bind", "127.0.0.1"], cwd: "/tmp/up/proj", stdout: "null", stderr: "null" });
    try {
      for (let i = 0; i < 50; i++) {
        if ((await sb.sh`python3 -c "import socket; socket.create_connection(('127.0.0.1', 8000)).close()" 2>/dev/null && echo up`.noThrow()).status.code === 0) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const url = await sb.exposeHttp({ port: 8000 });
      assert.match(url, /^https:\/\//);
      const r = await getVia(new URL(url).host, "/top.txt");
      assert.equal(r.status, 200);
      assert.equal(r.body, "top");
    } finally {
      await child.kill();
    }
  });

  await step("list by labels finds the sandbox", async () => {
    const client = new Client();
    const found = await client.sandboxes.list({ labels: { run: runId } });
    const items = found.items ?? found;
    assert.equal(items.length, 1);
    assert.equal(items[0].id, sb.id);
    assert.equal(items[0].status, "running");
    assert.deepEqual(items[0].labels, { suite: "sdk", run: runId });
    const none = await client.sandboxes.list({ labels: { run: "no-such-run" } });
    assert.equal((none.items ?? none).length, 0);
  });

  await step("duration lifetime: close, connect again, state is still there", async () => {
    await sb.fs.writeTextFile("/tmp/persist.txt", "still here");
    const id = sb.id;
    await sb.close();
    const again = await Sandbox.connect(id);
    try {
      assert.equal(again.id, id);
      assert.equal(await again.fs.readTextFile("/tmp/persist.txt"), "still here");
      const until = await again.extendTimeout("10m");
      assert.ok(until instanceof Date && until.getTime() > Date.now() + 9 * 60 * 1000);
    } finally {
      await again.kill();
    }
    await assert.rejects(Sandbox.connect(id), (e) => e.status === 404);
  });
} finally {
  await sb.kill().catch(() => {});
}

// ------------------------------------------------------------------ lifecycle and errors
await step("a session sandbox dies when its socket closes", async () => {
  const s = await Sandbox.create();
  const id = s.id;
  await s.close();
  await new Promise((r) => setTimeout(r, 300));
  await assert.rejects(Sandbox.connect(id), (e) => e.status === 404);
});

await step("kill closes the socket and removes the sandbox", async () => {
  const s = await Sandbox.create({ timeout: "2m" });
  await s.kill();
  await s.closed;
  await assert.rejects(Sandbox.connect(s.id), (e) => e.status === 404);
});

await step("bad token is refused with InvalidTokenError", async () => {
  await assert.rejects(Sandbox.create({ token: "ddo_wrong" }), (e) => e.constructor.name === "InvalidTokenError");
});

await step("the server refuses a config out of the protocol's limits with 400", async () => {
  const { default: WebSocket } = await import("ws");
  const config = Buffer.from(JSON.stringify({ memory_mb: 512, volumes: [] })).toString("base64");
  const url = endpoint.replace(/^http/, "ws") + "/api/v3/sandboxes/create";
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${process.env.DENO_DEPLOY_TOKEN}`, "x-deno-sandbox-config": config } });
  const res = await new Promise((resolve, reject) => {
    ws.on("unexpected-response", (_req, r) => {
      let body = "";
      r.on("data", (c) => (body += c));
      r.on("end", () => resolve({ status: r.statusCode, body: JSON.parse(body) }));
    });
    ws.on("open", () => reject(new Error("the handshake succeeded")));
    ws.on("error", () => {});
  });
  assert.equal(res.status, 400);
  assert.equal(res.body.code, "INVALID_MEMORY");
  assert.equal(typeof res.body.message, "string");
});

await step("connect to an unknown id is a 404", async () => {
  await assert.rejects(Sandbox.connect("sbx_ord_0000000000000000000a"), (e) => e.status === 404);
});

// ------------------------------------------------------------------ volumes and snapshots
await step("volumes: create, mount, persist across sandboxes, snapshot, list, delete", async () => {
  const client = new Client();
  const slug = `vol-${runId}`;
  const vol = await client.volumes.create({ slug, region: "ord", capacity: "1GiB" });
  assert.equal(vol.slug, slug);
  assert.equal(vol.capacity, 1024 ** 3);
  try {
    const a = await Sandbox.create({ volumes: { "/data": slug } });
    try {
      await a.fs.writeTextFile("/data/keep.txt", "kept");
    } finally {
      await a.kill();
    }
    const b = await Sandbox.create({ volumes: { "/data": vol.id } });
    try {
      assert.equal(await b.fs.readTextFile("/data/keep.txt"), "kept");
    } finally {
      await b.kill();
    }
    assert.equal((await client.volumes.get(slug)).id, vol.id);
    assert.equal(await client.volumes.get("no-such-volume"), null);
    const listed = await client.volumes.list({ search: slug });
    assert.ok(listed.items.some((v) => v.id === vol.id));

    const snap = await client.volumes.snapshot(slug, { slug: `snap-${runId}` });
    assert.equal(snap.volume.id, vol.id);
    try {
      assert.equal((await client.snapshots.get(snap.slug)).id, snap.id);
      assert.ok((await client.snapshots.list()).items.some((s) => s.id === snap.id));
      const fromSnap = await client.volumes.create({ slug: `from-${runId}`, region: "ord", capacity: "1GiB", from: snap.slug });
      try {
        const c = await Sandbox.create({ volumes: { "/restored": fromSnap.slug } });
        try {
          assert.equal(await c.fs.readTextFile("/restored/keep.txt"), "kept");
        } finally {
          await c.kill();
        }
      } finally {
        await client.volumes.delete(fromSnap.slug);
      }
    } finally {
      await client.snapshots.delete(snap.slug);
    }
    assert.equal(await client.snapshots.get(snap.slug), null);
  } finally {
    await client.volumes.delete(slug);
  }
  assert.equal(await client.volumes.get(slug), null);
});

console.log(failures ? `${failures} step(s) failed` : "all steps passed");
process.exit(failures ? 1 : 0);
