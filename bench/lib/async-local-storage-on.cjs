/* global require */
// Preloaded (`node --require`) into an untraced instance by `tracing-cost --ratios als`: enables an
// AsyncLocalStorage for the life of the process, as OpenTelemetry's context manager does at the
// first traced operation, and nothing else. On Node 20 that installs async hooks (promise hooks
// included) that every promise and async resource of the process then pays for; from Node 24 on,
// AsyncLocalStorage runs on AsyncContextFrame instead. The mode measures that cost alone.
// (CommonJS: an ES module preloaded with --import would make node load the .ts entry as ESM.)
'use strict';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { AsyncLocalStorage } = require('node:async_hooks');

const storage = new AsyncLocalStorage();
// run() enables the storage for good (it is never disabled); the store itself is never read.
storage.run({}, () => undefined);
