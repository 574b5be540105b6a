/**
 * `deno task bench`: what the wrapper costs in a Job, against baselines
 * measured in the same run: the command alone, Deno's own floor, tini and
 * dumb-init. The wrapper measured is the image's (image/rootfs.ts, built
 * into bench/results/rootfs first). Prints Markdown tables and writes
 * bench/results/latest.{json,md}.
 *
 * 1. start-up   2. idle memory (peak, anonymous, file-backed)
 * 3. output throughput (2 GiB)   4. exit-to-quit latency   5. signal latency
 * 6. plugin load   7. start-up signal window   8. ready-to-start latency
 *
 * Usage: deno task bench [runs] [section…]   (default 20 runs, all sections;
 * idle memory and throughput use runs/2, at least 3; sections: startup
 * idlePeak throughput exitToQuit signal pluginLoad signalWindow readyLatency)
 * Needs tini, dumb-init and cc (bench/setup installs them from Debian).
 * @module
 */
// deno-lint-ignore-file no-console -- a report printed for people
import { within, WRAPPER_ARGS } from "../tests/_helpers.ts";
import { procReader } from "../src/memory_watch.ts";
import { buildRootfs } from "../image/rootfs.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const RUNS = Number(Deno.args[0] ?? "20");
const ONLY = Deno.args.slice(1);
const wanted = (section: string) => ONLY.length === 0 || ONLY.includes(section);
const DENO = Deno.execPath();
// What ships is what is measured: the image's /wrapper (image/rootfs.ts),
// built afresh, run from its root filesystem on this machine. The source
// checkout's `deno task wrapper` (LogTape from npm) is one more start-up row.
const IMAGE = `${ROOT}bench/results/rootfs`;
await Deno.remove(IMAGE, { recursive: true }).catch(() => {});
await Deno.mkdir(`${ROOT}bench/results`, { recursive: true });
await buildRootfs(IMAGE);
const WRAPPER = [`${IMAGE}/wrapper`];
const CONNECT = `${ROOT}bench/results/connect`;
if (wanted("readyLatency")) {
  const args = [
    "-static",
    "-O2",
    "-o",
    CONNECT,
    `${ROOT}bench/fixtures/connect.c`,
  ];
  const { success } = await new Deno.Command("cc", { args }).output();
  if (!success) throw new Error("cc cannot build bench/fixtures/connect.c");
}
const SOURCE = [DENO, ...WRAPPER_ARGS];
const FIX = `${ROOT}bench/fixtures/`;
const CA = `${ROOT}tests/fixtures/tls/`;

interface Stats {
  median: number;
  p95: number;
  min: number;
  max: number;
  n: number;
}

function stats(values: number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2
    ? sorted[mid]!
    : (sorted[mid - 1]! + sorted[mid]!) / 2;
  const p95 =
    sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.95) - 1)]!;
  return {
    median,
    p95,
    min: sorted[0]!,
    max: sorted.at(-1)!,
    n: sorted.length,
  };
}

function spawn(
  argv: string[],
  env: Record<string, string> = {},
): Deno.ChildProcess {
  return new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    cwd: ROOT,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Read `child`'s stdout until a line matches; returns the match. */
async function waitLine(
  lines: ReadableStreamDefaultReader<string>,
  pattern: RegExp,
  buffer: { text: string },
): Promise<RegExpMatchArray> {
  for (;;) {
    const match = pattern.exec(buffer.text);
    if (match) {
      buffer.text = buffer.text.slice(match.index! + match[0].length);
      return match;
    }
    const { value, done } = await lines.read();
    if (done) throw new Error(`stdout ended before ${pattern}`);
    buffer.text += value;
  }
}

function reader(child: Deno.ChildProcess) {
  return child.stdout.pipeThrough(new TextDecoderStream()).getReader();
}

async function finish(
  child: Deno.ChildProcess,
  lines?: ReadableStreamDefaultReader<string>,
) {
  await lines?.cancel();
  await child.stderr.cancel().catch(() => {});
  return await child.status;
}

// 1. Start-up -----------------------------------------------------------------
type Variant = [argv: string[], env?: Record<string, string>];

async function wallTime([argv, env = {}]: Variant): Promise<number> {
  const started = performance.now();
  const { code } = await new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    cwd: ROOT,
    env,
    stdout: "null",
    stderr: "null",
  }).output();
  if (code !== 0) throw new Error(`${argv.join(" ")} exited ${code}`);
  return performance.now() - started;
}

const QUIET = { WRAPPER_LOG_LEVEL: "off" };
const STARTUP: Record<string, Variant> = {
  "true (alone)": [["true"]],
  "deno run empty.ts (Deno's floor)": [[DENO, "run", `${FIX}empty.ts`]],
  "deno run spawn_true.ts (Deno running true)": [
    [DENO, "run", "--allow-run", `${FIX}spawn_true.ts`],
  ],
  "deno run logtape.ts (Deno loading LogTape)": [
    [DENO, "run", `${FIX}logtape.ts`],
  ],
  "tini -s -- true": [["tini", "-s", "--", "true"]],
  "dumb-init true": [["dumb-init", "true"]],
  "wrapper true": [[...WRAPPER, "true"]],
  "wrapper -p echo true (built-in)": [[...WRAPPER, "-p", "echo", "true"]],
  "wrapper -p echo true, logging off": [
    [...WRAPPER, "-p", "echo", "true"],
    QUIET,
  ],
  "wrapper -p plugins/echo.ts true (file: own process)": [
    [...WRAPPER, "-p", `${ROOT}plugins/echo.ts`, "true"],
  ],
  "deno task wrapper -p echo true (source checkout, LogTape from npm)": [
    [...SOURCE, "-p", "echo", "true"],
  ],
};

// 2. Idle memory --------------------------------------------------------------
/** Peak, anonymous and file-backed resident memory, in MiB. */
interface Memory {
  peak: number;
  anon: number;
  file: number;
}

async function idleMemory([argv, env]: Variant): Promise<Memory> {
  const child = spawn(argv, env);
  const lines = reader(child);
  await waitLine(lines, /ready\n/, { text: "" });
  // The wrapper's, plus its plugin processes' (their program is a data:
  // URL); not the job's.
  const total = { peak: 0, anon: 0, file: 0 };
  for (const pid of [child.pid, ...await pluginProcesses(child.pid)]) {
    const status = await readProc(`/proc/${pid}/status`);
    const kb = (field: string) =>
      Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)![1]) / 1024;
    total.peak += kb("VmHWM");
    total.anon += kb("RssAnon");
    total.file += kb("RssFile") + kb("RssShmem");
  }
  child.kill("SIGTERM");
  await finish(child, lines);
  return total;
}

/** Deno asks for --allow-all to read /proc; cat needs only --allow-run. */
async function readProc(path: string): Promise<string> {
  const { stdout } = await new Deno.Command("cat", { args: [path] }).output();
  return new TextDecoder().decode(stdout);
}

async function pluginProcesses(pid: number): Promise<number[]> {
  const children = (await readProc(`/proc/${pid}/task/${pid}/children`))
    .trim().split(/\s+/).filter(Boolean).map(Number);
  const plugins: number[] = [];
  for (const child of children) {
    const cmdline = await readProc(`/proc/${child}/cmdline`);
    // Under deno run, the runtime as a data: URL; compiled, plugin mode.
    if (/data:application\/|--wrapper-internal-plugin-runtime/.test(cmdline)) {
      plugins.push(child);
    }
  }
  return plugins;
}

const IDLE = [DENO, "run", `${FIX}idle.ts`];
const MEMORY: Record<string, Variant> = {
  "deno run idle.ts (Deno's floor)": [IDLE],
  "deno run idle.ts, LogTape loaded": [[...IDLE, "logtape"]],
  "tini -s -- <job>": [["tini", "-s", "--", ...IDLE]],
  "dumb-init <job>": [["dumb-init", ...IDLE]],
  "wrapper, 0 plugins": [[...WRAPPER, ...IDLE]],
  "wrapper, 1 built-in": [[...WRAPPER, "-p", "echo", ...IDLE]],
  "wrapper, 1 built-in, logging off": [
    [...WRAPPER, "-p", "echo", ...IDLE],
    QUIET,
  ],
  "wrapper, 3 built-ins": [
    [...WRAPPER, "-p", "echo,consul-dataplane,http", ...IDLE],
  ],
  "wrapper, 1 file plugin (own process; wrapper + plugin process)": [
    [...WRAPPER, "-p", `${ROOT}plugins/echo.ts`, ...IDLE],
  ],
};

// 3. Throughput ----------------------------------------------------------------
const SIZE_MIB = 2048;
const DD = `dd if=/dev/zero bs=1M count=${SIZE_MIB} status=none`;
const W = WRAPPER.join(" ");
const SINK = "/dev/shm/wrapper-bench.out";
// tini (C, no per-byte path either) is the control: it shows the noise. The
// file is written once beforehand and then overwritten in place (`1<>`, no
// truncation): allocating 2 GiB of tmpfs pages anew varied 0.7–3 s per run.
const THROUGHPUT: Record<string, string> = {
  "pipe, direct": `${DD} | cat > /dev/null`,
  "pipe, tini -s --": `tini -s -- ${DD} | cat > /dev/null`,
  "pipe, wrapped": `${W} ${DD} | cat > /dev/null`,
  "file, direct": `${DD} 1<> ${SINK}`,
  "file, tini -s --": `tini -s -- ${DD} 1<> ${SINK}`,
  "file, wrapped": `${W} ${DD} 1<> ${SINK}`,
};

// 4. Exit-to-quit -----------------------------------------------------------------
/** `plugin`: the istio-proxy spec the wrapper loads; undefined: baseline. */
async function exitToQuit(
  plugin: string | undefined,
): Promise<{ quitMs: number; downMs: number }> {
  const sidecar = spawn([DENO, "run", "--allow-net", `${FIX}sidecar.ts`]);
  const lines = reader(sidecar);
  const buffer = { text: "" };
  const [, control, port] = await waitLine(
    lines,
    /ready (\d+) (\d+)\n/,
    buffer,
  );
  const quitUrl = `http://127.0.0.1:${port}/quitquitquit`;
  const job = [DENO, "run", "--allow-net", `${FIX}job_exit.ts`, control!];
  const run = plugin !== undefined
    ? new Deno.Command(WRAPPER[0]!, {
      args: [...WRAPPER.slice(1), "-p", plugin, ...job],
      cwd: ROOT,
      env: {
        WRAPPER_PLUGIN_ISTIO_PROXY_READY_URL: "off",
        WRAPPER_PLUGIN_ISTIO_PROXY_QUIT_URL: quitUrl,
      },
      stdout: "null",
      stderr: "null",
    }).output()
    // baseline: the job's own shell-less equivalent, POST right after it exits
    : (async () => {
      await new Deno.Command(job[0]!, { args: job.slice(1), stdout: "null" })
        .output();
      await (await fetch(quitUrl, { method: "POST" })).body?.cancel();
    })();
  const [, json] = await Promise.all([
    run,
    waitLine(lines, /(\{.*\})\n/, buffer),
  ]);
  await finish(sidecar, lines);
  return JSON.parse(json![1]!);
}

// 5. Signal latency ------------------------------------------------------------
async function signalLatency(prefix: string[]): Promise<number> {
  const child = spawn([...prefix, DENO, "run", `${FIX}job_term.ts`]);
  const lines = reader(child);
  const buffer = { text: "" };
  await waitLine(lines, /ready\n/, buffer);
  const sent = performance.timeOrigin + performance.now();
  child.kill("SIGTERM");
  const [, at] = await waitLine(lines, /term ([\d.]+)\n/, buffer);
  await finish(child, lines);
  return Number(at) - sent;
}

// 6. Plugin load ---------------------------------------------------------------------
async function loadTime(
  spec: string,
  env: Record<string, string> = {},
): Promise<number> {
  const { stderr, code } = await new Deno.Command(WRAPPER[0]!, {
    args: [...WRAPPER.slice(1), "--log-level=debug", "-p", spec, "true"],
    cwd: ROOT,
    env: { NO_COLOR: "1", ...env },
    stdout: "null",
  }).output();
  const text = new TextDecoder().decode(stderr);
  const match = /Loaded plugin .* loadMs=([\d.]+)/.exec(text);
  if (code !== 0 || match === null) {
    throw new Error(`load of ${spec} failed: ${text}`);
  }
  return Number(match[1]);
}

// 7. Start-up signal window ---------------------------------------------------------
const SIGTERM_BIT = 1n << 14n; // SIGTERM is 15

/**
 * From spawn to the moment the process has a SIGTERM handler (SigCgt in
 * /proc/<pid>/status, read through libc every ~0.1 ms): before it, a SIGTERM
 * to PID 1 is dropped, and to anyone else it kills with no forwarding.
 */
async function signalWindow(argv: string[]): Promise<number> {
  const read = procReader();
  if (typeof read === "string") throw new Error(read);
  const started = performance.now();
  const child = spawn(argv);
  let at: number | undefined;
  while (at === undefined && performance.now() - started < 5000) {
    const status = read(`/proc/${child.pid}/status`) ?? "";
    const caught = /SigCgt:\s*([0-9a-f]+)/.exec(status)?.[1];
    if (caught !== undefined && (BigInt(`0x${caught}`) & SIGTERM_BIT) !== 0n) {
      at = performance.now() - started;
    }
  }
  child.kill("SIGTERM");
  await finish(child, reader(child)).catch(() => {});
  if (at === undefined) throw new Error(`${argv.join(" ")}: no handler in 5 s`);
  return at;
}

// 8. Ready-to-start latency -----------------------------------------------------------
/**
 * A stand-in sidecar answers 503 until a random moment 300–1300 ms after it
 * starts, then 200. The job connects to the bench's listener as its first
 * instruction (fixtures/connect.c, static: no shell's or loader's start-up
 * before it). From the sidecar's first 200 to that connection, on the
 * bench's clock; and the readiness requests per second the wait cost the
 * sidecar. The oracle is the sidecar itself starting the job when it first
 * answers 200: the floor of any way to start it.
 */
async function readyLatency(
  wrapped: boolean,
): Promise<{ latency: number; rate: number }> {
  const jobs = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const job = [CONNECT, String(jobs.addr.port)];
  const readyAt = performance.now() + 300 + Math.random() * 1000;
  let firstRequest: number | undefined;
  let firstReady: number | undefined;
  let polls = 0;
  let run: Promise<unknown> | undefined;
  const sidecar = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
  }, () => {
    const now = performance.now();
    firstRequest ??= now;
    if (now < readyAt) {
      polls++;
      return new Response("not ready", { status: 503 });
    }
    firstReady ??= now;
    return new Response("ready");
  });
  if (wrapped) {
    run = new Deno.Command(WRAPPER[0]!, {
      args: [...WRAPPER.slice(1), "-p", "istio-proxy", ...job],
      env: {
        WRAPPER_PLUGIN_ISTIO_PROXY_READY_URL:
          `http://127.0.0.1:${sidecar.addr.port}/healthz/ready`,
        WRAPPER_PLUGIN_ISTIO_PROXY_QUIT_URL: "off",
        WRAPPER_LOG_LEVEL: "off",
      },
      stdout: "null",
      stderr: "null",
    }).output();
  } else {
    await new Promise((resolve) =>
      setTimeout(resolve, readyAt - performance.now())
    );
    firstReady = performance.now();
    run = new Deno.Command(job[0]!, { args: job.slice(1) }).output();
  }
  const connection = await within(
    jobs.accept(),
    "the job's connection",
    30_000,
  );
  const connected = performance.now();
  connection.close();
  jobs.close();
  await run;
  await sidecar.shutdown();
  const waited = (firstReady! - firstRequest!) / 1000;
  return { latency: connected - firstReady!, rate: polls / waited };
}

// ---------------------------------------------------------------------------------
const results: Record<string, Record<string, Stats>> = {};
const record = (
  section: string,
  name: string,
  values: number[],
) => ((results[section] ??= {})[name] = stats(values));

/** Measure every variant `runs` times, interleaved, and record the medians. */
async function interleave<T>(
  section: string,
  runs: number,
  variants: Record<string, T>,
  measure: (variant: T) => Promise<number>,
): Promise<void> {
  const values: Record<string, number[]> = {};
  for (let run = 0; run < runs; run++) {
    for (const [name, variant] of Object.entries(variants)) {
      (values[name] ??= []).push(await measure(variant));
    }
  }
  for (const [name, list] of Object.entries(values)) {
    record(section, name, list);
  }
}

console.error(`bench: ${RUNS} runs per variant`);
if (wanted("startup")) {
  console.error("bench: 1/8 start-up");
  await interleave("startup", RUNS, STARTUP, wallTime);
}

if (wanted("idlePeak")) {
  console.error("bench: 2/8 idle memory");
  const parts: Record<keyof Memory, Record<string, number[]>> = {
    peak: {},
    anon: {},
    file: {},
  };
  for (let run = 0; run < Math.max(3, RUNS >> 1); run++) {
    for (const [name, variant] of Object.entries(MEMORY)) {
      const memory = await idleMemory(variant);
      for (const part of ["peak", "anon", "file"] as const) {
        (parts[part][name] ??= []).push(memory[part]);
      }
    }
  }
  for (
    const [part, section] of [["peak", "idlePeak"], ["anon", "idleAnon"], [
      "file",
      "idleFile",
    ]] as const
  ) {
    for (const [name, values] of Object.entries(parts[part])) {
      record(section, name, values);
    }
  }
}

if (wanted("throughput")) {
  console.error("bench: 3/8 throughput (2 GiB each)");
  await wallTime([["sh", "-c", `${DD} > ${SINK}`]]);
  await interleave(
    "throughput",
    Math.max(3, RUNS >> 1),
    THROUGHPUT,
    (script) => wallTime([["sh", "-c", script]]),
  );
  await Deno.remove(SINK).catch(() => {});
}

if (wanted("exitToQuit")) {
  console.error("bench: 4/8 exit-to-quit");
  const quit: Record<string, number[]> = {};
  const WHO: Record<string, string | undefined> = {
    "baseline: a POST right after the job": undefined,
    "wrapper + istio-proxy (built-in)": "istio-proxy",
    "wrapper + plugins/istio_proxy.ts (own process)":
      `${ROOT}plugins/istio_proxy.ts`,
  };
  for (let run = 0; run < RUNS; run++) {
    for (const [who, plugin] of Object.entries(WHO)) {
      const { quitMs, downMs } = await exitToQuit(plugin);
      (quit[`${who}: job exit → quit received`] ??= []).push(quitMs);
      (quit[`${who}: job exit → sidecar stopped`] ??= []).push(downMs);
    }
  }
  for (const [name, values] of Object.entries(quit)) {
    record("exitToQuit", name, values);
  }
}

if (wanted("signal")) {
  console.error("bench: 5/8 signal latency");
  const PREFIXES: Record<string, string[]> = {
    "job alone": [],
    "tini -s --": ["tini", "-s", "--"],
    "dumb-init": ["dumb-init"],
    "wrapper": WRAPPER,
  };
  await interleave("signal", RUNS, PREFIXES, signalLatency);
}

if (wanted("pluginLoad")) {
  console.error("bench: 6/8 plugin load");
  const tls = {
    cert: await Deno.readTextFile(`${CA}server.pem`),
    key: await Deno.readTextFile(`${CA}server.key`),
  };
  const pluginText = await Deno.readFile(`${ROOT}plugins/echo.ts`);
  const site = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
    ...tls,
  }, () => new Response(pluginText));
  const SPECS: Record<string, [string, Record<string, string>]> = {
    "built-in (echo)": ["echo", {}],
    "file (plugins/echo.ts)": [`${ROOT}plugins/echo.ts`, {}],
    "https URL on 127.0.0.1 (test CA)": [
      `https://localhost:${site.addr.port}/echo.ts`,
      { DENO_CERT: `${CA}ca.pem` },
    ],
  };
  await interleave(
    "pluginLoad",
    RUNS,
    SPECS,
    ([spec, env]) => loadTime(spec, env),
  );
  await site.shutdown();
}

if (wanted("signalWindow")) {
  console.error("bench: 7/8 start-up signal window");
  await interleave("signalWindow", RUNS, {
    "deno run term_first.ts (Deno's floor)": [
      DENO,
      "run",
      `${FIX}term_first.ts`,
    ],
    "wrapper sleep 5": [...WRAPPER, "sleep", "5"],
    "wrapper -p echo sleep 5": [...WRAPPER, "-p", "echo", "sleep", "5"],
  }, signalWindow);
}

if (wanted("readyLatency")) {
  console.error("bench: 8/8 ready-to-start latency");
  const latency: Record<string, number[]> = {};
  const rates: number[] = [];
  const WHO = {
    "oracle: the sidecar starts the job at its first 200": false,
    "wrapper -p istio-proxy": true,
  };
  for (let run = 0; run < RUNS; run++) {
    for (const [who, wrapped] of Object.entries(WHO)) {
      const { latency: ms, rate } = await readyLatency(wrapped);
      (latency[who] ??= []).push(ms);
      if (wrapped && Number.isFinite(rate)) rates.push(rate);
    }
  }
  for (const [who, values] of Object.entries(latency)) {
    record("readyLatency", who, values);
  }
  record(
    "readyPolls",
    "wrapper -p istio-proxy: requests per second while not ready",
    rates,
  );
}

// Report ------------------------------------------------------------------------------
const f = (n: number) => n.toFixed(n < 10 ? 2 : 1);
function table(
  section: string,
  unit: string,
  baseline?: string,
  per?: (s: Stats) => string,
) {
  if (results[section] === undefined) return "(not measured in this run)";
  const rows = Object.entries(results[section]!);
  const base = baseline === undefined
    ? undefined
    : results[section]![baseline]!.median;
  return [
    `| ${section} | median ${unit} | min | max | n |${base ? " ratio |" : ""}${
      per ? " rate |" : ""
    }`,
    `| --- | ---: | ---: | ---: | ---: |${base ? " ---: |" : ""}${
      per ? " ---: |" : ""
    }`,
    ...rows.map(([name, s]) =>
      `| ${name} | ${f(s.median)} | ${f(s.min)} | ${f(s.max)} | ${s.n} |${
        base ? ` ${(s.median / base).toFixed(2)}× |` : ""
      }${per ? ` ${per(s)} |` : ""}`
    ),
  ].join("\n");
}
const FLOOR = "deno run empty.ts (Deno's floor)";
const IDLE_FLOOR = "deno run idle.ts (Deno's floor)";
const cpu = (await Deno.readTextFile("/proc/cpuinfo").catch(() => "")).match(
  /model name\s*:\s*(.*)/,
)?.[1];
const header = `Measured ${
  new Date().toISOString().slice(0, 16).replace("T", " ")
} UTC on ${
  cpu ?? Deno.build.target
}, ${navigator.hardwareConcurrency} cores, Linux, Deno ${Deno.version.deno} (\`deno run\`), ${RUNS} runs per variant unless n says otherwise.`;
const markdown = [
  header,
  "",
  "Start-up: wall time of the whole command; ratio to Deno's floor. Two more baselines show what any Deno wrapper pays: running a child, and loading LogTape (the required logging library, from npm).",
  "",
  table("startup", "ms", FLOOR),
  "",
  'Idle memory: peak resident set (VmHWM) of the wrapper (or tini, dumb-init) process, plus its plugin processes, read while its job waits; ratio to Deno\'s floor. A plugin that logs loads LogTape; "logging off" shows the plugin without it.',
  "",
  table("idlePeak", "MiB", IDLE_FLOOR),
  "",
  "The same, resident at idle, split: anonymous memory (heaps, what the process itself allocated; what a container's memory limit charges to it alone) and file-backed memory (the Deno binary's pages in use, shared with every process that maps the same file, and page cache).",
  "",
  table("idleAnon", "MiB", IDLE_FLOOR),
  "",
  table("idleFile", "MiB", IDLE_FLOOR),
  "",
  `Output throughput: ${SIZE_MIB} MiB from dd through a pipe, and into a file on tmpfs (overwritten in place): wall time of the whole command, so a wrapped row includes the wrapper's start-up (~0.1 s, the start-up section); tini, which has no per-byte path either, shows the noise.`,
  "",
  table(
    "throughput",
    "ms",
    undefined,
    (s) => `${(SIZE_MIB / 1024 / (s.median / 1000)).toFixed(2)} GiB/s`,
  ),
  "",
  "Exit-to-quit: from the job's exit (the kernel closing the job's connection to the stand-in sidecar) to the sidecar receiving the quit, and to it having stopped, on the sidecar's clock.",
  "",
  table("exitToQuit", "ms"),
  "",
  "Signal latency: from SIGTERM sent (to the wrapper, tini, dumb-init or the job) to the job's handler running.",
  "",
  table("signal", "ms", "job alone"),
  "",
  "Plugin load: read or fetch, then the module's import in-process (a built-in by name) or in a process of its own (a file or URL), as the wrapper logs it (loadMs, at debug level, so LogTape loads meanwhile).",
  "",
  table("pluginLoad", "ms", "built-in (echo)"),
  "",
  "Start-up signal window: from spawn to a SIGTERM handler being installed (SigCgt in /proc, polled every ~0.1 ms). Before it, a SIGTERM to PID 1 is lost (to anyone else, fatal). Deno's floor is a script whose first statement listens.",
  "",
  table("signalWindow", "ms", "deno run term_first.ts (Deno's floor)"),
  "",
  "Ready-to-start latency: a stand-in sidecar turns ready at a random moment (300–1300 ms after it starts); from its first 200 to the job's first instruction (a connection, the first statement of a static C program). The oracle is the sidecar starting the job itself; p95 in the last column.",
  "",
  table(
    "readyLatency",
    "ms",
    "oracle: the sidecar starts the job at its first 200",
    (s) => `p95 ${f(s.p95)}`,
  ),
  "",
  "What the wait costs the sidecar: readiness requests per second while it is not ready.",
  "",
  table("readyPolls", "req/s"),
  "",
].join("\n");
console.log(markdown);
await Deno.mkdir(`${ROOT}bench/results`, { recursive: true });
await Deno.writeTextFile(`${ROOT}bench/results/latest.md`, markdown);
await Deno.writeTextFile(
  `${ROOT}bench/results/latest.json`,
  JSON.stringify(
    {
      date: new Date().toISOString(),
      runs: RUNS,
      deno: Deno.version.deno,
      results,
    },
    null,
    2,
  ) + "\n",
);
