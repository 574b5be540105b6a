// Imported first by tests that load npm packages: uri-js (kubernetes-models'
// schema validation) requires Node's deprecated `punycode` built-in, and the
// warning it prints is noise in a test run. Nothing of the wrapper uses it.
import process from "node:process";

(process as { noDeprecation?: boolean }).noDeprecation = true;
