// SPDX-License-Identifier: Apache-2.0
// The in-sandbox half of `sbx serve --dialect deno`: serves the file-system methods of the
// protocol that the local provider's file API does not cover (stat with every FileInfo field,
// links, permissions, temp files, file handles, walk, expandGlob) with Deno's own APIs, so the
// results and errors are exactly Deno's. One JSON request per stdin line, one JSON reply per
// stdout line: {"id":N,"result":{"ok":...}|{"error":ErrorObject}}. Requests run concurrently.

const enc = new TextEncoder();
const dec = new TextDecoder();
const b64 = (u8) => u8.toBase64();
const unb64 = (s) => Uint8Array.fromBase64(s);
const epoch = new Date(0).toISOString();
const date = (d) => (d instanceof Date && !isNaN(d) ? d.toISOString() : epoch);

export function errorObject(e) {
  const o = { constructorName: "Error", message: String(e), code: null, stack: null, cause: null,
              errors: null, name: null, suppressed: null, error: null };
  if (e && typeof e === "object") {
    o.constructorName = e.constructor?.name ?? "Error";
    o.message = String(e.message ?? e);
    o.code = typeof e.code === "string" ? e.code : null;
    o.name = e.constructor?.name === "DOMException" ? e.name : null;
    if (e.cause !== undefined && e.cause !== null) o.cause = errorObject(e.cause);
  }
  return o;
}

function fileInfo(s) {
  return {
    isFile: s.isFile, isDirectory: s.isDirectory, isSymlink: s.isSymlink, size: s.size,
    mtime: date(s.mtime), atime: date(s.atime), birthtime: date(s.birthtime ?? s.ctime), ctime: date(s.ctime),
    mode: s.mode ?? 0, dev: s.dev ?? 0, ino: s.ino ?? 0, nlink: s.nlink ?? 0, uid: s.uid ?? 0, gid: s.gid ?? 0,
    rdev: s.rdev ?? 0, blksize: s.blksize ?? 0, blocks: s.blocks ?? 0,
    isBlockDevice: !!s.isBlockDevice, isCharDevice: !!s.isCharDevice, isFifo: !!s.isFifo, isSocket: !!s.isSocket,
  };
}

const files = new Map();
let nextHandle = 1;
const file = (id) => {
  const f = files.get(id);
  if (!f) throw new Deno.errors.BadResource(`Bad resource ID: file handle ${id}`);
  return f;
};
const regex = (r) => new RegExp(r.source, r.flags);
const join = (a, b) => (a.endsWith("/") ? a + b : a + "/" + b);
const basename = (p) => { const t = p.replace(/\/+$/, ""); return t.slice(t.lastIndexOf("/") + 1) || t; };
const absolute = (p) => (p.startsWith("/") ? p : join(Deno.cwd(), p));

async function walk(root, o, out, depth = 0) {
  const maxDepth = o.maxDepth ?? Infinity;
  const include = (path, isFile, isDir, isLink) => {
    if (isFile && o.includeFiles === false) return false;
    if (isDir && o.includeDirs === false) return false;
    if (isLink && o.includeSymlinks === false) return false;
    if (o.exts && isFile && !o.exts.some((e) => path.endsWith(e.startsWith(".") ? e : "." + e))) return false;
    if (o.match && !o.match.some((r) => regex(r).test(path))) return false;
    if (o.skip && o.skip.some((r) => regex(r).test(path))) return false;
    return true;
  };
  if (depth === 0) {
    const path = o.canonicalize === false ? root : await Deno.realPath(root);
    if (include(path, false, true, false)) out.push({ path, name: basename(path), isFile: false, isDirectory: true, isSymlink: false });
    root = path;
  }
  if (depth >= maxDepth) return;
  for await (const e of Deno.readDir(root)) {
    let path = join(root, e.name);
    let { isFile, isDirectory, isSymlink } = e;
    if (o.skip && o.skip.some((r) => regex(r).test(path))) continue;
    if (isSymlink && o.followSymlinks) {
      const real = await Deno.realPath(path);
      if (o.canonicalize !== false) path = real;
      const s = await Deno.stat(real);
      isFile = s.isFile; isDirectory = s.isDirectory; isSymlink = false;
      if (o.canonicalize === false) isSymlink = true;
    }
    if (isDirectory && !isSymlink) {
      if (include(path, false, true, false)) out.push({ path, name: e.name, isFile: false, isDirectory: true, isSymlink: false });
      await walk(path, o, out, depth + 1);
    } else if (include(path, isFile, isDirectory, isSymlink)) {
      out.push({ path, name: e.name, isFile, isDirectory, isSymlink });
    }
  }
}

// Glob to RegExp with the @std/path rules the protocol mirrors: `*`, `?`, `[...]`, `**` with
// globstar, `{a,b}` and extglob groups `?(..) *(..) +(..) @(..) !(..)` when extended.
function globRegex(glob, { extended = true, globstar = true, caseInsensitive = false } = {}) {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === "*") {
      if (glob[i + 1] === "*" && globstar && (i === 0 || glob[i - 1] === "/") && (glob[i + 2] === "/" || i + 2 === glob.length)) {
        re += "(?:[^/]*(?:/|$))*"; i += glob[i + 2] === "/" ? 2 : 1; continue;
      }
      re += "[^/]*";
    } else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const end = glob.indexOf("]", i + 1);
      if (end < 0) { re += "\\["; continue; }
      let body = glob.slice(i + 1, end);
      if (body.startsWith("!")) body = "^" + body.slice(1);
      re += "[" + body.replace(/\\/g, "\\\\") + "]"; i = end;
    } else if (c === "{" && extended) {
      const end = glob.indexOf("}", i + 1);
      if (end < 0) { re += "\\{"; continue; }
      re += "(?:" + glob.slice(i + 1, end).split(",").map((p) => globRegex(p, { extended, globstar }).source.slice(1, -1)).join("|") + ")";
      i = end;
    } else if (extended && "?*+@!".includes(c) && glob[i + 1] === "(") {
      const end = glob.indexOf(")", i + 2);
      const alts = glob.slice(i + 2, end).split("|").map((p) => globRegex(p, { extended, globstar }).source.slice(1, -1)).join("|");
      re += c === "!" ? `(?!(?:${alts})$)[^/]*` : `(?:${alts})${c === "@" ? "" : c}`;
      i = end;
    } else re += /[.+^$()|\\{}\]]/.test(c) ? "\\" + c : c;
  }
  return new RegExp("^" + re + "/?$", caseInsensitive ? "i" : "");
}

async function expandGlob(p) {
  const glob = p.glob;
  const isAbs = glob.startsWith("/");
  const root = absolute(p.root ?? (isAbs ? "/" : Deno.cwd()));
  const full = isAbs ? glob : join(root, glob);
  const opts = { extended: p.extended !== false, globstar: p.globstar !== false, caseInsensitive: !!p.caseInsensitive };
  const re = globRegex(full.replace(/\/+/g, "/"), opts);
  const excludes = (p.exclude ?? []).map((e) => globRegex(e.startsWith("/") ? e : join(root, e), opts));
  // Walk from the longest literal prefix of the pattern.
  const parts = full.split("/");
  let base = "";
  for (const part of parts) { if (/[*?[{(]/.test(part)) break; base += (base === "/" ? "" : "/") + part; }
  base = base.replace(/^\/\//, "/") || "/";
  const out = [];
  let st;
  try { st = await Deno.stat(base); } catch { return out; }
  if (!st.isDirectory) { if (re.test(base)) out.push({ path: base, name: basename(base), isFile: st.isFile, isDirectory: false, isSymlink: false }); return out; }
  const all = [];
  await walk(base, { followSymlinks: !!p.followSymlinks, canonicalize: p.canonicalize !== false && !!p.followSymlinks ? true : false }, all);
  for (const e of all) {
    if (!re.test(e.path)) continue;
    if (excludes.some((x) => x.test(e.path))) continue;
    if (e.isDirectory && p.includeDirs === false) continue;
    out.push(e);
  }
  return out;
}

const methods = {
  async stat(p) { return fileInfo(await Deno.stat(p.path)); },
  async lstat(p) { return fileInfo(await Deno.lstat(p.path)); },
  async chmod(p) { await Deno.chmod(p.path, p.mode); return null; },
  async chown(p) { await Deno.chown(p.path, p.uid ?? null, p.gid ?? null); return null; },
  async copyFile(p) { await Deno.copyFile(p.fromPath, p.toPath); return null; },
  async link(p) { await Deno.link(p.target, p.path); return null; },
  async symlink(p) { await Deno.symlink(p.target, p.path, p.options); return null; },
  async readLink(p) { return await Deno.readLink(p.path); },
  async realPath(p) { return await Deno.realPath(p.path); },
  async makeTempDir(p) { return await Deno.makeTempDir(p.options ?? {}); },
  async makeTempFile(p) { return await Deno.makeTempFile(p.options ?? {}); },
  async truncate(p) { await Deno.truncate(p.name, p.length ?? 0); return null; },
  async umask(p) { return Deno.umask(p.mask); },
  async utime(p) { await Deno.utime(p.path, new Date(p.atime), new Date(p.mtime)); return null; },
  async mkdir(p) { await Deno.mkdir(p.path, p.options ?? {}); return null; },
  async readDir(p) {
    const out = [];
    for await (const e of Deno.readDir(p.path)) out.push({ name: e.name, isFile: e.isFile, isDirectory: e.isDirectory, isSymlink: e.isSymlink });
    return out;
  },
  async remove(p) { await Deno.remove(p.path, p.options ?? {}); return null; },
  async rename(p) { await Deno.rename(p.oldPath, p.newPath); return null; },
  async writeFile(p) { await Deno.writeFile(p.path, unb64(p.content), p.options ?? {}); return null; },
  async writeTextFile(p) { await Deno.writeTextFile(p.path, p.content, p.options ?? {}); return null; },
  async readFile(p) { return b64(await Deno.readFile(p.path)); },
  async readTextFile(p) { return await Deno.readTextFile(p.path); },
  async open(p) { const id = nextHandle++; files.set(id, await Deno.open(p.path, p.options ?? { read: true })); return { fileHandleId: id }; },
  async create(p) { const id = nextHandle++; files.set(id, await Deno.create(p.path)); return { fileHandleId: id }; },
  async fileRead(p) {
    const buf = new Uint8Array(Math.max(0, Math.min(p.length ?? 65536, 16 << 20)));
    const n = await file(p.fileHandleId).read(buf);
    return { data: n === null ? null : b64(buf.subarray(0, n)) };
  },
  async fileWrite(p) { return { bytesWritten: await file(p.fileHandleId).write(unb64(p.data)) }; },
  async fileSeek(p) {
    const off = typeof p.offset === "string" ? BigInt(p.offset) : p.offset;
    return { position: Number(await file(p.fileHandleId).seek(off, p.whence)) };
  },
  async fileStat(p) { return fileInfo(await file(p.fileHandleId).stat()); },
  async fileTruncate(p) { await file(p.fileHandleId).truncate(p.len ?? 0); return null; },
  async fileSync(p) { await file(p.fileHandleId).sync(); return null; },
  async fileSyncData(p) { await file(p.fileHandleId).syncData(); return null; },
  async fileUtime(p) { await file(p.fileHandleId).utime(new Date(p.atime), new Date(p.mtime)); return null; },
  async fileLock(p) { await file(p.fileHandleId).lock(!!p.exclusive); return null; },
  async fileUnlock(p) { await file(p.fileHandleId).unlock(); return null; },
  async fileClose(p) { file(p.fileHandleId).close(); files.delete(p.fileHandleId); return null; },
  async walk(p) { const out = []; await walk(absolute(p.path), p, out); return out; },
  async expandGlob(p) { return await expandGlob(p); },
  async fetch(p) {
    const init = { method: p.method, headers: p.headers, redirect: p.redirect };
    if (p.body !== undefined) init.body = unb64(p.body);
    const r = await fetch(p.url, init);
    const body = new Uint8Array(await r.arrayBuffer());
    return { status: r.status, statusText: r.statusText, headers: [...r.headers], body: b64(body), hasBody: r.body !== null };
  },
};

function reply(id, result) {
  Deno.stdout.writeSync(enc.encode(JSON.stringify({ id, result }) + "\n"));
}

async function handle(req) {
  const m = methods[req.method];
  if (!m) return reply(req.id, { error: errorObject(new TypeError(`method not supported: ${req.method}`)) });
  try {
    reply(req.id, { ok: await m(req.params ?? {}) });
  } catch (e) {
    reply(req.id, { error: errorObject(e) });
  }
}

let pending = "";
for await (const chunk of Deno.stdin.readable) {
  pending += dec.decode(chunk, { stream: true });
  let nl;
  while ((nl = pending.indexOf("\n")) >= 0) {
    const line = pending.slice(0, nl);
    pending = pending.slice(nl + 1);
    if (line.trim()) handle(JSON.parse(line));
  }
}
