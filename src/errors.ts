import { EXIT_NOT_STARTED, EXIT_USAGE } from "./exit_codes.ts";

/** A mistake in flags or environment: one line on stderr, exit 2. */
export class UsageError extends Error {
  override name = "UsageError";
  readonly exitCode = EXIT_USAGE;
}

/** A plugin that cannot be loaded: the job is not started, exit 125. */
export class PluginError extends Error {
  override name = "PluginError";
  readonly exitCode = EXIT_NOT_STARTED;
  /** The plugin spec as the user wrote it. */
  readonly spec: string;
  /** Why it cannot be loaded. */
  readonly reason: string;
  constructor(spec: string, reason: string, options?: ErrorOptions) {
    super(`Cannot load plugin "${spec}": ${reason}`, options);
    this.spec = spec;
    this.reason = reason;
  }
}

/** First line of an error's message, for one-line reports. */
export function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n", 1)[0]!.trim();
}
