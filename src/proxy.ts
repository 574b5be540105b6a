/**
 * Requests to loopback never go through a proxy. Many clusters inject
 * `HTTP_PROXY`/`ALL_PROXY` into every pod; Deno's `fetch` honours them for
 * every host, so a readiness check or a quit would go to the proxy and never
 * reach the sidecar. Go's `ProxyFromEnvironment` never proxies loopback; the
 * wrapper does the same by adding loopback to `NO_PROXY` in its own process
 * (read by each isolate's first `fetch`, plugins' Workers included). The job
 * gets the environment exactly as it was.
 * @module
 */

/** The variables that send Deno's `fetch` through a proxy. */
export const PROXY_VARS: readonly string[] = [
  "HTTP_PROXY",
  "http_proxy",
  "HTTPS_PROXY",
  "https_proxy",
  "ALL_PROXY",
  "all_proxy",
];

/** `NO_PROXY` entries that cover loopback, in the forms Deno matches. */
export const LOOPBACK_NO_PROXY: readonly string[] = [
  "localhost",
  "127.0.0.0/8",
  "::1",
];

/**
 * The `NO_PROXY` value that keeps loopback off every proxy while keeping the
 * user's own entries, or undefined when no proxy is set. (Deno 2.9 does not
 * read `*` as "everything", so even then loopback is added.)
 */
export function noProxyFor(
  env: Readonly<Record<string, string>>,
): string | undefined {
  if (!PROXY_VARS.some((name) => (env[name] ?? "").trim() !== "")) {
    return undefined;
  }
  const entries = [env.NO_PROXY, env.no_proxy]
    .flatMap((value) => (value ?? "").split(","))
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
  return [...new Set([...entries, ...LOOPBACK_NO_PROXY])].join(",");
}

/**
 * Set `NO_PROXY` and `no_proxy` in this process so that loopback bypasses
 * the proxy. Returns true when the environment was changed: the job must then
 * be given the original environment explicitly.
 */
export function keepLoopbackOffProxies(
  env: Readonly<Record<string, string>>,
): boolean {
  const value = noProxyFor(env);
  if (value === undefined) return false;
  Deno.env.set("NO_PROXY", value);
  Deno.env.set("no_proxy", value);
  return true;
}
