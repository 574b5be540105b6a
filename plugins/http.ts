/**
 * `http`: readiness waits and quit requests for sidecars `wrapper` has no
 * plugin for: any list of endpoints, each with its method, headers and
 * expected statuses. All endpoints of a hook are handled concurrently.
 *
 * Options (`WRAPPER_PLUGIN_HTTP_<OPTION>`):
 * - `READY`: endpoints to wait for before the command (default none)
 * - `QUIT`: endpoints to call after it (default none)
 * - `VERIFY`: `true`; `false` skips checking that each quit port closes
 *
 * An endpoint list is either comma-separated URLs (GET for `READY`, POST for
 * `QUIT`, expecting 200), or a JSON array of
 * `{ "url", "method"?, "headers"?: {…}, "expect"?: [200, 204] }`.
 * @module
 */
import type { Plugin } from "../mod.ts";

interface Endpoint {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  expect?: number[];
}

function parseEndpoints(option: string, value: string | undefined): Endpoint[] {
  if (value === undefined || value.trim() === "") return [];
  if (!value.trim().startsWith("[")) {
    return value.split(",").map((url) => ({ url: url.trim() }));
  }
  const list: unknown = JSON.parse(value);
  const valid = Array.isArray(list) &&
    list.every((e) =>
      typeof e === "object" && e !== null && typeof e.url === "string" &&
      (e.method === undefined || typeof e.method === "string") &&
      (e.expect === undefined ||
        (Array.isArray(e.expect) &&
          e.expect.every((n: unknown) => Number.isInteger(n)))) &&
      (e.headers === undefined ||
        (typeof e.headers === "object" &&
          Object.values(e.headers).every((h) => typeof h === "string")))
    );
  if (!valid) {
    throw new TypeError(
      `WRAPPER_PLUGIN_HTTP_${option}: expected a JSON array of {"url", "method"?, "headers"?, "expect"?}`,
    );
  }
  return list as Endpoint[];
}

export default {
  name: "http",
  options: {
    ready: {
      description: "readiness endpoints: URLs, comma-separated, or a JSON list",
      loopbackList: true,
    },
    quit: {
      description: "quit endpoints: URLs, comma-separated, or a JSON list",
      loopbackList: true,
    },
    verify: {
      description: "false: do not wait for the ports to close after the quits",
      default: "true",
      switch: true,
    },
  },
  async beforeStart(ctx) {
    await Promise.all(
      parseEndpoints("READY", ctx.options.ready).map(({ url, ...options }) =>
        ctx.waitReady(url, options)
      ),
    );
  },
  async afterExit(ctx) {
    const verify = ctx.options.verify !== "false";
    const results = await Promise.allSettled(
      parseEndpoints("QUIT", ctx.options.quit).map(({ url, ...options }) =>
        ctx.quit(url, { ...options, verify })
      ),
    );
    const failed = results.flatMap((r) =>
      r.status === "rejected" ? [String(r.reason?.message ?? r.reason)] : []
    );
    if (failed.length > 0) throw new Error(failed.join("; "));
  },
} satisfies Plugin;
