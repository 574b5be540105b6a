/**
 * `deno task bench`: what the wrapper costs in a Job, against baselines
 * measured in the same run: the command alone, Deno's own floor, tini and
 * dumb-init. Prints Markdown tables and writes bench/results/latest.{json,md}.
 *
 * 1. start-up   2. idle memory   3. output throughput (2 GiB)
 * 4. exit-to-quit latency   5. signal latency   6. plugin load
 *
 * Usage: deno task bench [runs] [section…]   (default 20 runs, all sections;
 * idle memory and throughput use runs/2, at least 3; sections: startup idlePeak throughput
 * exitToQuit signal pluginLoad)
 * Needs tini and dumb-init (bench/setup installs them from Debian).
 * @module
 */
// deno-lint-ignore-file no-console -- a report printed for people
import { WRAPPER_ARGS } from "../tests/_helpers.ts";
import { procReader } from "../src/memory_watch.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const RUNS = Number(Deno.args[0] ?? "20");
const ONLY = Deno.args.slice(1);
const wanted = (section: string) => ONLY.length === 0 || ONLY.includes(section);
const DENO = Deno.execPath();
const WRAPPER = [DENO, ...WRAPPER_ARGS];
const FIX = `${ROOT}bench/fixtures/`;
const CA = `${ROOT}tests/fixtures/tls/`;

interface Stats {
  median: number;
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
  return { median, min: sorted[0]!, max: sorted.at(-1)!, n: sorted.length };
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
};

// 2. Idle memory --------------------------------------------------------------
async function peakMemory([argv, env]: Variant): Promise<number> {
  const child = spawn(argv, env);
  const lines = reader(child);
  await waitLine(lines, /ready\n/, { text: "" });
  // The wrapper's, plus its plugin processes' (their program is a data:
  // URL); not the job's.
  let kb = await procPeakKb(child.pid);
  for (const pid of await pluginProcesses(child.pid)) {
    kb += await procPeakKb(pid);
  }
  child.kill("SIGTERM");
  await finish(child, lines);
  return kb / 1024;
}

/** Deno asks for --allow-all to read /proc; cat needs only --allow-run. */
async function readProc(path: string): Promise<string> {
  const { stdout } = await new Deno.Command("cat", { args: [path] }).output();
  return new TextDecoder().decode(stdout);
}

async function procPeakKb(pid: number): Promise<number> {
  return Number(
    /VmHWM:\s+(\d+) kB/.exec(await readProc(`/proc/${pid}/status`))![1],
  );
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
  console.error("bench: 1/7 start-up");
  await interleave("startup", RUNS, STARTUP, wallTime);
}

if (wanted("idlePeak")) {
  console.error("bench: 2/7 idle memory");
  await interleave("idlePeak", Math.max(3, RUNS >> 1), MEMORY, peakMemory);
}

if (wanted("throughput")) {
  console.error("bench: 3/7 throughput (2 GiB each)");
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
  console.error("bench: 4/7 exit-to-quit");
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
  console.error("bench: 5/7 signal latency");
  const PREFIXES: Record<string, string[]> = {
    "job alone": [],
    "tini -s --": ["tini", "-s", "--"],
    "dumb-init": ["dumb-init"],
    "wrapper": WRAPPER,
  };
  await interleave("signal", RUNS, PREFIXES, signalLatency);
}

if (wanted("pluginLoad")) {
  console.error("bench: 6/7 plugin load");
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
  console.error("bench: 7/7 start-up signal window");
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
  `Output throughput: ${SIZE_MIB} MiB from dd through a pipe, and into a file on tmpfs (overwritten in place); tini, which has no per-byte path either, shows the noise.`,
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
