// SPDX-License-Identifier: Apache-2.0
// ctest driver: installs the pinned SDK (npm ci, only when node_modules does not match the
// lockfile), starts the server on an ephemeral port with a fresh token and a trace file, runs
// scenario.mjs against it, stops the server, and exits with the scenario's status.
//   node run.mjs [--faults] SERVER_BINARY [STEP_REGEX]   (--faults: faults.mjs with the control endpoint)
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
let script = "scenario.mjs";
const extra = [];
if (args[0] === "--faults") { args.shift(); script = "faults.mjs"; extra.push("--control"); }
const [server, filter] = args;
if (!server) { console.error("usage: node run.mjs [--faults] SERVER_BINARY [STEP_REGEX]"); process.exit(2); }

const lock = fs.readFileSync(path.join(here, "package-lock.json"), "utf8");
const installed = path.join(here, "node_modules", ".package-lock.json");
const want = JSON.parse(lock).packages;
let fresh = false;
try {
  const have = JSON.parse(fs.readFileSync(installed, "utf8")).packages;
  fresh = Object.keys(want).filter((k) => k).every((k) => have[k]?.version === want[k].version);
} catch {}
if (!fresh) execFileSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: here, stdio: "inherit" });

const token = "ddo_sdk_" + randomBytes(8).toString("hex");
const trace = process.env.SBX_SDK_TRACE ?? path.join(os.tmpdir(), `sbx-sdk-trace-${process.pid}.jsonl`);
const srv = spawn(server, ["--listen", "127.0.0.1:0", "--token", token, "--trace", trace, ...extra], { stdio: ["ignore", "pipe", "inherit"] });
const port = await new Promise((resolve, reject) => {
  let out = "";
  srv.stdout.on("data", (d) => {
    out += d;
    const m = out.match(/listening on (\d+)/);
    if (m) resolve(Number(m[1]));
  });
  srv.on("exit", (code) => reject(new Error(`server exited with ${code} before listening`)));
  setTimeout(() => reject(new Error("server did not start within 30 s")), 30000);
});
const base = `http://127.0.0.1:${port}`;
const child = spawn(process.execPath, [path.join(here, script), ...(filter ? [filter] : [])], {
  cwd: here,
  stdio: "inherit",
  env: { ...process.env, DENO_DEPLOY_TOKEN: token, DENO_SANDBOX_ENDPOINT: base, DENO_DEPLOY_ENDPOINT: base },
});
const code = await new Promise((resolve) => child.on("exit", (c, sig) => resolve(sig ? 1 : c)));
srv.kill("SIGTERM");
await new Promise((resolve) => srv.on("exit", resolve));
console.log(`trace: ${trace}`);
process.exit(code);
