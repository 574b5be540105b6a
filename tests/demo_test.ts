// `deno task demo` must show the sidecar told to quit and the exit code.
import { equal, match } from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import { ROOT } from "./_helpers.ts";

Deno.test("deno task demo shows the quit request and the job's exit code", async () => {
  const args = denoJson.tasks.demo.split(/\s+/).slice(1);
  const output = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    env: { NO_COLOR: "1" },
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  equal(output.code, 0, stdout);
  match(stdout, /sidecar received POST \/quitquitquit and stopped/);
  match(stdout, /wrapper exited 3 \(the job's exit code is 3\)/);
  match(
    new TextDecoder().decode(output.stderr),
    /\[info istio-proxy\] Asked the sidecar to quit/,
  );
});
