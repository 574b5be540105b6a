/**
 * Plugin specs: resolve a spec to a location, then read or fetch its text.
 * The main process does all I/O here; the plugin's Worker only ever sees the
 * text, from a `blob:` URL.
 * @module
 */
import { firstLine, PluginError, UsageError } from "./errors.ts";
import type { Logger } from "./log.ts";
import { FileShapeError, readSmallFile } from "./read_file.ts";
import { backoff, isTransientStatus, sleep } from "./plugin_runtime.ts";

/** Built-in plugins: name → file in `plugins/`. */
export const BUILTIN_PLUGINS: Readonly<Record<string, string>> = {
  "cloud-sql-proxy": "cloud_sql_proxy.ts",
  "consul-dataplane": "consul_dataplane.ts",
  "dapr": "dapr.ts",
  "echo": "echo.ts",
  "envoy": "envoy.ts",
  "http": "http.ts",
  "istio-proxy": "istio_proxy.ts",
  "linkerd": "linkerd.ts",
  "vault-agent": "vault_agent.ts",
};

/** Largest plugin source accepted. */
export const MAX_PLUGIN_BYTES = 1024 * 1024;
/** Most redirects followed when fetching a remote plugin. */
export const MAX_REDIRECTS = 5;

/** Where a plugin spec points. */
export interface PluginLocation {
  /** The spec as written. */
  spec: string;
  /** How it was named. */
  kind: "builtin" | "file" | "remote";
  /** Where its text is: `file:` or `https:` (or `http:` on loopback). */
  url: URL;
  /** Name used when the plugin does not declare one (Go-style plugins). */
  fallbackName: string;
  /** Expected SHA-256 of the text, hex, from a `#sha256=<hex>` suffix. */
  sha256?: string;
}

/** A plugin's text, ready to be put in a blob. */
export interface PluginSource {
  location: PluginLocation;
  code: string;
  mediaType: "application/typescript" | "application/javascript";
}

/** Options of `resolveSpec`. */
export interface ResolveSpecOptions {
  /** Base for relative paths. @default Deno.cwd() */
  cwd?: string;
}

/**
 * Resolve a spec: an `https://` URL (`http://` only for loopback hosts), a
 * `file:` URL or path (anything with a `/` or a file extension), or the name
 * of a built-in plugin.
 */
export function resolveSpec(
  spec: string,
  options: ResolveSpecOptions = {},
): PluginLocation {
  const invalid = (reason: string) =>
    new UsageError(`Invalid plugin spec "${spec}": ${reason}`);
  const { base, sha256, problem } = splitPin(spec);
  if (problem !== undefined) throw invalid(problem);
  if (sha256 !== undefined) {
    return { ...resolveSpec(base, options), spec, sha256 };
  }
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(spec)?.[1]?.toLowerCase();
  if (scheme !== undefined) {
    let url: URL;
    try {
      url = new URL(spec);
    } catch {
      throw invalid("not a valid URL");
    }
    if (scheme === "file") {
      return { spec, kind: "file", url, fallbackName: stem(url.pathname) };
    }
    const problem = remoteUrlProblem(url);
    if (problem !== undefined) throw invalid(problem);
    return { spec, kind: "remote", url, fallbackName: stem(url.pathname) };
  }
  if (spec.includes("/") || /\.[cm]?[jt]sx?$/.test(spec)) {
    let cwd = "/";
    if (!spec.startsWith("/")) {
      try {
        cwd = options.cwd ?? Deno.cwd();
      } catch (error) {
        throw invalid(
          `a relative path, and the working directory cannot be read (${
            firstLine(error)
          }): use an absolute path`,
        );
      }
    }
    const url = new URL(
      pathForUrl(spec),
      new URL(`file://${pathForUrl(cwd)}/`),
    );
    return { spec, kind: "file", url, fallbackName: stem(spec) };
  }
  const file = Object.hasOwn(BUILTIN_PLUGINS, spec)
    ? BUILTIN_PLUGINS[spec]
    : undefined;
  if (file === undefined) {
    throw invalid(
      `no built-in plugin of that name (built-ins: ${
        Object.keys(BUILTIN_PLUGINS).join(", ")
      }; a file path needs a "/" or an extension)`,
    );
  }
  const url = new URL(`../plugins/${file}`, import.meta.url);
  return { spec, kind: "builtin", url, fallbackName: spec };
}

/**
 * Import the built-in in `file` (beside this module's folder, as `url`
 * above). Written so that `deno bundle` sees it: in the image the built-ins
 * come from the bundle, as JavaScript, so no transpiler runs at all (~1 MiB
 * of Deno's code less in memory).
 */
export function importBuiltin(file: string): Promise<unknown> {
  return import(`../plugins/${file}`);
}

const PIN = /^sha256=[0-9a-fA-F]{64}$/;
/** A fragment that looks like an attempt at a pin: `sha…`, or `name=`/`name:`. */
const PIN_ATTEMPT = /^(sha|[\w-]*[=:])/i;

/**
 * Split a trailing `#sha256=<64 hex>` pin off a spec. In a URL any fragment
 * must be a well-formed pin; in a file path a `#` belongs to the file name
 * unless what follows the last one looks like a pin (`#sha256:…`,
 * `#SHA256=…`, `#sha512=…`), which must then be well-formed too: a mistyped
 * pin is an error, never silently dropped.
 */
export function splitPin(
  spec: string,
): { base: string; sha256?: string; problem?: string } {
  const isUrl = /^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(spec);
  const at = isUrl ? spec.indexOf("#") : spec.lastIndexOf("#");
  if (at === -1) return { base: spec };
  const fragment = spec.slice(at + 1);
  if (PIN.test(fragment)) {
    return { base: spec.slice(0, at), sha256: fragment.slice(7).toLowerCase() };
  }
  if (isUrl || PIN_ATTEMPT.test(fragment)) {
    return {
      base: spec,
      problem: `"#${fragment}" is not a pin: use #sha256=<64 hex digits>`,
    };
  }
  return { base: spec };
}

/** Why `url` may not serve a plugin, or undefined when it may. */
function remoteUrlProblem(url: URL): string | undefined {
  if (url.protocol === "https:") return undefined;
  if (url.protocol === "http:") {
    return isLoopbackHost(url.hostname)
      ? undefined
      : `plain http is allowed only for loopback hosts, not "${url.hostname}": use https`;
  }
  return `unsupported scheme "${url.protocol}": use a file path, an https URL or a built-in name`;
}

/** localhost, 127.0.0.0/8 or [::1]. */
export function isLoopbackHost(hostname: string): boolean {
  return hostname === "localhost" || hostname === "[::1]" ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

function stem(path: string): string {
  const base = path.split("/").at(-1) ?? path;
  return base.replace(/\.[^.]*$/, "").toLowerCase().replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
}

/** Options of `readPluginSource`. */
export interface ReadPluginSourceOptions {
  /** Deadline for reading, or fetching with retries, in ms. */
  timeoutMs: number;
  /** Where retries are logged. */
  log?: Logger;
  /** Aborts the read or fetch (a stop signal). */
  signal?: AbortSignal;
}

/** Longest single fetch attempt, and the backoff between attempts. */
const ATTEMPT_TIMEOUT_MS = 10_000;
const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 4_000;
const MIN_ATTEMPT_MS = 100;

/** Read (file, built-in) or fetch (remote) a plugin's text. */
export async function readPluginSource(
  location: PluginLocation,
  options: ReadPluginSourceOptions,
): Promise<PluginSource> {
  const { spec, url } = location;
  let bytes: Uint8Array;
  if (url.protocol === "file:") {
    try {
      bytes = await readSmallFile(url, MAX_PLUGIN_BYTES, options.signal);
    } catch (error) {
      throw new PluginError(spec, fileError(error, url), { cause: error });
    }
  } else {
    bytes = await fetchWithRetries(spec, url, options);
  }
  // Both reads above are bounded by MAX_PLUGIN_BYTES.
  if (location.sha256 !== undefined) {
    const digest = new Uint8Array(
      await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>),
    );
    const actual = Array.from(digest, (b) => b.toString(16).padStart(2, "0"))
      .join("");
    if (actual !== location.sha256) {
      throw new PluginError(
        spec,
        `integrity check failed: expected sha256 ${location.sha256}, got ${actual}`,
      );
    }
  }
  let code: string;
  try {
    code = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (error) {
    throw new PluginError(spec, "not UTF-8 text", { cause: error });
  }
  const mediaType = /\.[cm]?jsx?$/.test(url.pathname)
    ? "application/javascript"
    : "application/typescript";
  return { location, code, mediaType };
}

function fileError(error: unknown, url: URL): string {
  const path = decodeURIComponent(url.pathname);
  if (error instanceof Deno.errors.NotFound) return `no such file "${path}"`;
  if (error instanceof FileShapeError) return `"${path}" ${error.message}`;
  if (error instanceof Deno.errors.PermissionDenied) {
    return `permission denied reading "${path}"`;
  }
  return error instanceof Error ? error.message : String(error);
}

/** A failure worth another attempt: network errors, timeouts, `isTransientStatus`. */
class TransientError extends PluginError {}

async function fetchWithRetries(
  spec: string,
  url: URL,
  options: ReadPluginSourceOptions,
): Promise<Uint8Array> {
  const deadline = Date.now() + options.timeoutMs;
  for (let attempt = 1;; attempt++) {
    const left = Math.max(deadline - Date.now(), 1);
    try {
      return await fetchPlugin(spec, url, {
        timeoutMs: Math.min(left, ATTEMPT_TIMEOUT_MS),
        signal: options.signal,
      });
    } catch (error) {
      const wait = backoff(attempt, FIRST_RETRY_MS, MAX_RETRY_MS);
      // Another attempt needs time to connect: with less left, the cause
      // seen last is the one to report.
      const tooLate = deadline - Date.now() - wait < MIN_ATTEMPT_MS;
      if (
        !(error instanceof TransientError) || tooLate ||
        options.signal?.aborted
      ) throw error;
      options.log?.warn("Cannot fetch plugin yet, retrying", {
        spec,
        attempt,
        error: error.reason,
        retryInMs: wait,
      });
      await sleep(wait, options.signal);
    }
  }
}

async function fetchPlugin(
  spec: string,
  start: URL,
  attempt: { timeoutMs: number; signal: AbortSignal | undefined },
): Promise<Uint8Array> {
  const { timeoutMs } = attempt;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = attempt.signal === undefined
    ? timeout
    : AbortSignal.any([timeout, attempt.signal]);
  let url = start;
  for (let redirects = 0;; redirects++) {
    let response: Response;
    try {
      response = await fetch(url, { redirect: "manual", signal });
    } catch (error) {
      const failure = timeout.aborted
        ? { why: `no answer within ${timeoutMs} ms`, permanent: false }
        : fetchFailure(error);
      const reason = `cannot fetch ${url.href}: ${failure.why}`;
      // A certificate problem will not go away by asking again.
      const permanent = failure.permanent && !signal.aborted;
      throw new (permanent ? PluginError : TransientError)(spec, reason, {
        cause: error,
      });
    }
    if (response.status >= 300 && response.status < 400) {
      await response.body?.cancel();
      const location = response.headers.get("location");
      if (location === null || redirects >= MAX_REDIRECTS) {
        throw new PluginError(
          spec,
          location === null
            ? `HTTP ${response.status} without a Location header`
            : `more than ${MAX_REDIRECTS} redirects`,
        );
      }
      const next = URL.parse(location, url);
      if (next === null) {
        throw new PluginError(
          spec,
          `redirected to an invalid URL "${location}"`,
        );
      }
      const problem = remoteUrlProblem(next);
      if (problem !== undefined) {
        throw new PluginError(spec, `redirected to ${next.href}: ${problem}`);
      }
      url = next;
      continue;
    }
    if (response.status !== 200) {
      await response.body?.cancel();
      const transient = isTransientStatus(response.status);
      throw new (transient ? TransientError : PluginError)(
        spec,
        `HTTP ${response.status} from ${url.href}`,
      );
    }
    return await readLimited(spec, response, signal, timeoutMs);
  }
}

async function readLimited(
  spec: string,
  response: Response,
  signal: AbortSignal,
  timeoutMs: number,
): Promise<Uint8Array> {
  const declared = Number(response.headers.get("content-length") ?? "0");
  if (declared > MAX_PLUGIN_BYTES) {
    await response.body?.cancel();
    throw new PluginError(spec, `larger than ${MAX_PLUGIN_BYTES} bytes`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for await (const chunk of response.body ?? []) {
      size += chunk.length;
      if (size > MAX_PLUGIN_BYTES) {
        await response.body?.cancel();
        throw new PluginError(spec, `larger than ${MAX_PLUGIN_BYTES} bytes`);
      }
      chunks.push(chunk);
    }
  } catch (error) {
    if (error instanceof PluginError) throw error;
    const reason = signal.aborted
      ? `body not received within ${timeoutMs} ms`
      : `cannot read body: ${firstLine(error)}`;
    throw new TransientError(spec, reason, { cause: error });
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

/**
 * Why a fetch failed, in words a plugin author can act on: the cause Deno
 * wraps in "error sending request for url (…): client error (Connect): …".
 */
export function fetchFailure(
  error: unknown,
): { why: string; permanent: boolean } {
  const text = firstLine((error as Error)?.cause ?? error);
  const detail = text.replace(/^.*\(Connect\):\s*/, "");
  if (/connection refused/i.test(text)) {
    return { why: "connection refused", permanent: false };
  }
  if (/dns error|failed to lookup/i.test(text)) {
    const reason = detail.replace(
      /^.*failed to lookup address information:\s*/i,
      "",
    );
    return { why: `DNS lookup failed (${reason})`, permanent: false };
  }
  if (/certificate|UnknownIssuer|handshake|tls|ssl/i.test(text)) {
    return { why: `TLS failed: ${detail}`, permanent: true };
  }
  if (/timed? ?out/i.test(text)) return { why: "timed out", permanent: false };
  return { why: detail, permanent: false };
}

/** A path as the path of a `file:` URL: `?`, `#` and `%` are part of it. */
function pathForUrl(path: string): string {
  return encodeURI(path).replaceAll("?", "%3F").replaceAll("#", "%23");
}
