/**
 * The part of LogTape the wrapper uses, and the one module that imports it
 * (log.ts imports this one when it first needs it). The image's bundle
 * (image/rootfs.ts) keeps only what these names need of the package.
 * @module
 */
export {
  configureSync,
  getJsonLinesFormatter,
  getLogger,
} from "npm:@logtape/logtape@2.4.2"; // full specifier: `deno run <url>` has no import map
