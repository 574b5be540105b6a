/**
 * The pod's own metadata, from a Kubernetes downward API volume: which
 * sidecars the injectors put in the pod, and whether they are native
 * sidecars. Knowing, instead of guessing from "connection refused".
 *
 * The folder (`WRAPPER_PODINFO_DIR`, default `/etc/podinfo`) holds the files
 * `annotations` and `labels`, written by the kubelet one `key="value"` line
 * per entry, sorted by key, the value quoted as Go's `%q` does.
 * @module
 */
import { SETTINGS } from "./settings.ts";
import { FileShapeError, readSmallFile } from "./read_file.ts";

/** Where the downward API volume is mounted unless `WRAPPER_PODINFO_DIR` says. */
export const DEFAULT_PODINFO_DIR: string = SETTINGS.podinfoDir.default;

/** Largest metadata file read (the API server caps all annotations at 256 KiB). */
const MAX_FILE_BYTES = 1024 * 1024;

/** The pod's annotations and labels. */
export interface PodInfo {
  /** The folder they were read from. */
  dir: string;
  annotations: ReadonlyMap<string, string>;
  /** Undefined when the volume has no `labels` file. */
  labels: ReadonlyMap<string, string> | undefined;
  /** Lines that are not in the kubelet's format, skipped. */
  warnings: readonly string[];
}

/** A sidecar the pod's metadata shows, and the built-in plugin for it. */
export interface DetectedSidecar {
  /** The built-in plugin that waits for it and tells it to quit. */
  plugin: string;
  /** A Kubernetes native sidecar: the kubelet starts and stops it. */
  native: boolean;
  /** The metadata entry that shows it. */
  evidence: string;
  /** Why it may not quit as configured, to log before the job starts. */
  warning?: string;
}

/**
 * Read the metadata folder. Resolves to undefined when the folder does not
 * exist or holds neither file (an image's empty mount point); a folder with
 * `labels` but no `annotations` is an error (the volume is mounted without
 * the item the wrapper needs).
 */
export async function readPodInfo(dir: string): Promise<PodInfo | undefined> {
  try {
    // Sync: a stat is quicker than a trip to Deno's blocking threads.
    if (!Deno.statSync(dir).isDirectory) {
      throw new Error(`"${dir}" is not a folder`);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  const warnings: string[] = [];
  const labels = await readMapFile(`${dir}/labels`, false, warnings);
  const annotations = await readMapFile(
    `${dir}/annotations`,
    labels !== undefined,
    warnings,
  );
  return annotations === undefined
    ? undefined
    : { dir, annotations, labels, warnings };
}

async function readMapFile(
  path: string,
  required: boolean,
  warnings: string[],
): Promise<Map<string, string> | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = await readSmallFile(path, MAX_FILE_BYTES);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      if (!required) return undefined;
      throw new Error(
        `no "${path}": add metadata.annotations to the downward API volume`,
      );
    }
    if (error instanceof FileShapeError) {
      throw new Error(`"${path}" ${error.message}`);
    }
    throw error;
  }
  const problems: string[] = [];
  const map = parseDownwardApiMap(new TextDecoder().decode(bytes), problems);
  warnings.push(...problems.map((problem) => `"${path}": ${problem}`));
  return map;
}

/**
 * Parse a downward API map file: `key="value"` lines, the value in Go's `%q`
 * quoting. A line in no such format is skipped and described in `problems`:
 * the entries that can be read still show the pod's sidecars.
 */
export function parseDownwardApiMap(
  text: string,
  problems: string[],
): Map<string, string> {
  const map = new Map<string, string>();
  for (const [index, line] of text.split("\n").entries()) {
    if (line === "") continue;
    const eq = line.indexOf("=");
    const quoted = eq > 0 ? line.slice(eq + 1) : "";
    try {
      if (
        quoted.length < 2 || !quoted.startsWith('"') || !quoted.endsWith('"')
      ) throw new Error(`line ${index + 1} is not key="value"`);
      map.set(line.slice(0, eq), unquoteGo(quoted.slice(1, -1), index + 1));
    } catch (error) {
      problems.push(`${(error as Error).message}: skipped`);
    }
  }
  return map;
}

const SIMPLE_ESCAPES: Readonly<Record<string, number>> = {
  a: 7,
  b: 8,
  f: 12,
  n: 10,
  r: 13,
  t: 9,
  v: 11,
  "\\": 92,
  '"': 34,
  "'": 39,
};
const HEX_DIGITS: Readonly<Record<string, number>> = { x: 2, u: 4, U: 8 };

/** Undo Go's `strconv.Quote` on the text between the quotes. */
function unquoteGo(body: string, line: number): string {
  const bytes: number[] = [];
  const encoder = new TextEncoder();
  for (let i = 0; i < body.length;) {
    const slash = body.indexOf("\\", i);
    const end = slash === -1 ? body.length : slash;
    bytes.push(...encoder.encode(body.slice(i, end)));
    if (slash === -1) break;
    const kind = body[slash + 1] ?? "";
    const digits = HEX_DIGITS[kind];
    if (Object.hasOwn(SIMPLE_ESCAPES, kind)) {
      bytes.push(SIMPLE_ESCAPES[kind]!);
      i = slash + 2;
    } else if (digits !== undefined) {
      const hex = body.slice(slash + 2, slash + 2 + digits);
      if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== digits) {
        throw new Error(`line ${line}: bad escape "\\${kind}${hex}"`);
      }
      const value = parseInt(hex, 16);
      if (kind === "x") bytes.push(value);
      else bytes.push(...encoder.encode(String.fromCodePoint(value)));
      i = slash + 2 + digits;
    } else if (/^[0-7]{3}$/.test(body.slice(slash + 1, slash + 4))) {
      bytes.push(parseInt(body.slice(slash + 1, slash + 4), 8) & 0xff);
      i = slash + 4;
    } else {
      throw new Error(`line ${line}: bad escape "\\${kind}"`);
    }
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}
