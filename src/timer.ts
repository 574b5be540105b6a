/**
 * A timer without `setTimeout`: in Deno 2.9 the first `setTimeout` or
 * `setInterval` call in an isolate costs ~7 ms (its timers load lazily), the
 * first `AbortSignal.timeout` ~0.5 ms. The wrapper's hot path (hook
 * deadlines, the plugin runtime) uses this instead.
 * Self-contained: also serialized into plugin Workers.
 * @module
 */

/** Call `then` after `ms`; returns a function that cancels the call. */
export function after(ms: number, then: () => void): () => void {
  const timer = AbortSignal.timeout(ms);
  timer.addEventListener("abort", then, { once: true });
  return () => timer.removeEventListener("abort", then);
}

/** A signal that aborts `ms` after `signal` does, with its reason. */
export function abortLater(signal: AbortSignal, ms: number): AbortSignal {
  const later = new AbortController();
  const start = () => after(ms, () => later.abort(signal.reason));
  if (signal.aborted) start();
  else signal.addEventListener("abort", start, { once: true });
  return later.signal;
}

/** Resolve after `ms`; reject with `signal`'s reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const abort = () => {
      cancel();
      reject(signal!.reason);
    };
    const cancel = after(ms, () => {
      signal?.removeEventListener("abort", abort);
      resolve();
    });
    signal?.addEventListener("abort", abort, { once: true });
  });
}
