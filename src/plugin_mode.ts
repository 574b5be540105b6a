/**
 * Plugin mode of a compiled wrapper. A `deno compile`d binary carries its
 * permissions and cannot be given narrower flags, so the host re-executes it
 * with `PLUGIN_MODE_ARG` as a plugin process (plugin_process.ts). Before any
 * plugin code exists here, this starts the plugin runtime in a Worker that
 * may reach loopback and nothing else, then revokes every permission of its
 * own: what is left of the process only relays the host's lines to the
 * Worker and the Worker's messages back as lines.
 * @module
 */
import { LOOPBACK_HOSTS, readLines, safeJson } from "./plugin_runtime.ts";

/** What a plugin's Worker may do: connect to loopback. Nothing else. */
export const PLUGIN_PERMISSIONS: Deno.PermissionOptionsObject = {
  net: [...LOOPBACK_HOSTS],
  read: false,
  write: false,
  env: false,
  run: false,
  ffi: false,
  sys: false,
  import: false,
};

const ALL: Deno.PermissionName[] = [
  "read",
  "write",
  "env",
  "run",
  "ffi",
  "sys",
  "net",
];

/** Serve as a plugin process until the host closes stdin; never returns. */
export async function pluginMode(): Promise<never> {
  const worker = new Worker(new URL("./plugin_runtime.ts", import.meta.url), {
    type: "module",
    name: "plugin",
    deno: { permissions: PLUGIN_PERMISSIONS },
  });
  for (const name of ALL) Deno.permissions.revokeSync({ name });
  const encoder = new TextEncoder();
  worker.onmessage = ({ data }: MessageEvent<unknown>) => {
    const bytes = encoder.encode(safeJson(data) + "\n");
    for (let n = 0; n < bytes.length;) {
      n += Deno.stdout.writeSync(bytes.subarray(n));
    }
  };
  // What the runtime does not catch itself ends the process: the host sees
  // a crash and starts a fresh one for the next hook.
  const end = (why: string) => {
    Deno.stderr.writeSync(encoder.encode(`${why}\n`));
    Deno.exit(1);
  };
  worker.onerror = (event) => {
    event.preventDefault();
    end(`plugin runtime failed: ${event.message}`);
  };
  worker.onmessageerror = () =>
    end("plugin runtime sent an unreadable message");
  await readLines(Deno.stdin, (line) => {
    worker.postMessage(JSON.parse(line));
  });
  Deno.exit(0); // the host has gone
}
