// SPDX-License-Identifier: Apache-2.0
// The official @deno/sandbox SDK pinned in tests/sdk (package.json + package-lock.json),
// installed with `npm ci` when node_modules does not match the lockfile (the check of
// tests/sdk/run.mjs), then imported from there. Shared by tests/sdk_compare and bench/deno_vs_sdk.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const sdkDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "sdk");

export function ensureSdk() {
  const want = JSON.parse(fs.readFileSync(path.join(sdkDir, "package-lock.json"), "utf8")).packages;
  let fresh = false;
  try {
    const have = JSON.parse(fs.readFileSync(path.join(sdkDir, "node_modules", ".package-lock.json"), "utf8")).packages;
    fresh = Object.keys(want).filter((k) => k).every((k) => have[k]?.version === want[k].version);
  } catch {}
  // stdout belongs to the caller's protocol: npm's chatter goes to stderr.
  if (!fresh) execFileSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: sdkDir, stdio: ["ignore", 2, 2] });
}

/// The SDK module (`{ Sandbox, Client, ... }`), installed first if needed.
export async function loadSdk() {
  ensureSdk();
  const pkg = path.join(sdkDir, "node_modules", "@deno", "sandbox");
  const version = JSON.parse(fs.readFileSync(path.join(pkg, "package.json"), "utf8")).version;
  const mod = await import(pathToFileURL(path.join(pkg, "esm", "mod.js")).href);
  return { ...mod, version };
}
