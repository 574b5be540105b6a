// The signal relay (src/signals.ts) in-process: what it does with each
// signal before the job starts, while it runs and after it ended. The same
// rules with real processes are in job_control_test.ts and init_test.ts.
import { deepEqual, equal } from "node:assert/strict";
import { SignalRelay } from "../src/signals.ts";

/** A relay whose job and own stops are recorded in `events`. */
function recorded() {
  const events: string[] = [];
  const relay = new SignalRelay({
    inForeground: () => true,
    stopSelf: () => void events.push("stop self"),
  });
  relay.onSignal = (signal, forwarded) =>
    events.push(`${forwarded ? "forwarded" : "received"} ${signal}`);
  const job = {
    kill: (signal: Deno.Signal) => void events.push(`job ${signal}`),
  };
  return { events, relay, job };
}

Deno.test("SignalRelay before the job: the first stop signal aborts `stopping` with it as the reason; others are only noted", () => {
  const { events, relay } = recorded();
  relay.receive("SIGUSR1");
  equal(relay.stopping.aborted, false);
  relay.receive("SIGQUIT");
  relay.receive("SIGTERM");
  equal(relay.stopSignal, "SIGQUIT");
  equal(relay.stopping.reason, "SIGQUIT");
  deepEqual(events, [
    "received SIGUSR1",
    "received SIGQUIT",
    "received SIGTERM",
  ]);
});

Deno.test("SignalRelay while the job runs: every signal is forwarded, but the wrapper's own XCPU and XFSZ; none means stop", () => {
  const { events, relay, job } = recorded();
  relay.attach(job);
  for (const signal of ["SIGTERM", "SIGWINCH", "SIGXCPU", "SIGXFSZ"] as const) {
    relay.receive(signal);
  }
  equal(relay.stopping.aborted, false);
  deepEqual(events, [
    "job SIGTERM",
    "job SIGCONT",
    "forwarded SIGTERM",
    "job SIGWINCH",
    "forwarded SIGWINCH",
    "received SIGXCPU",
    "received SIGXFSZ",
  ]);
});

Deno.test("SignalRelay after the job: nothing is forwarded, and a job gone before its detach is not an error", () => {
  const { events, relay } = recorded();
  relay.attach({
    kill: () => {
      throw new Deno.errors.NotFound("gone");
    },
  });
  relay.receive("SIGTERM");
  relay.detach();
  relay.receive("SIGINT");
  equal(relay.stopping.aborted, false); // the job had started
  deepEqual(events, ["received SIGTERM", "received SIGINT"]);
});

Deno.test("SignalRelay: a terminal's SIGTSTP stops the job (as SIGSTOP), then the wrapper, even before the job starts; any other is forwarded as it is", () => {
  for (const foreground of [true, false]) {
    const events: string[] = [];
    const relay = new SignalRelay({
      inForeground: () => foreground,
      stopSelf: () => void events.push("stop self"),
    });
    relay.receive("SIGTSTP");
    relay.attach({ kill: (signal) => void events.push(`job ${signal}`) });
    relay.receive("SIGTSTP");
    relay.receive("SIGCONT");
    deepEqual(
      events,
      foreground
        ? ["stop self", "job SIGSTOP", "stop self", "job SIGCONT"]
        : ["job SIGTSTP", "job SIGCONT"],
    );
    equal(relay.stopSignal, undefined); // SIGTSTP never means "do not start"
  }
});

Deno.test("SignalRelay: a stop signal is followed by SIGCONT, so a stopped job can act on it", () => {
  const { events, relay, job } = recorded();
  relay.attach(job);
  relay.receive("SIGTERM");
  relay.receive("SIGUSR1");
  deepEqual(events, [
    "job SIGTERM",
    "job SIGCONT",
    "forwarded SIGTERM",
    "job SIGUSR1",
    "forwarded SIGUSR1",
  ]);
});
