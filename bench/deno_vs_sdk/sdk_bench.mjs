// SPDX-License-Identifier: Apache-2.0
// The official @deno/sandbox SDK's half of sbx_bench_deno_vs_sdk (bench.cpp starts it against the
// server it runs and compares): the same three workloads, printed as one JSON line of wall times.
//   DENO_DEPLOY_TOKEN=... DENO_SANDBOX_ENDPOINT=... DENO_DEPLOY_ENDPOINT=... node sdk_bench.mjs EXECS ROUNDTRIPS BYTES PARALLEL
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const { loadSdk } = await import(pathToFileURL(path.join(here, "..", "..", "tests", "sdk_compare", "load_sdk.mjs")).href);
const { Sandbox, version } = await loadSdk();
const [execs, roundTrips, bytes, parallel] = process.argv.slice(2).map(Number);

// Our exec: spawn, collect both streams and the status.
async function exec(sb, cmd) {
  const out = await (await sb.spawn(cmd, { stdout: "piped", stderr: "piped" })).output();
  if (out.status.code !== 0) throw new Error(`${cmd} exited ${out.status.code}`);
}
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;

const result = { sdk: version };
const sb = await Sandbox.create();
try {
  await exec(sb, "true");  // warm: the first spawn pays for lazy set-up on both sides
  let t0 = process.hrtime.bigint();
  for (let i = 0; i < execs; i++) await exec(sb, "true");
  result.execs_ms = ms(t0);
  t0 = process.hrtime.bigint();
  for (let i = 0; i < execs; i++) await sb.env.get("PATH");
  result.envget_ms = ms(t0);

  const data = new Uint8Array(bytes).map((_, i) => (i * 131 + (i >> 7)) & 0xff);
  await sb.fs.writeFile("/tmp/rt-warm.bin", data);
  t0 = process.hrtime.bigint();
  for (let i = 0; i < roundTrips; i++) {
    const w0 = process.hrtime.bigint();
    await sb.fs.writeFile(`/tmp/rt-${i % 4}.bin`, data);
    result.writes_ms = (result.writes_ms ?? 0) + ms(w0);
    const r0 = process.hrtime.bigint();
    const back = await sb.fs.readFile(`/tmp/rt-${i % 4}.bin`);
    result.reads_ms = (result.reads_ms ?? 0) + ms(r0);
    if (back.length !== data.length || back[bytes - 1] !== data[bytes - 1]) throw new Error("round trip mismatch");
  }
  result.roundtrips_ms = ms(t0);
} finally {
  await sb.kill();
}

let t0 = process.hrtime.bigint();
await Promise.all(Array.from({ length: parallel }, async () => {
  const s = await Sandbox.create();
  try {
    await exec(s, "true");
  } finally {
    await s.kill();
  }
}));
result.parallel_ms = ms(t0);
console.log(JSON.stringify(result));
process.exit(0);
