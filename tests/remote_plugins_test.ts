// Remote plugin hardening: integrity pins, retries with backoff, slow servers.
import { equal, match } from "node:assert/strict";
import { FIXTURES, TestServer, wrapper } from "./_helpers.ts";

const CA = { DENO_CERT: `${FIXTURES}tls/ca.pem` };
const LEGACY = await Deno.readFile(`${FIXTURES}plugins/legacy.ts`);
const SHA256 = Array.from(
  new Uint8Array(await crypto.subtle.digest("SHA-256", LEGACY)),
  (b) => b.toString(16).padStart(2, "0"),
).join("");

function server(handler: (count: number) => Response | Promise<Response>) {
  let count = 0;
  return new TestServer(() => handler(++count), { tls: true });
}

Deno.test("an https plugin whose sha256 pin matches loads and runs", async () => {
  await using files = server(() => new Response(LEGACY));
  const spec = `https://localhost:${files.port}/legacy.ts#sha256=${SHA256}`;
  const result = await wrapper(["-p", spec, "sh", "-c", "exit 2"], { env: CA });
  equal(result.code, 2, result.stderr);
  match(result.stderr, /Legacy plugin ran code=2/);
});

Deno.test("an https plugin whose sha256 pin does not match is refused (125)", async () => {
  await using files = server(() => new Response(LEGACY));
  const wrong = "0".repeat(64);
  const spec = `https://localhost:${files.port}/legacy.ts#sha256=${wrong}`;
  const marker = await Deno.makeTempFile();
  await Deno.remove(marker);
  const result = await wrapper(["-p", spec, "touch", marker], { env: CA });
  equal(result.code, 125);
  match(
    result.stderr,
    new RegExp(
      `integrity check failed: expected sha256 ${wrong}, got ${SHA256}`,
    ),
  );
  equal(await Deno.stat(marker).then(() => "ran", () => "not run"), "not run");
});

Deno.test("a pin also guards a file plugin; a malformed pin is a usage error", async () => {
  const file = `tests/fixtures/plugins/legacy.ts`;
  const good = await wrapper(["-p", `${file}#sha256=${SHA256}`, "true"]);
  equal(good.code, 0, good.stderr);
  const bad = await wrapper(["-p", `${file}#sha256=${"f".repeat(64)}`, "true"]);
  equal(bad.code, 125);
  const malformed = await wrapper(["-p", `${file}#sha256=abc`, "true"]);
  equal(malformed.code, 2);
  match(
    malformed.stderr,
    /"#sha256=abc" is not a pin: use #sha256=<64 hex digits>/,
  );
});

Deno.test("transient fetch errors (503, then 500) are retried with backoff", async () => {
  await using files = server((count) => {
    if (count === 1) return new Response("starting", { status: 503 });
    if (count === 2) return new Response("oops", { status: 500 });
    return new Response(LEGACY);
  });
  const result = await wrapper([
    "-p",
    `https://localhost:${files.port}/legacy.ts`,
    "true",
  ], {
    env: CA,
  });
  equal(result.code, 0, result.stderr);
  equal(files.requests.length, 3);
  equal(
    result.stderr.match(/Cannot fetch plugin yet, retrying/g)?.length,
    2,
    result.stderr,
  );
  match(result.stderr, /Legacy plugin ran code=0/);
});

Deno.test("a plugin server that never finishes the body fails within WRAPPER_FETCH_TIMEOUT", async () => {
  await using files = server(() =>
    new Response(
      new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode("// slow"));
        },
      }),
    )
  );
  const result = await wrapper([
    "-p",
    `https://localhost:${files.port}/slow.ts`,
    "true",
  ], {
    env: { ...CA, WRAPPER_FETCH_TIMEOUT: "700ms" },
  });
  equal(result.code, 125);
  match(
    result.stderr,
    /Cannot load plugin "https:\/\/localhost:\d+\/slow\.ts": body not received within \d+ ms/,
  );
});

Deno.test("HTTP 404 is not retried", async () => {
  await using files = server(() => new Response("no", { status: 404 }));
  const result = await wrapper([
    "-p",
    `https://localhost:${files.port}/x.ts`,
    "true",
  ], { env: CA });
  equal(result.code, 125);
  equal(files.requests.length, 1);
});
