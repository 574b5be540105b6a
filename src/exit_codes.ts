/**
 * The wrapper's own exit codes. Every other exit code is the command's.
 * Copied into the README and `--help`: users script against these.
 * @module
 */

/** Bad flags or configuration: no command, unknown option, bad value. */
export const EXIT_USAGE = 2;
/** Internal error in the wrapper itself (sysexits EX_SOFTWARE). */
export const EXIT_SOFTWARE = 70;
/** The job was not started: a plugin could not be loaded, or a beforeStart hook failed (as env(1) and timeout(1) use 125). */
export const EXIT_NOT_STARTED = 125;
/** The command was found but could not be executed (not executable, a directory). */
export const EXIT_NOT_EXECUTABLE = 126;
/** The command was not found. */
export const EXIT_NOT_FOUND = 127;
/** A process killed by signal n exits with this base plus n. */
export const EXIT_SIGNAL_BASE = 128;
