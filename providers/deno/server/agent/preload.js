// SPDX-License-Identifier: Apache-2.0
// Preloaded before a `spawnDeno` entrypoint (`deno run --preload`): reports on the control
// channel (a `\x1e<nonce>:` record on stdout) that the runtime started (again, under --watch)
// and the port of every HTTP server it starts, which is what `denoHttpWait`, `exposeHttp {pid}`
// and `fetch {pid}` need. The program's own Deno.args, env and output are untouched.
const nonce = Deno.env.get("SBX_DENO_CTL");
Deno.env.delete("SBX_DENO_CTL");
if (nonce) {
  const enc = new TextEncoder();
  const send = (msg) => Deno.stdout.writeSync(enc.encode("\x1e" + nonce + ":" + JSON.stringify(msg) + "\n"));
  send({ event: "start" });
  const serve = Deno.serve;
  Deno.serve = function (...args) {
    const server = serve.apply(this, args);
    const addr = server.addr;
    if (addr && typeof addr.port === "number") send({ event: "listening", port: addr.port, hostname: addr.hostname });
    return server;
  };
}
