// The wrapper as PID 1, a job's init, in a fresh PID namespace (unshare):
// what tini and dumb-init do for a job, it does too.
import { equal, match } from "node:assert/strict";
import { canUnsharePid, ROOT, WRAPPER_ARGS } from "./_helpers.ts";

const canUnshare = canUnsharePid();
const why = canUnshare
  ? ""
  : " (ignored: unshare cannot make a PID namespace here)";

/** Run the wrapper as PID 1 of a new PID namespace, with its own /proc. */
async function asInit(args: string[], wrapperArgs = WRAPPER_ARGS) {
  const output = await new Deno.Command("unshare", {
    args: [
      "--pid",
      "--fork",
      "--mount-proc",
      "--kill-child",
      Deno.execPath(),
      ...wrapperArgs,
      ...args,
    ],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

/**
 * A job that leaves `n` orphans behind (each exits at once), waits until the
 * zombies number `until` (`-eq 0`: all reaped) or 5 s have passed, prints how
 * many there are, and exits 7.
 */
const ORPHANS = (n: number, until = "-eq 0") =>
  `for i in $(seq ${n}); do sh -c 'true &'; done; ` +
  "zombies() { grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null | wc -l; }; " +
  `for i in $(seq 100); do [ "$(zombies)" ${until} ] && break; sleep 0.05; done; ` +
  'echo "zombies $(zombies)"; exit 7';

Deno.test({
  name:
    `as PID 1 the wrapper reaps orphans: 50 leave no zombie, and the job's and a plugin process's own statuses still reach Deno${why}`,
  ignore: !canUnshare,
  fn: async () => {
    const result = await asInit([
      "--log-level=debug",
      "-p",
      "plugins/echo.ts",
      "sh",
      "-c",
      ORPHANS(50),
    ]);
    equal(result.code, 7, result.stderr);
    equal(result.stdout.trim(), "zombies 0", result.stderr);
    // The plugin process's afterExit ran: its status was not stolen either.
    match(result.stderr, /\[info echo\] Command ended .*code=7/);
  },
});

Deno.test({
  name:
    `as PID 1 without --allow-ffi the wrapper says orphans will not be reaped, and runs the job${why}`,
  ignore: !canUnshare,
  fn: async () => {
    const result = await asInit(
      ["sh", "-c", ORPHANS(3, "-ge 3")],
      WRAPPER_ARGS.filter((arg) => arg !== "--allow-ffi"),
    );
    equal(result.code, 7, result.stderr);
    equal(result.stdout.trim(), "zombies 3"); // the control: nobody reaps
    match(
      result.stderr,
      /Orphaned processes will not be reaped reason="the wrapper was started without --allow-ffi"/,
    );
  },
});

Deno.test("every process the wrapper spawns is marked as its own, so the reaper never takes its status from Deno", async () => {
  let spawns = 0;
  let marked = 0;
  for await (const entry of Deno.readDir(`${ROOT}src`)) {
    const text = await Deno.readTextFile(`${ROOT}src/${entry.name}`);
    spawns += text.match(/new Deno\.Command\(/g)?.length ?? 0;
    marked += text.match(/\bownChild\([^)]*\.pid,/g)?.length ?? 0;
  }
  equal(spawns, 2);
  equal(marked, spawns);
});
