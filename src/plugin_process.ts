/**
 * A file or URL plugin in an OS process of its own: `deno run` with network
 * access to loopback only and a V8 heap cap, talking to the host with one
 * JSON message per line on its stdin and stdout. A deadline, a crash, an
 * out-of-memory abort or a busy loop ends that process alone (SIGKILL); the
 * wrapper, the job and the other plugins go on.
 * @module
 */
import type { HostMessage } from "./_protocol.ts";
import { confine, pluginRuntime, processMain } from "./_plugin_worker.ts";
import { after } from "./timer.ts";

/** The hosts a plugin process may connect to. */
const LOOPBACK = "localhost,127.0.0.1,[::1]";
/** The plugin process's V8 heap cap, in MiB: well under a Job's usual limits. */
export const PLUGIN_HEAP_MIB = 128;
/** Longest message line a plugin process may send. */
export const MAX_MESSAGE_BYTES = 1024 * 1024;

let bootstrap: string | undefined;

/** The program a plugin process runs, as a data: URL (no file needed). */
function bootstrapUrl(): string {
  const source = `(${processMain})(${pluginRuntime}, ${after}, ${confine});`;
  const bytes = new TextEncoder().encode(source);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return bootstrap ??= `data:application/javascript;base64,${btoa(binary)}`;
}

/** What a plugin process reports to its host. */
export interface ProcessEvents {
  /** A message line, parsed (still to be checked). */
  message(data: unknown): void;
  /** A line the plugin process wrote on stderr (Deno's own reports). */
  stderr(line: string): void;
  /** It ended without being terminated, or sent what cannot be read. */
  failed(reason: string): void;
}

/** One plugin process; `postMessage` and `terminate` as a Worker's. */
export class ProcessPort {
  #child: Deno.ChildProcess;
  #stdin: WritableStreamDefaultWriter<Uint8Array>;
  #terminated = false;
  #encoder = new TextEncoder();

  constructor(events: ProcessEvents) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        "--no-config",
        "--no-lock",
        "--quiet",
        // No code from anywhere but the host: no remote modules, no npm.
        "--no-remote",
        "--no-npm",
        "--deny-import",
        `--allow-net=${LOOPBACK}`,
        `--v8-flags=--max-old-space-size=${PLUGIN_HEAP_MIB}`,
        bootstrapUrl(),
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#stdin = this.#child.stdin.getWriter();
    this.#stdin.closed.catch(() => {}); // a dead child: reported by its status
    void readLines(this.#child.stdout, MAX_MESSAGE_BYTES, (line) => {
      if (this.#terminated) return; // what is left in the pipe is not read
      try {
        events.message(JSON.parse(line));
      } catch {
        events.message(undefined); // malformed
      }
    }).catch((error: Error) => this.#fail(events, error.message));
    void readLines(this.#child.stderr, 4096, events.stderr).catch(() => {});
    this.#child.status.then((status) => {
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
    try {
      this.#child.kill("SIGKILL");
    } catch { /* already exited */ }
    this.#stdin.close().catch(() => {});
  }

  #fail(events: ProcessEvents, reason: string): void {
    if (this.#terminated) return;
    this.terminate();
    events.failed(reason);
  }
}

/**
 * Call `onLine` for each line of `stream`; rejects when a line is longer
 * than `maxBytes` (the stream is cancelled).
 */
async function readLines(
  stream: ReadableStream<Uint8Array>,
  maxBytes: number,
  onLine: (line: string) => void,
): Promise<void> {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of stream) {
    pending += decoder.decode(chunk, { stream: true });
    let at: number;
    while ((at = pending.indexOf("\n")) !== -1 && at <= maxBytes) {
      onLine(pending.slice(0, at));
      pending = pending.slice(at + 1);
    }
    if (at > maxBytes || pending.length > maxBytes) {
      await stream.cancel().catch(() => {});
      throw new Error(`sent a message line over ${maxBytes} bytes`);
    }
  }
  if (pending !== "") onLine(pending);
}
