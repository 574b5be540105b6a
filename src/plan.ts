/**
 * Which plugins to load: the specs asked for, `auto` expanded from the pod's
 * metadata, and every sidecar the metadata shows. Resolved leniently, so that
 * a mistake in one spec still leaves the others known (their sidecars are
 * told to quit on every way out).
 * @module
 */
import { detectSidecars } from "./detect.ts";
import { UsageError } from "./errors.ts";
import type { DetectedSidecar, PodInfo } from "./podinfo.ts";
import { type PluginLocation, resolveSpec } from "./plugin_source.ts";

/** The spec that picks the built-ins the pod's metadata shows. */
export const AUTO_SPEC = "auto";

/** A plugin to load, and why. */
export interface PlannedPlugin extends PluginLocation {
  /** Added because the pod's metadata shows its sidecar, not asked for by name. */
  implicit: boolean;
}

/** What `planPlugins` found. */
export interface PluginPlan {
  /** Built-ins first (trusted, in-process), then files and URLs, in order. */
  plugins: PlannedPlugin[];
  /** Whether the pod's metadata was read. */
  metadata: boolean;
  /** Sidecars the metadata shows, by built-in plugin name. */
  detected: ReadonlyMap<string, DetectedSidecar>;
  /** Specs that could not be resolved. */
  problems: UsageError[];
  /** Lines to log at warn before the job starts. */
  warnings: string[];
}

/** Resolve `specs` and add the sidecars `pod` shows (when it was mounted). */
export function planPlugins(
  specs: readonly string[],
  pod: PodInfo | undefined,
): PluginPlan {
  const detected = new Map(
    (pod === undefined ? [] : detectSidecars(pod)).map((s) => [s.plugin, s]),
  );
  const problems: UsageError[] = [];
  const warnings = [
    ...(pod?.warnings ?? []),
    ...[...detected.values()].flatMap((s) =>
      s.warning === undefined ? [] : [`${s.plugin}: ${s.warning}`]
    ),
  ];
  const plugins: PlannedPlugin[] = [];
  const add = (location: PluginLocation, implicit: boolean) => {
    if (!plugins.some((p) => p.spec === location.spec)) {
      plugins.push({ ...location, implicit });
    }
  };
  for (const spec of specs) {
    if (spec === AUTO_SPEC) continue;
    try {
      add(resolveSpec(spec), false);
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      problems.push(error);
    }
  }
  if (specs.includes(AUTO_SPEC) && pod === undefined) {
    warnings.push(
      `"${AUTO_SPEC}" found no pod metadata: mount a downward API volume with metadata.annotations (see WRAPPER_PODINFO_DIR); no sidecar is known`,
    );
  }
  for (const name of detected.keys()) add(resolveSpec(name), true);
  const builtin = (p: PlannedPlugin) => p.kind === "builtin";
  return {
    plugins: [
      ...plugins.filter(builtin),
      ...plugins.filter((p) => !builtin(p)),
    ],
    metadata: pod !== undefined,
    detected,
    problems,
    warnings,
  };
}
