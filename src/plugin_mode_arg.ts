/**
 * The hidden first argument that makes a compiled wrapper a plugin process.
 * A module of its own, so `main.ts` can test for it before loading anything.
 * @module
 */

/** `wrapper --wrapper-internal-plugin-runtime`: run as a plugin process. */
export const PLUGIN_MODE_ARG = "--wrapper-internal-plugin-runtime";
