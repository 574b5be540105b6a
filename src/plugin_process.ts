/**
 * A file or URL plugin in an OS process of its own, with network access to
 * loopback only and bounded memory, talking to the host with one JSON
 * message per line on its stdin and stdout. A deadline, a crash, running out
 * of memory or a busy loop ends that process alone (SIGKILL); the wrapper,
 * the job and the other plugins go on.
 *
 * Under `deno run` the process is `deno run` of the runtime's own text
 * (plugin_runtime.ts) with the permission flags below. A compiled binary
 * cannot be given flags: it re-executes itself in plugin mode, which starts
 * the runtime in a loopback-only Worker and revokes everything else
 * (plugin_mode.ts).
 * @module
 */
import { PLUGIN_MODE_ARG } from "./plugin_mode_arg.ts";
import type { HostMessage } from "./_protocol.ts";
import runtimeSource from "./plugin_runtime.ts" with { type: "text" };
import { LOOPBACK_HOSTS } from "./plugin_runtime.ts";
import { watchMemory } from "./memory_watch.ts";
import { ownChild } from "./reaper.ts";
import {
  BYTE_RATE_PER_SECOND,
  FLOOD_LIMIT,
  LogBudget,
  MESSAGE_RATE_PER_SECOND,
} from "./log_budget.ts";

/** The plugin process's V8 heap cap, in MiB: well under a Job's usual limits. */
export const PLUGIN_HEAP_MIB = 128;
/**
 * Its anonymous resident memory cap, in MiB: the heap, plus what lives
 * outside it (ArrayBuffers, Workers of its own), plus Deno's own ~30 MiB.
 */
export const PLUGIN_MEMORY_MIB = 256;
/** Longest message line a plugin process may send, in bytes. */
export const MAX_MESSAGE_BYTES = 1024 * 1024;
/**
 * What a plugin process's environment adds to the wrapper's (which it cannot
 * read): the heap cap, for a compiled binary (`deno run` has the flag), and
 * an npm registry that is no registry, because a compiled binary's plugin
 * mode has no `--no-npm` and a Worker's `import: false` does not cover
 * `npm:` (an `import("npm:<secret>")` would reach the registry).
 */
export const PLUGIN_PROCESS_ENV: Readonly<Record<string, string>> = {
  DENO_V8_FLAGS: `--max-old-space-size=${PLUGIN_HEAP_MIB}`,
  NPM_CONFIG_REGISTRY: "http://127.0.0.1:9/",
};

let runtimeUrl: string | undefined;

/** The runtime's text as a data: URL: no file needed, nothing to fetch. */
function runtimeDataUrl(): string {
  const bytes = new TextEncoder().encode(runtimeSource);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return runtimeUrl ??= `data:application/typescript;base64,${btoa(binary)}`;
}

/** The program and arguments of a plugin process. */
export function pluginCommand(standalone = Deno.build.standalone): string[] {
  if (standalone) return [Deno.execPath(), PLUGIN_MODE_ARG];
  return [
    Deno.execPath(),
    "run",
    "--no-prompt",
    "--no-config",
    "--no-lock",
    "--quiet",
    // No code from anywhere but the host: no remote modules, no npm.
    "--no-remote",
    "--no-npm",
    "--deny-import",
    `--allow-net=${LOOPBACK_HOSTS.join(",")}`,
    `--v8-flags=--max-old-space-size=${PLUGIN_HEAP_MIB}`,
    runtimeDataUrl(),
  ];
}

/** What a plugin process reports to its host. */
export interface ProcessEvents {
  /** A message line, parsed (still to be checked). */
  message(data: unknown): void;
  /** A line the plugin process wrote on stderr (Deno's own reports). */
  stderr(line: string): void;
  /** It ended without being terminated, or sent what cannot be read. */
  failed(reason: string): void;
  /** Its memory outside the V8 heap cannot be watched, for this reason. */
  unwatched?(reason: string): void;
}

/** One plugin process; `postMessage` and `terminate` as a Worker's. */
export class ProcessPort {
  #child: Deno.ChildProcess;
  #stdin: WritableStreamDefaultWriter<Uint8Array>;
  #terminated = false;
  #encoder = new TextEncoder();
  #unwatch: () => void = () => {};
  #reads = new LogBudget(() => performance.now(), MESSAGE_RATE_PER_SECOND);
  #bytes = new LogBudget(() => performance.now(), BYTE_RATE_PER_SECOND);

  constructor(events: ProcessEvents) {
    const [program, ...args] = pluginCommand();
    this.#child = new Deno.Command(program!, {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: PLUGIN_PROCESS_ENV,
      // Its own session: a terminal's Ctrl-C or Ctrl-Z to the wrapper's
      // group must not reach it (it ends when its stdin closes).
      detached: true,
    }).spawn();
    ownChild(this.#child.pid, this.#child.status);
    this.#stdin = this.#child.stdin.getWriter();
    this.#stdin.closed.catch(() => {}); // a dead child: reported by its status
    const watch = watchMemory(
      this.#child.pid,
      PLUGIN_MEMORY_MIB * 1024 * 1024,
      (bytes) =>
        this.#fail(
          events,
          `the plugin's process used ${
            Math.round(bytes / 1024 / 1024)
          } MiB, over its ${PLUGIN_MEMORY_MIB} MiB cap`,
        ),
    );
    if (typeof watch === "string") events.unwatched?.(watch);
    else this.#unwatch = watch;
    const decoder = new TextDecoder();
    void readByteLines(this.#child.stdout, {
      maxBytes: MAX_MESSAGE_BYTES,
      chunk: (size) => this.#flooding(size),
    }, (line) => {
      if (this.#terminated) return; // what is left in the pipe is not read
      try {
        events.message(JSON.parse(decoder.decode(line)));
      } catch {
        events.message(undefined); // malformed
      }
    }).catch((error: Error) => this.#fail(events, error.message));
    void readByteLines(this.#child.stderr, {
      maxBytes: 4096,
      cutLong: true,
      chunk: (size) => this.#flooding(size),
    }, (line) => events.stderr(decoder.decode(line))).catch((error: Error) =>
      this.#fail(events, error.message)
    );
    this.#child.status.then((status) => {
      this.#unwatch();
      if (this.#terminated) return;
      const how = status.signal === null
        ? `exited with code ${status.code}`
        : `was killed by ${status.signal}`;
      const memory = status.signal === "SIGTRAP" || status.signal === "SIGABRT"
        ? ` (out of memory? its heap is capped at ${PLUGIN_HEAP_MIB} MiB)`
        : "";
      this.#fail(events, `the plugin's process ${how}${memory}`);
    }, () => {});
  }

  postMessage(message: HostMessage): void {
    if (this.#terminated) return;
    const line = this.#encoder.encode(JSON.stringify(message) + "\n");
    this.#stdin.write(line).catch(() => {});
  }

  /** End the process at once: SIGKILL stops even a busy loop. */
  terminate(): void {
    if (this.#terminated) return;
    this.#terminated = true;
    this.#unwatch();
    try {
      this.#child.kill("SIGKILL");
    } catch { /* already exited */ }
    this.#stdin.close().catch(() => {});
  }

  /**
   * Why the process is flooding its host, if it is: every read costs the
   * host, however small (a line sent a byte at a time), and so does every
   * byte (lines of 1 MiB, one after another).
   */
  #flooding(size: number): string | undefined {
    if (!this.#reads.take() && this.#reads.dropped >= FLOOD_LIMIT) {
      return `flooded the host with writes (over ${MESSAGE_RATE_PER_SECOND} a second)`;
    }
    if (!this.#bytes.take(size)) {
      return `flooded the host with data (over ${
        BYTE_RATE_PER_SECOND / 1024 / 1024
      } MiB a second)`;
    }
    return undefined;
  }

  #fail(events: ProcessEvents, reason: string): void {
    if (this.#terminated) return;
    this.terminate();
    events.failed(reason);
  }
}

/** Options of `readByteLines`. */
export interface ReadByteLinesOptions {
  /** Longest line, in bytes. */
  maxBytes: number;
  /** Cut longer lines (and drop the rest of each) instead of failing. */
  cutLong?: boolean;
  /** Told of each chunk read; a string it returns ends the reading with it. */
  chunk?(size: number): string | undefined;
}

/**
 * Call `onLine` with the bytes of each line of `stream`; rejects when a line
 * is longer than `maxBytes` (the stream is cancelled). Nothing is decoded
 * before it is known to fit, and a line is copied into one buffer as it
 * comes: a line sent a byte at a time holds no more memory than its bytes.
 */
export async function readByteLines(
  stream: ReadableStream<Uint8Array>,
  options: ReadByteLinesOptions,
  onLine: (line: Uint8Array) => void,
): Promise<void> {
  const { maxBytes } = options;
  let line = new Uint8Array(256);
  let size = 0;
  let skipping = false; // the rest of a line that was cut
  const take = (part: Uint8Array) => {
    if (skipping) return;
    if (size + part.length > maxBytes) {
      if (!options.cutLong) {
        throw new Error(`sent a message line over ${maxBytes} bytes`);
      }
      part = part.subarray(0, maxBytes - size);
      skipping = true;
    }
    if (size + part.length > line.length) {
      const grown = new Uint8Array(
        Math.min(Math.max(line.length * 2, size + part.length), maxBytes),
      );
      grown.set(line.subarray(0, size));
      line = grown;
    }
    line.set(part, size);
    size += part.length;
  };
  const end = () => {
    onLine(line.slice(0, size));
    size = 0;
    skipping = false;
  };
  try {
    for await (const chunk of stream) {
      const stop = options.chunk?.(chunk.length);
      if (stop !== undefined) throw new Error(stop);
      let start = 0;
      for (
        let at = chunk.indexOf(10);
        at !== -1;
        at = chunk.indexOf(10, start)
      ) {
        take(chunk.subarray(start, at));
        end();
        start = at + 1;
      }
      take(chunk.subarray(start));
    }
  } catch (error) {
    await stream.cancel().catch(() => {});
    throw error;
  }
  if (size > 0 || skipping) end();
}
