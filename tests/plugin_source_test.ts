// src/plugin_source.ts: what a spec names, without a fetch.
import { equal, throws } from "node:assert/strict";
import { resolveSpec } from "../src/plugin_source.ts";
import { UsageError } from "../src/errors.ts";

Deno.test("resolveSpec() tells built-ins, files and URLs apart", () => {
  equal(resolveSpec("echo").kind, "builtin");
  equal(
    resolveSpec("istio-proxy").url.pathname.endsWith("/plugins/istio_proxy.ts"),
    true,
  );
  const file = resolveSpec("./my plugin?.ts", { cwd: "/srv" });
  equal(file.kind, "file");
  equal(decodeURIComponent(file.url.pathname), "/srv/my plugin?.ts");
  equal(
    resolveSpec("plugin.js", { cwd: "/srv" }).url.href,
    "file:///srv/plugin.js",
  );
  equal(resolveSpec("/abs/Quit_Hook.ts").fallbackName, "quit-hook");
  equal(resolveSpec("https://example.com/a/p.ts").kind, "remote");
  equal(resolveSpec("http://127.0.0.1:8080/p.ts").kind, "remote");
  equal(resolveSpec("http://[::1]/p.ts").kind, "remote");
  equal(resolveSpec("file:///x/y.ts").kind, "file");
  for (
    const bad of ["nope", "http://10.0.0.1/p.ts", "ftp://h/p.ts", "https://"]
  ) {
    throws(() => resolveSpec(bad), UsageError, bad);
  }
});
