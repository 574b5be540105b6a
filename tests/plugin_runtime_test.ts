// The rules the plugin runtime shares with the host, and the host's reading
// of its replies and lines: pure functions, tested without a plugin process
// (the fetch causes use real sockets).
import { deepEqual, equal, match, ok, throws } from "node:assert/strict";
import {
  backoff,
  cut,
  describe,
  isTransientStatus,
  pluginRuntime,
  PROTOCOL_VERSION,
  readyPollMs,
  safeJson,
} from "../src/plugin_runtime.ts";
import { checkWorkerMessage } from "../src/_protocol.ts";
import { readByteLines } from "../src/plugin_process.ts";
import { anonymousBytes, procReader } from "../src/memory_watch.ts";
import { fetchFailure, resolveSpec } from "../src/plugin_source.ts";
import {
  checkLoaded,
  hookOutcome,
  retriesAfterExit,
} from "../src/plugin_replies.ts";
import { closedPort, tempPlugin, TestServer } from "./_helpers.ts";
import { runHook } from "../kit.ts";

Deno.test("one retry policy: 408, 429 and 5xx but 501 are transient; backoff doubles to its cap", () => {
  for (const status of [408, 429, 500, 502, 503, 504, 599]) {
    ok(isTransientStatus(status), String(status));
  }
  for (const status of [200, 301, 400, 403, 404, 501, 600]) {
    ok(!isTransientStatus(status), String(status));
  }
  deepEqual([1, 2, 3, 4, 5, 6].map((n) => backoff(n, 25, 500)), [
    25,
    50,
    100,
    200,
    400,
    500,
  ]);
  equal(backoff(1000, 250, 4000), 4000); // no overflow to Infinity or NaN
});

Deno.test("readiness polls every 10 ms for the first 10 s, then every 100 ms", () => {
  deepEqual([0, 5_000, 9_999, 10_000, 60_000].map(readyPollMs), [
    10,
    10,
    10,
    100,
    100,
  ]);
});

Deno.test("describe never throws, and safeJson renders what JSON cannot", () => {
  const nasty = new Error("x");
  Object.defineProperty(nasty, "message", {
    get() {
      throw new Error("boom");
    },
  });
  match(describe(nasty), /cannot be read/);
  equal(describe(new TypeError("bad")), "TypeError: bad");
  const cyclic: Record<string, unknown> = { n: 10n };
  cyclic.self = cyclic;
  equal(safeJson(cyclic), '{"n":"10n","self":"[Circular]"}');
  equal(safeJson({ e: new RangeError("r") }), '{"e":"RangeError: r"}');
  equal(safeJson({ s: "abcdef" }, 3), '{"s":"abc… (3 more characters)"}');
  equal(safeJson(undefined), '"undefined"');
  const hostile = {
    toJSON() {
      throw new Error("no");
    },
  };
  equal(safeJson(hostile), JSON.stringify("[unreadable: Error: no]"));
  equal(cut("abc", 5), "abc");
});

function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return ReadableStream.from(chunks);
}

Deno.test("readByteLines: lines across chunks, a byte at a time, bounded in bytes not characters", async () => {
  const bytes = new TextEncoder().encode('{"a":1}\n{"b":"é"}\nlast');
  const lines: string[] = [];
  const decoder = new TextDecoder();
  await readByteLines(
    streamOf([...bytes].map((b) => Uint8Array.of(b))),
    { maxBytes: 64 },
    (line) => lines.push(decoder.decode(line)),
  );
  deepEqual(lines, ['{"a":1}', '{"b":"é"}', "last"]);
  // 6 characters, 12 bytes: over a bound of 10 bytes.
  const wide = new TextEncoder().encode("éééééé\n");
  let error: Error | undefined;
  await readByteLines(streamOf([wide]), { maxBytes: 10 }, () => {}).catch((e) =>
    error = e
  );
  match(String(error), /over 10 bytes/);
  // The bound holds for a line that never ends.
  error = undefined;
  const endless = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(new Uint8Array(4096).fill(120));
    },
  });
  await readByteLines(endless, { maxBytes: 1 << 20 }, () => {}).catch((e) =>
    error = e
  );
  match(String(error), /over 1048576 bytes/);
  // Stderr lines are cut instead; a budget on reads ends the reading.
  const cutLines: string[] = [];
  await readByteLines(
    streamOf([new TextEncoder().encode("abcdefgh\nij\n")]),
    { maxBytes: 4, cutLong: true },
    (line) => cutLines.push(decoder.decode(line)),
  );
  deepEqual(cutLines, ["abcd", "ij"]);
  let reads = 0;
  error = undefined;
  await readByteLines(
    streamOf([Uint8Array.of(1), Uint8Array.of(2), Uint8Array.of(3)]),
    { maxBytes: 64, chunk: () => ++reads > 2 ? "too many reads" : undefined },
    () => {},
  ).catch((e) => error = e);
  equal(reads, 3);
  match(String(error), /too many reads/);
});

Deno.test("anonymousBytes reads RssAnon from /proc/<pid>/status; procReader reads it through libc", () => {
  equal(
    anonymousBytes("Name:\tdeno\nRssAnon:\t  1234 kB\nRssFile: 9 kB\n"),
    1234 * 1024,
  );
  equal(anonymousBytes("Name:\tdeno\n"), undefined);
  const read = procReader();
  if (Deno.build.os !== "linux") return;
  ok(typeof read === "function", String(read));
  const mine = anonymousBytes(read(`/proc/${Deno.pid}/status`)!);
  ok(mine !== undefined && mine > 1 << 20, String(mine));
  equal(read("/proc/0/none"), undefined);
});

Deno.test("fetch failures say their cause: refused, DNS, TLS", async () => {
  const cause = async (url: string) => {
    try {
      await fetch(url, { signal: AbortSignal.timeout(10_000) });
    } catch (error) {
      return fetchFailure(error);
    }
    throw new Error(`${url} answered`);
  };
  deepEqual(await cause(`http://127.0.0.1:${closedPort()}/`), {
    why: "connection refused",
    permanent: false,
  });
  const dns = await cause("https://wrapper-test.invalid/");
  match(dns.why, /^DNS lookup failed \(/);
  await using tls = new TestServer(() => new Response("x"), { tls: true });
  const untrusted = await cause(`https://localhost:${tls.port}/`);
  match(untrusted.why, /^TLS failed: .*(certificate|UnknownIssuer)/i);
  equal(untrusted.permanent, true);
});

Deno.test("checkLoaded and hookOutcome: the host's reading of a runtime's replies", () => {
  const location = resolveSpec("plugins/echo.ts");
  deepEqual(
    checkLoaded(
      { kind: "loaded", protocol: 1, name: "echo", hooks: ["afterExit"] },
      location,
      100,
    ),
    { name: "echo", hooks: ["afterExit"], options: undefined },
  );
  const reason = (reply: Parameters<typeof checkLoaded>[0]) => {
    try {
      checkLoaded(reply, location, 100);
    } catch (error) {
      return (error as Error).message;
    }
    return "loaded";
  };
  match(
    reason({
      kind: "loaded",
      protocol: 1,
      name: "Bad Name",
      hooks: ["afterExit"],
    }),
    /invalid name "Bad Name"/,
  );
  match(
    reason({ kind: "loaded", protocol: 1, name: "path", hooks: ["afterExit"] }),
    /reserved/,
  );
  match(
    reason({
      kind: "loaded",
      protocol: 1,
      name: "wrapper",
      hooks: ["afterExit"],
    }),
    /reserved/,
  );
  match(
    reason({
      kind: "loaded",
      protocol: 1,
      name: "N".repeat(100_000),
      hooks: ["afterExit"],
    }),
    /^.{0,300}$/,
  );
  match(
    reason({ kind: "loaded", protocol: 1, name: "ok", hooks: [] }),
    /exports no hook/,
  );
  match(reason({ kind: "timeout" }), /did not load within 100 ms/);
  match(reason({ kind: "exit", code: 1 }), /Deno.exit\(\) while loading/);
  match(reason({ kind: "crashed", message: "gone\nmore" }), /: gone$/);
  throws(() => checkLoaded({ kind: "done" }, location, 1), /unexpected "done"/);

  deepEqual(hookOutcome({ kind: "done" }, 5), { ok: true });
  deepEqual(hookOutcome({ kind: "timeout" }, 5), {
    ok: false,
    reason: "timeout",
    message: "no result within 5 ms",
  });
  const exited = hookOutcome({ kind: "exit", code: 3 }, 5);
  deepEqual(exited, {
    ok: false,
    reason: "exited",
    message: "called Deno.exit(3)",
  });
  ok(retriesAfterExit("afterExit", exited, 10));
  ok(!retriesAfterExit("afterExit", exited, 0));
  ok(!retriesAfterExit("beforeStart", exited, 10));
  ok(
    !retriesAfterExit(
      "afterExit",
      hookOutcome({ kind: "failed", message: "x" }, 5),
      10,
    ),
  );
});

Deno.test("the protocol is versioned: a runtime refuses a host of another version, and the host a reply without its own", async () => {
  const replies: unknown[] = [];
  const receive = pluginRuntime((message) => replies.push(message));
  await receive({
    kind: "load",
    protocol: PROTOCOL_VERSION + 1,
    url: new URL("../plugins/echo.ts", import.meta.url).href,
    fallbackName: "echo",
    allowedHosts: ["127.0.0.1"],
  });
  deepEqual(replies, [{
    kind: "load-failed",
    message: `the host speaks protocol ${
      PROTOCOL_VERSION + 1
    }, this runtime ${PROTOCOL_VERSION}`,
  }]);
  const loaded = { kind: "loaded", name: "echo", hooks: ["afterExit"] };
  equal(checkWorkerMessage(loaded), undefined);
  ok(checkWorkerMessage({ ...loaded, protocol: PROTOCOL_VERSION }));
});

/** A plugin that sends one quit to its `quitUrl`, not checking the port after. */
const QUITTER = `export default { name: "quitter", async afterExit(ctx) {\n` +
  `  await ctx.quit(ctx.options.quitUrl, { verify: false });\n} };\n`;

/**
 * A stand-in that answers its first request only once its client has gone,
 * and every later one with 200 and `body`.
 */
function firstUnanswered(body: string): TestServer {
  let first = true;
  return new TestServer((request) => {
    if (!first) return new Response(body);
    first = false;
    return new Promise<Response>((resolve) =>
      request.signal.addEventListener(
        "abort",
        () => resolve(new Response("late")),
      )
    );
  });
}

const ISTIO = new URL("../plugins/istio_proxy.ts", import.meta.url);

Deno.test("a readiness wait says where and how long it waits (debug), then a progress line each progressMs (info), then why it gave up", async () => {
  await using sidecar = new TestServer(() => new Response("", { status: 503 }));
  const url = `http://127.0.0.1:${sidecar.port}/healthz/ready`;
  const result = await runHook(ISTIO, "beforeStart", {
    options: { readyUrl: url },
    timeoutMs: 700,
    sidecar: { absentAfterMs: null, progressMs: 200 },
  });
  deepEqual(result.logs[0], {
    kind: "log",
    level: "debug",
    message: "Waiting for the sidecar to be ready",
    properties: { url, timeoutMs: 700 },
  });
  const progress = result.logs.filter((m) =>
    m.message === "Still waiting for the sidecar"
  );
  // Polls back off to 500 ms, so the lines come at most that late.
  ok(progress.length >= 1 && progress.length <= 3, JSON.stringify(result));
  for (const line of progress) {
    equal(line.level, "info");
    const { waitedMs, last } = line.properties;
    ok((waitedMs as number) >= 200, String(waitedMs));
    equal(last, "HTTP 503");
  }
  match(result.error!, /not ready within 700 ms \(last answer: HTTP 503\)/);
});

Deno.test("ctx.quit in-process: 503 and 429 are retried, 501 is not", async () => {
  const answers = [503, 429, 200, 501];
  await using sidecar = new TestServer(() =>
    new Response("", { status: answers.shift() ?? 200 })
  );
  await using plugin = await tempPlugin("quitter.ts", QUITTER);
  const options = { quitUrl: `http://127.0.0.1:${sidecar.port}/quitquitquit` };
  const accepted = await runHook(plugin.path, "afterExit", { options });
  equal(accepted.ok, true, accepted.error); // 503, 429, then 200
  equal(sidecar.requests.length, 3);
  const refused = await runHook(plugin.path, "afterExit", { options });
  equal(refused.ok, false); // 501: not transient
  match(refused.error!, /501/);
  equal(sidecar.requests.length, 4);
});

Deno.test("a readiness attempt that is never answered does not use up the wait: the next one, answered, counts", async () => {
  await using sidecar = firstUnanswered("ready");
  const result = await runHook(ISTIO, "beforeStart", {
    options: { readyUrl: `http://127.0.0.1:${sidecar.port}/ready` },
    sidecar: { absentAfterMs: null },
  });
  equal(result.ok, true, result.error);
  equal(sidecar.requests.length, 2);
});

Deno.test("a quit that is never answered is retried, not waited on until the deadline", async () => {
  await using sidecar = firstUnanswered("OK");
  await using plugin = await tempPlugin("quitter.ts", QUITTER);
  const result = await runHook(plugin.path, "afterExit", {
    options: { quitUrl: `http://127.0.0.1:${sidecar.port}/quitquitquit` },
    timeoutMs: 10_000,
  });
  equal(result.ok, true, result.error);
  equal(sidecar.requests.length, 2);
  match(JSON.stringify(result.logs), /Asked the sidecar to quit/);
});
