// src/spawn.ts: the job started by posix_spawn in a session of its own.
// Pure rules first (where execvp finds a program, a waitpid status), then the
// job as it starts for real: its argv[0], session, signal mask and SIGPIPE.
import { deepStrictEqual, equal, match } from "node:assert/strict";
import { decodeStatus, findProgram } from "../src/spawn.ts";
import { ROOT, WRAPPER_ARGS } from "./_helpers.ts";

const file = (mode: number) => ({ isFile: true, mode }) as Deno.FileInfo;

Deno.test("findProgram() looks in PATH as execvp does: the first executable file; a non-executable one only when nothing else is", () => {
  const files: Record<string, Deno.FileInfo> = {
    "/a/tool": file(0o644),
    "/b/tool": file(0o755),
    "/a/only": file(0o600),
    "./here": file(0o700),
  };
  const stat = (path: string) => files[path];
  equal(findProgram("tool", "/a:/b", stat), "/b/tool");
  equal(findProgram("only", "/a:/b", stat), "/a/only"); // spawn says EACCES: 126
  equal(findProgram("none", "/a:/b", stat), "none"); // spawn says ENOENT: 127
  equal(findProgram("here", ":/a", stat), "./here"); // an empty entry: the current folder
  equal(findProgram("./x", "/a", stat), "./x");
  equal(
    findProgram(
      "true",
      undefined,
      (p) => p === "/usr/bin/true" ? file(0o755) : undefined,
    ),
    "/usr/bin/true",
  );
});

Deno.test("decodeStatus() reads a waitpid status as Deno does: the code, or 128 + n and the signal's name (none for real-time ones)", () => {
  deepStrictEqual(decodeStatus(3 << 8), { code: 3, signal: null });
  deepStrictEqual(decodeStatus(15), { code: 143, signal: "SIGTERM" });
  deepStrictEqual(decodeStatus(9 | 0x80), { code: 137, signal: "SIGKILL" }); // core dumped
  deepStrictEqual(decodeStatus(40), { code: 168, signal: null });
});

Deno.test({
  name:
    "the job starts with argv[0] as given, in its own session, no signal blocked and SIGPIPE at its default",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const script = `tr '\\0' ' ' < /proc/$$/cmdline; echo; ` +
      `grep -E '^(SigBlk|SigIgn|NSsid|Pid):' /proc/$$/status`;
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [...WRAPPER_ARGS, "sh", "-c", script],
      cwd: ROOT,
      stdin: "null",
    }).output();
    const text = new TextDecoder().decode(stdout);
    equal(code, 0, new TextDecoder().decode(stderr));
    match(text, /^sh -c /m);
    match(text, /^SigBlk:\s+0+$/m);
    const ignored = BigInt(`0x${/^SigIgn:\s+([0-9a-f]+)$/m.exec(text)![1]}`);
    equal(ignored & (1n << 12n), 0n, "SIGPIPE is not ignored");
    const pid = /^Pid:\s+(\d+)$/m.exec(text)![1];
    match(text, new RegExp(`^NSsid:\\s+${pid}$`, "m")); // it leads its session
  },
});
