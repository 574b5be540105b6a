// src/spawn.ts: the job started by posix_spawn in a session of its own.
// Pure rules first (where execvp finds a program, a waitpid status), then the
// job as it starts for real: its argv[0], session, signal mask and SIGPIPE.
import { deepStrictEqual, equal, match } from "node:assert/strict";
import { candidates, decodeStatus } from "../src/spawn.ts";
import { ROOT, textOutput, works, WRAPPER_ARGS } from "./_helpers.ts";

Deno.test("candidates() are the files execvp tries: each PATH folder's, where something exists; a name with a / as it is; nothing found is nothing", () => {
  const there = new Set(["/a/tool", "/b/tool", "./here"]);
  const exists = (path: string) => there.has(path);
  deepStrictEqual(candidates("tool", "/a:/b:/c", exists), [
    "/a/tool",
    "/b/tool",
  ]);
  deepStrictEqual(candidates("here", ":/a", exists), ["./here"]); // an empty entry: the current folder
  deepStrictEqual(candidates("none", "/a:/b", exists), []); // never ./none
  deepStrictEqual(candidates("./x", "/a", exists), ["./x"]);
  deepStrictEqual(candidates("", "/a", exists), []);
  deepStrictEqual(
    candidates("true", undefined, (p) => p === "/usr/bin/true"),
    ["/usr/bin/true"],
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
    "the job starts with argv[0] as given, in its own session, no signal blocked or ignored (SIGPIPE, 32 and 33 at their default)",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    // Its own status read by the shell's builtins, first: a command it forks
    // (dash vforks) could read it while the shell blocks every signal.
    const script = `while IFS= read -r line; do case $line in ` +
      `SigBlk:*|SigIgn:*|NSsid:*|Pid:*) echo "$line";; esac; ` +
      `done < /proc/$$/status; tr '\\0' ' ' < /proc/$$/cmdline; echo`;
    const { code, stdout: text, stderr } = await textOutput(
      Deno.execPath(),
      [...WRAPPER_ARGS, "sh", "-c", script],
      { cwd: ROOT, stdin: "null" },
    );
    equal(code, 0, stderr);
    match(text, /^sh -c /m);
    match(text, /^SigBlk:\s+0+$/m);
    // Nothing ignored: not SIGPIPE (the wrapper's), nor glibc's 32 and 33.
    match(text, /^SigIgn:\s+0+$/m);
    const pid = /^Pid:\s+(\d+)$/m.exec(text)![1];
    match(text, new RegExp(`^NSsid:\\s+${pid}$`, "m")); // it leads its session
  },
});

/** Run the wrapper on `command` in `cwd` with `PATH`; its code and output. */
function wrapped(command: string[], cwd: string, path: string) {
  const main = (a: string) => a === "main.ts" ? `${ROOT}main.ts` : a;
  return textOutput(Deno.execPath(), [...WRAPPER_ARGS.map(main), ...command], {
    cwd,
    env: { PATH: path },
    stdin: "null",
  });
}

Deno.test({
  name:
    "PATH is searched as execvp does: never the current folder unless PATH says so, a folder that denies is passed over, a script with no #! runs with /bin/sh",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const script = async (path: string, text: string) => {
        await Deno.writeTextFile(path, text);
        await Deno.chmod(path, 0o755);
      };
      await script(`${dir}/localprog`, "#!/bin/sh\necho HIJACK\n");
      const missing = await wrapped(["localprog"], dir, "/usr/bin:/bin");
      equal(missing.code, 127, missing.stdout);
      match(missing.stderr, /command not found/);
      await Deno.mkdir(`${dir}/a/tool`, { recursive: true }); // a folder: EACCES
      await Deno.mkdir(`${dir}/b`);
      await script(`${dir}/b/tool`, "#!/bin/sh\necho from-b\n");
      const next = await wrapped(
        ["tool"],
        dir,
        `${dir}/a:${dir}/b:/usr/bin:/bin`,
      );
      equal(next.code, 0, next.stderr);
      equal(next.stdout, "from-b\n");
      await script(`${dir}/noshebang`, "echo ran; exit 5\n");
      const plain = await wrapped(["./noshebang"], dir, "/usr/bin:/bin");
      equal(plain.code, 5, plain.stderr);
      equal(plain.stdout, "ran\n");
      const folder = await wrapped(["tool"], dir, `${dir}/a:/usr/bin:/bin`);
      equal(folder.code, 126, folder.stderr); // only a folder of that name
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

const python = works("python3", ["-c", "1"]);

/** The wrapper on `command`, started with SIGCHLD and SIGUSR1 blocked. */
function blocked(command: string[]) {
  const block = "import os, signal, sys; " +
    "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD, signal.SIGUSR1}); " +
    "os.execv(sys.argv[1], sys.argv[1:])";
  return textOutput(
    "python3",
    ["-c", block, Deno.execPath(), ...WRAPPER_ARGS, ...command],
    { cwd: ROOT, stdin: "null" },
  );
}

Deno.test({
  name:
    `a wrapper started with SIGCHLD and SIGUSR1 blocked still sees the job end, and the job inherits the same mask, as alone${
      python ? "" : " (ignored: needs python3 to block signals before the exec)"
    }`,
  ignore: Deno.build.os !== "linux" || !python,
  fn: async () => {
    const ended = await blocked(["sh", "-c", "exit 3"]);
    equal(ended.code, 3, ended.stderr); // it hung before: no SIGCHLD came
    const mask = await blocked(["grep", "SigBlk", "/proc/self/status"]);
    equal(mask.code, 0, mask.stderr);
    // SIGUSR1 is 10, SIGCHLD 17: bits 9 and 16.
    match(mask.stdout, /^SigBlk:\s+0*10200$/m);
  },
});
