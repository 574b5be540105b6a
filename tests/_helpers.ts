// Shared test helpers: run the wrapper exactly as `deno task wrapper` does,
// and play sidecars and plugin servers on 127.0.0.1.
import denoJson from "../deno.json" with { type: "json" };

/** Repository root. */
export const ROOT = new URL("..", import.meta.url).pathname;
/** Fixture directory. */
export const FIXTURES = `${ROOT}tests/fixtures/`;

/**
 * `deno task wrapper`'s `deno run` and its flags, then `main.ts` (relative
 * to the repository), so tests, the demo and the bench use its exact
 * permissions. The task itself runs from the caller's folder.
 */
export const WRAPPER_ARGS: string[] = [
  ...(/deno (run .*?) --config/.exec(denoJson.tasks.wrapper)![1]!.split(" ")),
  "main.ts",
];

/** The test child that reports signals (see fixtures/signals.ts). */
export const SIGNALS_CHILD = [
  Deno.execPath(),
  "run",
  `${FIXTURES}signals.ts`,
];

/** Reads a byte stream as text, waiting for markers in it. */
export class TextWaiter {
  #reader: ReadableStreamDefaultReader<string>;
  #text = "";

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** Everything read so far. */
  get text(): string {
    return this.#text;
  }

  /** Resolves once `needle` has appeared; fails if the stream ends first, or after 30 s. */
  until(needle: string | RegExp): Promise<void> {
    return within(this.#until(needle), `output "${needle}"`, WAIT_MS);
  }

  /** Resolves once `needle` has appeared; throws if the stream ends first. */
  async #until(needle: string | RegExp): Promise<void> {
    const found = () =>
      typeof needle === "string"
        ? this.#text.includes(needle)
        : needle.test(this.#text);
    while (!found()) {
      const { value, done } = await this.#reader.read();
      if (done) throw new Error(`ended before "${needle}": ${this.#text}`);
      this.#text += value;
    }
  }

  /** Stop reading. */
  cancel(): Promise<void> {
    return this.#reader.cancel();
  }
}

/** Options of `wrapper` and `spawnWrapper`. */
export interface WrapperOptions {
  /** Extra environment variables (the rest is inherited, minus WRAPPER_*). */
  env?: Record<string, string>;
  /** Bytes for the wrapper's stdin. */
  stdin?: Uint8Array;
  /** Run it under `prlimit` with these limits (e.g. `--data=2G`). */
  prlimit?: string[];
  /** A command line the wrapper's runs under (e.g. `unshare … --`). */
  prefix?: string[];
}

/** What a finished wrapper run left behind. */
export interface WrapperResult {
  code: number;
  signal: Deno.Signal | null;
  stdout: Uint8Array;
  stderr: string;
  stderrBytes: Uint8Array;
}

function command(
  args: string[],
  env: Record<string, string> = {},
  stdin = false,
  prlimit?: string[],
  prefix: string[] = [],
) {
  const clean: Record<string, string> = {};
  for (const [key, value] of Object.entries(Deno.env.toObject())) {
    if (!key.startsWith("WRAPPER_")) clean[key] = value;
  }
  const argv = [Deno.execPath(), ...WRAPPER_ARGS, ...args];
  if (prlimit !== undefined) argv.unshift("prlimit", ...prlimit, "--");
  argv.unshift(...prefix);
  return new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    cwd: ROOT,
    env: { ...clean, NO_COLOR: "1", ...env },
    clearEnv: true,
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/** Run the wrapper to completion. */
export async function wrapper(
  args: string[],
  options: WrapperOptions = {},
): Promise<WrapperResult> {
  const child = command(
    args,
    options.env,
    options.stdin !== undefined,
    options.prlimit,
  ).spawn();
  const finished = child.output(); // read stdout while stdin is written
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(options.stdin);
    await writer.close();
  }
  const output = await finished;
  return {
    code: output.code,
    signal: output.signal,
    stdout: output.stdout,
    stderr: new TextDecoder().decode(output.stderr),
    stderrBytes: output.stderr,
  };
}

/** A running wrapper whose stdout is read line by line. */
export class RunningWrapper implements AsyncDisposable {
  readonly process: Deno.ChildProcess;
  readonly lines: AsyncIterator<string>;
  readonly stderr: Promise<string>;

  #stderrText = "";
  #stderrDone = false;
  #stderrWaiters: Array<() => void> = [];

  constructor(args: string[], options: WrapperOptions = {}) {
    this.process = command(args, options.env, false, undefined, options.prefix)
      .spawn();
    this.lines = this.process.stdout.pipeThrough(new TextDecoderStream())
      .pipeThrough(lineSplitter())[Symbol.asyncIterator]();
    const stderr = this.process.stderr.pipeThrough(new TextDecoderStream());
    this.stderr = (async () => {
      for await (const chunk of stderr) {
        this.#stderrText += chunk;
        for (const wake of this.#stderrWaiters.splice(0)) wake();
      }
      this.#stderrDone = true;
      for (const wake of this.#stderrWaiters.splice(0)) wake();
      return this.#stderrText;
    })();
  }

  /** Wait until stderr matches `pattern`; fails if stderr ends first, or after 30 s. */
  waitForStderr(pattern: RegExp): Promise<void> {
    return within(this.#waitForStderr(pattern), `stderr ${pattern}`, WAIT_MS);
  }

  /** Wait until stderr matches `pattern`; throws if stderr ends first. */
  async #waitForStderr(pattern: RegExp): Promise<void> {
    while (!pattern.test(this.#stderrText)) {
      if (this.#stderrDone) {
        throw new Error(`stderr ended without ${pattern}: ${this.#stderrText}`);
      }
      await new Promise<void>((resolve) => this.#stderrWaiters.push(resolve));
    }
  }

  /** The next stdout line; fails if stdout ended, or after 30 s. */
  nextLine(): Promise<string> {
    return within(this.#nextLine(), "the next stdout line", WAIT_MS);
  }

  /** The next stdout line; throws if stdout ended. */
  async #nextLine(): Promise<string> {
    const { value, done } = await this.lines.next();
    if (done) throw new Error("stdout ended");
    return value;
  }

  /** Wait until stdout prints `line`; returns the lines before it. */
  async waitFor(line: string): Promise<string[]> {
    const seen: string[] = [];
    for (
      let next = await this.nextLine();
      next !== line;
      next = await this.nextLine()
    ) {
      seen.push(next);
    }
    return seen;
  }

  /** Kills the wrapper and every process under it (the job has its own session). */
  async [Symbol.asyncDispose](): Promise<void> {
    for (const pid of [this.process.pid, ...descendants(this.process.pid)]) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* already exited */ }
    }
    await this.process.status.catch(() => {}); // a real-time signal: no name
    await this.stderr;
  }
}

/**
 * Files under /proc (`path` may hold a glob), read by `sh` and `cat`: Deno
 * wants --allow-all to read /proc.
 */
export function procFile(path: string): string {
  const { stdout } = new Deno.Command("sh", {
    args: ["-c", `cat /proc/${path}`],
    stderr: "null",
  }).outputSync();
  return new TextDecoder().decode(stdout);
}

/** Every living process under `pid`, from /proc/<pid>/task/<tid>/children. */
export function descendants(pid: number): number[] {
  const children = procFile(`${pid}/task/*/children`)
    .split(" ").filter((word) => word.trim() !== "").map(Number);
  return children.flatMap((child) => [child, ...descendants(child)]);
}

function lineSplitter(): TransformStream<string, string> {
  let buffer = "";
  return new TransformStream({
    transform(chunk, controller) {
      buffer += chunk;
      const parts = buffer.split("\n");
      buffer = parts.pop()!;
      for (const part of parts) controller.enqueue(part);
    },
    flush(controller) {
      if (buffer !== "") controller.enqueue(buffer);
    },
  });
}

/** A request a test server saw. */
export interface SeenRequest {
  method: string;
  path: string;
  body: string;
}

/** A local HTTP(S) server on 127.0.0.1 that records requests. */
export class TestServer implements AsyncDisposable {
  readonly requests: SeenRequest[] = [];
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  #waiters: Array<() => void> = [];
  #closed: Promise<void> | undefined;

  constructor(
    handler: (
      request: Request,
      seen: SeenRequest,
    ) => Response | Promise<Response>,
    options: { tls?: boolean; hostname?: string; port?: number } = {},
  ) {
    const tls = options.tls
      ? {
        cert: Deno.readTextFileSync(`${FIXTURES}tls/server.pem`),
        key: Deno.readTextFileSync(`${FIXTURES}tls/server.key`),
      }
      : {};
    this.#server = Deno.serve({
      hostname: options.hostname ?? "127.0.0.1",
      port: options.port ?? 0,
      onListen() {},
      ...tls,
    }, async (request) => {
      const seen = {
        method: request.method,
        path: new URL(request.url).pathname,
        body: await request.text(),
      };
      this.requests.push(seen);
      for (const wake of this.#waiters.splice(0)) wake();
      return await handler(request, seen);
    });
  }

  /** The server's port. */
  get port(): number {
    return this.#server.addr.port;
  }

  /** Resolves once the server has seen `count` requests; fails after 30 s. */
  received(count = 1): Promise<SeenRequest[]> {
    return within(this.#received(count), `${count} requests`, WAIT_MS);
  }

  /** Resolves once the server has seen `count` requests. */
  async #received(count = 1): Promise<SeenRequest[]> {
    while (this.requests.length < count) {
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    return this.requests;
  }

  /** Stop listening (the port closes). */
  close(): Promise<void> {
    this.#closed ??= this.#server.shutdown();
    return this.#closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** How a stand-in sidecar behaves. */
export interface FakeSidecarOptions {
  /** Readiness path, e.g. "/healthz/ready". */
  readyPath?: string;
  /** Readiness answers that are 503 before the first ready one (Infinity: never ready). */
  notReadyFor?: number;
  /** Status and body when ready. */
  ready?: { status: number; body: string };
  /** Quit path, e.g. "/quitquitquit". */
  quitPath: string;
  /** Methods the quit endpoint takes (405 otherwise). */
  quitMethods?: string[];
  /** Status and body of an accepted (or refused) quit. */
  quit?: { status: number; body: string };
  /** Keep running after an accepted quit (a sidecar that ignores it). */
  keepRunning?: boolean;
  /** Header name and value required on every request (401 otherwise). */
  token?: [string, string];
  /** Listen on this port (default: any free one). */
  port?: number;
}

/** A sidecar on 127.0.0.1 that answers as the real one and stops on quit. */
export class FakeSidecar extends TestServer {
  constructor(options: FakeSidecarOptions) {
    let readyChecks = 0;
    const quit = options.quit ?? { status: 200, body: "OK" };
    super((request, seen) => {
      const [header, value] = options.token ?? [];
      if (header !== undefined && request.headers.get(header) !== value) {
        return new Response("unauthorized", { status: 401 });
      }
      if (seen.path === options.readyPath) {
        const ready = readyChecks++ >= (options.notReadyFor ?? 0);
        return ready
          ? new Response(options.ready?.body || null, {
            status: options.ready?.status ?? 200,
          })
          : new Response("not ready", { status: 503 });
      }
      if (seen.path !== options.quitPath) {
        return new Response("", { status: 404 });
      }
      if (!(options.quitMethods ?? ["POST"]).includes(request.method)) {
        return new Response("method not allowed", { status: 405 });
      }
      if (quit.status < 300 && !options.keepRunning) {
        setTimeout(() => this.close(), 0);
      }
      return new Response(quit.body || null, { status: quit.status });
    }, { port: options.port ?? 0 });
  }
}

/** A stand-in for Istio's pilot-agent: POST /quitquitquit → 200 "OK". */
export function fakePilotAgent(status = 200): FakeSidecar {
  return new FakeSidecar({
    readyPath: "/healthz/ready",
    quitPath: "/quitquitquit",
    quit: { status, body: status === 200 ? "OK" : "forbidden" },
  });
}

/** WRAPPER_PLUGIN_ISTIO_PROXY_* pointing at a fake pilot-agent. */
export function istioEnv(port: number): Record<string, string> {
  return {
    WRAPPER_PLUGIN_ISTIO_PROXY_READY_URL:
      `http://127.0.0.1:${port}/healthz/ready`,
    WRAPPER_PLUGIN_ISTIO_PROXY_QUIT_URL:
      `http://127.0.0.1:${port}/quitquitquit`,
  };
}

/** A loopback port with nothing listening on it. */
export function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** A plugin file written for one test; removed with its folder. */
export async function tempPlugin(
  name: string,
  code: string,
): Promise<{ path: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/${name}`;
  await Deno.writeTextFile(path, code);
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

/** Whether `sidecar` was asked to quit (a POST to /quitquitquit). */
export function quitSent(sidecar: TestServer): boolean {
  return sidecar.requests.some((r) =>
    r.method === "POST" && r.path === "/quitquitquit"
  );
}

/**
 * Wait until `condition()` holds, looking every 10 ms, for what no event
 * announces (a process's state in /proc); fails after `ms`.
 */
export async function waitUntil(
  condition: () => boolean,
  what: string,
  ms = 10_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** How long a wait helper waits before it fails: a regression fails, not hangs. */
export const WAIT_MS = 30_000;

/** `promise`, or a failure naming `what` after `ms`: a regression fails, not hangs. */
export async function within<T>(
  promise: Promise<T>,
  what: string,
  ms = 10_000,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A command line that runs what follows as PID 1 of a new PID namespace. */
export const AS_PID_1: readonly string[] = [
  "unshare",
  "--pid",
  "--fork",
  "--mount-proc",
  "--kill-child",
];

/** Whether `unshare` can give the wrapper its own PID namespace here. */
export function canUnsharePid(): boolean {
  if (Deno.build.os !== "linux") return false;
  try {
    return new Deno.Command("unshare", {
      args: ["--pid", "--fork", "--mount-proc", "true"],
      stdout: "null",
      stderr: "null",
    }).outputSync().success;
  } catch {
    return false;
  }
}

/** A map in the kubelet's downward API format: sorted `key="value"` lines, no final newline. */
export function kubeletFormat(map: ReadonlyMap<string, string>): string {
  return [...map.keys()].sort().map((key) =>
    `${key}=${JSON.stringify(map.get(key))}`
  ).join("\n");
}

/** A temporary downward API folder, as the kubelet mounts it. */
export async function podinfoDir(
  annotations: Record<string, string>,
  labels?: Record<string, string>,
): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "podinfo-" });
  const write = (name: string, entries: Record<string, string>) =>
    Deno.writeTextFile(
      `${path}/${name}`,
      kubeletFormat(new Map(Object.entries(entries))),
    );
  await write("annotations", annotations);
  if (labels !== undefined) await write("labels", labels);
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }),
  };
}

/** Istio's `sidecar.istio.io/status` as its injector writes it. */
export function istioStatus(native = false): string {
  return JSON.stringify({
    initContainers: native ? ["istio-init", "istio-proxy"] : ["istio-init"],
    containers: native ? null : ["istio-proxy"],
    volumes: ["istio-envoy"],
    imagePullSecrets: null,
    revision: "default",
  });
}

/** Whether the tests run as root (`id -u`: Deno.uid() needs --allow-sys). */
export const IS_ROOT: boolean = (() => {
  try {
    const { stdout } = new Deno.Command("id", { args: ["-u"] }).outputSync();
    return new TextDecoder().decode(stdout).trim() === "0";
  } catch {
    return false;
  }
})();

/** Whether `command` with `args` runs and succeeds here (a tool a test needs). */
export function works(command: string, args: string[]): boolean {
  try {
    return new Deno.Command(command, { args, stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** What `textOutput` returns: the exit code, and stdout and stderr as text. */
export interface TextOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run `program` with `args` to its end; its code, and its output as text. */
export async function textOutput(
  program: string,
  args: string[],
  options: Omit<Deno.CommandOptions, "args"> = {},
): Promise<TextOutput> {
  const { code, stdout, stderr } = await new Deno.Command(program, {
    ...options,
    args,
  }).output();
  const text = new TextDecoder();
  return { code, stdout: text.decode(stdout), stderr: text.decode(stderr) };
}
