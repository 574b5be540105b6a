/**
 * Plugin specs: resolve a spec to a location, then read or fetch its text.
 * The main process does all I/O here; the plugin's Worker only ever sees the
 * text, from a `blob:` URL.
 * @module
 */
import { firstLine, PluginError, UsageError } from "./errors.ts";

/** Built-in plugins: name → file in `plugins/`. */
export const BUILTIN_PLUGINS: Readonly<Record<string, string>> = {
  "echo": "echo.ts",
  "istio-proxy": "istio_proxy.ts",
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
    const base = new URL(`file://${options.cwd ?? Deno.cwd()}/`);
    const url = new URL(encodeURI(spec).replaceAll("?", "%3F"), base);
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
  /** Deadline for reading or fetching, in ms. */
  timeoutMs: number;
}

/** Read (file, built-in) or fetch (remote) a plugin's text. */
export async function readPluginSource(
  location: PluginLocation,
  options: ReadPluginSourceOptions,
): Promise<PluginSource> {
  const { spec, url } = location;
  let bytes: Uint8Array;
  if (url.protocol === "file:") {
    try {
      bytes = await Deno.readFile(url);
    } catch (error) {
      throw new PluginError(spec, fileError(error, url), { cause: error });
    }
  } else {
    bytes = await fetchPlugin(spec, url, options.timeoutMs);
  }
  if (bytes.length > MAX_PLUGIN_BYTES) {
    throw new PluginError(spec, `larger than ${MAX_PLUGIN_BYTES} bytes`);
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
  if (error instanceof Deno.errors.IsADirectory) {
    return `"${path}" is a directory`;
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return `permission denied reading "${path}"`;
  }
  return error instanceof Error ? error.message : String(error);
}

async function fetchPlugin(
  spec: string,
  start: URL,
  timeoutMs: number,
): Promise<Uint8Array> {
  const signal = AbortSignal.timeout(timeoutMs);
  let url = start;
  for (let redirects = 0;; redirects++) {
    let response: Response;
    try {
      response = await fetch(url, { redirect: "manual", signal });
    } catch (error) {
      const reason = signal.aborted
        ? `no answer from ${url.host} within ${timeoutMs} ms`
        : `cannot fetch ${url.href}: ${
          firstLine((error as Error).cause ?? error)
        }`;
      throw new PluginError(spec, reason, { cause: error });
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
      const next = new URL(location, url);
      const problem = remoteUrlProblem(next);
      if (problem !== undefined) {
        throw new PluginError(spec, `redirected to ${next.href}: ${problem}`);
      }
      url = next;
      continue;
    }
    if (response.status !== 200) {
      await response.body?.cancel();
      throw new PluginError(spec, `HTTP ${response.status} from ${url.href}`);
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
    throw new PluginError(spec, reason, { cause: error });
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}
