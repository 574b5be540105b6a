/**
 * `deno task bench`: what the wrapper costs, against baselines measured in
 * the same run. Prints a Markdown table and writes bench/results/latest.{json,md}.
 *
 * - start-up: wall time of `X true` for each variant, sequential runs;
 * - idle memory: resident set (VmRSS, and its peak VmHWM) of the wrapper
 *   process while its job waits.
 *
 * Usage: deno task bench [runs]   (default 30 runs per variant)
 * @module
 */
// deno-lint-ignore-file no-console -- a report printed for people
import denoJson from "../deno.json" with { type: "json" };

const ROOT = new URL("..", import.meta.url).pathname;
const RUNS = Number(Deno.args[0] ?? "30");
const DENO = Deno.execPath();
const WRAPPER = [DENO, ...denoJson.tasks.wrapper.split(/\s+/).slice(1)];
const EMPTY = `${ROOT}bench/fixtures/empty.ts`;
const IDLE = `${ROOT}bench/fixtures/idle.ts`;
const FILE_PLUGIN = `${ROOT}plugins/echo.ts`;

interface Stats {
  median: number;
  min: number;
  max: number;
}

function stats(values: number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2
    ? sorted[mid]!
    : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted.at(-1)! };
}

async function timeRun(argv: string[]): Promise<number> {
  const started = performance.now();
  const { code } = await new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    cwd: ROOT,
    stdout: "null",
    stderr: "null",
  }).output();
  const elapsed = performance.now() - started;
  if (code !== 0) throw new Error(`${argv.join(" ")} exited ${code}`);
  return elapsed;
}

/** Start `argv` (whose job prints "ready"), then read its memory. */
async function idleMemory(
  argv: string[],
): Promise<{ rss: number; hwm: number }> {
  const child = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    cwd: ROOT,
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("ready")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${argv.join(" ")} ended before "ready"`);
    text += value;
  }
  const { stdout } = await new Deno.Command("cat", {
    args: [`/proc/${child.pid}/status`],
  }).output();
  const status = new TextDecoder().decode(stdout);
  const kb = (field: string) =>
    Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)![1]);
  child.kill("SIGTERM");
  await child.status;
  await reader.cancel();
  return { rss: kb("VmRSS") / 1024, hwm: kb("VmHWM") / 1024 };
}

const startup: Record<string, string[]> = {
  "true (alone)": ["true"],
  "deno run empty.ts (Deno's floor)": [DENO, "run", EMPTY],
  "deno task wrapper true": [DENO, "task", "--quiet", "wrapper", "true"],
  "wrapper true": [...WRAPPER, "true"],
  "wrapper -p echo true (built-in)": [...WRAPPER, "-p", "echo", "true"],
  "wrapper -p ./plugins/echo.ts true (file)": [
    ...WRAPPER,
    "-p",
    FILE_PLUGIN,
    "true",
  ],
};
const idleJob = [DENO, "run", IDLE];
const memory: Record<string, string[]> = {
  "deno run idle.ts (Deno's floor)": idleJob,
  "wrapper, 0 plugins": [...WRAPPER, ...idleJob],
  "wrapper, 1 plugin": [...WRAPPER, "-p", "echo", ...idleJob],
};

console.error(`bench: ${RUNS} runs per variant, interleaved`);
const times: Record<string, number[]> = {};
const mems: Record<string, { rss: number; hwm: number }[]> = {};
for (let run = 0; run < RUNS; run++) {
  for (const [name, argv] of Object.entries(startup)) {
    (times[name] ??= []).push(await timeRun(argv));
  }
}
for (let run = 0; run < Math.min(RUNS, 10); run++) {
  for (const [name, argv] of Object.entries(memory)) {
    (mems[name] ??= []).push(await idleMemory(argv));
  }
}

const floorTime = stats(times["deno run empty.ts (Deno's floor)"]!).median;
const floorRss =
  stats(mems["deno run idle.ts (Deno's floor)"]!.map((m) => m.rss)).median;
const fmt = (n: number) => n.toFixed(1);
const lines = [
  `Measured ${
    new Date().toISOString().slice(0, 10)
  } on ${Deno.build.target}, ${navigator.hardwareConcurrency} cores, Deno ${Deno.version.deno}; ${RUNS} runs each.`,
  "",
  "| start-up | median ms | min | max | × Deno floor |",
  "| --- | ---: | ---: | ---: | ---: |",
  ...Object.entries(times).map(([name, values]) => {
    const s = stats(values);
    return `| ${name} | ${fmt(s.median)} | ${fmt(s.min)} | ${fmt(s.max)} | ${
      (s.median / floorTime).toFixed(2)
    } |`;
  }),
  "",
  "| idle memory (job waiting) | median RSS MiB | min | max | peak (VmHWM) MiB | × Deno floor |",
  "| --- | ---: | ---: | ---: | ---: | ---: |",
  ...Object.entries(mems).map(([name, values]) => {
    const s = stats(values.map((m) => m.rss));
    const hwm = stats(values.map((m) => m.hwm));
    return `| ${name} | ${fmt(s.median)} | ${fmt(s.min)} | ${fmt(s.max)} | ${
      fmt(hwm.median)
    } | ${(s.median / floorRss).toFixed(2)} |`;
  }),
];
const markdown = lines.join("\n") + "\n";
console.log(markdown);
await Deno.mkdir(`${ROOT}bench/results`, { recursive: true });
await Deno.writeTextFile(`${ROOT}bench/results/latest.md`, markdown);
await Deno.writeTextFile(
  `${ROOT}bench/results/latest.json`,
  JSON.stringify(
    {
      date: new Date().toISOString(),
      runs: RUNS,
      target: Deno.build.target,
      times,
      memory: mems,
    },
    null,
    2,
  ) + "\n",
);
